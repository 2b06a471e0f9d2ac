"""One way to run work off the GUI thread (in the spirit of Anki's QueryOp/CollectionOp).

``background.run(fn, *args, done=..., failed=...)`` runs ``fn`` on a worker thread and calls
``done(result)`` or ``failed(exc)`` back on the GUI thread (through a queued Qt signal, so any
Qt event loop delivers it, qasync's or a plain ``processEvents``). Without ``failed``
the one default error path takes the exception: it is logged with its traceback and handed to the
``report`` function the window gave (a line in the status bar). A coroutine uses
``await background.submit(fn, *args)`` instead and handles a failure where it awaits. A ``Job``
can be cancelled (a job not started never runs; a running one has its result dropped and no
callback is called) and waited for when a store it reads is about to close.

Work goes to a shared pool, or to a named *lane*: a lane has its own workers, so jobs that must
run one after another (writing the annotation file) or that must not crowd out the others
(decoding thumbnails) keep to themselves.

Workers share Python's lock with the GUI thread, which needs it for every call into Python a
paint or a layout makes (a list row's delegate, a model's data). While a worker runs Python (a
folder scan, a thumbnail's glue code), each such call waits until the worker is made to let go,
which Python does after its switch interval: 5 ms by default, so a repaint with twenty calls
could wait 100 ms. The first helper built sets it to 1 ms (``SWITCH_INTERVAL_S``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sys
import threading
from collections.abc import Callable
from functools import partial
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QObject, Qt, Signal

log = logging.getLogger(__name__)

T = TypeVar("T")
SWITCH_INTERVAL_S = 0.001  # how long a thread may keep Python's lock while another asks for it
Report = Callable[[str, BaseException], None]


class Job(Generic[T]):
    """One piece of work handed to :class:`Background`."""

    def __init__(self, cf: concurrent.futures.Future[T], what: str) -> None:
        self.what = what
        self._cf = cf
        self._cancelled = False
        self._future: asyncio.Future[T] | None = None

    def cancel(self) -> None:
        """Never call back; a job not started yet does not run at all."""
        self._cancelled = True
        self._cf.cancel()

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def done(self) -> bool:
        return self._cf.done()

    @property
    def failed(self) -> bool:
        """It ran and raised."""
        return self._cf.done() and not self._cf.cancelled() and self._cf.exception() is not None

    def wait(self, timeout: float | None = None) -> None:
        """Block until the job finished (for closing a store it reads); its failure is not raised
        here, its callbacks report it."""
        if self._cf.done():
            return
        try:
            self._cf.result(timeout)
        except Exception:  # noqa: BLE001 - reported through the job's own error path
            pass

    def __await__(self) -> Any:
        if self._future is None:
            self._future = asyncio.wrap_future(self._cf)
        return self._future.__await__()


class _Relay(QObject):
    """Lives on the GUI thread; a callable emitted from a worker runs there."""

    deliver = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.deliver.connect(self._call, Qt.ConnectionType.QueuedConnection)

    def _call(self, fn: Callable[[], None]) -> None:
        fn()


class Background:
    """Build it on the GUI thread: that is where its callbacks run."""

    def __init__(self, report: Report | None = None, workers: int = 4) -> None:
        if sys.getswitchinterval() > SWITCH_INTERVAL_S:
            sys.setswitchinterval(SWITCH_INTERVAL_S)
        self.report = report
        self._relay = _Relay()
        self._workers = workers
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._lanes: dict[str, concurrent.futures.ThreadPoolExecutor] = {}
        self._lane_sizes: dict[str, int] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._meetings: list[threading.Barrier] = []  # see start_workers

    def add_lane(self, name: str, workers: int = 1) -> None:
        """A lane of its own: ``workers`` threads that only run jobs sent to ``name``."""
        self._lane_sizes[name] = workers

    def _executor(self, lane: str | None) -> concurrent.futures.ThreadPoolExecutor:
        with self._lock:
            if self._closed:
                raise RuntimeError("the background workers are shut down")
            if lane is None:
                if self._pool is None:
                    self._pool = concurrent.futures.ThreadPoolExecutor(self._workers, thread_name_prefix="vhd-bg")
                return self._pool
            pool = self._lanes.get(lane)
            if pool is None:
                pool = concurrent.futures.ThreadPoolExecutor(self._lane_sizes.get(lane, 1), thread_name_prefix=f"vhd-{lane}")
                self._lanes[lane] = pool
            return pool

    def run(
        self,
        fn: Callable[..., T],
        *args: Any,
        done: Callable[[T], None] | None = None,
        failed: Callable[[BaseException], None] | None = None,
        what: str = "",
        lane: str | None = None,
    ) -> Job[T]:
        """Run ``fn(*args)`` off the GUI thread; ``done``/``failed`` are called on the GUI thread."""
        cf = self._executor(lane).submit(fn, *args)
        job = Job(cf, what or getattr(fn, "__name__", "work"))

        def finished(f: concurrent.futures.Future[T]) -> None:
            if job.cancelled or f.cancelled():
                return
            try:
                self._relay.deliver.emit(partial(self._deliver, job, f, done, failed))
            except RuntimeError:  # the application is gone: nobody left to tell
                pass

        cf.add_done_callback(finished)
        return job

    def start_workers(self) -> None:
        """Start the shared pool's threads and every lane's now, while the window is quiet.

        A pool starts a thread on the first job that finds none idle, and the thread asking
        waits until the new one has run its first lines: for those it needs Python's lock. Asked
        from the GUI thread while a folder is scanned, that wait lasted 30-50 ms, one lock turn
        after another given to the scan. So every worker exists before the first store opens.
        """
        with self._lock:
            sizes: list[tuple[str | None, int]] = [(None, self._workers), *self._lane_sizes.items()]
        for lane, n in sizes:
            # n jobs that each wait for the others: the pool has to start n threads for them
            meet = threading.Barrier(n)
            self._meetings.append(meet)
            pool = self._executor(lane)
            for _ in range(n):
                pool.submit(_meet, meet)

    def submit(self, fn: Callable[..., T], *args: Any, what: str = "", lane: str | None = None) -> Job[T]:
        """For a coroutine: ``await background.submit(fn, ...)`` gives the result or raises it
        there, where the coroutine handles it (no callback, no default error path)."""
        return Job(self._executor(lane).submit(fn, *args), what or getattr(fn, "__name__", "work"))

    def _deliver(
        self, job: Job[T], f: concurrent.futures.Future[T], done: Callable[[T], None] | None, failed: Callable[[BaseException], None] | None
    ) -> None:
        if job.cancelled:
            return
        exc = f.exception()
        if exc is None:
            if done is not None:
                done(f.result())
            return
        if failed is not None:
            failed(exc)
            return
        self.fail(job.what, exc)

    def fail(self, what: str, exc: BaseException) -> None:
        """The default error path: logged with its traceback, and told to the person."""
        log.error("background work failed: %s", what, exc_info=exc)
        if self.report is not None:
            self.report(what, exc)

    def threads(self) -> list[threading.Thread]:
        """The worker threads started so far (for tests that check none is left running)."""
        with self._lock:
            pools = [p for p in (self._pool, *self._lanes.values()) if p is not None]
        return [t for p in pools for t in list(getattr(p, "_threads", ()))]

    def shutdown(self, wait: bool = False) -> None:
        """No new work; pending jobs are dropped, running ones finish on their own."""
        with self._lock:
            self._closed = True
            pools = [p for p in (self._pool, *self._lanes.values()) if p is not None]
        for meet in self._meetings:  # a worker still waiting there for one that never came
            meet.abort()
        for pool in pools:
            pool.shutdown(wait=wait, cancel_futures=True)


def _meet(barrier: threading.Barrier) -> None:
    try:
        barrier.wait(timeout=10)
    except threading.BrokenBarrierError:  # shut down meanwhile, or a very slow start
        pass


_shared: Background | None = None


def shared() -> Background:
    """The process's background workers, for parts built without a window (tests, tools)."""
    global _shared
    if _shared is None:
        _shared = Background()
    return _shared
