"""The window's QActions and menus, built from the table in ``_actions``: which key does what.

Every action calls one method of the window; the menus only arrange the same actions, so a key
shown in a menu is the key that works.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence

from vhd_gui.ui._actions import ACTIONS, DEFAULT_CATEGORIES
from vhd_gui.ui._batch_panel import SCOPE_ALL, SCOPE_FILTERED, SCOPE_SELECTED
from vhd_gui.ui._project_dialog import open_project
from vhd_gui.ui._review_walk import WALK_AUDIT, WALK_QUEUE

if TYPE_CHECKING:
    from vhd_gui.ui._main_window import MainWindow

TAB_DEBATE, TAB_BATCH, TAB_REVIEW = 0, 1, 2

_SHORT_LABELS = {
    "run": "Run", "rerun": "Re-run", "cancel": "Cancel", "accept": "Accept", "harmful": "Harmful…",
    "not_harmful": "Not harmful", "undo": "Undo", "next": "Next", "prev": "Previous",
    "next_undecided": "Next undecided", "walk_queue": "Walk the review queue",
    "walk_audit": "Walk the audit sample", "show_debate": "Debate panel", "show_batch": "Batch panel",
    "show_review": "Review panel",
}
EXPORT_MENU = (("vhd11k-csv", "VHD11K CSV…"), ("vhd11k-json", "VHD11K JSON…"), ("jsonl", "JSONL (whole records)…"),
               ("hf-metadata", "Hugging Face metadata.jsonl…"))


def _handlers(w: MainWindow) -> dict[str, Callable[[], Any]]:
    handlers: dict[str, Callable[[], Any]] = {
        "run": lambda: w.run_debate(False),
        "rerun": lambda: w.run_debate(True),
        "cancel": w.cancel,
        "accept": w.accept,
        "harmful": w.pick_harmful,
        "not_harmful": lambda: w.decide("no", ""),
        "note": lambda: w.verdict.note.setFocus(),
        "undo": w.undo,
        "next": lambda: w.step(1),
        "prev": lambda: w.step(-1),
        "next_arrow": lambda: w.step(1),
        "prev_arrow": lambda: w.step(-1),
        "next_undecided": w.next_undecided,
        "walk_queue": lambda: w.set_walk_mode(WALK_QUEUE),
        "walk_audit": lambda: w.set_walk_mode(WALK_AUDIT),
        "show_debate": lambda: w.side_tabs.setCurrentIndex(TAB_DEBATE),
        "show_batch": lambda: w.side_tabs.setCurrentIndex(TAB_BATCH),
        "show_review": lambda: w.side_tabs.setCurrentIndex(TAB_REVIEW),
        "reveal": w.toggle_reveal,
        "zoom_in": lambda: w.viewer.zoom_in(),
        "zoom_out": lambda: w.viewer.zoom_out(),
        "zoom_fit": lambda: w.viewer.zoom_fit(),
        "search": w.focus_search,
        "open_folder": w.choose_folder,
        "open_store": w.choose_store,
        "import": w.choose_import,
        "export": lambda: w.choose_export(None),
        "settings": w.open_settings,
        "help": w.show_help,
        "quit": w.close,
    }
    for n in range(len(DEFAULT_CATEGORIES)):
        handlers[f"category_{n + 1}"] = partial(w.decide_category, n)
    return handlers


def build_actions(w: MainWindow) -> dict[str, QAction]:
    """One QAction per entry of the table, added to the window (so its key works anywhere in it)."""
    handlers = _handlers(w)
    actions: dict[str, QAction] = {}
    for spec in ACTIONS:
        action = QAction(_SHORT_LABELS.get(spec.id, spec.label), w)
        action.setObjectName(f"action_{spec.id}")
        action.setToolTip(spec.label)
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        handler = handlers[spec.id]
        action.triggered.connect(lambda _checked=False, h=handler: h())
        w.addAction(action)
        actions[spec.id] = action
    for action_id in ("walk_queue", "walk_audit"):
        actions[action_id].setCheckable(True)
    return actions


def apply_keys(actions: dict[str, QAction], keys: dict[str, str]) -> None:
    for spec in ACTIONS:
        key = keys.get(spec.id, spec.default_key)
        seqs = [QKeySequence(key)] if key else []
        if spec.id == "accept" and key == "Return":
            seqs.append(QKeySequence("Enter"))  # the keypad's Enter too
        actions[spec.id].setShortcuts(seqs)


def build_menus(w: MainWindow) -> tuple[QAction, QAction]:
    """The menu bar; returns the two checkable safe-view actions (blur, grayscale)."""
    a = w.actions_by_id
    mb = w.menuBar()
    m = mb.addMenu("&File")
    for action_id in ("open_folder", "open_store"):
        m.addAction(a[action_id])
    m.addSeparator()
    m.addAction(a["import"])
    exp = m.addMenu("&Export")
    for fmt, label in EXPORT_MENU:
        act = exp.addAction(label)
        act.setObjectName(f"action_export_{fmt}")
        act.triggered.connect(lambda _c=False, f=fmt: w.choose_export(f))
    m.addSeparator()
    m.addAction(a["settings"])
    project = m.addAction("&Project (team review)…")
    project.setObjectName("action_project")
    project.triggered.connect(lambda _c=False: open_project(w))
    m.addSeparator()
    m.addAction(a["quit"])
    m = mb.addMenu("&Debate")
    for action_id in ("run", "rerun", "cancel"):
        m.addAction(a[action_id])
    m.addSeparator()
    for scope, label in ((SCOPE_ALL, "Batch on all items…"), (SCOPE_FILTERED, "Batch on the items shown…"),
                         (SCOPE_SELECTED, "Batch on the selected items…")):
        act = m.addAction(label)
        act.setObjectName(f"action_batch_{scope}")
        act.triggered.connect(lambda _c=False, sc=scope: w.show_batch(sc))
    m = mb.addMenu("&Label")
    for action_id in ("accept", "harmful", "not_harmful"):
        m.addAction(a[action_id])
    cats = m.addMenu("Harmful &category")
    for i in range(len(DEFAULT_CATEGORIES)):
        cats.addAction(a[f"category_{i + 1}"])
    m.addAction(a["note"])
    m.addSeparator()
    m.addAction(a["undo"])
    m = mb.addMenu("&Go")
    for action_id in ("next", "prev", "next_undecided"):
        m.addAction(a[action_id])
    m.addSeparator()
    for action_id in ("walk_queue", "walk_audit"):
        m.addAction(a[action_id])
    m.addSeparator()
    m.addAction(a["search"])
    m = mb.addMenu("&View")
    for action_id in ("show_debate", "show_batch", "show_review"):
        m.addAction(a[action_id])
    m.addSeparator()
    m.addAction(a["reveal"])
    safe_action = m.addAction("Safe view (blur until revealed)")
    safe_action.setCheckable(True)
    safe_action.setChecked(bool(w.ui_prefs["safe_view"]))
    safe_action.toggled.connect(w.safe_toggled)
    gray_action = m.addAction("Safe view in grayscale")
    gray_action.setCheckable(True)
    gray_action.setChecked(bool(w.ui_prefs["safe_view_grayscale"]))
    gray_action.toggled.connect(w.gray_toggled)
    m.addSeparator()
    for action_id in ("zoom_in", "zoom_out", "zoom_fit"):
        m.addAction(a[action_id])
    m = mb.addMenu("&Help")
    m.addAction(a["help"])
    return safe_action, gray_action
