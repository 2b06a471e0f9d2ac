"""The media viewer: an image fitted to the pane (zoom, pan), or a video with a strip of the
numbered frames the agents saw and, once revealed, playback through QtMultimedia.

Pictures are decoded off the GUI thread (the window's background workers) at most ``VIEW_MAX_SIDE`` pixels on
a side: never bigger than the pane needs. Under safe view the pane shows a veiled picture until
the user reveals the item; a video only plays once revealed.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QRectF, Qt, QUrl
from PySide6.QtGui import QImage, QPixmap, QWheelEvent
from PySide6.QtWidgets import (
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from vhd_gui.media import MediaError, load_image, thumbnail_jpeg
from vhd_gui.ui._background import Background, shared
from vhd_gui.ui._safe_view import gray, veiled

log = logging.getLogger(__name__)

VIEW_MAX_SIDE = 2048
FRAME_SIDE = 160


def _pil_to_qimage(im: Any) -> QImage:
    im = im.convert("RGB")
    data = im.tobytes()
    return QImage(data, im.width, im.height, im.width * 3, QImage.Format.Format_RGB888).copy()


def _decode(path: str) -> QImage:
    return _pil_to_qimage(load_image(path, max_side=VIEW_MAX_SIDE))


def _decode_frames(path: str, frames: list[int | None]) -> list[QImage]:
    out = []
    for f in frames:
        try:
            out.append(QImage.fromData(thumbnail_jpeg(path, FRAME_SIDE, frame=f), "JPEG"))  # type: ignore[arg-type]  # stub says bytes; the binding takes str
        except MediaError:
            out.append(QImage())
    return out


class ImageView(QGraphicsView):
    """Fit to the pane by default; the wheel or +/- zoom, dragging pans."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self._item = QGraphicsPixmapItem()
        self._item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self._item)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setBackgroundBrush(Qt.GlobalColor.black)
        self._fit = True
        self._extent = QRectF()

    def set_image(self, image: QImage | None, extent: tuple[int, int] | None = None) -> None:
        """Show ``image`` stretched over ``extent`` (width, height): a veiled picture is tiny
        but covers the size of the real one."""
        if image is None or image.isNull():
            self._item.setPixmap(QPixmap())
            self._extent = QRectF()
            return
        pix = QPixmap.fromImage(image)
        self._item.setPixmap(pix)
        w, h = extent or (image.width(), image.height())
        self._item.setScale(w / max(1, image.width()))
        self._extent = QRectF(0, 0, w, h)
        self.scene().setSceneRect(self._extent)
        if self._fit:
            self.fit()

    def fit(self) -> None:
        self._fit = True
        if not self._extent.isEmpty():
            self.fitInView(self._extent, Qt.AspectRatioMode.KeepAspectRatio)

    def zoom(self, factor: float) -> None:
        self._fit = False
        self.scale(factor, factor)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        self.zoom(1.25 if event.angleDelta().y() > 0 else 0.8)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self._fit:
            self.fit()


