"""Notices writes to the open store by another process (a batch in a terminal, an import, a
second window) so the window can show them.

Once a second it asks SQLite whether anyone else committed since the last look (``PRAGMA
data_version`` on the window's own connection: the window's own writes do not count, and the
question costs a few microseconds when nothing changed). The question is asked on a background
lane of its own, so a long write holding the store's lock never holds up the window.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from vhd_gui.store import Store
from vhd_gui.ui._background import Background, Job

INTERVAL_MS = 1000
LANE = "watch"


class StoreWatch(QObject):
    did_change = Signal()  # another connection committed to the watched store

    def __init__(self, background: Background, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._bg = background
        background.add_lane(LANE, 1)
        self._store: Store | None = None
        self._job: Job[bool] | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(INTERVAL_MS)
        self._timer.timeout.connect(self._look)

    def watch(self, store: Store | None) -> None:
        """Watch ``store`` from now on (None: stop). Changes before this call do not count."""
        self.stop()
        self._store = store
        if store is not None:
            self._job = self._bg.run(store.external_change, lane=LANE, what="looking for changes to the store", done=self._first)
            self._timer.start()

    def _first(self, _changed: bool) -> None:
        self._job = None  # the baseline is taken

    def _look(self) -> None:
        store = self._store
        if store is None or self._job is not None:
            return
        self._job = self._bg.run(store.external_change, lane=LANE, what="looking for changes to the store",
                                 done=self._answered, failed=self._failed)

    def _answered(self, changed: bool) -> None:
        self._job = None
        if changed and self._store is not None:
            self.did_change.emit()

    def _failed(self, _exc: BaseException) -> None:
        self._job = None  # a locked or vanished file: ask again on the next tick

    def stop(self) -> None:
        """Stop watching; waits for a question in flight (the store is about to close)."""
        self._timer.stop()
        self._store = None
        job, self._job = self._job, None
        if job is not None:
            job.cancel()
            job.wait()
