"""Which debate is live for which item: the window's one Run at a time, without widgets.

The controller owns the debate engine (built on the first Run, after the agent libraries were
imported in a worker thread), runs one debate as an asyncio task, commits its record to the
store, and tells a sink what happened. It keeps every event of the live debate, so a view that
comes back to the item mid-debate replays them and then follows the stream; once the debate is
over, the stored record is the only source. It never draws: the window decides what the panels
show.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from typing import TYPE_CHECKING, Any, Protocol

from vhd_gui.config import ConfigError, Settings
from vhd_gui.gcpause import collector_paused, keep_out_of_collections

if TYPE_CHECKING:
    from vhd_gui.cache import ResponseCache
    from vhd_gui.store import Claim, Store
    from vhd_gui.ui._background import Background, Job

log = logging.getLogger(__name__)

# How a debate ended, for DebateSink.debate_ended
ENDED_RECORDED = "recorded"  # a verdict or a failure is in the store
ENDED_CANCELLED = "cancelled"
ENDED_ERROR = "error"  # it could not run (settings) or crashed; nothing recorded
CLAIM_LEASE_S = 120.0  # the window's claim on the item it debates, renewed every 40 s while it runs
WRITES_LANE = "debate-writes"  # the debate's claim, renewals, record and release: off the GUI thread, in order


class DebateSink(Protocol):
    def debate_event(self, rel: str, event: Any) -> None:
        """An engine event of the live debate on ``rel`` (tokens, turns, retries)."""

    def debate_recorded(self, rel: str, event: Any) -> None:
        """The debate's VerdictReached or DebateFailed, already committed to the store."""

    def debate_ended(self, rel: str, how: str, message: str) -> None:
        """The debate on ``rel`` is over (one of the ENDED_* words) and no longer live."""


# What the first request imports on its way (the HTTP stack, the streaming helpers): imported
# beforehand, the first debate does not stall the window compiling them.
_FIRST_REQUEST_MODULES = ("openai.resources.chat.chat", "openai.resources.chat.completions.completions", "openai.lib.streaming.chat", "httpcore2", "httpcore",
                          "h11", "anyio._backends._asyncio", "jiter", "truststore")


def _warm_imports() -> None:
    """Import the agent libraries (≈2 s) in a worker thread, after the window is up.

    They build tens of thousands of objects (pydantic's schemas among them) that live as long
    as the app: the cycle collector is paused while they load, and what they made is then kept
    out of later collections. Otherwise the full collections they trigger stop every thread,
    the window's included, for 50-80 ms at a time.
    """
    with collector_paused():
        import autogen_core  # noqa: F401
        import autogen_ext.models.openai  # noqa: F401
        import openai  # noqa: F401
        from PIL import Image

        import vhd_gui.commit  # noqa: F401
        import vhd_gui.engine  # noqa: F401

        Image.init()  # every picture format's plug-in
        for name in _FIRST_REQUEST_MODULES:
            with contextlib.suppress(ImportError):  # not every version of the HTTP stack has each
                importlib.import_module(name)
        keep_out_of_collections()


