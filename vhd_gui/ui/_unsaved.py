"""Decisions the store could not take: kept in memory, shown, and written as soon as it can.

A full disk, a store locked for too long or a medium gone read-only must never lose what a
person decided. A decision that fails to save joins a queue held here; a banner above the
verdict bar says how many are waiting and why, a timer tries them again every few seconds (and
"Save now" at once), and closing the window while some wait asks first. The queue is written in
the order the decisions were made, and a newer decision waits behind older unsaved ones, so
the store ends with what the person meant last.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

log = logging.getLogger(__name__)

RETRY_MS = 5000


@dataclass(frozen=True, slots=True)
class PendingDecision:
    path: str
    label: str  # "yes" / "no"
    category: str = ""
    note: str = ""
    reviewer: str = ""  # who decided: kept with the decision until the store takes it


class UnsavedDecisions(QObject):
    """The queue of decisions waiting for the store. ``write`` raises when the store refuses."""

    did_change = Signal(int)  # how many wait
    did_save = Signal(object)  # a PendingDecision that has just reached the store

    def __init__(self, write: Callable[[PendingDecision], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._write = write
        self.pending: list[PendingDecision] = []
        self.reason = ""
        self._timer = QTimer(self)
        self._timer.setInterval(RETRY_MS)
        self._timer.timeout.connect(self.flush)

    def submit(self, decision: PendingDecision) -> bool:
        """Write the decision now if nothing waits before it; True when it is in the store."""
        self.pending.append(decision)
        return self.flush() and not self.pending

    def flush(self) -> bool:
        """Write what waits, oldest first, until the store refuses; True when nothing is left."""
        while self.pending:
            try:
                self._write(self.pending[0])
            except Exception as exc:  # noqa: BLE001 - any refusal keeps the decision queued
                self.reason = _one_line(exc)
                log.warning("%d decision(s) not saved: %s", len(self.pending), self.reason)
                self._timer.start()
                self.did_change.emit(len(self.pending))
                return False
            self.did_save.emit(self.pending.pop(0))
        self.reason = ""
        self._timer.stop()
        self.did_change.emit(0)
        return True

    def take_last(self, path: str | None = None) -> PendingDecision | None:
        """Withdraw the newest waiting decision (an undo of what never reached the store)."""
        for i in range(len(self.pending) - 1, -1, -1):
            if path is None or self.pending[i].path == path:
                d = self.pending.pop(i)
                if not self.pending:
                    self.reason = ""
                    self._timer.stop()
                self.did_change.emit(len(self.pending))
                return d
        return None

    def waiting_for(self, path: str) -> PendingDecision | None:
        """The newest decision on this item that is not in the store yet."""
        return next((d for d in reversed(self.pending) if d.path == path), None)

    def stop(self) -> None:
        self._timer.stop()

    def drop_all(self) -> int:
        """Forget what waits (the person chose to close without it); how many were dropped."""
        n = len(self.pending)
        self.pending.clear()
        self.reason = ""
        self._timer.stop()
        self.did_change.emit(0)
        return n


class UnsavedBanner(QFrame):
    """'N decisions not saved: <why>. They are kept here and saved when the store takes them.'"""

    def __init__(self, queue: UnsavedDecisions, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("unsavedBanner")
        self.setStyleSheet("#unsavedBanner { background: #7a1f1f; } #unsavedBanner QLabel { color: white; }")
        self._queue = queue
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.save_button = QPushButton("Save now")
        self.save_button.clicked.connect(self._save_now)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 8, 4)
        row.addWidget(self.label, 1)
        row.addWidget(self.save_button)
        queue.did_change.connect(self._show)
        self.hide()

    def _save_now(self) -> None:
        self._queue.flush()

    def _show(self, n: int) -> None:
        if not n:
            self.hide()
            return
        what = "1 decision is" if n == 1 else f"{n} decisions are"
        self.label.setText(f"Not saved: {what} waiting for the store ({self._queue.reason}). They are kept in this window and saved as soon as the store takes them.")
        self.show()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
