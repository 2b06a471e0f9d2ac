"""Many debates at once: a concurrency limit, a requests-per-minute cap, a budget, pause,
resume and cancel, and a resume after a crash that does the rest exactly once (asyncio, no Qt).

Each finished debate is committed to the store before it counts, so a run killed at any
moment and started again on the same store skips every item already done and redoes only
those that were in flight. Items with a human decision are never debated unless asked.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vhd_gui.commit import commit_debate
from vhd_gui.config import Settings
from vhd_gui.engine import FAIL_CONFIG, DebateEngine, DebateFailed, VerdictReached
from vhd_gui.record import STATUS_ACCEPTED, STATUS_DEBATED, STATUS_OVERRIDDEN
from vhd_gui.store import Store

DONE_STATUSES = (STATUS_DEBATED, STATUS_ACCEPTED, STATUS_OVERRIDDEN)

STOP_DONE = "done"
STOP_BUDGET = "budget"
STOP_CANCELLED = "cancelled"
STOP_CONFIG = "config"


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
    skipped: int = 0  # already done or decided by a person
    done: int = 0
    failed: int = 0
    running: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    started: float = field(default_factory=time.monotonic)
    failures: list[ItemFailure] = field(default_factory=list)
    stop_reason: str = ""
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


@dataclass(frozen=True, slots=True)
class ItemStarted:
    path: str


@dataclass(frozen=True, slots=True)
class ItemFinished:
    path: str
    event: VerdictReached | DebateFailed
    progress: Progress


@dataclass(frozen=True, slots=True)
class BatchStopped:
    reason: str
    progress: Progress


BatchEvent = ItemStarted | ItemFinished | BatchStopped


def pending_items(store: Store, paths: Iterable[str], *, redo: bool = False) -> tuple[list[str], int]:
    """Which items still need a debate, and how many were skipped.

    Skipped: items whose current debate finished, and items a person already decided.
    Errors are not done: a rerun tries them again.
    """
    paths = list(paths)
    if redo:
        return paths, 0
    rows = store.rows(paths)
    todo: list[str] = []
    for p in paths:
        row = rows.get(p)
        if row is not None and (row.status in DONE_STATUSES or row.human_label):
            continue
        todo.append(p)
    return todo, len(paths) - len(todo)


class BatchRun:
    """One batch over a list of item paths (relative to the store's root).

    Iterate ``run()`` for events. ``pause()`` stops starting items (the running ones
    finish), ``resume()`` goes on, ``cancel()`` stops at once: running debates are dropped
    unrecorded, so the next run does them again.
    """

    def __init__(
        self,
        store: Store,
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
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.store = store
        self.settings = settings
        self.concurrency = concurrency
        self.budget_tokens = budget_tokens
        self.budget_usd = budget_usd
        self.skip = skip
        self.use_cache = use_cache
        self.limiter = RateLimiter(rpm) if rpm else None
        self.engine = engine or DebateEngine(settings, cache=cache if use_cache else None, gate=self.limiter)
        self._owns_engine = engine is None
        self._todo, skipped = pending_items(store, paths, redo=redo)
        self.left_for_later = max(0, len(self._todo) - limit) if limit is not None else 0
        if limit is not None:
            self._todo = self._todo[:limit]
        self.redo = redo
        self.progress = Progress(total=len(self._todo), skipped=skipped)
        self._resume = asyncio.Event()
        self._resume.set()
        self._cancelled = False
        self._stop_starting = ""
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ control
    def pause(self) -> None:
        self.progress.paused = True
        self._resume.clear()

    def resume(self) -> None:
        self.progress.paused = False
        self._resume.set()

    def cancel(self) -> None:
        self._cancelled = True
        self._resume.set()
        for task in list(self._tasks):
            task.cancel()

    def over_budget(self) -> bool:
        p = self.progress
        if self.budget_tokens is not None and p.tokens >= self.budget_tokens:
            return True
        return self.budget_usd is not None and p.cost_usd >= self.budget_usd

    # ------------------------------------------------------------------ the run
    async def run(self) -> AsyncIterator[BatchEvent]:
        queue: asyncio.Queue[BatchEvent | None] = asyncio.Queue()
        items = collections.deque(self._todo)

        async def worker() -> None:
            while items and not self._cancelled and not self._stop_starting:
                await self._resume.wait()
                if self._cancelled or self._stop_starting or not items:
                    break
                if self.over_budget():
                    self._stop_starting = STOP_BUDGET
                    break
                path = items.popleft()
                if not self.redo and self._decided_meanwhile(path):
                    self.progress.skipped += 1
                    self.progress.total -= 1
                    continue
                if self.skip is not None and self.skip(path):
                    self.progress.skipped += 1
                    self.progress.total -= 1
                    continue
                self.progress.running += 1
                await queue.put(ItemStarted(path))
                try:
                    last = await self._debate(path)
                finally:
                    self.progress.running -= 1
                if last is None:  # cancelled
                    break
                await queue.put(ItemFinished(path, last, self.progress))

        async def supervise() -> None:
            workers = [asyncio.create_task(worker()) for _ in range(self.concurrency)]
            self._tasks.update(workers)
            try:
                await asyncio.gather(*workers, return_exceptions=True)
            finally:
                await queue.put(None)

        supervisor = asyncio.create_task(supervise())
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

    def _decided_meanwhile(self, path: str) -> bool:
        row = self.store.row(path)
        return row is not None and bool(row.human_label)

    async def _debate(self, path: str) -> VerdictReached | DebateFailed | None:
        abs_path = self.store.root / path
        last: Any = None
        try:
            async for ev in self.engine.run(abs_path, label=path, use_cache=self.use_cache):
                last = ev
        except asyncio.CancelledError:
            return None
        assert isinstance(last, (VerdictReached, DebateFailed))
        rec = last.record
        # Commit first: only a recorded debate counts, so a crash never loses or repeats one.
        commit_debate(self.store, last)
        p = self.progress
        p.prompt_tokens += rec.prompt_tokens
        p.cached_tokens += rec.cached_tokens
        p.completion_tokens += rec.completion_tokens
        p.cost_usd += self.settings.cost_usd(rec.prompt_tokens, rec.cached_tokens, rec.completion_tokens)
        if isinstance(last, VerdictReached):
            p.done += 1
        else:
            p.failed += 1
            p.failures.append(ItemFailure(path, last.kind, last.message))
            if last.kind == FAIL_CONFIG:
                # Every other item would fail the same way: stop instead of a retry storm.
                self._stop_starting = STOP_CONFIG
        return last
