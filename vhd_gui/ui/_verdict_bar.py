"""The verdict bar: what the model said, what the user decided, and the controls to decide.

The buttons are bound to the window's QActions (so they show the configured keys); the bar
itself only holds the category and note the next decision will carry.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeyEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QToolButton,
    QWidget,
)

from vhd_gui.store import ItemRecord
from vhd_gui.ui._actions import DEFAULT_CATEGORIES


class VerdictBar(QWidget):
    did_pick_digit = Signal(int)  # 1..9, 0 while the category picker is open

    def __init__(self, actions: dict[str, QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.me = ""  # the reviewer deciding in this window: "You" is their decision when others decided too
        self.model_verdict = QLabel("—")
        self.model_verdict.setObjectName("modelVerdict")
        self.model_verdict.setTextFormat(Qt.TextFormat.RichText)
        self.human = QLabel("")
        self.human.setObjectName("humanDecision")
        self.flags = QLabel("")
        self.flags.setStyleSheet("color: #c0392b;")
        self.reviewed = QLabel("")
        self.reviewed.setObjectName("reviewedCounter")
        self.category = QComboBox()
        self.category.setEditable(True)
        self.category.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.category.setMinimumWidth(220)
        line = self.category.lineEdit()
        assert line is not None  # an editable combo box always has one
        line.setPlaceholderText("category (H, then 1-0 or type)")
        self.note = QLineEdit(placeholderText="note (optional, Ctrl+N)")
        self.auto_advance = QCheckBox("auto-advance")
        self.auto_advance.setChecked(True)
        self.picker_hint = QLabel("")
        self.picker_hint.setWordWrap(True)
        self.picker_hint.setStyleSheet("color: #8a5a00;")
        self.picker_hint.hide()
        self.buttons: dict[str, QToolButton] = {}
        row = QHBoxLayout()
        for action_id in ("run", "cancel", "accept", "harmful", "not_harmful", "undo", "prev", "next", "next_undecided"):
            b = QToolButton()
            b.setDefaultAction(actions[action_id])
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            self.buttons[action_id] = b
            row.addWidget(b)
        row.addStretch(1)
        row.addWidget(self.auto_advance)
        grid = QGridLayout(self)
        grid.setContentsMargins(4, 2, 4, 2)
        grid.addWidget(QLabel("Model:"), 0, 0)
        grid.addWidget(self.model_verdict, 0, 1)
        grid.addWidget(self.flags, 0, 2)
        grid.addWidget(self.reviewed, 0, 3, Qt.AlignmentFlag.AlignRight)
        grid.addWidget(QLabel("You:"), 1, 0)
        grid.addWidget(self.human, 1, 1)
        grid.addWidget(self.category, 1, 2)
        grid.addWidget(self.note, 1, 3)
        grid.addWidget(self.picker_hint, 2, 0, 1, 4)
        grid.addLayout(row, 3, 0, 1, 4)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        self.is_picking = False
        self.keyed: list[str] = list(DEFAULT_CATEGORIES)  # the picker's categories, the first ten on 1..9, 0
        self._from_store: list[str] = []
        self.category.installEventFilter(self)
        line.installEventFilter(self)
        self.set_categories([])

    def set_keyed(self, categories: list[str]) -> None:
        """The user's category list (Settings → View): the picker offers it, in its order."""
        self.keyed = list(categories)
        self.set_categories(self._from_store)

    def set_categories(self, from_store: list[str]) -> None:
        """The picker: the user's categories first, then the others already in the store."""
        self._from_store = list(from_store)
        text = self.category.currentText()
        self.category.clear()
        for i, name in enumerate(self.keyed):
            self.category.addItem(f"{name}", name)
            if i < len(DEFAULT_CATEGORIES):
                self.category.setItemData(i, f"key {(i + 1) % 10}", Qt.ItemDataRole.ToolTipRole)
        extra = [c for c in from_store if c not in self.keyed]
        if extra:
            self.category.insertSeparator(self.category.count())
            for c in extra:
                self.category.addItem(c, c)
        self.category.setEditText(text)

    def chosen_category(self) -> str:
        return self.category.currentText().strip()

    def start_picking(self) -> None:
        self.is_picking = True
        hint = "  ".join(f"{(i + 1) % 10} {name}" for i, name in enumerate(self.keyed[: len(DEFAULT_CATEGORIES)]))
        self.picker_hint.setText(f"Harmful: pick a category: {hint}, or type one and press Enter (Esc leaves).")
        self.picker_hint.show()
        self.category.setEditText("")
        self.category.setFocus()

    def stop_picking(self) -> None:
        self.is_picking = False
        self.picker_hint.hide()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        """While picking, a digit typed into the empty category field picks that category."""
        if self.is_picking and watched in (self.category, self.category.lineEdit()) and event.type() == QEvent.Type.KeyPress:
            key = event.text() if isinstance(event, QKeyEvent) else ""
            if len(key) == 1 and key.isdigit() and not self.category.currentText():
                self.did_pick_digit.emit(int(key))
                return True
        return super().eventFilter(watched, event)

    def show_record(self, rec: ItemRecord | None) -> None:
        self.note.clear()
        if rec is None:
            self.model_verdict.setText("—")
            self.human.setText("")
            self.flags.setText("")
            return
        d = rec.debate
        if d is None:
            self.model_verdict.setText("<i>no debate yet</i>")
        elif d.status == "error":
            self.model_verdict.setText(f"<span style='color:#c0392b'>error: {_esc(d.error_kind or 'failed')}</span>")
        elif d.decision == "yes":
            self.model_verdict.setText(f"<b style='color:#c0392b'>HARMFUL</b> — {_esc(d.harmful_type)}")
        else:
            self.model_verdict.setText(f"<b style='color:#2e7d4f'>not harmful</b> — {_esc(d.harmful_type)}")
        self.flags.setText(", ".join(d.flags) if d is not None else "")
        h = rec.human
        team = any(name not in (self.me, "") for name in rec.standing)
        if team:  # others decided too: "You" is this reviewer's own decision; the item's outcome follows
            h = rec.standing.get(self.me)
        if h is None:
            text = "not decided"
        else:
            what = "harmful" + (f" ({h.category})" if h.category else "") if h.label == "yes" else "not harmful"
            text = what + ("" if team else f" · {rec.status}") + (f" · note: {h.note}" if h.note else "")
        if team:
            final = rec.human
            text += " · item: " + ("disputed, needs adjudication" if rec.disputed else "no human label yet" if final is None
                                   else ("harmful" if final.label == "yes" else "not harmful") + f" (from {final.reviewer or 'a reviewer'})")
        self.human.setText(text)

    def set_reviewed(self, reviewed: int, total: int) -> None:
        self.reviewed.setText(f"reviewed {reviewed} / {total}")


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
