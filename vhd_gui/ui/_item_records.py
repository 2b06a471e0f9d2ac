"""Items' full records (debate, turns, decision history), read off the GUI thread.

The window asks for the record of the item it shows and draws it when it arrives; until then
the panels say they are reading. Reads go to the reader connection on a background lane, one
at a time: asking for another item drops the answer for the previous one, so keys pressed in
quick succession never draw an item that is no longer current. A few records read lately are
kept, and the next item in the list is read ahead, so stepping through the list and going back
and forth between items draw at once. Whatever the store changes for an item is forgotten here
in the same step (``forget``), and a read that was running while its item changed is read again
rather than kept.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from PySide6.QtCore import QObject, Signal

from vhd_gui.store import ItemRecord, Store
from vhd_gui.ui._background import Background, Job

LANE = "records"
KEEP = 64  # records kept for going back and forth


class ItemRecords(QObject):
    did_read = Signal(str, object)  # the item's path and its ItemRecord (None: no such item)
    did_fail = Signal(str, str)  # the item's path and why its record could not be read

    def __init__(self, background: Background, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._bg = background
        background.add_lane(LANE, 1)
        self._source: Store | None = None
        self._kept: OrderedDict[str, ItemRecord | None] = OrderedDict()
        self._job: Job[Any] | None = None
        self._reading: str | None = None
        self._viewer = ""

    def use(self, source: Store | None, viewer: str = "") -> None:
        """Read from ``source`` from now on (None: stop), as the reviewer ``viewer`` may see each
        record (under blind review only their own decisions); waits for a read of the old one."""
        self._drop(wait=True)
        self._kept.clear()
        self._source = source
        self._viewer = viewer

    def known(self, rel: str) -> tuple[bool, ItemRecord | None]:
        """(True, record) when the record of ``rel`` is read and unchanged since; else (False, None)."""
        if rel in self._kept:
            self._kept.move_to_end(rel)
            return True, self._kept[rel]
        return False, None

    @property
    def pending(self) -> str | None:
        """The item whose record is being read, if any."""
        return self._reading

    def read(self, rel: str) -> None:
        """Read the record of ``rel``; ``did_read`` tells when it is here. A read of another item
        still running is dropped."""
        source = self._source
        if source is None:
            return
        if self._reading == rel and self._job is not None:
            return
        self._drop()
        self._reading = rel
        self._job = self._bg.run(source.record_for, rel, self._viewer, lane=LANE, what=f"reading the record of {rel}",
                                 done=lambda rec: self._arrived(rel, rec), failed=self._failed)

    def prefetch(self, rel: str) -> None:
        """Read ``rel`` ahead (the item the person will most likely open next) when nothing else
        is being read and it is not kept already."""
        if self._job is None and rel not in self._kept:
            self.read(rel)

    def _arrived(self, rel: str, rec: ItemRecord | None) -> None:
        self._job, self._reading = None, None
        self._kept[rel] = rec
        self._kept.move_to_end(rel)
        while len(self._kept) > KEEP:
            self._kept.popitem(last=False)
        self.did_read.emit(rel, rec)

    def _failed(self, exc: BaseException) -> None:
        rel, self._job, self._reading = self._reading, None, None
        self._bg.fail(f"reading the record of {rel}", exc)
        if rel is not None:
            self.did_fail.emit(rel, str(exc))

    def forget(self, rel: str) -> None:
        """The store changed ``rel``: its kept record goes, and a read of it running is redone."""
        self._kept.pop(rel, None)
        if self._reading == rel:
            self._drop()
            self.read(rel)

    def forget_all(self) -> None:
        """The store changed in ways not known item by item (another process, an import)."""
        self._kept.clear()
        rel = self._reading
        if rel is not None:
            self._drop()
            self.read(rel)

    def _drop(self, wait: bool = False) -> None:
        job, self._job, self._reading = self._job, None, None
        if job is not None:
            job.cancel()
            if wait:
                job.wait()
