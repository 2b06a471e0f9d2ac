"""F1: every key of the window, read from the one action table."""

from __future__ import annotations

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from vhd_gui.ui._actions import ACTIONS


class HelpDialog(QDialog):
    def __init__(self, keys: dict[str, str], parent: QWidget | None = None, labels: dict[str, str] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard help")
        self.resize(560, 640)
        self.table = QTableWidget(len(ACTIONS), 2)
        self.table.setHorizontalHeaderLabels(["Key", "Action"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for row, spec in enumerate(ACTIONS):
            key = keys.get(spec.id, spec.default_key)
            native = QKeySequence(key).toString(QKeySequence.SequenceFormat.NativeText) if key else "—"
            self.table.setItem(row, 0, QTableWidgetItem(native))
            self.table.setItem(row, 1, QTableWidgetItem((labels or {}).get(spec.id, spec.label)))
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.resizeColumnToContents(0)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("Keys can be changed in Settings. Safe view hides every item until you press the reveal key."))
        lay.addWidget(self.table)
        lay.addWidget(buttons)
