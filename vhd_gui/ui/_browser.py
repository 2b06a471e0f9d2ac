"""The item browser: a virtualized list (model/view) of the project's media.

The model holds only relative paths; each row's status, verdict and label are fetched from
the store in blocks when the view first paints them (on a background worker, through a reader
connection: a row paints without its chips until its block arrives), and dropped from the cache
when the store changes, like Anki's browser model. Thumbnails come from :class:`ThumbnailLoader`.

The model is a ``QStringListModel`` for one reason: its row count is answered in C++. QListView
asks the model for an index of every row it lays out (``hasIndex`` → ``rowCount``), so a row
count written in Python cost 5 µs a row, and 25 µs while worker threads held Python's lock: a
list of 100,000 growing or reset stalled the window for tenths of a second. The strings the C++
side holds are empty placeholders, one per row; the paths live here and :meth:`data` answers
from them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import partial
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRect,
    QSize,
    QStringListModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from vhd_gui.filenames import to_fs
from vhd_gui.record import STATUSES
from vhd_gui.store import SORTS, Filters, ItemRow, Store
from vhd_gui.ui._background import Background, Job
from vhd_gui.ui._safe_view import veiled
from vhd_gui.ui._thumbnails import ThumbnailLoader

ROW_HEIGHT = 56
THUMB_BOX = 48
_BLOCK = 100  # rows fetched from the store at once
_CACHE_LIMIT = 5000
LAYOUT_BATCH = 2000  # rows QListView lays out per turn of the event loop

STATUS_COLOURS = {
    "new": "#8a8f98",
    "debated": "#3b7dd8",
    "accepted": "#2e9d5b",
    "overridden": "#c77d12",
    "error": "#c0392b",
}

NEEDS_ADJUDICATION = "needs adjudication"
NOT_DECIDED_BY_ME = "not decided by me"

PathRole = Qt.ItemDataRole.UserRole + 1
RowRole = Qt.ItemDataRole.UserRole + 2


def path_index(paths: list[str]) -> dict[str, int]:
    """Each path's row (for :meth:`ItemListModel.set_paths`, built where it costs nothing)."""
    return {p: i for i, p in enumerate(paths)}