class Viewer(QWidget):
    def __init__(self, parent: QWidget | None = None, background: Background | None = None) -> None:
        super().__init__(parent)
        self._bg = background or shared()
        self.image_view = ImageView()
        self.message = QLabel("Open a folder (Ctrl+O) to start.")
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.message)
        self.stack.addWidget(self.image_view)
        self.veil_note = QLabel("Safe view: press Space to reveal")
        self.veil_note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.veil_note.setStyleSheet("color: #d0d0d0; background: #222; padding: 2px;")
        self.frames_row = QHBoxLayout()
        self.frames_row.setContentsMargins(2, 2, 2, 2)
        frames_box = QWidget()
        frames_box.setLayout(self.frames_row)
        self.frames_area = QScrollArea()
        self.frames_area.setWidget(frames_box)
        self.frames_area.setWidgetResizable(True)
        self.frames_area.setFixedHeight(FRAME_SIDE * 3 // 4 + 40)
        self.frames_area.hide()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.stack, 1)
        lay.addWidget(self.veil_note)
        lay.addWidget(self.frames_area)

        self.safe_view = True
        self.grayscale = False
        self.revealed = False
        self._path: str | None = None
        self._kind = "image"
        self._image: QImage | None = None
        self._frames: list[tuple[int, QImage]] = []
        self._generation = 0
        self._player: Any = None
        self._video_widget: Any = None
        self._task: asyncio.Future[Any] | None = None

    # ---------------------------------------------------------------- items
    def show_message(self, text: str) -> None:
        self._stop_video()
        self._path = None
        self._image = None
        self.message.setText(text)
        self.stack.setCurrentWidget(self.message)
        self.frames_area.hide()
        self.veil_note.hide()

    def show_item(self, path: str, kind: str, frames: list[int] | None = None) -> None:
        """Show a new item; it starts veiled under safe view (reveal never carries over)."""
        self._stop_video()
        self._generation += 1
        self._path, self._kind = path, kind
        self._image = None
        self._frames = []
        self.revealed = False
        self.message.setText("Loading…")
        self.stack.setCurrentWidget(self.message)
        self._clear_frames()
        self.frames_area.setVisible(kind == "video")
        self._update_note()
        self._task = asyncio.ensure_future(self._load(self._generation, path, kind, list(frames or [])))

    async def _load(self, generation: int, path: str, kind: str, frames: list[int]) -> None:
        try:
            if kind == "image":
                image = await self._bg.submit(_decode, path, what=f"decoding {path}")
            else:
                wanted = frames or [-1]
                images = await self._bg.submit(_decode_frames, path, [f if f >= 0 else None for f in wanted], what=f"decoding {path}")
                image = next((im for im in images if not im.isNull()), QImage())
                if frames:
                    self._frames = list(zip(frames, images, strict=False))
        except MediaError as exc:
            if generation == self._generation:
                self.show_message(f"Cannot show this file: {exc.reason}")
            return
        except Exception as exc:  # noqa: BLE001 - a bad file fails on its own
            if generation == self._generation:
                self.show_message(f"Cannot show this file: {type(exc).__name__}: {exc}")
            return
        if generation != self._generation:
            return
        self._image = image
        self._render()

    def set_frames(self, frames: list[int]) -> None:
        """The debate chose its frames: show them (a video only)."""
        if self._kind == "video" and self._path and frames and [f for f, _ in self._frames] != frames:
            path, gen = self._path, self._generation

            async def load() -> None:
                images = await self._bg.submit(_decode_frames, path, list[int | None](frames), what=f"decoding {path}")
                if gen == self._generation:
                    self._frames = list(zip(frames, images, strict=False))
                    self._render()

            self._task = asyncio.ensure_future(load())

    def set_safe_view(self, safe: bool, grayscale: bool) -> None:
        self.safe_view, self.grayscale = safe, grayscale
        self._render()

    def set_revealed(self, revealed: bool) -> None:
        self.revealed = revealed
        self._render()

    @property
    def veiled(self) -> bool:
        return self.safe_view and not self.revealed

    def _update_note(self) -> None:
        self.veil_note.setVisible(self.veiled and self._path is not None)

    def _show(self, image: QImage) -> QImage:
        if self.veiled:
            return veiled(image, self.grayscale)
        return gray(image) if self.safe_view and self.grayscale else image

    def _render(self) -> None:
        self._update_note()
        if self._path is None or self._image is None:
            return
        if self._image.isNull():
            self.message.setText("Cannot show this file.")
            self.stack.setCurrentWidget(self.message)
        elif self._kind == "video" and not self.veiled:
            self._play()
        else:
            self._stop_video()
            self.image_view.set_image(self._show(self._image), (self._image.width(), self._image.height()))
            self.stack.setCurrentWidget(self.image_view)
        self._render_frames()

    def _clear_frames(self) -> None:
        while self.frames_row.count():
            item = self.frames_row.takeAt(0)
            w = item.widget() if item is not None else None
            if w is not None:
                w.deleteLater()

    def _render_frames(self) -> None:
        self._clear_frames()
        if self._kind != "video":
            return
        if not self._frames:
            self.frames_row.addWidget(QLabel("The frames the agents saw appear here after a debate."))
            return
        for n, (index, image) in enumerate(self._frames, 1):
            cell = QLabel()
            cell.setAlignment(Qt.AlignmentFlag.AlignCenter)
            if not image.isNull():
                shown = self._show(image)
                pix = QPixmap.fromImage(shown).scaled(
                    image.width(), image.height(), Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation
                )
                cell.setPixmap(pix.scaled(FRAME_SIDE * 2 // 3, FRAME_SIDE // 2, Qt.AspectRatioMode.KeepAspectRatio))
            box = QVBoxLayout()
            box.addWidget(cell)
            box.addWidget(QLabel(f"{n} · frame {index}"), 0, Qt.AlignmentFlag.AlignHCenter)
            holder = QWidget()
            holder.setLayout(box)
            self.frames_row.addWidget(holder)
        self.frames_row.addStretch(1)

    # ---------------------------------------------------------------- video
    def _play(self) -> None:
        if self._path is None:
            return
        try:
            from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer
            from PySide6.QtMultimediaWidgets import QVideoWidget
        except ImportError as exc:
            self.message.setText(f"Video playback is not available here ({exc}); the frames below are what the agents saw.")
            self.stack.setCurrentWidget(self.message)
            return
        if self._player is None:
            self._video_widget = QVideoWidget()
            self.stack.addWidget(self._video_widget)
            self._player = QMediaPlayer(self)
            self._audio = QAudioOutput(self)
            self._audio.setMuted(True)
            self._player.setAudioOutput(self._audio)
            self._player.setVideoOutput(self._video_widget)
            self._player.setLoops(QMediaPlayer.Loops.Infinite)
        self._player.setSource(QUrl.fromLocalFile(str(Path(self._path).absolute())))
        self.stack.setCurrentWidget(self._video_widget)
        self._player.play()

    def _stop_video(self) -> None:
        if self._player is not None:
            self._player.stop()
            self._player.setSource(QUrl())

    def stop(self) -> None:
        """The window is closing: drop pending loads and the player."""
        self._generation += 1
        if self._task is not None:
            self._task.cancel()
        self._stop_video()

    # ---------------------------------------------------------------- zoom
    def zoom_in(self) -> None:
        self.image_view.zoom(1.25)

    def zoom_out(self) -> None:
        self.image_view.zoom(0.8)

    def zoom_fit(self) -> None:
        self.image_view.fit()
