"""A page shown over another widget and kept at its size (the first-run page and the empty
state cover the window's working area this way, without changing its layout)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QVBoxLayout, QWidget


class Overlay(QWidget):
    def __init__(self, page: QWidget, host: QWidget) -> None:
        super().__init__(host)
        self.page = page
        self.setAutoFillBackground(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(page)
        host.installEventFilter(self)
        self.hide()

    def show_over(self) -> None:
        host = self.parentWidget()
        if host is not None:
            self.setGeometry(host.rect())
        self.show()
        self.raise_()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if watched is self.parentWidget() and event.type() == QEvent.Type.Resize:
            host = self.parentWidget()
            if host is not None:
                self.setGeometry(host.rect())
        return False
