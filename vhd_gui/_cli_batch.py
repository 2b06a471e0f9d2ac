"""`vhd-annotator batch FOLDER`: debate every item of a folder, with a progress line."""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from vhd_gui._cli_common import EXIT_ITEMS_FAILED, EXIT_OK, EXIT_USAGE, UsageError, opened_store, settings_from_args, store_from_args

if TYPE_CHECKING:
    from vhd_gui.store import Store


def _fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _fmt_tokens(n: int) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1_000_000 else f"{n / 1e3:.1f}k" if n >= 1000 else str(n)


class _ProgressLine:
    """One line redrawn in place on a terminal; a line every few seconds otherwise."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self._last = 0.0

    def show(self, p: object, final: bool = False) -> None:
        from vhd_gui.batch import Progress

        assert isinstance(p, Progress)
        now = time.monotonic()
        if not self.tty and not final and now - self._last < 5:
            return
        self._last = now
        width = 24
        filled = int(width * p.finished / p.total) if p.total else width
        bar = "#" * filled + "-" * (width - filled)
        state = " PAUSED" if p.paused else ""
        line = (
            f"[{bar}] {p.finished}/{p.total} · {p.failed} failed · {p.running} running · "
            f"{p.rate * 60:.1f}/min · ETA {_fmt_duration(p.eta)} · {_fmt_tokens(p.tokens)} tokens "
            f"({_fmt_tokens(p.cached_tokens)} cached) · ${p.cost_usd:.2f}{state}"
        )
        if self.tty:
            self.out.write("\r\x1b[2K" + line + ("\n" if final else ""))
        else:
            self.out.write(line + "\n")
        self.out.flush()


async def _batch(args: argparse.Namespace, folder: Path) -> int:
    from vhd_gui.batch import STOP_BUDGET, STOP_CANCELLED, STOP_CONFIG, STOP_ERROR, STOP_SERVER, BatchRun, BatchStopped, ItemFinished
    from vhd_gui.cache import ResponseCache
    from vhd_gui.media import MediaError, scan
    from vhd_gui.store import STORE_ERRORS

    settings = settings_from_args(args)
    store = _open_batch_store(store_from_args(args, required=False), folder)
    err = sys.stderr
    where = f"store: {store.location}"
    if store.fell_back:
        where += f" (the folder {folder} is read-only, so the store lives in the user data folder)"
    print(where, file=err)
    try:
        found = list(scan(folder))
    except MediaError as exc:
        raise UsageError(str(exc)) from None
    try:
        with store.transaction():
            store.upsert_items((m.rel, m.kind, m.size, m.mtime) for m in found)
    except STORE_ERRORS as exc:
        print(f"vhd-annotator batch: stopped before any debate: the store {store.location} cannot take the item list: {exc}", file=err)
        store.close()
        return EXIT_ITEMS_FAILED
    paths = [m.rel for m in found]
    cache = None if args.no_cache else ResponseCache.default()
    run = BatchRun(
        store,
        settings,
        paths,
        concurrency=args.concurrency,
        rpm=args.rpm,
        budget_tokens=args.budget_tokens,
        budget_usd=args.budget_usd,
        redo=args.redo,
        use_cache=not args.no_cache,
        cache=cache,
        limit=args.limit,
        lease_seconds=args.claim_lease,
    )
    later = f" ({run.left_for_later} more left for later by --limit)" if run.left_for_later else ""
    print(f"{len(paths)} items in {folder}; {run.progress.skipped} already done or decided, {run.progress.total} to debate{later}"
          f" with {args.concurrency} at a time" + (f", at most {args.rpm} requests/min" if args.rpm else ""), file=err)

    loop = asyncio.get_running_loop()
    interrupted = False

    def on_sigint() -> None:
        nonlocal interrupted
        if interrupted:
            raise KeyboardInterrupt
        interrupted = True
        print("\nstopping: the debates in flight are dropped and will be redone next time (Ctrl-C again to quit now)", file=err)
        run.cancel()

    try:
        loop.add_signal_handler(signal.SIGINT, on_sigint)
    except (NotImplementedError, RuntimeError):  # pragma: no cover - not on this platform
        pass
    bar = _ProgressLine(err)
    stopped = None
    started = time.monotonic()
    try:
        async for ev in run.run():
            if isinstance(ev, ItemFinished):
                bar.show(ev.progress)
            elif isinstance(ev, BatchStopped):
                stopped = ev
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        if cache is not None:
            cache.close()
    assert stopped is not None
    p = stopped.progress
    bar.show(p, final=True)
    elsewhere = f" ({p.done_elsewhere} done meanwhile by another batch on this store)" if p.done_elsewhere else ""
    estimated = f", {p.estimated_tokens} of them estimated: the server reported no usage" if p.estimated_tokens else ""
    print(f"done {p.done} · skipped {p.skipped}{elsewhere} · failed {p.failed} · {'≈' if p.estimated_tokens else ''}{p.tokens} tokens"
          f" ({p.cached_tokens} prompt tokens cached{estimated}) · estimated ${p.cost_usd:.2f}"
          f" · wall time {_fmt_duration(time.monotonic() - started)}", file=err)
    if p.overrun():
        print(f"budget: the run {p.overrun()} (the debates already running when it was reached finished)", file=err)
    if cache is not None:
        print(f"response cache: {cache.hits} hits, {cache.misses} misses ({cache.path})", file=err)
    if p.failures:
        reasons = collections.Counter(f"{f.kind}: {f.message}" for f in p.failures)
        print("failed items:", file=err)
        for f in p.failures[:20]:
            print(f"  {f.path}: {f.kind}: {f.message}", file=err)
        if len(p.failures) > 20:
            print(f"  … and {len(p.failures) - 20} more ({len(reasons)} distinct reasons)", file=err)
    if stopped.reason == STOP_CANCELLED:
        print("stopped by you. Run the same command again to resume: finished items are skipped.", file=err)
    elif stopped.reason == STOP_BUDGET:
        print("stopped at the budget: no debate was started that the budget could not pay for."
              " Raise it and run the same command again to go on.", file=err)
    elif stopped.reason == STOP_CONFIG:
        print("stopped: the configuration is wrong (see above); no more items were started.", file=err)
        return EXIT_USAGE
    elif stopped.reason == STOP_SERVER:
        print(f"stopped: {p.stop_message}", file=err)
        print("no more items were started. When the server answers again, run the same command: finished items are skipped.", file=err)
    elif stopped.reason == STOP_ERROR:
        print(f"stopped: {p.stop_message}", file=err)
        print("every debate that finished before it is saved; fix the cause and run the same command again to go on.", file=err)
    store.close()
    if stopped.reason == STOP_CANCELLED:
        return 130
    if stopped.reason == STOP_ERROR:
        return EXIT_ITEMS_FAILED
    return EXIT_ITEMS_FAILED if p.failed else EXIT_OK


def _open_batch_store(path: str | None, folder: Path) -> Store:
    """The store a batch writes into: ``--store``, else the folder's own store (or its fallback).

    A store that cannot be written is refused with the ``--store`` to use instead, never
    replaced by an empty one elsewhere: the writable copy of the folder's store (the one the
    window makes), which a batch given that ``--store`` makes too when it does not exist yet.
    """
    from vhd_gui.store import Store, default_store_path, read_only_reason, writable_copy_path
    from vhd_gui.store_api import is_server_url, open_store

    def opener() -> Store:
        if path is None:
            return Store.for_folder(folder)
        if is_server_url(path):  # a shared database: every worker's items are relative to its own FOLDER
            return open_store(path, root=folder, read_only=False)
        own = default_store_path(folder)
        target = Path(os.path.abspath(path))
        if not target.exists() and target == writable_copy_path(own, folder) and own.is_file() and read_only_reason(own):
            with Store.open(own, root=folder) as source:  # start the copy from what the read-only store holds
                copy = source.writable_copy(target)
            print(f"store: {copy.path} starts as a copy of the read-only store {own}", file=sys.stderr)
            return copy
        return open_store(target, root=folder)

    store = opened_store(opener, "the store")
    if store.read_only:
        instead = writable_copy_path(store.path, folder)
        made = "" if instead.exists() else " (made as a copy of it on first use)"
        store.close()
        raise UsageError(
            f"the store {store.path} is read-only ({store.read_only_reason}) and a batch writes every verdict:"
            f" run again with --store {instead}{made}"
        )
    return store


def run_batch(args: argparse.Namespace) -> int:
    folder = Path(args.folder)
    if not folder.is_dir():
        raise UsageError(f"not a folder: {folder}")
    return asyncio.run(_batch(args, folder.resolve()))
