"""The annotation file next to the store, rewritten a few seconds after the last decision.

Decisions land in the store at once; this file is the copy other tools read. Writes run on one
worker thread, one after another; a failed write keeps the file marked stale, so the next
decision (or closing the window) tries again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from vhd_gui import formats
from vhd_gui.store import Store

EXPORT_DELAY_MS = 3000


class AnnotationAutosave(QObject):
    did_write = Signal(str)  # a file written
    did_fail = Signal(str, str)  # target, reason

    def __init__(self, target: Callable[[], tuple[Store, str, Path] | None], parent: QObject | None = None) -> None:
        """``target()`` gives the store, the format and the file to write, or None (no store)."""
        super().__init__(parent)
        self._target = target
        self.delay_ms = EXPORT_DELAY_MS
        self.dirty = False
        self.closing = False
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="vhd-annotations")
        self._cf: concurrent.futures.Future[Any] | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._write_soon)

    def mark_dirty(self) -> None:
        """A decision changed the store: write the file after a short quiet time."""
        self.dirty = True
        self._timer.start(self.delay_ms)

    def _write_soon(self) -> None:
        what = self._target()
        if what is None or not self.dirty:
            return
        self.dirty = False
        store, fmt, path = what
        self._cf = self._pool.submit(formats.export_store, store, fmt, path)
        future = asyncio.wrap_future(self._cf)

        def done(f: asyncio.Future[Any]) -> None:
            try:
                files = f.result()
            except Exception as exc:  # noqa: BLE001 - any failure keeps the file stale and is reported
                if not self.closing:
                    self.dirty = True
                    self.did_fail.emit(str(path), str(exc))
                return
            if self.closing:  # the window (maybe its C++ side too) is gone: nobody to tell
                return
            for ef in files:
                self.did_write.emit(str(ef.path))

        future.add_done_callback(done)

    def _wait(self) -> None:
        """Let a write in progress finish (it reads the store) before the store closes."""
        cf = self._cf
        if cf is not None and not cf.done():
            try:
                cf.result(timeout=120)
            except Exception:  # noqa: BLE001 - its own callback reports the failure
                self.dirty = True

    def flush(self) -> None:
        """Write the file now if a decision is not in it yet (the store is about to close).
        Raises what the writer raised."""
        self._timer.stop()
        self._wait()
        what = self._target()
        if what is None or not self.dirty:
            return
        self.dirty = False
        store, fmt, path = what
        for ef in formats.export_store(store, fmt, path):
            self.did_write.emit(str(ef.path))

    def shutdown(self) -> None:
        self.closing = True
        self._timer.stop()
        self._pool.shutdown(wait=False)
