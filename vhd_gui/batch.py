"""Many debates at once: a concurrency limit, a requests-per-minute cap, a budget, pause,
resume and cancel, and a resume after a crash that does the rest exactly once (asyncio, no Qt).

Each finished debate is committed to the store before it counts, so a run killed at any
moment and started again on the same store skips every item already done and redoes only
those that were in flight. Items with a human decision are never debated unless asked.

The store is the one queue: each item is claimed there before its debate (see
:meth:`Store.claim_item`), so several runs on one store share the items and none is paid for
twice. What cannot be put on one item's account never passes silently: an exception stops the
run with a one-line reason, a server that stops answering stops (or pauses) it after a few
items, and a budget is a ceiling that counts the debates in flight before starting another.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import errno
import itertools
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from vhd_gui.commit import commit_debate
from vhd_gui.config import Settings
from vhd_gui.engine import FAIL_API, FAIL_CONFIG, FAIL_TIMEOUT, DebateEngine, DebateFailed, VerdictReached
from vhd_gui.record import STATUS_ACCEPTED, STATUS_DEBATED, STATUS_OVERRIDDEN, DebateRecord
from vhd_gui.store import STORE_ERRORS, Claim, ClaimLost, now_iso
from vhd_gui.store_api import StoreLike

if TYPE_CHECKING:
    from vhd_gui.media import PreparedMedia

log = logging.getLogger(__name__)

DONE_STATUSES = (STATUS_DEBATED, STATUS_ACCEPTED, STATUS_OVERRIDDEN)

STOP_DONE = "done"
STOP_BUDGET = "budget"
STOP_CANCELLED = "cancelled"
STOP_CONFIG = "config"
STOP_SERVER = "server"  # several items in a row found the server not answering: see Progress.stop_message
STOP_ERROR = "error"  # an item raised (the store refused a write, a full disk, a bug): see Progress.stop_message

DEAD_SERVER_AFTER = 3  # items in a row that find the server not answering, the same way, before the run stops
ON_DEAD_SERVER_STOP, ON_DEAD_SERVER_PAUSE = "stop", "pause"
DEFAULT_LEASE_SECONDS = 60.0  # a claim not renewed for this long goes back to the queue
DEFERRED_POLL_SECONDS = 2.0  # how often items another run holds are looked at again
_HELD = object()  # _claim(): another run holds the item

_T = TypeVar("_T")

FAIL_STORE = "store"  # the debate ended but the store could not record it
FAIL_INTERNAL = "internal"  # an exception nobody expected


class RateLimiter:
    """At most ``rpm`` requests in any 60-second window, shared by every worker."""

    def __init__(self, rpm: int, *, clock: Callable[[], float] = time.monotonic, window: float = 60.0) -> None:
        if rpm < 1:
            raise ValueError("rpm must be at least 1")
        self.rpm = rpm
        self.window = window
        self._clock = clock
        self._sent: collections.deque[float] = collections.deque()
        self._lock = asyncio.Lock()

    def delay_needed(self) -> float:
        """Seconds until another request may go (0 if now)."""
        now = self._clock()
        while self._sent and now - self._sent[0] >= self.window:
            self._sent.popleft()
        if len(self._sent) < self.rpm:
            return 0.0
        return self._sent[0] + self.window - now

    async def acquire(self) -> None:
        async with self._lock:
            while (wait := self.delay_needed()) > 0:
                await asyncio.sleep(wait)
            self._sent.append(self._clock())


@dataclass
class ItemFailure:
    path: str
    kind: str
    message: str


@dataclass
class Progress:
    total: int = 0  # items this run will consider (after skipping)
    skipped: int = 0  # already done or decided by a person, or done by another run meanwhile
    done_elsewhere: int = 0  # of the skipped: debated by another run on the same store during this one
    lost: int = 0  # of those: this run's claim ran out and another run took the item over (not recorded here)
    done: int = 0
    failed: int = 0
    running: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    estimated_tokens: int = 0  # of the tokens: counted by an estimate (the server reported no usage)
    budget_tokens: int | None = None
    budget_usd: float | None = None
    started: float = field(default_factory=time.monotonic)
    failures: list[ItemFailure] = field(default_factory=list)
    stop_reason: str = ""
    stop_message: str = ""  # one line: why the run stopped early (an error, a dead server), '' otherwise
    notice: str = ""  # one line: why the run paused itself (a dead server), '' otherwise
    paused: bool = False

    @property
    def finished(self) -> int:
        return self.done + self.failed

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        """Items finished per second so far."""
        return self.finished / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        left = self.total - self.finished
        return left / self.rate if self.rate > 0 else None

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def overrun(self) -> str:
        """'' within the budget; else by how much the run went over it, in words."""
        if self.budget_tokens is not None and self.tokens > self.budget_tokens:
            over = self.tokens - self.budget_tokens
            return f"went over the budget of {self.budget_tokens:,} tokens by {over:,} ({100 * over / max(1, self.budget_tokens):.1f}%)"
        if self.budget_usd is not None and self.cost_usd > self.budget_usd:
            over_usd = self.cost_usd - self.budget_usd
            share = f" ({100 * over_usd / self.budget_usd:.1f}%)" if self.budget_usd else ""
            return f"went over the budget of ${self.budget_usd:.2f} by ${over_usd:.4f}{share}"
        return ""


@dataclass(frozen=True, slots=True)
class ItemStarted:
    path: str


@dataclass(frozen=True, slots=True)
class ItemFinished:
    path: str
    event: VerdictReached | DebateFailed | None  # None: the item raised (see progress.failures)
    progress: Progress


@dataclass(frozen=True, slots=True)
class BatchStopped:
    reason: str
    progress: Progress


BatchEvent = ItemStarted | ItemFinished | BatchStopped


def server_trouble(kind: str, message: str) -> str | None:
    """How a failed debate says the server is not answering, or None for any other failure.

    Timeouts, refused or broken connections and server errors are each one way; a refusal of
    the content, bad media or a rejected request say nothing about the server being up.
    """
    text = message.lower()
    if kind == FAIL_TIMEOUT:
        return "no answer in time"
    if "cannot reach the server" in text or ("connection to" in text and "broke" in text):
        return "the connection was refused or broke"
    if kind == FAIL_API and "server error (" in text:
        return "server errors"
    return None


def estimated_tokens(record: DebateRecord) -> int:
    """The tokens of a debate that were counted by an estimate because the server reported none.

    Reads the engine's ``usage_estimated`` mark on each turn (or on the whole record); a record
    from an engine without that mark has none.
    """
    turns = [t for t in record.turns if getattr(t, "usage_estimated", False)]
    if turns:
        return sum(t.prompt_tokens + t.completion_tokens for t in turns)
    if getattr(record, "usage_estimated", False):
        return record.prompt_tokens + record.completion_tokens
    return 0


def pending_items(store: StoreLike, paths: Iterable[str], *, redo: bool = False) -> tuple[list[str], int]:
    """Which items still need a debate, and how many were skipped.

    Skipped: items whose current debate finished, and items a person already decided (also
    when several people's decisions are disputed and so give no human label).
    Errors are not done: a rerun tries them again.
    """
    paths = list(paths)
    if redo:
        return paths, 0
    rows = store.rows(paths)
    todo: list[str] = []
    for p in paths:
        row = rows.get(p)
        if row is not None and (row.status in DONE_STATUSES or row.human_label or row.reviewer_count):
            continue
        todo.append(p)
    return todo, len(paths) - len(todo)


def default_owner(what: str = "batch") -> str:
    """How a claim names its holder for the people who see it: what, where, which process."""
    return f"{what} on {socket.gethostname()} (pid {os.getpid()})"


class BatchRun:
    """One batch over a list of item paths (relative to the store's root).

    Iterate ``run()`` for events. ``pause()`` stops starting items (the running ones
    finish), ``resume()`` goes on, ``cancel()`` stops at once: running debates are dropped
    unrecorded, so the next run does them again.

    Each item is claimed in the store before its debate and its result recorded only while the
    claim holds, so several runs on one store (two terminals, a terminal and the window) share
    the work and never debate an item twice. A claim lasts ``lease_seconds`` and is renewed
    while the debate runs; the claims of a killed run come back to the queue when they run out.
    An item another run holds is tried again once this run's own queue is empty.
    """

    def __init__(
        self,
        store: StoreLike,
        settings: Settings,
        paths: Sequence[str],
        *,
        concurrency: int = 4,
        rpm: int | None = None,
        budget_tokens: int | None = None,
        budget_usd: float | None = None,
        redo: bool = False,
        use_cache: bool = True,
        cache: Any = None,
        skip: Callable[[str], bool] | None = None,
        engine: DebateEngine | None = None,
        limit: int | None = None,
        owner: str | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        on_dead_server: str = ON_DEAD_SERVER_STOP,
        dead_server_after: int = DEAD_SERVER_AFTER,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        if on_dead_server not in (ON_DEAD_SERVER_STOP, ON_DEAD_SERVER_PAUSE):
            raise ValueError(f"on_dead_server must be {ON_DEAD_SERVER_STOP!r} or {ON_DEAD_SERVER_PAUSE!r}")
        self.on_dead_server = on_dead_server
        self.dead_server_after = max(1, dead_server_after)
        self._trouble: tuple[str, int] = ("", 0)  # the way the last items found the server down, and how many in a row
        self._answered = False  # the server gave this run an answer (a refused connection then means it went down)
        self.store = store
        self.settings = settings
        self.concurrency = concurrency
        self.budget_tokens = budget_tokens
        self.budget_usd = budget_usd
        self.skip = skip
        self.use_cache = use_cache
        self.owner = owner or default_owner()
        self.lease_seconds = lease_seconds
        self.limiter = RateLimiter(rpm) if rpm else None
        self.engine = engine or DebateEngine(settings, cache=cache if use_cache else None, gate=self.limiter)
        self._owns_engine = engine is None
        self._todo, skipped = pending_items(store, paths, redo=redo)
        self.left_for_later = max(0, len(self._todo) - limit) if limit is not None else 0
        if limit is not None:
            self._todo = self._todo[:limit]
        self.redo = redo
        self.progress = Progress(total=len(self._todo), skipped=skipped, budget_tokens=budget_tokens, budget_usd=budget_usd)
        self._costed = 0  # debates whose spend is in the progress figures (for the projection of the next ones)
        self._began = now_iso()  # with redo: an item recorded after this was done by another run
        self._wake = asyncio.Event()  # resume() and cancel() wake the dispatcher
        self._cancelled = False
        self._stop_starting = ""
        self._tasks: set[asyncio.Task[None]] = set()
        self._claims: dict[str, Claim] = {}  # the claims this run holds, by path
        self._item_tasks: dict[str, asyncio.Task[None]] = {}
        self._lost: set[str] = set()  # items whose claim was taken over while their debate ran
        self._media: dict[str, asyncio.Task[PreparedMedia | None]] = {}  # prepared ahead (see _prefetch)
        # The thread that records finished debates and renews claims (see _store_write).
        self._store_lane: concurrent.futures.ThreadPoolExecutor | None = None

    # ------------------------------------------------------------------ control
    def pause(self) -> None:
        self.progress.paused = True

    def resume(self) -> None:
        self.progress.paused = False
        self.progress.notice = ""
        self._trouble = ("", 0)  # the person says the server is back: count afresh
        self._wake.set()

    def cancel(self) -> None:
        self._cancelled = True
        self._wake.set()
        for task in list(self._tasks):
            task.cancel()

    def over_budget(self) -> bool:
        p = self.progress
        if self.budget_tokens is not None and p.tokens >= self.budget_tokens:
            return True
        return self.budget_usd is not None and p.cost_usd >= self.budget_usd

    def _budget_room(self, running: int) -> str:
        """Whether another debate may start under the budget: 'start', 'wait' (for the running
        ones, to learn their cost) or 'stop'.

        The budget is a ceiling: what the debates in flight will spend counts before a new one
        starts, projected from the mean spend of this run's finished debates. Until one has
        finished, a single debate runs alone to measure it.
        """
        if self.budget_tokens is None and self.budget_usd is None:
            return "start"
        if self.over_budget():
            return "stop"
        p = self.progress
        if not self._costed:
            return "wait" if running else "start"
        ahead = running + 1
        fits = True
        if self.budget_tokens is not None:
            fits = p.tokens + ahead * p.tokens / self._costed <= self.budget_tokens
        if self.budget_usd is not None:
            fits = fits and p.cost_usd + ahead * p.cost_usd / self._costed <= self.budget_usd
        if fits:
            return "start"
        return "wait" if running else "stop"

    @property
    def held_paths(self) -> list[str]:
        """The items this run has claimed right now."""
        return sorted(self._claims)

    # ------------------------------------------------------------------ the run
    async def run(self) -> AsyncIterator[BatchEvent]:
        queue: asyncio.Queue[BatchEvent | None] = asyncio.Queue()
        supervisor = asyncio.create_task(self._dispatch(queue))
        try:
            while (ev := await queue.get()) is not None:
                yield ev
        finally:
            if not supervisor.done():
                self.cancel()
                supervisor.cancel()
            try:
                await supervisor
            except asyncio.CancelledError:
                pass
            if self._owns_engine:
                await self.engine.close()
        p = self.progress
        p.stop_reason = STOP_CANCELLED if self._cancelled else (self._stop_starting or STOP_DONE)
        yield BatchStopped(p.stop_reason, p)

    async def _dispatch(self, queue: asyncio.Queue[BatchEvent | None]) -> None:
        """Start items while there are free slots, and wait for the running ones to end.

        Every exception of an item (a store that cannot take the write, a full disk, a bug)
        is counted as a failure of that item and stops the run: nothing is gathered and dropped.
        """
        items = collections.deque(self._todo)
        held_elsewhere: list[str] = []  # claimed by another run: tried again when the queue is empty
        retry_at = 0.0
        poll = min(DEFERRED_POLL_SECONDS, self.lease_seconds / 2)
        running: set[asyncio.Task[None]] = set()
        self._store_lane = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="vhd-batch-store")
        wake = asyncio.create_task(self._wake.wait())
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            while not self._cancelled:
                if not items and held_elsewhere and time.monotonic() >= retry_at:
                    items.extend(held_elsewhere)
                    held_elsewhere.clear()
                    retry_at = time.monotonic() + poll
                if not self._stop_starting and not self.progress.paused:
                    try:
                        await self._fill(items, held_elsewhere, running, queue)
                    except Exception as exc:  # noqa: BLE001 - a failing store stops the run, with its reason
                        self._break_run("", exc, "the store could not be read")
                if heartbeat.done() and not self._stop_starting:
                    self._break_run(
                        "", heartbeat.exception() or RuntimeError("the claim heartbeat stopped"), "the store could not renew the claims"
                    )
                if not running:
                    if self._stop_starting or not (items or held_elsewhere):
                        break
                    # Paused, or waiting for another run's items: wait for resume(), cancel() or the poll.
                if wake.done():
                    self._wake.clear()
                    wake = asyncio.create_task(self._wake.wait())
                timeout = max(0.0, retry_at - time.monotonic()) if held_elsewhere and not items else None
                await asyncio.wait([*running, wake], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if running:  # cancelled: the running debates are dropped unrecorded
                for task in running:
                    task.cancel()
                await asyncio.gather(*running, return_exceptions=True)
        finally:
            wake.cancel()
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await heartbeat
            self._drop_media()
            self._release_all()
            lane, self._store_lane = self._store_lane, None
            lane.shutdown(wait=False)  # nothing is left in it that a debate waits for
            await queue.put(None)

    async def _fill(
        self,
        items: collections.deque[str],
        held_elsewhere: list[str],
        running: set[asyncio.Task[None]],
        queue: asyncio.Queue[BatchEvent | None],
    ) -> None:
        while items and len(running) < self.concurrency and not self._stop_starting and not self._cancelled and not self.progress.paused:
            room = self._budget_room(len(running))
            if room == "wait":
                return
            if room == "stop":
                self._stop_starting = STOP_BUDGET
                return
            path = items.popleft()
            try:
                if self.skip is not None and self.skip(path):
                    self._skip(path)
                    self._drop_media(path)
                    continue
                claim = await self._claim(path)
            except Exception as exc:  # noqa: BLE001 - the item could not even start: it failed, and the run stops
                self._break_run(path, exc, store_words="the store could not take its claim")
                queue.put_nowait(ItemFinished(path, None, self.progress))
                return
            if claim is None:
                self._drop_media(path)
                continue
            if claim is _HELD:
                held_elsewhere.append(path)
                continue
            assert isinstance(claim, Claim)
            if self.progress.paused:
                # Paused while the claim was being taken: nothing starts until resume; the item
                # goes back to the front of the line and its claim back to the store.
                items.appendleft(path)
                with contextlib.suppress(Exception):  # a store that cannot write: the lease runs out instead
                    await self._store_write(self.store.release_claim, claim, to_the_end=True)
                return
            self._claims[path] = claim
            self.progress.running += 1
            queue.put_nowait(ItemStarted(path))
            media = self._media.pop(path, None) or self._prepare(path)
            task = asyncio.create_task(self._item(path, queue, media))
            running.add(task)
            self._tasks.add(task)
            self._item_tasks[path] = task
            task.add_done_callback(running.discard)
            task.add_done_callback(self._tasks.discard)
        if not self._stop_starting:
            self._prefetch(items)

    def _prepare(self, path: str) -> asyncio.Task[PreparedMedia | None]:
        return asyncio.create_task(self._prepared(path))

    async def _prepared(self, path: str) -> PreparedMedia | None:
        """The item's media, or None when it cannot be prepared: the debate then tries itself
        and reports the failure as it always does (a DebateFailed of kind media)."""
        try:
            return await self.engine.prepare_media(self.store.file_path(path))
        except Exception:  # noqa: BLE001 - the debate finds and names the same problem
            return None

    def _prefetch(self, items: collections.deque[str]) -> None:
        """Prepare the media of the next items in line (as many as run at once) while the
        running ones debate, so that a free slot sends its first request at once instead of
        waiting for a decode and an encode; when many items end together, their successors
        would otherwise queue for the media workers with the event loop starved meanwhile."""
        for path in itertools.islice(items, self.concurrency):
            if path not in self._media:
                self._media[path] = self._prepare(path)

    def _drop_media(self, path: str | None = None) -> None:
        """Forget the media prepared for ``path`` (every item when None)."""
        for p in [path] if path is not None else list(self._media):
            task = self._media.pop(p, None)
            if task is not None:
                task.cancel()

    def _skip(self, path: str, elsewhere: bool = False) -> None:
        self.progress.skipped += 1
        self.progress.total -= 1
        if elsewhere:
            self.progress.done_elsewhere += 1

    async def _claim(self, path: str) -> Claim | object | None:
        """This run's claim on ``path``; _HELD while another run holds it; None: skipped (done
        meanwhile). The store's part runs on the store thread, so its write does not hold up
        the debates streaming meanwhile; a claim taken is kept even if the run is cancelled
        during it (and then given back with the others)."""
        outcome, claim = await self._store_write(self._claim_in_store, path, to_the_end=True)
        if outcome == "held":
            return _HELD
        if outcome:
            self._skip(path, elsewhere=outcome == "elsewhere")
            return None
        return claim

    def _claim_in_store(self, path: str) -> tuple[str, Claim | None]:
        """The store's part of :meth:`_claim`: ('', claim), ('held', None), or why the item needs
        no debate from this run any more ('decided' or 'elsewhere', see _settled_how)."""
        settled = self._settled_how(path)
        if settled:
            return settled, None
        if self.store.claim_holder(path) is not None:
            return "held", None
        claim = self.store.claim_item(path, self.owner, self.lease_seconds)
        if claim is None:
            return "held", None
        # Another run may have recorded it between the look above and the claim.
        settled = self._settled_how(path)
        if settled:
            self.store.release_claim(claim)
            return settled, None
        return "", claim

    def _settled_how(self, path: str) -> str:
        """'' while the item still needs a debate from this run; 'decided' when a person decided
        it, 'elsewhere' when another run debated it since this run made its list."""
        row = self.store.row(path)
        if row is None:
            return ""
        if self.redo:
            # Redo debates every item again, once: one recorded after this run began is done.
            if row.human_label is None and row.status in DONE_STATUSES and row.updated_at > self._began:
                return "elsewhere"
            return ""
        if row.human_label or row.reviewer_count:  # decided, or disputed between people
            return "decided"
        if row.status in DONE_STATUSES:
            return "elsewhere"
        return ""

    async def _heartbeat(self) -> None:
        """Renew this run's claims while their debates run; a claim taken over drops its debate."""
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            for path, claim in list(self._claims.items()):
                renewed = await self._store_write(self.store.renew_claim, claim, self.lease_seconds)
                if path not in self._claims:
                    continue  # finished meanwhile
                if renewed is None:
                    self._lost.add(path)
                    del self._claims[path]
                    task = self._item_tasks.get(path)
                    if task is not None:
                        task.cancel()
                else:
                    self._claims[path] = renewed

    def _release_all(self) -> None:
        """Give back the claims of debates that were dropped (cancelled); their leases end now."""
        for claim in list(self._claims.values()):
            with contextlib.suppress(Exception):  # a store that cannot write: the lease runs out instead
                self.store.release_claim(claim)
        self._claims.clear()

    async def _store_write(self, call: Callable[..., _T], *args: Any, to_the_end: bool = False) -> _T:
        """``call(*args)`` (a store write) on this run's store thread, so that its fsync (or a
        database server's round trip) does not hold up every answer streaming on the event
        loop; one thread, so writes keep their order. The store serialises its own access.

        ``to_the_end``: the write is waited for even if the task is cancelled meanwhile, and
        the task carries on as if the cancel had come after it (a debate that was recorded is
        counted, as when the write ran on the loop and could not be interrupted)."""
        lane = self._store_lane
        if lane is None:
            return call(*args)
        future = asyncio.get_running_loop().run_in_executor(lane, call, *args)
        if not to_the_end:
            return await future
        task = asyncio.current_task()
        while not future.done():
            try:
                await asyncio.wait([future])
            except asyncio.CancelledError:
                if task is not None:
                    task.uncancel()
        return future.result()

    async def _item(self, path: str, queue: asyncio.Queue[BatchEvent | None], media: asyncio.Task[PreparedMedia | None]) -> None:
        event: VerdictReached | DebateFailed | None = None
        try:
            event = await self._debate(path, media)
            if event is None and path not in self._lost:
                return  # cancelled: dropped unrecorded (the claim is given back)
        except asyncio.CancelledError:
            if path not in self._lost:
                return
        except ClaimLost:
            self._lost.add(path)
        except Exception as exc:  # noqa: BLE001 - counted and reported, never dropped
            self._break_run(path, exc)
        finally:
            self.progress.running -= 1
            self._item_tasks.pop(path, None)
            claim = self._claims.pop(path, None)
            if claim is not None and event is None:
                with contextlib.suppress(Exception):
                    self.store.release_claim(claim)
        if path in self._lost:
            self._skip(path, elsewhere=True)
            self.progress.lost += 1
        await queue.put(ItemFinished(path, event, self.progress))

    def _break_run(self, path: str, exc: BaseException, store_words: str = "the store could not take the result") -> None:
        """Count ``path`` (if any) as failed and stop starting items, with a one-line reason."""
        kind = FAIL_STORE if isinstance(exc, STORE_ERRORS) else FAIL_INTERNAL
        text = " ".join(str(exc).split()) or type(exc).__name__
        what = store_words if kind == FAIL_STORE else "an internal error"
        message = f"{what}: {type(exc).__name__}: {text}"
        if "disk is full" in text or getattr(exc, "errno", None) == errno.ENOSPC:
            message += f" (free some space where the store is: {self.store.path.parent})"
        log.debug("batch stopped on %s", path or "(no item)", exc_info=exc)
        p = self.progress
        if path:
            p.failed += 1
            p.failures.append(ItemFailure(path, kind, message))
        if not p.stop_message:
            p.stop_message = f"{path}: {message}" if path else message
        self._stop_starting = STOP_ERROR

    async def _debate(self, path: str, media: asyncio.Task[PreparedMedia | None]) -> VerdictReached | DebateFailed | None:
        abs_path = self.store.file_path(path)  # the real name, also when it is not UTF-8
        last: Any = None
        try:
            prepared = await media
            async for ev in self.engine.run(abs_path, media=prepared, label=path, use_cache=self.use_cache, token_events=False):
                last = ev
        except asyncio.CancelledError:
            return None
        if not isinstance(last, (VerdictReached, DebateFailed)):
            raise RuntimeError(f"the debate of {path} ended without a verdict or a failure")
        rec = last.record
        p = self.progress
        # What was spent counts even if the result cannot be recorded: it was paid for.
        p.prompt_tokens += rec.prompt_tokens
        p.cached_tokens += rec.cached_tokens
        p.completion_tokens += rec.completion_tokens
        p.cost_usd += self.settings.cost_usd(rec.prompt_tokens, rec.cached_tokens, rec.completion_tokens)
        p.estimated_tokens += estimated_tokens(rec)
        if rec.turns:
            self._costed += 1
        claim = self._claims.pop(path, None)  # out of the heartbeat's hands while it is recorded
        if claim is None:
            raise ClaimLost(f"the claim on {path} was taken over")
        # Commit first: only a recorded debate counts, so a crash never loses or repeats one.
        try:
            await self._store_write(commit_debate, self.store, last, claim, to_the_end=True)
        except Exception:
            self._claims[path] = claim  # not recorded: _item gives the claim back
            raise
        if isinstance(last, VerdictReached):
            p.done += 1
            self._answered = True
            self._trouble = ("", 0)
        else:
            p.failed += 1
            p.failures.append(ItemFailure(path, last.kind, last.message))
            self._answered = self._answered or any(t.text for t in rec.turns)
            trouble = server_trouble(last.kind, last.message)
            if last.kind == FAIL_CONFIG and not (trouble and self._answered):
                # Every other item would fail the same way: stop instead of a retry storm.
                self._stop_starting = STOP_CONFIG
            elif trouble:
                self._count_trouble(trouble, last.message)
        return last

    def _count_trouble(self, way: str, message: str) -> None:
        """A few items in a row finding the server down the same way stop (or pause) the run,
        instead of spending the whole turn deadline on every item left."""
        n = self._trouble[1] + 1 if self._trouble[0] == way else 1
        self._trouble = (way, n)
        if n < self.dead_server_after or self._stop_starting:
            return
        p = self.progress
        words = f"the server stopped answering: {n} items in a row failed ({way}); the last: {message}"
        if self.on_dead_server == ON_DEAD_SERVER_PAUSE:
            if not p.paused:
                p.notice = words
                self.pause()
            return
        p.stop_message = words
        self._stop_starting = STOP_SERVER