class DebateController:
    def __init__(self, settings: Settings, cache: ResponseCache | None, sink: DebateSink, background: Background) -> None:
        self.settings = settings
        self._bg = background
        background.add_lane(WRITES_LANE, 1)
        self.cache = cache
        self._sink = sink
        self._engine: Any = None
        self._warm: Job[None] | None = None
        self.task: asyncio.Task[None] | None = None
        self.live_path: str | None = None
        self._events: list[Any] = []  # of the live debate, in order
        self._store: Store | None = None

    @property
    def running(self) -> bool:
        return self.live_path is not None

    def live_events(self, rel: str) -> list[Any] | None:
        """Every event the live debate on ``rel`` produced so far (to replay before following
        it), or None when no debate on ``rel`` is live: then its stored record is the truth."""
        return list(self._events) if rel == self.live_path else None

    # ---------------------------------------------------------------- engine
    @property
    def warming(self) -> bool:
        """The agent libraries are being (or have been) loaded."""
        return self._warm is not None

    def warm_up(self) -> None:
        """Start importing the agent libraries in the background (the window is already up)."""
        if self._warm is None:
            # A failure is met (and said) by the debate that awaits this job.
            self._warm = self._bg.submit(_warm_imports, what="loading the agent libraries")

    async def ready(self) -> None:
        self.warm_up()
        assert self._warm is not None
        await self._warm

    async def _get_engine(self) -> Any:
        await self.ready()
        if self._engine is None:
            from vhd_gui.engine import DebateEngine

            self._engine = DebateEngine(self.settings, cache=self.cache)
        return self._engine

    def use_settings(self, settings: Settings) -> None:
        """New settings: the next debate builds a new engine (the running one keeps its own)."""
        self.settings = settings
        if self._engine is not None and not self.running:
            old, self._engine = self._engine, None
            asyncio.ensure_future(old.close())

    # ---------------------------------------------------------------- one debate
    def start(self, store: Store, rel: str, abs_path: str, *, use_cache: bool) -> None:
        assert not self.running
        self.live_path = rel
        self._events = []
        self._store = store
        self.task = asyncio.ensure_future(self._run(store, rel, abs_path, use_cache))

    def cancel(self) -> bool:
        """Cancel the running debate (nothing is recorded); False when none runs."""
        self._store = None
        if self.task is not None and not self.task.done():
            self.task.cancel()
            return True
        return False

    async def _run(self, store: Store, rel: str, abs_path: str, use_cache: bool) -> None:
        from vhd_gui.batch import default_owner
        from vhd_gui.commit import commit_debate
        from vhd_gui.engine import DebateFailed, VerdictReached
        from vhd_gui.store import STORE_ERRORS

        how, message = ENDED_ERROR, ""
        claim: Claim | None = None
        heartbeat: asyncio.Task[None] | None = None
        try:
            # Claimed like a batch's item, so a batch in a terminal leaves it to this window
            # (and this window to a batch that holds it: the window asks before starting).
            try:
                claim = await self._write(store.claim_item, rel, default_owner("window"), CLAIM_LEASE_S, what=f"claiming {rel}")
            except STORE_ERRORS as exc:  # a read-only store takes no claim (nor a result: said below)
                log.info("no claim on %s: %s", rel, exc)
            else:
                if claim is None:
                    message = "a batch has just claimed this item; it will debate it"
                    return
                heartbeat = asyncio.ensure_future(self._keep(store, claim))
            engine = await self._get_engine()
            async for ev in engine.run(abs_path, label=rel, use_cache=use_cache):
                if isinstance(ev, (VerdictReached, DebateFailed)):
                    if self._store is not store:  # the window let go of this store meanwhile
                        how = ENDED_CANCELLED
                        return
                    try:
                        await self._write(commit_debate, store, ev, claim, what=f"recording the debate of {rel}")
                    except Exception as exc:  # noqa: BLE001 - disk full, locked, damaged, claim lost: not saved
                        log.warning("the debate of %s could not be saved: %s", rel, exc)
                        message = f"the debate finished but could not be saved: {exc}"
                        return
                    claim = None  # recording it ended the claim
                    how = ENDED_RECORDED
                    self._sink.debate_recorded(rel, ev)
                else:
                    self._events.append(ev)
                    self._sink.debate_event(rel, ev)
        except asyncio.CancelledError:
            if how != ENDED_RECORDED:  # a cancel that came while the record was being written: it is kept
                how = ENDED_CANCELLED
        except ConfigError as exc:
            message = str(exc)
        except Exception as exc:  # noqa: BLE001 - a bug must not take the window down
            log.exception("debate of %s crashed", rel)
            message = f"internal error: {type(exc).__name__}: {exc}"
        finally:
            if heartbeat is not None:
                heartbeat.cancel()
            if claim is not None:  # nothing recorded: the item goes back to the queue (else its lease runs out)
                try:
                    self._bg.run(store.release_claim, claim, lane=WRITES_LANE, what=f"giving back the claim on {rel}",
                                 failed=lambda exc: log.info("the claim on %s was not given back: %s", rel, exc))
                except RuntimeError:  # the workers are shut down (the window is closing): here, then
                    with contextlib.suppress(Exception):
                        store.release_claim(claim)
            self.live_path = None
            self._events = []
            self._store = None
            self._sink.debate_ended(rel, how, message)

    async def _write(self, fn: Any, *args: Any, what: str) -> Any:
        """``fn(*args)``, a store write, on the debate's lane off the GUI thread (it may wait for
        another program's write, or for the disk). It is waited for to its end even when the
        debate is cancelled meanwhile, and the cancel then takes effect at the next step, so
        that what the store did and what the window says agree."""
        inner = asyncio.ensure_future(self._bg.submit(fn, *args, lane=WRITES_LANE, what=what))
        task = asyncio.current_task()
        cancelled = False
        try:
            while not inner.done():
                try:
                    await asyncio.shield(inner)
                except asyncio.CancelledError:
                    if inner.done() and inner.cancelled():
                        raise
                    cancelled = True  # the write goes on; so does this step, until it has finished
                    if task is not None:
                        task.uncancel()
        finally:
            if cancelled and task is not None:
                task.cancel()  # taken up at the next await, whatever the write gave
        return inner.result()

    async def _keep(self, store: Store, claim: Claim) -> None:
        """Renew the window's claim while its debate runs."""
        while True:
            await asyncio.sleep(CLAIM_LEASE_S / 3)
            try:
                if await self._bg.submit(store.renew_claim, claim, CLAIM_LEASE_S, lane=WRITES_LANE, what=f"renewing the claim on {claim.path}") is None:
                    return  # taken over (the lease ran out meanwhile): the commit will say so
            except Exception as exc:  # noqa: BLE001 - the next renewal or the commit says more
                log.warning("cannot renew the claim on %s: %s", claim.path, exc)

    # ---------------------------------------------------------------- closing
    async def close(self) -> None:
        """After the window closed: let the debate wind down, then close the HTTP clients."""
        self.cancel()
        if self.task is not None and not self.task.done():
            await asyncio.wait([self.task], timeout=10)
        engine, self._engine = self._engine, None
        if engine is not None:
            await engine.close()