class ItemListModel(QStringListModel):
    def __init__(self, store: Store | None, thumbs: ThumbnailLoader, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.thumbs = thumbs
        self._paths: list[str] = []
        self._index: dict[str, int] = {}
        self._rows: dict[str, ItemRow] = {}
        self._veiled: dict[str, QImage] = {}
        self.safe_view = True
        self.grayscale = False
        self.revealed: str | None = None  # the one item shown in clear, if any
        # Rows for painting are read off the GUI thread when both are set (the window sets them).
        self.reader: Store | None = None
        self.background: Background | None = None
        # The reviewer the rows are read for: under blind review they show only their own decisions.
        self.viewer: str | None = None
        self._fetch: Job[Any] | None = None
        self._changed_meanwhile: set[str] = set()  # refreshed while a block was being read
        thumbs.did_load.connect(self._thumb_loaded)

    # ---------------------------------------------------------------- content
    @property
    def paths(self) -> list[str]:
        return self._paths

    def path_at(self, row: int) -> str | None:
        return self._paths[row] if 0 <= row < len(self._paths) else None

    def row_of(self, path: str) -> int:
        return self._index.get(path, -1)

    def set_paths(self, paths: list[str], index: dict[str, int] | None = None) -> None:
        """Show ``paths`` (the list is kept, not copied). ``index`` maps each path to its row, when
        the caller built it already (off the GUI thread: 100,000 entries take tens of ms)."""
        self._drop_fetch()
        self._paths = paths
        self._index = index if index is not None else path_index(paths)
        self._rows.clear()
        self.setStringList([""] * len(paths))  # the C++ row count; resets the model

    def append_paths(self, paths: list[str]) -> None:
        new = [p for p in paths if p not in self._index]
        if not new:
            return
        start = len(self._paths)
        for i, p in enumerate(new, start):
            self._index[p] = i
        self._paths.extend(new)
        self.insertRows(start, len(new))  # placeholders: data() answers from the paths

    def item_row(self, path: str) -> ItemRow | None:
        row = self._rows.get(path)
        if row is None and path in self._index:
            self._fetch_around(self._index[path])
            row = self._rows.get(path)
        return row

    def _fetch_around(self, row: int) -> None:
        if len(self._rows) > _CACHE_LIMIT:
            self._rows.clear()
        start = max(0, row - _BLOCK // 4)
        block = [p for p in self._paths[start : start + _BLOCK] if p not in self._rows]
        if self.store is not None and block:
            self._rows.update(self.store.rows(block, viewer=self.viewer))

    def known_row(self, path: str) -> ItemRow | None:
        """The row as last read, or None; never reads the store."""
        return self._rows.get(path)

    def cached_row(self, path: str) -> ItemRow | None:
        """The row as last read, for painting: never waits. A row not read yet is read in the
        background with its neighbours, and repainted when it arrives."""
        row = self._rows.get(path)
        if row is None and path in self._index:
            if self.reader is None or self.background is None:
                return self.item_row(path)
            if self._fetch is None:
                self._start_fetch(self._index[path])
        return row

    def _start_fetch(self, row: int) -> None:
        assert self.reader is not None and self.background is not None
        if len(self._rows) > _CACHE_LIMIT:
            self._rows.clear()
        start = max(0, row - _BLOCK // 4)
        block = [p for p in self._paths[start : start + _BLOCK] if p not in self._rows]
        if not block:
            return
        self._changed_meanwhile.clear()
        self._fetch = self.background.run(partial(self.reader.rows, viewer=self.viewer), block, done=self._rows_arrived, failed=self._fetch_failed,
                                          what="reading the list's rows")

    def _rows_arrived(self, rows: dict[str, ItemRow]) -> None:
        self._fetch = None
        fresh = {p: r for p, r in rows.items() if p not in self._changed_meanwhile and p in self._index}
        self._rows.update(fresh)
        rows_at = [self._index[p] for p in fresh]
        if rows_at:
            self.dataChanged.emit(self.index(min(rows_at)), self.index(max(rows_at)))

    def _fetch_failed(self, exc: BaseException) -> None:
        self._fetch = None  # the next paint asks again

    def _drop_fetch(self) -> None:
        if self._fetch is not None:
            self._fetch.cancel()
            self._fetch = None

    def wait(self) -> None:
        """Let a block being read finish (its store is about to close)."""
        if self._fetch is not None:
            self._fetch.cancel()
            self._fetch.wait()
            self._fetch = None

    def refresh(self, path: str) -> None:
        """The store changed this item: fetch it again when painted."""
        self._changed_meanwhile.add(path)
        self._rows.pop(path, None)
        i = self._index.get(path)
        if i is not None:
            ix = self.index(i)
            self.dataChanged.emit(ix, ix)

    def refresh_all(self) -> None:
        self._drop_fetch()
        self._rows.clear()
        if self._paths:
            self.dataChanged.emit(self.index(0), self.index(len(self._paths) - 1))

    def set_safe_view(self, safe: bool, grayscale: bool) -> None:
        if grayscale != self.grayscale:
            self._veiled.clear()
        self.safe_view, self.grayscale = safe, grayscale
        self.refresh_all()

    def set_revealed(self, path: str | None) -> None:
        old, self.revealed = self.revealed, path
        for p in (old, path):
            if p is not None and p in self._index:
                ix = self.index(self._index[p])
                self.dataChanged.emit(ix, ix, [Qt.ItemDataRole.DecorationRole])

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._paths):
            return None
        path = self._paths[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return path
        if role == PathRole:
            return path
        if role == RowRole:
            return self.item_row(path)
        if role == Qt.ItemDataRole.DecorationRole:
            return self.thumbnail(path)
        if role == Qt.ItemDataRole.ToolTipRole:
            row = self.item_row(path)
            return f"{path}\n{row.status if row else ''}"
        return None

    def thumbnail(self, path: str) -> QImage | None:
        image = self.thumbs.cached(path)
        if image is None:
            if self.store is not None:
                self.thumbs.request(os.path.join(str(self.store.root), path))
            return None
        if image.isNull():
            return image
        if self.safe_view and path != self.revealed:
            small = self._veiled.get(path)
            if small is None:
                small = veiled(image, self.grayscale)
                if len(self._veiled) > 4000:
                    self._veiled.clear()
                self._veiled[path] = small
            return small
        return image

    def _thumb_loaded(self, abs_path: str, image: QImage) -> None:
        if self.store is None:
            return
        rel = self.store.relative_path(to_fs(abs_path))  # requests carry keys: back to the name on disk
        self.thumbs.remember(rel, image)
        i = self._index.get(rel)
        if i is not None:
            ix = self.index(i)
            self.dataChanged.emit(ix, ix, [Qt.ItemDataRole.DecorationRole])


class ItemDelegate(QStyledItemDelegate):
    """Paints one row: thumbnail, name, status chip, model verdict and human label."""

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:  # noqa: N802
        return QSize(200, ROW_HEIGHT)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        # Ask our model directly instead of through index.data(): PySide6 6.12 drops a
        # reference on every Python object (None, a dataclass) that travels through a
        # QVariant round trip, which crashes the interpreter after a few thousand paints.
        model = index.model()
        assert isinstance(model, ItemListModel)
        path = model.path_at(index.row()) or ""
        paint_row(painter, option, path, model.thumbnail(path), model.cached_row(path))

    _warmed = False  # the types PySide builds are the process's: one warm-up serves every window

    @classmethod
    def warm_up(cls, font: QFont, palette: QPalette) -> None:
        """Paint a made-up row, selected and with every chip, into an image nobody sees.

        The first paint of a row makes PySide build the Python types of the enums and overloads
        it meets (QPainter.fillRect alone brings in QGradient's 180 presets): 30-40 ms, which the
        list's first rows paid while a folder was being scanned. Done once while the window is
        quiet, every later row paints in well under a millisecond.
        """
        if cls._warmed:
            return
        cls._warmed = True
        canvas = QImage(400, ROW_HEIGHT, QImage.Format.Format_RGB32)
        painter = QPainter(canvas)
        try:
            option = QStyleOptionViewItem()
            option.rect = QRect(0, 0, canvas.width(), ROW_HEIGHT)
            option.state = QStyle.StateFlag.State_Selected | QStyle.StateFlag.State_Enabled
            option.font = font
            option.palette = palette
            thumb = QImage(THUMB_BOX, THUMB_BOX // 2, QImage.Format.Format_RGB32)
            thumb.fill(QColor("#808080"))
            row = ItemRow("warm-up.jpg", "image", "accepted", "yes", "", "no", "", "no", "", ("flag",), None, "", 2, True)
            paint_row(painter, option, "warm-up.jpg", thumb, row)
        finally:
            painter.end()


def paint_row(painter: QPainter, option: QStyleOptionViewItem, path: str, image: QImage | None, row: ItemRow | None) -> None:
    """One row of the list: thumbnail, name, then chips for status, verdicts and flags."""
    painter.save()
    rect = option.rect
    selected = bool(option.state & QStyle.StateFlag.State_Selected)
    pal = option.palette
    if selected:
        painter.fillRect(rect, pal.color(QPalette.ColorRole.Highlight))
    text_colour = pal.color(QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text)

    box = QRect(rect.left() + 4, rect.top() + (rect.height() - THUMB_BOX) // 2, THUMB_BOX, THUMB_BOX)
    painter.fillRect(box, QColor("#30333a"))
    if isinstance(image, QImage) and not image.isNull():
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        size = image.size().scaled(box.size(), Qt.AspectRatioMode.KeepAspectRatio)
        if image.width() < 20:  # a veiled picture: fill the box
            size = box.size()
        target = QRect(0, 0, size.width(), size.height())
        target.moveCenter(box.center())
        painter.drawImage(target, image)

    name = os.path.basename(path)
    x = box.right() + 8
    painter.setPen(text_colour)
    font = QFont(option.font)
    painter.setFont(font)
    fm = painter.fontMetrics()
    name_rect = QRect(x, rect.top() + 4, rect.right() - x - 4, fm.height())
    painter.drawText(name_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, fm.elidedText(name, Qt.TextElideMode.ElideMiddle, name_rect.width()))

    if row is not None:
        small = QFont(font)
        small.setPointSizeF(max(6.5, font.pointSizeF() * 0.82))
        painter.setFont(small)
        sfm = painter.fontMetrics()
        y = name_rect.bottom() + 6
        chips: list[tuple[str, str]] = [(row.status, STATUS_COLOURS.get(row.status, "#888"))]
        if row.model_label:
            chips.append((f"model: {'harmful' if row.model_label == 'yes' else 'safe'}", "#555b66"))
        if row.human_label:
            who = "people" if row.reviewer_count > 1 else "human"
            chips.append((f"{who}: {'harmful' if row.human_label == 'yes' else 'safe'}", "#6b4fb3"))
        if row.disputed:
            chips.append(("disputed", "#b3261e"))
        elif row.reviewer_count > 1:
            chips.append((f"{row.reviewer_count} reviewers", "#3b6ea8"))
        if row.flags:
            chips.append(("flagged", "#a33"))
        cx = x
        for text, colour in chips:
            w = sfm.horizontalAdvance(text) + 10
            if cx + w > rect.right():
                break
            chip = QRect(cx, y, w, sfm.height() + 2)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(colour))
            painter.drawRoundedRect(chip, 4, 4)
            painter.setPen(QColor("white"))
            painter.drawText(chip, Qt.AlignmentFlag.AlignCenter, text)
            cx += w + 4
    painter.restore()


class ItemListView(QListView):
    """The list. Every row has the same size whatever its content, so a changed row only needs a
    repaint: QListView's own handling lays out every row again (two Python calls per row), which
    stalled each decision for most of a second on 100,000 items."""

    def dataChanged(self, top_left: QModelIndex | QPersistentModelIndex, bottom_right: QModelIndex | QPersistentModelIndex,  # noqa: N802
                    roles: Sequence[int] = ()) -> None:
        QAbstractItemView.dataChanged(self, top_left, bottom_right, list(roles))


class BrowserWidget(QWidget):
    """Filters, search and sort above the list, counts below."""

    did_change_filters = Signal()

    def __init__(self, model: ItemListModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.search = QLineEdit(placeholderText="Search by name…")
        self.search.setClearButtonEnabled(True)
        self.status = QComboBox()
        self.status.addItems(["all statuses", *STATUSES, "undecided", NEEDS_ADJUDICATION, NOT_DECIDED_BY_ME])
        self.label = QComboBox()
        self.label.addItems(["any label", "harmful", "not harmful", "no label"])
        self.kind = QComboBox()
        self.kind.addItems(["images and videos", "image", "video"])
        self.category = QComboBox()
        self.category.addItem("any category")
        self.disagree = QCheckBox("disagreement")
        self.disagree.setToolTip("Only items where your label differs from the model's")
        self.sort = QComboBox()
        self.sort.addItems(list(SORTS))
        self.descending = QCheckBox("desc")
        self.view = ItemListView()
        self.view.setModel(model)
        self.view.setItemDelegate(ItemDelegate(self.view))
        self.view.setUniformItemSizes(True)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)  # the rows are not text to edit
        self.view.setDragEnabled(False)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)  # Shift/Ctrl-click: a batch on a selection
        self.view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        # New rows (a folder being scanned, a new filter) are laid out a batch at a time, so a
        # list of 100,000 never holds up the window while it grows.
        self.view.setLayoutMode(QListView.LayoutMode.Batched)
        self.view.setBatchSize(LAYOUT_BATCH)
        self.counts = QLabel()
        self.counts.setObjectName("browserCounts")
        self.busy = QLabel()  # what is being read while the list shows its previous rows
        self.busy.setObjectName("browserBusy")
        self.busy.setStyleSheet("color: palette(mid);")
        self.busy.hide()

        filters1 = QHBoxLayout()
        filters1.addWidget(self.status)
        filters1.addWidget(self.label)
        filters2 = QHBoxLayout()
        filters2.addWidget(self.kind)
        filters2.addWidget(self.category, 1)
        filters3 = QHBoxLayout()
        filters3.addWidget(self.disagree)
        filters3.addStretch(1)
        filters3.addWidget(QLabel("sort"))
        filters3.addWidget(self.sort)
        filters3.addWidget(self.descending)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.search)
        lay.addLayout(filters1)
        lay.addLayout(filters2)
        lay.addLayout(filters3)
        lay.addWidget(self.view, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.counts, 1)
        bottom.addWidget(self.busy)
        lay.addLayout(bottom)
        for combo in (self.status, self.label, self.kind, self.category, self.sort):
            combo.currentIndexChanged.connect(self.did_change_filters)
        self.search.textChanged.connect(self.did_change_filters)
        self.disagree.toggled.connect(self.did_change_filters)
        self.descending.toggled.connect(self.did_change_filters)

    def filters(self) -> Filters:
        f = Filters(name_contains=self.search.text().strip(), disagreement=self.disagree.isChecked())
        status = self.status.currentText()
        if status == "undecided":
            f.status = ["new", "debated", "error"]
        elif status in STATUSES:
            f.status = status
        elif status == NEEDS_ADJUDICATION:  # the reviewers' decisions give no final label
            f.needs_adjudication = True
        elif status == NOT_DECIDED_BY_ME and self.model.viewer:
            f.undecided_by = self.model.viewer
        f.final_label = {"harmful": "yes", "not harmful": "no", "no label": "none"}.get(self.label.currentText())
        if self.kind.currentIndex() > 0:
            f.kind = self.kind.currentText()
        if self.category.currentIndex() > 0:
            f.category = self.category.currentText()
        return f

    def is_filtered(self) -> bool:
        return self.filters() != Filters() or self.sort.currentText() != "name" or self.descending.isChecked()

    def set_busy(self, text: str) -> None:
        """Say what is being read ('' when nothing is)."""
        self.busy.setText(text)
        self.busy.setVisible(bool(text))

    def sort_order(self) -> tuple[str, bool]:
        return self.sort.currentText(), self.descending.isChecked()

    def set_categories(self, categories: list[str]) -> None:
        current = self.category.currentText()
        self.category.blockSignals(True)
        self.category.clear()
        self.category.addItem("any category")
        self.category.addItems(categories)
        i = self.category.findText(current)
        self.category.setCurrentIndex(max(0, i))
        self.category.blockSignals(False)
