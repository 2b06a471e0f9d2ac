"""Pausing Python's cycle collector around bursts of allocation, from any thread.

A full collection walks every container object the process holds and keeps every thread
waiting while it does: at 100,000 listed items that is tens of milliseconds, which the window
shows as a frozen frame. Work that builds many objects that cannot form cycles (rows read from
the store, a review queue) or that loads libraries whose objects live as long as the process
pauses the collector for its length.

Pauses may overlap, in one thread or in several: the collector is switched off by the first
and back on by the last, and only when it was on before the first began.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while the block runs (allocation counts still add up, so
    the next collection after it may be a big one: see :func:`keep_out_of_collections`)."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()


def keep_out_of_collections() -> None:
    """Move every object alive now out of reach of later collections (``gc.freeze``).

    For what lives as long as the process (modules, classes, the window's widgets): the
    collector no longer walks them, and the count of new objects starts again from zero.
    Cyclic garbage alive at this moment is kept for good, so call it where little is.
    """
    gc.freeze()
