"""How a team shares the open store (File → Project): overlap, resolution, adjudicator, blind
review, and how far the team got. The same rules as ``vhd-annotator store project``: the store
checks overlap and resolution, the adjudicator's name is checked as any reviewer name.

The settings live in the store, so they are read and written off the GUI thread; a change of
resolution rewrites every decided item's final label in one transaction.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from vhd_gui import config
from vhd_gui.store import MAX_OVERLAP, RESOLUTION_ADJUDICATOR, RESOLUTIONS, ProjectSettings, ReviewProgress, Store
from vhd_gui.ui._background import Background

if TYPE_CHECKING:
    from vhd_gui.ui._main_window import MainWindow

RESOLUTION_WORDS = {
    "latest": "the latest decision counts",
    "majority": "the majority of the reviewers (a tie is disputed)",
    "adjudicator": "the adjudicator's decision (else the label everyone gave, else disputed)",
}


def read_project(store: Store) -> tuple[ProjectSettings, ReviewProgress]:
    return store.project_settings(), store.review_progress()


def progress_words(p: ReviewProgress) -> str:
    people = "person" if p.overlap == 1 else "people"
    text = (f"{p.total:,} items: <b>{p.complete:,}</b> decided by {p.overlap} {people} and settled, "
            f"{p.partial:,} by fewer, <b>{p.disputed:,}</b> disputed (need adjudication).")
    if p.by_reviewer:
        text += "<br>By reviewer: " + ", ".join(f"{name or '(no name)'} {n:,}" for name, n in p.by_reviewer.items())
    return text


class ProjectDialog(QDialog):
    did_save = Signal(object)  # the ProjectSettings as the store now has them

    def __init__(self, store: Store, reader: Store | None, background: Background, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Project: how the team shares this store")
        self._store = store
        self._bg = background
        self.loaded = False
        self.overlap = QSpinBox()
        self.overlap.setRange(1, MAX_OVERLAP)
        self.overlap.setSuffix(" people per item")
        self.resolution = QComboBox()
        for name in RESOLUTIONS:
            self.resolution.addItem(f"{name}: {RESOLUTION_WORDS.get(name, name)}", name)
        self.adjudicator = QLineEdit()
        self.adjudicator.setPlaceholderText("the reviewer whose decision settles an item")
        self.blind = QCheckBox("Blind review: reviewers other than the adjudicator do not see each other's decisions")
        self.progress = QLabel("Reading the project…")
        self.progress.setObjectName("projectProgress")
        self.progress.setWordWrap(True)
        self.problems = QLabel()
        self.problems.setWordWrap(True)
        self.problems.setStyleSheet("color: #b3261e;")
        self.problems.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("&Overlap:", self.overlap)
        form.addRow("&Resolution:", self.resolution)
        form.addRow("&Adjudicator:", self.adjudicator)
        form.addRow("", self.blind)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.progress)
        lay.addWidget(self.problems)
        lay.addWidget(self.buttons)
        self.setMinimumWidth(560)
        self._editable(False)
        for signal in (self.overlap.valueChanged, self.resolution.currentIndexChanged, self.adjudicator.textChanged, self.blind.toggled):
            signal.connect(self._revalidate)
        background.run(read_project, reader or store, what="reading the project settings", done=self._loaded)

    def _editable(self, on: bool) -> None:
        for w in (self.overlap, self.resolution, self.adjudicator, self.blind):
            w.setEnabled(on)
        save = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        save.setEnabled(on and not self.problem_list())
        if self._store.read_only:
            save.setEnabled(False)
            save.setToolTip("The store is open read-only: its project settings cannot change here.")

    def _loaded(self, found: tuple[ProjectSettings, ReviewProgress]) -> None:
        project, progress = found
        self.overlap.setValue(project.overlap)
        self.resolution.setCurrentIndex(max(0, self.resolution.findData(project.resolution)))
        self.adjudicator.setText(project.adjudicator)
        self.blind.setChecked(project.blind)
        self.progress.setText(progress_words(progress))
        self.loaded = True
        self._editable(True)
        self._revalidate()

    def chosen(self) -> dict[str, Any]:
        return {
            "overlap": self.overlap.value(),
            "resolution": str(self.resolution.currentData()),
            "adjudicator": self.adjudicator.text(),
            "blind": self.blind.isChecked(),
        }

    def problem_list(self) -> list[str]:
        c = self.chosen()
        out = []
        problem = config.reviewer_problem(c["adjudicator"]) if c["adjudicator"] else ""
        if problem:
            out.append(f"Adjudicator: {problem}.")
        if c["resolution"] == RESOLUTION_ADJUDICATOR and not c["adjudicator"]:
            out.append("The resolution 'adjudicator' needs an adjudicator: name the reviewer whose decision settles an item.")
        return out

    def _revalidate(self, *_: object) -> None:
        problems = self.problem_list()
        self.problems.setText(" ".join(problems))
        self.problems.setVisible(bool(problems))
        if self.loaded and not self._store.read_only:
            self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(not problems)

    def accept(self) -> None:
        if not self.loaded or self.problem_list() or self._store.read_only:
            self._revalidate()
            return
        self._editable(False)
        self._bg.run(partial(self._store.set_project_settings, **self.chosen()), what="saving the project settings",
                     done=self._saved, failed=self._failed)

    def _saved(self, project: ProjectSettings) -> None:
        self.did_save.emit(project)
        super().accept()

    def _failed(self, exc: BaseException) -> None:
        self.problems.setText(f"Not saved: {exc}")
        self.problems.show()
        self._editable(True)


def open_project(w: MainWindow) -> ProjectDialog | None:
    """File → Project: the dialog on the window's open store; a saved change is shown at once
    (list, counters, the item's decisions), as another process's write would be."""
    if w.store is None:
        w.statusBar().showMessage("Open a folder first: the project settings live in its store.", 6000)
        return None
    dlg = ProjectDialog(w.store, w.reader, w.bg, w)
    dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dlg.did_save.connect(lambda _project: w.watch.did_change.emit())
    dlg.open()
    return dlg
