"""Guards on the Qt binding itself: a regression here crashes the app in minutes."""

from __future__ import annotations

import sys

import pytest

pytestmark = pytest.mark.gui


def test_python_side_emit_keeps_refcounts() -> None:
    # PySide6 6.12.0 on Python 3.11 dropped a reference to True on every Python-side
    # Signal.emit(); after a few thousand emits (one per streamed token) the interpreter
    # aborts with "bool_dealloc". We pin 6.11.3; this fails if an upgrade brings it back.
    from PySide6.QtCore import QObject, Signal

    class Emitter(QObject):
        plain = Signal()
        text = Signal(str)

    e = Emitter()
    before = sys.getrefcount(True), sys.getrefcount(False)
    for _ in range(100):
        e.plain.emit()
        e.text.emit("token")
        e.objectNameChanged.emit("x")
    assert (sys.getrefcount(True), sys.getrefcount(False)) == before
