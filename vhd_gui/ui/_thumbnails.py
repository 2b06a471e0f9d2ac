"""Thumbnails for the browser, made on background workers and cached on disk.

The disk cache lives in the platformdirs cache folder, one JPEG per (path, size, mtime), so an
edited file gets a new thumbnail and an unchanged one is never decoded twice. A picture is
decoded by Qt's QImageReader at the thumbnail's size (a JPEG decodes at 1/2, 1/4 or 1/8 of its
size straight away) in C++, which lets go of Python's lock, so decoding never holds up the
window; videos and the formats Qt cannot read go through the media module. Requests are served
newest first (what the user is looking at now), and a bounded backlog means scrolling through
100,000 items never queues 100,000 decodes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import OrderedDict
from functools import partial
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QImageReader

from vhd_gui.config import cache_dir
from vhd_gui.filenames import has_undecodable, to_fs
from vhd_gui.media import IMAGE_EXTS, MediaError, thumbnail_jpeg
from vhd_gui.ui._background import Background, shared

log = logging.getLogger(__name__)

THUMB_SIDE = 128  # pixels on the longest side of the JPEG on disk
MEMORY_ITEMS = 1500  # decoded thumbnails kept in memory
BACKLOG = 300  # requests beyond this are dropped, oldest first
DELIVER_MS = 30  # how often finished thumbnails are handed to the view
LANE = "thumbs"


def thumbnail_cache_dir() -> Path:
    return cache_dir() / "thumbnails"


def cache_key(path: str, size: int | None, mtime: float | None) -> str:
    raw = f"{os.path.abspath(path)}\0{size}\0{mtime!r}\0{THUMB_SIDE}"
    return hashlib.sha1(raw.encode("utf-8", "surrogateescape")).hexdigest()


def _read_scaled(path: str) -> QImage:
    """The picture at ``path`` decoded at most THUMB_SIDE on its longest side; null if Qt cannot."""
    reader = QImageReader(path)
    reader.setAutoTransform(True)  # EXIF orientation, as a viewer shows it
    size = reader.size()
    if size.isValid() and max(size.width(), size.height()) > THUMB_SIDE:
        reader.setScaledSize(size.scaled(QSize(THUMB_SIDE, THUMB_SIDE), Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    return image if not image.isNull() else QImage()


def _jpeg_bytes(image: QImage) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "JPEG", 85)  # type: ignore[call-overload]  # the stub misses the QIODevice form
    buffer.close()
    return bytes(data.data())


def make_thumbnail(path: str, folder: Path) -> QImage:
    """The thumbnail of ``path``: from the disk cache, else decoded (and then cached).

    ``path`` is a key (valid text for Qt); a name that is not UTF-8 is escaped in it, and its
    real name (which Qt's own reader cannot take) is decoded by the media module instead."""
    disk = to_fs(path)
    try:
        st = os.stat(disk)
    except OSError:
        return QImage()
    target = folder / (cache_key(path, st.st_size, st.st_mtime) + ".jpg")
    if target.is_file():
        image = QImage(str(target))
        if not image.isNull():
            return image.convertToFormat(QImage.Format.Format_RGB32)
    qt_reads = os.path.splitext(path)[1].lower() in IMAGE_EXTS and not has_undecodable(disk)
    image = _read_scaled(disk) if qt_reads else QImage()
    if image.isNull():
        try:
            data = thumbnail_jpeg(disk, THUMB_SIDE)
        except MediaError:
            return QImage()
        image = QImage.fromData(data, "JPEG")  # type: ignore[arg-type]  # stub says bytes; the binding takes str
    else:
        data = _jpeg_bytes(image)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.name}.{threading.get_ident()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    except OSError:
        log.debug("cannot write thumbnail cache %s", target, exc_info=True)
    return image.convertToFormat(QImage.Format.Format_RGB32) if not image.isNull() else image


class ThumbnailLoader(QObject):
    """Ask with :meth:`request`; the image arrives through ``did_load(path, QImage)``
    (an empty QImage when the file can't be decoded).

    Finished thumbnails are handed to the view on a short timer, so a burst of them costs one
    repaint per tick, not one per image.
    """

    did_load = Signal(str, QImage)

    def __init__(
        self, workers: int = 3, folder: Path | None = None, parent: QObject | None = None, background: Background | None = None
    ) -> None:
        super().__init__(parent)
        self._folder = folder or thumbnail_cache_dir()
        self._bg = background or shared()
        self._bg.add_lane(LANE, workers)
        self._slots = workers
        self._memory: OrderedDict[str, QImage] = OrderedDict()
        self._pending: OrderedDict[str, None] = OrderedDict()  # the backlog, newest last
        self._in_flight: set[str] = set()
        self._stopping = False
        self._done: list[tuple[str, QImage]] = []
        self._timer = QTimer(self)
        self._timer.setInterval(DELIVER_MS)
        self._timer.timeout.connect(self._deliver)

    def cached(self, path: str) -> QImage | None:
        image = self._memory.get(path)
        if image is not None:
            self._memory.move_to_end(path)
        return image

    def request(self, path: str) -> None:
        if self._stopping or path in self._in_flight:
            return
        self._pending[path] = None
        self._pending.move_to_end(path)
        while len(self._pending) > BACKLOG:
            self._pending.popitem(last=False)
        self._pump()
        if not self._timer.isActive():
            self._timer.start()

    def _pump(self) -> None:
        while self._pending and len(self._in_flight) < self._slots and not self._stopping:
            path, _ = self._pending.popitem(last=True)  # newest first
            self._in_flight.add(path)
            self._bg.run(make_thumbnail, path, self._folder, lane=LANE, what=f"thumbnail of {path}",
                         done=partial(self._made, path), failed=partial(self._failed, path))

    def _failed(self, path: str, exc: BaseException) -> None:
        log.debug("thumbnail failed for %s: %s", path, exc)  # a bad file must never stop the others
        self._made(path, QImage())

    def _made(self, path: str, image: QImage) -> None:
        self._in_flight.discard(path)
        if self._stopping:
            return
        self._done.append((path, image))
        self._pump()

    def _deliver(self) -> None:
        done, self._done = self._done, []
        for path, image in done:
            self.did_load.emit(path, image)
        if not done and not self._pending and not self._in_flight:
            self._timer.stop()

    def remember(self, path: str, image: QImage) -> None:
        self._memory[path] = image
        self._memory.move_to_end(path)
        while len(self._memory) > MEMORY_ITEMS:
            self._memory.popitem(last=False)

    def stop(self) -> None:
        self._stopping = True
        self._timer.stop()
        self._pending.clear()
        self._done.clear()

    @property
    def backlog(self) -> int:
        return len(self._pending) + len(self._in_flight) + len(self._done)
