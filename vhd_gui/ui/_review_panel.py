"""The Review panel: model-versus-human agreement with intervals, the confusion matrix and
per-category bars as pictures, the suspicion-ranked review queue, audit samples, agreement
between people (the "People" tab) and the report.

Every figure comes from :mod:`vhd_gui.metrics` (no Qt there); this module only draws. The
figures are computed off the GUI thread (one bulk read and a few thousand bootstrap draws take
about a second on 100,000 items): :meth:`ReviewPanel.refresh` hands the window's background
workers a job that reads the store and returns a plain :class:`~vhd_gui.metrics.ReviewSummary`; requests that arrive
while one runs are folded into one more run. ``did_refresh`` fires when the new figures show.

Agreement between people reads every decided item's history (:func:`vhd_gui.agreement.read_ratings`,
about a second for 11,000 items × 3 reviewers), so it is a job of its own, run only while the
People tab is shown (and when it is next shown after a change); ``people_refreshed`` fires when
its figures show.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, cast

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListView,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from vhd_gui import agreement, metrics
from vhd_gui.agreement import PeopleAgreement
from vhd_gui.metrics import Agreement, AuditSample, Confusion, QueueEntry, ReviewSummary
from vhd_gui.store import Store, VerdictRow
from vhd_gui.ui._background import Background, Job, shared
from vhd_gui.ui._people_view import PeopleView

CONFUSION_SIZE = (400, 250)
BARS_WIDTH = 470
MAX_BARS = 12
_AGREE = QColor("#2e7d4f")
_DISAGREE = QColor("#c0392b")
_INK = QColor("#222222")
_MUTED = QColor("#6b6b6b")
_PAPER = QColor("#ffffff")
_SPLITS = (("kind", "kind"), ("human category", "category"), ("model / preset", "model"))


# --------------------------------------------------------------------------- pictures


def _blend(colour: QColor, share: float) -> QColor:
    """``colour`` faded towards white: share 0 → nearly white, 1 → full colour."""
    t = 0.12 + 0.88 * max(0.0, min(1.0, share))
    return QColor(
        round(255 + (colour.red() - 255) * t), round(255 + (colour.green() - 255) * t), round(255 + (colour.blue() - 255) * t)
    )


def _image(width: int, height: int, scale: float) -> QImage:
    image = QImage(round(width * scale), round(height * scale), QImage.Format.Format_ARGB32_Premultiplied)
    image.setDevicePixelRatio(scale)
    image.fill(_PAPER)
    return image


def confusion_image(c: Confusion, scale: float = 1.0) -> QImage:
    """The confusion matrix, human rows and model columns, each cell with its count and row share."""
    width, height = CONFUSION_SIZE
    image = _image(width, height, scale)
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    left, top, cell_w, cell_h = 136.0, 46.0, 120.0, 88.0
    small, big, bold = QFont(), QFont(), QFont()
    small.setPixelSize(12)
    big.setPixelSize(22)
    big.setBold(True)
    bold.setPixelSize(12)
    bold.setBold(True)
    p.setFont(bold)
    p.setPen(_INK)
    p.drawText(QRectF(left, 4, 2 * cell_w, 18), Qt.AlignmentFlag.AlignCenter, "model")
    p.save()
    p.translate(18, top + cell_h)
    p.rotate(-90)
    p.drawText(QRectF(-cell_h, -9, 2 * cell_h, 18), Qt.AlignmentFlag.AlignCenter, "human")
    p.restore()
    p.setFont(small)
    for j, name in enumerate(("yes (harmful)", "no")):
        p.drawText(QRectF(left + j * cell_w, 24, cell_w, 18), Qt.AlignmentFlag.AlignCenter, name)
    cells = ((c.yes_yes, c.yes_no), (c.no_yes, c.no_no))
    for i, name in enumerate(("yes (harmful)", "no")):
        p.setPen(_INK)
        p.setFont(small)
        p.drawText(QRectF(30, top + i * cell_h, left - 36, cell_h), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, name)
        row_total = sum(cells[i])
        for j in range(2):
            count = cells[i][j]
            share = count / row_total if row_total else 0.0
            rect = QRectF(left + j * cell_w, top + i * cell_h, cell_w, cell_h)
            p.fillRect(rect.adjusted(1, 1, -1, -1), _blend(_AGREE if i == j else _DISAGREE, share))
            ink = _PAPER if share > 0.55 else _INK
            p.setPen(ink)
            p.setFont(big)
            p.drawText(rect.adjusted(0, 8, 0, -cell_h / 2 + 8), Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom, f"{count:,}")
            p.setFont(small)
            words = f"{100 * share:.1f} % of row" if row_total else "-"
            p.drawText(rect.adjusted(0, cell_h / 2 + 6, 0, 0), Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, words)
    p.setPen(QPen(_MUTED, 1))
    p.drawRect(QRectF(left, top, 2 * cell_w, 2 * cell_h))
    p.setFont(small)
    p.setPen(_MUTED)
    p.drawText(
        QRectF(0, top + 2 * cell_h + 6, width, 18),
        Qt.AlignmentFlag.AlignCenter,
        f"n = {c.n:,}   green: agree, red: disagree",
    )
    p.end()
    return image


def category_bars_image(groups: Mapping[str, Agreement], width: int = BARS_WIDTH, scale: float = 1.0) -> QImage:
    """One bar per human category: the share of its items where the model agreed, with the
    95 % Wilson interval as a whisker. The largest categories first; at most MAX_BARS."""
    shown = [(name, a) for name, a in groups.items() if a.n][:MAX_BARS]
    row_h, top, label_w, right = 26.0, 30.0, 160.0, 118.0
    height = int(top + row_h * max(1, len(shown)) + 26)
    image = _image(width, height, scale)
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    font = QFont()
    font.setPixelSize(12)
    p.setFont(font)
    x0, x1 = label_w, width - right
    span = x1 - x0
    bold = QFont(font)
    bold.setBold(True)
    p.setFont(bold)
    p.setPen(_INK)
    p.drawText(QRectF(0, 4, width, 18), Qt.AlignmentFlag.AlignCenter, "model agrees with people, by human category")
    p.setFont(font)
    for tick in (0.0, 0.5, 1.0):  # grid lines and their labels
        x = x0 + tick * span
        p.setPen(QPen(QColor("#dddddd"), 1))
        p.drawLine(int(x), int(top - 2), int(x), int(top + row_h * len(shown)))
        p.setPen(_MUTED)
        p.drawText(QRectF(x - 30, top + row_h * len(shown) + 2, 60, 16), Qt.AlignmentFlag.AlignCenter, f"{int(tick * 100)} %")
    if not shown:
        p.setPen(_MUTED)
        p.drawText(QRectF(0, top, width, row_h), Qt.AlignmentFlag.AlignCenter, "no item has both labels yet")
    metrics_font = p.fontMetrics()
    for i, (name, a) in enumerate(shown):
        y = top + i * row_h
        value = a.accuracy or 0.0
        p.setPen(_INK)
        label = metrics_font.elidedText(name, Qt.TextElideMode.ElideRight, int(label_w - 10))
        p.drawText(QRectF(0, y, label_w - 8, row_h), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, label)
        colour = QColor("#8a8a8a") if name == metrics.NOT_HARMFUL_GROUP else QColor("#3b5fb0")
        p.fillRect(QRectF(x0, y + 6, span * value, row_h - 12), colour)
        if a.accuracy_ci is not None:
            lo, hi = x0 + span * a.accuracy_ci[0], x0 + span * a.accuracy_ci[1]
            mid = y + row_h / 2
            p.setPen(QPen(_INK, 1.5))
            p.drawLine(int(lo), int(mid), int(hi), int(mid))
            p.drawLine(int(lo), int(mid - 5), int(lo), int(mid + 5))
            p.drawLine(int(hi), int(mid - 5), int(hi), int(mid + 5))
        p.setPen(_INK)
        p.drawText(
            QRectF(x1 + 6, y, right - 6, row_h),
            Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
            f"{metrics.pct(a.accuracy)} %  n={a.n:,}",
        )
    p.end()
    return image


# --------------------------------------------------------------------------- the queue as a list model


class _QueueModel(QAbstractListModel):
    """The queue's entries, shown as "score  path  (reasons)"; holds plain tuples only."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._entries: list[QueueEntry] = []

    def set_entries(self, entries: list[QueueEntry]) -> None:
        self.beginResetModel()
        self._entries = entries
        self.endResetModel()

    def entries(self) -> list[QueueEntry]:
        return self._entries

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._entries)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._entries):
            return None
        e = self._entries[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            why = f"  ({', '.join(e.reasons)})" if e.reasons else ""
            return f"{e.score:4.1f}  {e.model_label:>3}  {e.path}{why}"
        if role == Qt.ItemDataRole.ToolTipRole:
            category = f", {e.model_category}" if e.model_label == "yes" and e.model_category else ""
            return f"{e.path}\nmodel: {e.model_label}{category}\nsuspicion {e.score:.2f}: {', '.join(e.reasons) or 'nothing unusual'}"
        if role == Qt.ItemDataRole.UserRole:
            return e.path
        return None


class _PathModel(QAbstractListModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._paths: list[str] = []
        self._done: set[str] = set()

    def set_paths(self, paths: Sequence[str], done: set[str]) -> None:
        """The sample's paths; those in ``done`` have a human decision and are ticked."""
        self.beginResetModel()
        self._paths = list(paths)
        self._done = done
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._paths)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._paths):
            return None
        path = self._paths[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return ("\u2713 " if path in self._done else "\u2022 ") + path
        if role in (Qt.ItemDataRole.UserRole, Qt.ItemDataRole.ToolTipRole):
            return path
        return None


# --------------------------------------------------------------------------- the panel


class ReviewPanel(QWidget):
    """Agreement, queue and audit for one store. Call :meth:`refresh` after each decision."""

    item_activated = Signal(str)  # a relative path the user picked in the queue or the audit list
    audit_sample_drawn = Signal(list)  # the relative paths of a newly drawn audit sample
    did_refresh = Signal()  # new figures are on screen
    people_refreshed = Signal()  # new figures of agreement between people are on screen
    def __init__(self, store: Store, parent: QWidget | None = None, background: Background | None = None) -> None:
        """``store`` is only read (best a reader connection of its own: the figures of a large
        store take a while)."""
        super().__init__(parent)
        self._store = store
        self._bg = background or shared()
        self._rows: list[VerdictRow] = []
        self._summary: ReviewSummary | None = None
        self._sample: AuditSample | None = None
        self._busy = False
        self._again = False
        self._generation = 0
        self._job: Job[Any] | None = None
        self._people_job: Job[Any] | None = None
        self._people_again = False
        self._people_stale = True
        # Who is looking: under blind review a reviewer sees no agreement between people (it
        # would tell them how the others decided); the adjudicator does.
        self._viewer: str | None = None

        self.headline = QLabel("Computing…")
        self.headline.setWordWrap(True)
        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_agreement_tab(), "Agreement")
        self.tabs.addTab(self._build_queue_tab(), "Queue")
        self.tabs.addTab(self._build_audit_tab(), "Audit")
        self.people = PeopleView()
        self.people_tab = self.tabs.addTab(self.people, "People")
        self.tabs.setTabToolTip(self.people_tab, "Agreement between reviewers, and the model against each of them")
        self.tabs.currentChanged.connect(self._tab_changed)
        self.export_button = QPushButton("Export report…")
        self.export_button.setToolTip("Write the figures, pictures and queue as Markdown or HTML, with PNG pictures beside it")
        self.export_button.clicked.connect(self._ask_export)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.headline)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(bottom)

    # ----------------------------------------------------------------- building

    def _build_agreement_tab(self) -> QWidget:
        self.figures = QTableWidget(len(metrics.FIGURES), 2)
        self.figures.setHorizontalHeaderLabels(["value", "95% interval"])
        self.figures.setVerticalHeaderLabels([label for label, _, _ in metrics.FIGURES])
        self.figures.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.figures.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.figures.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.figures.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.figures.horizontalHeader().setStretchLastSection(True)
        self.figures.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.figures.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.figures.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.figures.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.confusion_label = QLabel()
        self.confusion_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.confusion_label.setAccessibleName("Confusion matrix")
        self.bars_label = QLabel()
        self.bars_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.bars_label.setAccessibleName("Agreement per human category")
        self.split_combo = QComboBox()
        for title, key in _SPLITS:
            self.split_combo.addItem(title, key)
        self.split_combo.currentIndexChanged.connect(self._show_groups)
        self.groups = QTableWidget(0, len(metrics.GROUP_COLUMNS) + 1)
        self.groups.setHorizontalHeaderLabels(["", *metrics.GROUP_COLUMNS])
        self.groups.verticalHeader().setVisible(False)
        self.groups.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.groups.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.groups.setMinimumHeight(110)

        split_row = QHBoxLayout()
        split_row.addWidget(QLabel("Split by"))
        split_row.addWidget(self.split_combo)
        split_row.addStretch(1)
        inner = QWidget()
        v = QVBoxLayout(inner)
        v.addWidget(self.figures)
        v.addWidget(self.confusion_label)
        v.addWidget(self.bars_label)
        v.addLayout(split_row)
        v.addWidget(self.groups)
        v.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        return scroll

    def _build_queue_tab(self) -> QWidget:
        self.queue_caption = QLabel()
        self.queue_caption.setWordWrap(True)
        self.queue_model = _QueueModel(self)
        self.queue_view = QListView()
        self.queue_view.setModel(self.queue_model)
        self.queue_view.setUniformItemSizes(True)  # 100,000 rows lay out instantly
        self.queue_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.queue_view.activated.connect(self._activated)
        self.queue_view.doubleClicked.connect(self._activated)
        tab = QWidget()
        v = QVBoxLayout(tab)
        v.addWidget(self.queue_caption)
        v.addWidget(self.queue_view, 1)
        return tab

    def _build_audit_tab(self) -> QWidget:
        self.sample_size = QSpinBox()
        self.sample_size.setRange(1, 100_000)
        self.sample_size.setValue(100)
        self.sample_seed = QSpinBox()
        self.sample_seed.setRange(0, 2_147_483_647)
        self.sample_seed.setValue(1)
        self.draw_button = QPushButton("Draw sample")
        self.draw_button.setToolTip("A random sample of model-only verdicts, stratified by verdict and kind")
        self.draw_button.clicked.connect(self.draw_sample)
        form = QFormLayout()
        form.addRow("Sample size", self.sample_size)
        form.addRow("Seed", self.sample_seed)
        self.audit_caption = QLabel("No sample drawn. Draw one, review its items, and the accuracy of what nobody reviewed is estimated here.")
        self.audit_caption.setWordWrap(True)
        self.audit_estimate = QLabel()
        self.audit_estimate.setWordWrap(True)
        font = self.audit_estimate.font()
        font.setBold(True)
        self.audit_estimate.setFont(font)
        self.sample_model = _PathModel(self)
        self.sample_view = QListView()
        self.sample_view.setModel(self.sample_model)
        self.sample_view.setUniformItemSizes(True)
        self.sample_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.sample_view.activated.connect(self._activated)
        self.sample_view.doubleClicked.connect(self._activated)
        tab = QWidget()
        v = QVBoxLayout(tab)
        v.addLayout(form)
        v.addWidget(self.draw_button)
        v.addWidget(self.audit_caption)
        v.addWidget(self.audit_estimate)
        v.addWidget(self.sample_view, 1)
        return tab

    # ----------------------------------------------------------------- public API

    def refresh(self) -> None:
        """Recompute every figure from the store (in a worker thread); cheap to call often."""
        if self._busy:
            self._again = True
            return
        self._busy = True
        self._again = False
        self._generation += 1
        generation, sample = self._generation, self._sample
        self._job = self._bg.run(self._compute, sample, what="the review figures",
                                 done=partial(self._show, generation), failed=partial(self._show, generation))
        self._people_stale = True
        if self.tabs.currentIndex() == self.people_tab:
            self.refresh_people()

    def refresh_people(self) -> None:
        """Recompute agreement between people (in a worker thread); requests during a run fold into one more."""
        if self._people_job is not None:
            self._people_again = True
            return
        self._people_again = False
        self._people_stale = False
        self.people.show_busy()
        self._people_job = self._bg.run(
            self._compute_people, what="agreement between people", done=self._show_people, failed=self._show_people
        )

    def wait(self, timeout: float | None = None) -> None:
        """Block until the running computation (if any) has finished (for shutdown and tests)."""
        for job in (self._job, self._people_job):
            if job is not None:
                job.wait(timeout)

    def stop(self) -> None:
        """The store is closing: no new figures, and the running computations are dropped."""
        for job in (self._job, self._people_job):
            if job is not None:
                job.cancel()
        self.wait()

    def queue_paths(self) -> list[str]:
        """The review queue's paths, most suspicious first (as of the last refresh)."""
        return [e.path for e in self.queue_model.entries()]

    def summary(self) -> ReviewSummary | None:
        return self._summary

    def people_agreement(self) -> PeopleAgreement | None:
        """The figures of agreement between people on screen (None before the People tab was shown)."""
        return self.people.result()

    def audit_sample(self) -> AuditSample | None:
        return self._sample

    def draw_sample(self) -> list[str]:
        """Draw an audit sample with the chosen size and seed from the current model-only verdicts."""
        sample = metrics.draw_audit_sample(self._rows, self.sample_size.value(), self.sample_seed.value())
        self._sample = sample
        self.sample_model.set_paths(sample.paths, self._decided(sample))
        strata = ", ".join(f"{k} {drawn} of {pop}" for k, (pop, drawn) in sample.strata.items())
        self.audit_caption.setText(
            f"Sample of {len(sample.paths)} from {sample.population} model-only verdicts (seed {sample.seed}; {strata or 'nothing to sample'}). "
            "Review these items; the estimate below updates as decisions come in."
        )
        self._show_audit()
        paths = list(sample.paths)
        self.audit_sample_drawn.emit(paths)
        self.refresh()
        return paths

    def export_report(self, target: str | Path) -> list[Path]:
        """Write the report (Markdown for .md, HTML for .html/.htm) and its PNG pictures beside it.

        Returns the files written. Uses the figures on screen (call after ``did_refresh``).
        """
        target = Path(target)
        summary = self._summary
        if summary is None:
            raise RuntimeError("no figures yet: refresh() has not finished")
        names = metrics.report_image_names(target)
        confusion = confusion_image(summary.overall.confusion, scale=2.0)
        bars = category_bars_image(summary.by_category, scale=2.0)
        written: list[Path] = []
        for key, image in (("confusion", confusion), ("categories", bars)):
            path = target.with_name(names[key])
            if not image.save(str(path), "PNG"):  # type: ignore[call-overload]  # the stub says bytes; the binding takes str
                raise OSError(f"cannot write {path}")
            written.append(path)
        render = metrics.report_html if target.suffix.lower() in (".html", ".htm") else metrics.report_markdown
        text = render(summary, self._store.path.name, names)
        target.write_text(text, encoding="utf-8")
        written.insert(0, target)
        return written

    # ----------------------------------------------------------------- worker

    def _compute(self, sample: AuditSample | None) -> tuple[ReviewSummary, list[VerdictRow]]:
        rows = self._store.verdict_rows(viewer=self._viewer)  # under blind review: their own decisions only
        return metrics.review_summary(rows, sample), rows

    @property
    def viewer(self) -> str | None:
        return self._viewer

    @viewer.setter
    def viewer(self, reviewer: str | None) -> None:
        changed = reviewer != self._viewer
        self._viewer = reviewer
        if changed and self._summary is not None:
            self.refresh()  # every figure again, as this reviewer may see it (the People tab with it)
            return
        self._people_stale = True
        if self.tabs.currentIndex() == self.people_tab:
            self.refresh_people()

    def _compute_people(self) -> PeopleAgreement | str:
        """The figures, or (under blind review, for anyone but the adjudicator) why there are none."""
        if self._store.blind_for(self._viewer):
            project = self._store.project_settings()
            who = f" ({project.adjudicator})" if project.adjudicator else ""
            return (f"This project reviews blind: how the reviewers agree is for its adjudicator{who} to see,"
                    " as it would tell you how the others decided. Your own decisions are in the list.")
        return agreement.between_people(agreement.read_ratings(self._store))

    def _show_people(self, result: object) -> None:
        self._people_job = None
        if isinstance(result, BaseException):
            self.people.show_error(result)
        elif isinstance(result, str):
            self.people.show_hidden(result)
        else:
            self.people.show_result(cast(PeopleAgreement, result))
        if self._people_again:
            self.refresh_people()
        else:
            self.people_refreshed.emit()

    def _tab_changed(self, index: int) -> None:
        if index == self.people_tab and (self._people_stale or self.people.result() is None):
            self.refresh_people()

    def _show(self, generation: int, result: object) -> None:
        self._busy = False
        self._job = None
        if isinstance(result, BaseException):
            self.headline.setText(f"Cannot compute the figures: {result}")
        elif generation == self._generation:
            summary, rows = cast("tuple[Any, list[Any]]", result)
            self._rows = rows
            self._summary = summary
            self._show_summary(summary)
        if self._again:
            self.refresh()
        else:
            self.did_refresh.emit()

    # ----------------------------------------------------------------- showing

    def _show_summary(self, s: ReviewSummary) -> None:
        a = s.overall
        if a.n:
            self.headline.setText(
                f"<b>{a.n:,}</b> items have both a model verdict and a human decision · "
                f"mean accuracy <b>{metrics.pct(a.acc_mean)} %</b> {metrics.pct_ci(a.acc_mean_ci)} · "
                f"κ <b>{metrics.num(a.kappa)}</b> · {len(s.queue):,} in the queue"
            )
        else:
            self.headline.setText(metrics.no_overlap_message(s.items, s.with_verdict, s.with_human))
        for row, (_, value, ci) in enumerate(metrics.figure_rows(a)):
            for col, text in enumerate((value, ci)):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter if col == 0 else Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
                self.figures.setItem(row, col, item)
        self.figures.setFixedHeight(self.figures.horizontalHeader().height() + self.figures.verticalHeader().length() + 4)
        scale = self.devicePixelRatioF()
        self.confusion_label.setPixmap(QPixmap.fromImage(confusion_image(a.confusion, scale)))
        self.bars_label.setPixmap(QPixmap.fromImage(category_bars_image(s.by_category, scale=scale)))
        self._show_groups()
        self.queue_model.set_entries(s.queue)
        self.queue_caption.setText(
            f"{len(s.queue):,} items with a model verdict and no human decision, most suspicious first. "
            "Double-click or press Enter to open one. Score: 3 unparsed judge answer, 2.5 runs disagree, "
            "2 provider or debater refused, 2 critic disagrees, up to 2 for an unsure judge."
        )
        self._show_audit()

    def _show_groups(self) -> None:
        s = self._summary
        if s is None:
            return
        key = self.split_combo.currentData()
        groups = {"kind": s.by_kind, "category": s.by_category, "model": s.by_model}[key]
        self.groups.setRowCount(len(groups))
        self.groups.setHorizontalHeaderItem(0, QTableWidgetItem(self.split_combo.currentText()))
        for row, (name, a) in enumerate(groups.items()):
            for col, text in enumerate([name, *metrics.group_cells(a)]):
                item = QTableWidgetItem(text.replace(" [", "\n[", 1))  # the interval under the value
                if col:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.groups.setItem(row, col, item)
        self.groups.resizeRowsToContents()

    def _decided(self, sample: AuditSample) -> set[str]:
        wanted = set(sample.paths)
        return {r.path for r in self._rows if r.human_label is not None and r.path in wanted}

    def _show_audit(self) -> None:
        if self._sample is not None:
            self.sample_model.set_paths(self._sample.paths, self._decided(self._sample))
        s = self._summary
        if self._sample is None or s is None or s.audit is None or s.audit_sample is not self._sample:
            self.audit_estimate.setText("")
            return
        self.audit_estimate.setText(metrics.audit_words(s.audit).capitalize() + ".")

    # ----------------------------------------------------------------- user actions

    def _activated(self, index: QModelIndex) -> None:
        path = index.data(Qt.ItemDataRole.UserRole)
        if path:
            self.item_activated.emit(str(path))

    def _ask_export(self) -> None:
        if self._summary is None:
            return
        default = str(self._store.path.parent / "review-report.md")
        target, chosen = QFileDialog.getSaveFileName(
            self, "Export review report", default, "Markdown (*.md);;HTML (*.html)"
        )
        if not target:
            return
        path = Path(target)
        if not path.suffix:
            path = path.with_suffix(".html" if chosen.startswith("HTML") else ".md")
        try:
            written = self.export_report(path)
        except OSError as exc:
            QMessageBox.warning(self, "Export report", f"Cannot write the report: {exc}")
            return
        self.headline.setText(f"Report written: {written[0]} (pictures beside it)")

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        self.wait(5.0)
        super().closeEvent(event)
