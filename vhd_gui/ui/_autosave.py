"""The annotation file next to the store, rewritten a few seconds after the last decision.

Decisions land in the store at once; this file is the copy other tools read. Writes run on a
background lane of their own, one after another; a failed write keeps the file marked stale, so
the next decision (or closing the window) tries again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from vhd_gui import formats
from vhd_gui.store import Store
from vhd_gui.ui._background import Background, Job

EXPORT_DELAY_MS = 3000
LANE = "annotations"


class AnnotationAutosave(QObject):
    did_write = Signal(str)  # a file written
    did_fail = Signal(str, str)  # target, reason

    def __init__(
        self, target: Callable[[], tuple[Store, str, Path] | None], background: Background, parent: QObject | None = None
    ) -> None:
        """``target()`` gives the store, the format and the file to write, or None (no store)."""
        super().__init__(parent)
        self._bg = background
        background.add_lane(LANE, 1)
        self._target = target
        self.delay_ms = EXPORT_DELAY_MS
        self.dirty = False
        self.closing = False
        self._job: Job[Any] | None = None
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

        def done(files: list[formats.ExportedFile]) -> None:
            if self.closing:  # the window (maybe its C++ side too) is gone: nobody to tell
                return
            for ef in files:
                self.did_write.emit(str(ef.path))

        def failed(exc: BaseException) -> None:  # the file stays stale and the person is told
            if not self.closing:
                self.dirty = True
                self.did_fail.emit(str(path), str(exc))

        self._job = self._bg.run(formats.export_store, store, fmt, path, lane=LANE, what=f"writing {path}", done=done, failed=failed)

    def _wait(self) -> None:
        """Let a write in progress finish (it reads the store) before the store closes."""
        job = self._job
        if job is not None and not job.done():
            job.wait(timeout=120)
        if job is not None and (job.failed or not job.done()):
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
