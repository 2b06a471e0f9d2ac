"""What the window shows while no folder is open: Open folder, and the recent folders."""

from __future__ import annotations

import os

from PySide6.QtCore import QSettings, QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

RECENT_KEY = "recent_folders"
RECENT_MAX = 8


def recent_folders(qsettings: QSettings) -> list[str]:
    value = qsettings.value(RECENT_KEY, [])
    items = [value] if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else []
    out = [str(v) for v in items if v]
    last = qsettings.value("last_folder")
    if last and str(last) not in out and os.path.isdir(str(last)):
        out.append(str(last))
    return out[:RECENT_MAX]


def remember_folder(qsettings: QSettings, folder: str) -> None:
    folders = [folder] + [f for f in recent_folders(qsettings) if f != folder]
    qsettings.setValue(RECENT_KEY, folders[:RECENT_MAX])


def forget_folder(qsettings: QSettings, folder: str) -> None:
    qsettings.setValue(RECENT_KEY, [f for f in recent_folders(qsettings) if f != folder])
    if qsettings.value("last_folder") == folder:
        qsettings.remove("last_folder")


class EmptyState(QWidget):
    open_requested = Signal()
    open_store_requested = Signal()
    recent_requested = Signal(str)

    def __init__(self, qsettings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("emptyState")
        self.qsettings = qsettings
        icon = QLabel()
        try:
            from vhd_gui.appinfo import icon_png

            icon.setPixmap(QIcon(str(icon_png(128))).pixmap(QSize(96, 96)))
        except (FileNotFoundError, ValueError):
            pass
        icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title = QLabel("<h2>Open a folder of images and videos</h2>")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint = QLabel("Its items are listed here, debated by the models on R, and your decisions are saved beside them "
                      "in .vhd-annotator/. Previews stay blurred until you press Space.")
        hint.setWordWrap(True)
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.open_button = QPushButton("Open folder…")
        self.open_button.setDefault(True)
        self.open_button.clicked.connect(self.open_requested.emit)
        self.store_button = QPushButton("Open a store file…")
        self.store_button.clicked.connect(self.open_store_requested.emit)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.store_button)
        buttons.addStretch(1)
        self.recent_title = QLabel("<b>Recent folders</b>")
        self.recent = QListWidget()
        self.recent.setObjectName("recentFolders")
        self.recent.setMaximumHeight(220)
        self.recent.itemActivated.connect(self._activated)
        self.recent.itemClicked.connect(self._activated)

        column = QVBoxLayout()
        column.addStretch(1)
        column.addWidget(icon)
        column.addWidget(title)
        column.addWidget(hint)
        column.addSpacing(12)
        column.addLayout(buttons)
        column.addSpacing(18)
        column.addWidget(self.recent_title)
        column.addWidget(self.recent)
        column.addStretch(2)
        row = QHBoxLayout(self)
        row.addStretch(1)
        row.addLayout(column, 3)
        row.addStretch(1)

    def refresh(self) -> None:
        self.recent.clear()
        folders = recent_folders(self.qsettings)
        for folder in folders:
            item = QListWidgetItem(f"{os.path.basename(folder.rstrip(os.sep)) or folder}    {folder}")
            item.setData(Qt.ItemDataRole.UserRole, folder)
            item.setToolTip(folder)
            self.recent.addItem(item)
        self.recent_title.setVisible(bool(folders))
        self.recent.setVisible(bool(folders))

    def _activated(self, item: QListWidgetItem) -> None:
        self.recent_requested.emit(str(item.data(Qt.ItemDataRole.UserRole)))
