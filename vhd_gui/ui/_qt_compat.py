"""Work-arounds for bugs of the pinned PySide6.

PySide6 6.12.0: ``Signal.emit()`` returns ``True`` without taking a reference, so every
emitted signal whose result is thrown away takes one reference from ``True``; after a few
thousand emits (one per thumbnail, per decision) the interpreter aborts with "bool_dealloc".
:func:`emit` gives the reference back, by the amount measured once at start, so a fixed
PySide6 costs nothing.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

from PySide6.QtCore import QObject, Signal

_incref = ctypes.pythonapi.Py_IncRef
_incref.argtypes = [ctypes.py_object]
_incref.restype = None


class _Probe(QObject):
    ping = Signal()


def _measure() -> int:
    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(8):
        probe.ping.emit()
    lost = before - sys.getrefcount(True)
    # give back what the probe itself took
    for _ in range(max(0, lost)):
        _incref(True)
    return max(0, lost // 8)


_LOST_PER_EMIT = _measure()


def emit(signal: Any, *args: Any) -> None:
    result = signal.emit(*args)
    if result is True:
        for _ in range(_LOST_PER_EMIT):
            _incref(True)
