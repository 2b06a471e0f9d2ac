"""Thumbnails for the browser, made in worker threads and cached on disk.

The disk cache lives in the platformdirs cache folder, one JPEG per (path, size, mtime), so an
edited file gets a new thumbnail and an unchanged one is never decoded twice. Requests are
served newest first (what the user is looking at now), and a bounded backlog means scrolling
through 10,000 items never queues 10,000 decodes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QImage

from vhd_gui.config import cache_dir
from vhd_gui.filenames import to_fs
from vhd_gui.media import MediaError, thumbnail_jpeg

log = logging.getLogger(__name__)

THUMB_SIDE = 128  # pixels on the longest side of the JPEG on disk
MEMORY_ITEMS = 1500  # decoded thumbnails kept in memory
BACKLOG = 300  # requests beyond this are dropped, oldest first
DELIVER_MS = 30  # how often finished thumbnails are handed to the view


def thumbnail_cache_dir() -> Path:
    return cache_dir() / "thumbnails"


def cache_key(path: str, size: int | None, mtime: float | None) -> str:
    raw = f"{os.path.abspath(path)}\0{size}\0{mtime!r}\0{THUMB_SIDE}"
    return hashlib.sha1(raw.encode("utf-8", "surrogateescape")).hexdigest()


class ThumbnailLoader(QObject):
    """Ask with :meth:`request`; the image arrives through ``did_load(path, QImage)``
    (an empty QImage when the file can't be decoded).

    Workers never touch Qt: they leave results in a list that a timer on the GUI thread
    drains, so a burst of thumbnails costs one repaint per tick, not one per image.
    """

    did_load = Signal(str, QImage)

    def __init__(self, workers: int = 3, folder: Path | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._folder = folder or thumbnail_cache_dir()
        self._memory: OrderedDict[str, QImage] = OrderedDict()
        self._pending: OrderedDict[str, None] = OrderedDict()  # the backlog, newest last
        self._in_flight: set[str] = set()
        self._cond = threading.Condition()
        self._stopping = False
        self._done: list[tuple[str, QImage]] = []
        self._timer = QTimer(self)
        self._timer.setInterval(DELIVER_MS)
        self._timer.timeout.connect(self._deliver)
        self._threads = [threading.Thread(target=self._work, name=f"thumbs-{i}", daemon=True) for i in range(workers)]
        for t in self._threads:
            t.start()

    # ---------------------------------------------------------------- main thread
    def cached(self, path: str) -> QImage | None:
        image = self._memory.get(path)
        if image is not None:
            self._memory.move_to_end(path)
        return image

    def request(self, path: str) -> None:
        with self._cond:
            if path in self._in_flight:
                return
            self._pending[path] = None
            self._pending.move_to_end(path)
            while len(self._pending) > BACKLOG:
                self._pending.popitem(last=False)
            self._cond.notify()
        if not self._timer.isActive():
            self._timer.start()

    def _deliver(self) -> None:
        with self._cond:
            done, self._done = self._done, []
            idle = not self._pending and not self._in_flight
        for path, image in done:
            self.did_load.emit(path, image)
        if idle and not done:
            self._timer.stop()

    def remember(self, path: str, image: QImage) -> None:
        self._memory[path] = image
        self._memory.move_to_end(path)
        while len(self._memory) > MEMORY_ITEMS:
            self._memory.popitem(last=False)

    def stop(self) -> None:
        self._timer.stop()
        with self._cond:
            self._stopping = True
            self._pending.clear()
            self._done.clear()
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout=5)

    @property
    def backlog(self) -> int:
        with self._cond:
            return len(self._pending) + len(self._in_flight) + len(self._done)

    # ---------------------------------------------------------------- workers
    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                path, _ = self._pending.popitem(last=True)  # newest first
                self._in_flight.add(path)
            try:
                image = self._make(path)
            except Exception:  # noqa: BLE001 - a bad file must never stop the workers
                log.debug("thumbnail failed for %s", path, exc_info=True)
                image = QImage()
            with self._cond:
                self._in_flight.discard(path)
                if not self._stopping:
                    self._done.append((path, image))

    def _make(self, path: str) -> QImage:
        disk = to_fs(path)  # requests carry keys (valid text for Qt); a name not in UTF-8 is escaped
        try:
            st = os.stat(disk)
        except OSError:
            return QImage()
        target = self._folder / (cache_key(path, st.st_size, st.st_mtime) + ".jpg")
        data: bytes | None = None
        try:
            data = target.read_bytes()
        except OSError:
            pass
        if not data:
            try:
                data = thumbnail_jpeg(disk, THUMB_SIDE)
            except MediaError:
                return QImage()
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(f"{target.name}.{threading.get_ident()}.tmp")
                tmp.write_bytes(data)
                os.replace(tmp, target)
            except OSError:
                log.debug("cannot write thumbnail cache %s", target, exc_info=True)
        image = QImage.fromData(data, "JPEG")  # type: ignore[arg-type]  # stub says bytes; the binding takes str
        return image.convertToFormat(QImage.Format.Format_RGB32) if not image.isNull() else image
