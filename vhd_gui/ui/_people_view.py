"""The Review panel's "People" tab: agreement between reviewers, and the model against each.

It only draws a :class:`vhd_gui.agreement.PeopleAgreement` (the figures come from the Qt-free
:mod:`vhd_gui.agreement`); the Review panel computes them off the GUI thread and hands them here.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from vhd_gui import agreement
from vhd_gui.agreement import GroupAgreement, PairAgreement, PeopleAgreement

_SPLITS = (("kind", "kind"), ("category (harmful with it vs not)", "category"))
_OVERALL_COLUMNS = ("harmful or not", "label and category")
_SHORT = ("agree", "Fleiss \u03ba", "Krippendorff \u03b1", "Gwet's AC1")  # the split table's headers, in GROUP_FIGURES' order
_EXPLAINED = (
    "Kappa and alpha correct for chance from how often each label is used: when nearly every item is "
    "\u201cnot harmful\u201d they drop even if people agree on almost all items. Gwet's AC1 and the "
    "plain agreement do not; read them together. "
)


def _cell(text: str, right: bool = True) -> QTableWidgetItem:
    item = QTableWidgetItem(text.replace(" [", "\n[", 1))  # the interval under the value
    align = Qt.AlignmentFlag.AlignRight if right else Qt.AlignmentFlag.AlignLeft
    item.setTextAlignment(align | Qt.AlignmentFlag.AlignVCenter)
    return item


def _table(columns: Sequence[str]) -> QTableWidget:
    t = QTableWidget(0, len(columns))
    t.setHorizontalHeaderLabels(list(columns))
    t.verticalHeader().setVisible(False)
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    t.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    t.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    t.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
    return t


def _fill(t: QTableWidget, rows: Sequence[Sequence[str]]) -> None:
    t.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            t.setItem(r, c, _cell(text, right=c > 0))
    t.resizeRowsToContents()
    t.resizeColumnsToContents()
    wide = t.horizontalHeader().length() + 4 > t.viewport().width() > 0
    scroll = t.horizontalScrollBar().sizeHint().height() if wide else 0  # room for the scroll bar when it shows
    t.setFixedHeight(t.horizontalHeader().height() + t.verticalHeader().length() + 4 + scroll)


def _pair_rows(pairs: Sequence[PairAgreement], first: str) -> list[list[str]]:
    return [[(f"{p.a} / {p.b}" if first == "pair" else p.b), *agreement.pair_cells(p)] for p in pairs]


class PeopleView(QWidget):
    """Overall figures with intervals, the pairwise table, the model against each person, and a split."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._result: PeopleAgreement | None = None
        self.caption = QLabel("Agreement between people is computed when this tab is shown.")
        self.caption.setWordWrap(True)
        self.overall = _table(["measure", *_OVERALL_COLUMNS])
        self.overall.setAccessibleName("Agreement between people, over all reviewers")
        self.pairs_title = QLabel("<b>Pairs of people</b> (on the items both decided)")
        self.pairs = _table(["pair", *agreement.PAIR_COLUMNS])
        self.pairs.setAccessibleName("Agreement of each pair of reviewers")
        self.model_title = QLabel("<b>The model</b> against each person and the final label")
        self.model = _table(["against", *agreement.PAIR_COLUMNS])
        self.model.setAccessibleName("The model against each person and the final label")
        self.split_combo = QComboBox()
        for title, key in _SPLITS:
            self.split_combo.addItem(title, key)
        self.split_combo.currentIndexChanged.connect(self._show_split)
        self.split = _table(["", "items", "by 2+", *_SHORT])
        self.split.setAccessibleName("Agreement between people per group")
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #6b6b6b")
        split_row = QWidget()
        h = QHBoxLayout(split_row)
        h.setContentsMargins(0, 0, 0, 0)
        h.addWidget(QLabel("Split by"))
        h.addWidget(self.split_combo)
        h.addStretch(1)
        self._details = [self.overall, self.pairs_title, self.pairs, self.model_title, self.model, split_row, self.split, self.note]
        inner = QWidget()
        v = QVBoxLayout(inner)
        v.addWidget(self.caption)
        v.addWidget(self.overall)
        v.addWidget(self.pairs_title)
        v.addWidget(self.pairs)
        v.addWidget(self.model_title)
        v.addWidget(self.model)
        v.addWidget(split_row)
        v.addWidget(self.split)
        v.addWidget(self.note)
        v.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self._set_details_visible(False)

    def result(self) -> PeopleAgreement | None:
        return self._result

    def show_busy(self) -> None:
        if self._result is None:
            self.caption.setText("Computing agreement between people…")

    def show_hidden(self, why: str) -> None:
        """No figures for this viewer (blind review): only the reason."""
        self._result = None
        self.caption.setText(why)
        self._set_details_visible(False)

    def show_error(self, exc: BaseException) -> None:
        self.caption.setText(f"Cannot compute agreement between people: {exc}")

    def show_result(self, a: PeopleAgreement) -> None:
        self._result = a
        if not a.comparable:
            self.caption.setText(agreement.not_comparable_message(a))
            self._set_details_visible(False)
            if a.overall.model:  # one person: the model can still be compared with them
                self.model_title.setVisible(True)
                self.model.setVisible(True)
                _fill(self.model, _pair_rows(a.overall.model, "against"))
            return
        g = a.overall
        self.caption.setText(
            f"<b>{len(a.reviewers)}</b> reviewers · <b>{g.items:,}</b> items decided by people, "
            f"<b>{g.multi:,}</b> by two or more · Gwet's AC1 <b>{agreement.fraction(g.ac1)}</b>"
        )
        rows = []
        for label, attr, as_pct in agreement.GROUP_FIGURES:
            rows.append([label, *(agreement.fraction(getattr(x, attr), as_pct) for x in (g, a.label_and_category))])
        _fill(self.overall, rows)
        _fill(self.pairs, _pair_rows(g.pairs, "pair"))
        _fill(self.model, _pair_rows(g.model, "against"))
        self._show_split()
        reasons = [e.why for e in (g.percent, g.fleiss, g.alpha, g.ac1) if e.value is None and e.why]
        undefined = f"Not defined: {reasons[0]}. " if reasons else ""
        self.note.setText(undefined + _EXPLAINED + agreement.method_note(a))
        self._set_details_visible(True)

    def _show_split(self) -> None:
        a = self._result
        if a is None or not a.comparable:
            return
        groups: dict[str, GroupAgreement] = a.groups(self.split_combo.currentData())
        self.split.setHorizontalHeaderItem(0, QTableWidgetItem(self.split_combo.currentData()))
        rows = [[name, f"{x.items:,}", f"{x.multi:,}", *(agreement.fraction(getattr(x, attr), p) for _, attr, p in agreement.GROUP_FIGURES)] for name, x in groups.items()]
        _fill(self.split, rows)

    def _set_details_visible(self, visible: bool) -> None:
        for w in self._details:
            w.setVisible(visible)
