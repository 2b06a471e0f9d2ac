"""The labelling window: browser | viewer over debate panels, the verdict bar below.

The window only renders engine events and turns key presses into store writes (DESIGN §4).
Slow work never runs on the GUI thread: the folder scan, picture decoding, store upserts and
exports go to the asyncio loop's executor; a debate is an asyncio task on the qasync loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
from collections.abc import Callable
from functools import partial
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QByteArray, QEvent, QItemSelectionModel, QModelIndex, QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from vhd_gui import formats
from vhd_gui.config import ConfigError, Settings, save_settings
from vhd_gui.media import MediaError, scan
from vhd_gui.protocol import Role, turn_order
from vhd_gui.store import Filters, Store, StoreError
from vhd_gui.ui._actions import ACTION_BY_ID, ACTIONS, DEFAULT_CATEGORIES, load_shortcuts, save_shortcuts
from vhd_gui.ui._batch_panel import SCOPE_ALL, SCOPE_FILTERED, SCOPE_SELECTED, BatchPanel
from vhd_gui.ui._browser import BrowserWidget, ItemListModel
from vhd_gui.ui._debate_view import DebateView
from vhd_gui.ui._store_open import StoreBanner, choose_copy_place, open_store_for_window
from vhd_gui.ui._thumbnails import ThumbnailLoader
from vhd_gui.ui._verdict_bar import VerdictBar
from vhd_gui.ui._viewer import Viewer

if TYPE_CHECKING:
    from vhd_gui.cache import ResponseCache
    from vhd_gui.ui._review_panel import ReviewPanel

log = logging.getLogger(__name__)

EXPORT_DELAY_MS = 3000
FIRST_SCAN_BATCH = 200
SCAN_BATCH = 500
ANNOTATION_FILE = {"vhd11k-json": "annotations_vhd11k.json", "vhd11k-csv": "annotations_vhd11k.csv"}
DEFAULT_UI_PREFS: dict[str, Any] = {
    "safe_view": True,
    "safe_view_grayscale": False,
    "auto_advance": True,
    "export_path": "",
    "export_format": "vhd11k-json",
}
_BOOL_PREFS = ("safe_view", "safe_view_grayscale", "auto_advance")
TAB_DEBATE, TAB_BATCH, TAB_REVIEW = 0, 1, 2
WALK_QUEUE, WALK_AUDIT = "queue", "audit"


class _EnterOpens(QObject):
    """Lets a list in a side panel keep Return/Enter (to open its item) instead of the window's
    Accept shortcut taking it."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent):
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and event.modifiers() == Qt.KeyboardModifier.NoModifier:
                event.accept()
                return True
        return super().eventFilter(watched, event)


def _warm_imports() -> None:
    """Import the agent libraries (≈2 s) in a worker thread, after the window is up."""
    import autogen_agentchat.agents  # noqa: F401
    import autogen_ext.models.openai  # noqa: F401
    import openai  # noqa: F401


class MainWindow(QMainWindow):
    did_open = Signal(str)  # the store's path
    did_finish_scan = Signal(int)  # files found
    did_record_debate = Signal(str)  # item path
    did_decide = Signal(str)  # item path
    did_write_annotations = Signal(str)  # file written
    did_close = Signal()
    did_first_paint = Signal()

    def __init__(
        self, settings: Settings, qsettings: QSettings | None = None, parent: QWidget | None = None, cache: ResponseCache | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("VHD Annotator")
        self.settings = settings
        self.qsettings = qsettings or QSettings()
        self._owns_cache = cache is None
        self.cache = cache if cache is not None else self._open_cache()
        self.review: ReviewPanel | None = None
        self._review_stale = False
        self._walk_mode = ""  # "", WALK_QUEUE or WALK_AUDIT: what next/previous follow
        self._walk: list[str] = []
        self._walk_jump = False  # go to the walk's first item when the queue arrives
        self._audit_paths: list[str] = []
        self.store: Store | None = None
        self.current: str | None = None
        self.export_delay_ms = EXPORT_DELAY_MS
        self.ui_prefs = self._load_prefs()
        self.keys = load_shortcuts(self.qsettings)
        self.session_tokens = {"prompt": 0, "completion": 0, "cached": 0}
        self._engine: Any = None
        self._warm: asyncio.Future[None] | None = None
        self._debate_task: asyncio.Task[None] | None = None
        self._debate_path: str | None = None
        self._scan_task: asyncio.Task[None] | None = None
        self._export_task: asyncio.Future[Any] | None = None
        # One writer thread: exports of the annotation file run one after another, and closing
        # the store waits for the one in progress (it reads the store).
        self._export_pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="vhd-annotations")
        self._export_cf: concurrent.futures.Future[Any] | None = None
        self._decided: list[str] = []  # paths decided this session, for Undo
        self._annotations_dirty = False
        self._painted = False
        self._closing = False

        self.actions_by_id: dict[str, QAction] = {}
        self._build_actions()
        self.thumbs = ThumbnailLoader(parent=self)
        self.model = ItemListModel(None, self.thumbs, self)
        self.browser = BrowserWidget(self.model)
        self.viewer = Viewer()
        self.debate = DebateView()
        self.verdict = VerdictBar(self.actions_by_id)
        self.verdict.auto_advance.setChecked(bool(self.ui_prefs["auto_advance"]))
        self.verdict.auto_advance.toggled.connect(self._auto_advance_toggled)
        self.verdict.did_pick_digit.connect(lambda d: self.decide_category((d - 1) % 10))
        category_line = self.verdict.category.lineEdit()
        assert category_line is not None
        category_line.returnPressed.connect(self._category_entered)

        self.batch_panel = BatchPanel(self, self.cache, self.qsettings)
        self.batch_panel.did_start_item.connect(self._batch_started_item)
        self.batch_panel.did_finish_item.connect(self._batch_finished_item)
        self.batch_panel.did_stop.connect(self._batch_stopped)
        self.batch_panel.item_activated.connect(self.open_item)
        self._enter_opens = _EnterOpens(self)
        self.batch_panel.failures.installEventFilter(self._enter_opens)
        self.review_placeholder = QLabel("Open a folder to see how far the model agrees with people.")
        self.review_placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.side_tabs = QTabWidget()
        self.side_tabs.setDocumentMode(True)
        self.side_tabs.addTab(self.debate, "Debate")
        self.side_tabs.addTab(self.batch_panel, "Batch")
        self.side_tabs.addTab(self.review_placeholder, "Review")
        self.side_tabs.currentChanged.connect(self._side_tab_changed)

        self.right = QSplitter(Qt.Orientation.Vertical)
        self.right.addWidget(self.viewer)
        self.right.addWidget(self.side_tabs)
        self.right.setStretchFactor(0, 3)
        self.right.setStretchFactor(1, 2)
        self.main = QSplitter(Qt.Orientation.Horizontal)
        self.main.addWidget(self.browser)
        self.main.addWidget(self.right)
        self.main.setStretchFactor(1, 1)
        self.main.setSizes([320, 1080])
        self.right.setSizes([480, 360])
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(2, 2, 2, 2)
        self.store_banner = StoreBanner()  # where decisions go when the store opened is read-only
        self.store_banner.did_ask_to_move.connect(self._move_decisions)
        lay.addWidget(self.store_banner)
        lay.addWidget(self.main, 1)
        lay.addWidget(self.verdict)
        self.setCentralWidget(central)

        self.status_counts = QLabel("no folder open")
        self.status_tokens = QLabel("")
        self.status_store = QLabel("")
        self.status_store.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status_walk = QLabel("")
        self.status_walk.setObjectName("walkMode")
        self.status_walk.hide()
        self.statusBar().addPermanentWidget(self.status_walk)
        self.statusBar().addPermanentWidget(self.batch_panel.status_widget)
        for i, w in enumerate((self.status_counts, self.status_tokens, self.status_store)):
            if i:
                sep = QLabel("|")
                sep.setStyleSheet("color: palette(mid);")
                self.statusBar().addPermanentWidget(sep)
            self.statusBar().addPermanentWidget(w)
        self._update_tokens()

        self._build_menus()
        self._apply_safe_view()
        self.browser.view.selectionModel().currentChanged.connect(self._current_changed)
        self.browser.did_change_filters.connect(self._reload_list)
        self.debate.retry_requested.connect(lambda: self.run_debate(rerun=True))
        self.did_decide.connect(self._refresh_review)
        self.did_record_debate.connect(self._refresh_review)
        self.did_record_debate.connect(self._debate_recorded)
        self._export_timer = QTimer(self)
        self._export_timer.setSingleShot(True)
        self._export_timer.timeout.connect(self._write_annotations_soon)
        self.resize(1400, 900)
        self._restore_layout()
        self._set_debate_actions()

    # ================================================================ actions and menus
    def _build_actions(self) -> None:
        handlers: dict[str, Callable[[], Any]] = {
            "run": lambda: self.run_debate(False),
            "rerun": lambda: self.run_debate(True),
            "cancel": self.cancel,
            "accept": self.accept,
            "harmful": self.pick_harmful,
            "not_harmful": lambda: self.decide("no", ""),
            "note": lambda: self.verdict.note.setFocus(),
            "undo": self.undo,
            "next": lambda: self.step(1),
            "prev": lambda: self.step(-1),
            "next_arrow": lambda: self.step(1),
            "prev_arrow": lambda: self.step(-1),
            "next_undecided": self.next_undecided,
            "walk_queue": lambda: self.set_walk_mode(WALK_QUEUE),
            "walk_audit": lambda: self.set_walk_mode(WALK_AUDIT),
            "show_debate": lambda: self.side_tabs.setCurrentIndex(TAB_DEBATE),
            "show_batch": lambda: self.side_tabs.setCurrentIndex(TAB_BATCH),
            "show_review": lambda: self.side_tabs.setCurrentIndex(TAB_REVIEW),
            "reveal": self.toggle_reveal,
            "zoom_in": lambda: self.viewer.zoom_in(),
            "zoom_out": lambda: self.viewer.zoom_out(),
            "zoom_fit": lambda: self.viewer.zoom_fit(),
            "search": self._focus_search,
            "open_folder": self.choose_folder,
            "open_store": self.choose_store,
            "import": self.choose_import,
            "export": lambda: self.choose_export(None),
            "settings": self.open_settings,
            "help": self.show_help,
            "quit": self.close,
        }
        for n in range(len(DEFAULT_CATEGORIES)):
            handlers[f"category_{n + 1}"] = partial(self.decide_category, n)
        short_labels = {"run": "Run", "rerun": "Re-run", "cancel": "Cancel", "accept": "Accept", "harmful": "Harmful…",
                        "not_harmful": "Not harmful", "undo": "Undo", "next": "Next", "prev": "Previous",
                        "next_undecided": "Next undecided", "walk_queue": "Walk the review queue",
                        "walk_audit": "Walk the audit sample", "show_debate": "Debate panel", "show_batch": "Batch panel",
                        "show_review": "Review panel"}
        for spec in ACTIONS:
            action = QAction(short_labels.get(spec.id, spec.label), self)
            action.setObjectName(f"action_{spec.id}")
            action.setToolTip(spec.label)
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            handler = handlers[spec.id]
            action.triggered.connect(lambda _checked=False, h=handler: h())
            self.addAction(action)
            self.actions_by_id[spec.id] = action
        for action_id in ("walk_queue", "walk_audit"):
            self.actions_by_id[action_id].setCheckable(True)
        self._apply_keys()

    def _apply_keys(self) -> None:
        for spec in ACTIONS:
            key = self.keys.get(spec.id, spec.default_key)
            seqs = [QKeySequence(key)] if key else []
            if spec.id == "accept" and key == "Return":
                seqs.append(QKeySequence("Enter"))  # the keypad's Enter too
            self.actions_by_id[spec.id].setShortcuts(seqs)

    def _build_menus(self) -> None:
        a = self.actions_by_id
        mb = self.menuBar()
        m = mb.addMenu("&File")
        for action_id in ("open_folder", "open_store"):
            m.addAction(a[action_id])
        m.addSeparator()
        m.addAction(a["import"])
        exp = m.addMenu("&Export")
        for fmt, label in (("vhd11k-csv", "VHD11K CSV…"), ("vhd11k-json", "VHD11K JSON…"), ("jsonl", "JSONL (whole records)…"),
                           ("hf-metadata", "Hugging Face metadata.jsonl…")):
            act = exp.addAction(label)
            act.setObjectName(f"action_export_{fmt}")
            act.triggered.connect(lambda _c=False, f=fmt: self.choose_export(f))
        m.addSeparator()
        m.addAction(a["settings"])
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
            act.triggered.connect(lambda _c=False, sc=scope: self.show_batch(sc))
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
        self.safe_action = m.addAction("Safe view (blur until revealed)")
        self.safe_action.setCheckable(True)
        self.safe_action.setChecked(bool(self.ui_prefs["safe_view"]))
        self.safe_action.toggled.connect(self._safe_toggled)
        self.gray_action = m.addAction("Safe view in grayscale")
        self.gray_action.setCheckable(True)
        self.gray_action.setChecked(bool(self.ui_prefs["safe_view_grayscale"]))
        self.gray_action.toggled.connect(self._gray_toggled)
        m.addSeparator()
        for action_id in ("zoom_in", "zoom_out", "zoom_fit"):
            m.addAction(a[action_id])
        m = mb.addMenu("&Help")
        m.addAction(a["help"])

    # ================================================================ preferences
    def _load_prefs(self) -> dict[str, Any]:
        prefs = dict(DEFAULT_UI_PREFS)
        self.qsettings.beginGroup("ui")
        try:
            for key, default in DEFAULT_UI_PREFS.items():
                value = self.qsettings.value(key, default)
                if key in _BOOL_PREFS:
                    value = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
                prefs[key] = value
        finally:
            self.qsettings.endGroup()
        if prefs["export_format"] not in ANNOTATION_FILE:
            prefs["export_format"] = "vhd11k-json"
        return prefs

    def _save_prefs(self) -> None:
        self.qsettings.beginGroup("ui")
        try:
            for key, value in self.ui_prefs.items():
                self.qsettings.setValue(key, value)
        finally:
            self.qsettings.endGroup()

    def _restore_layout(self) -> None:
        for key, restore in (("window/geometry", self.restoreGeometry), ("window/state", self.restoreState),
                             ("window/main_splitter", self.main.restoreState), ("window/right_splitter", self.right.restoreState)):
            value = self.qsettings.value(key)
            if isinstance(value, QByteArray) and not value.isEmpty():
                restore(value)

    def _save_layout(self) -> None:
        self.qsettings.setValue("window/geometry", self.saveGeometry())
        self.qsettings.setValue("window/state", self.saveState())
        self.qsettings.setValue("window/main_splitter", self.main.saveState())
        self.qsettings.setValue("window/right_splitter", self.right.saveState())

    def _auto_advance_toggled(self, on: bool) -> None:
        self.ui_prefs["auto_advance"] = on
        self._save_prefs()

    def _safe_toggled(self, on: bool) -> None:
        self.ui_prefs["safe_view"] = on
        self._save_prefs()
        self._apply_safe_view()

    def _gray_toggled(self, on: bool) -> None:
        self.ui_prefs["safe_view_grayscale"] = on
        self._save_prefs()
        self._apply_safe_view()

    def _apply_safe_view(self) -> None:
        safe, gray = bool(self.ui_prefs["safe_view"]), bool(self.ui_prefs["safe_view_grayscale"])
        self.model.set_safe_view(safe, gray)
        self.viewer.set_safe_view(safe, gray)

    # ================================================================ messages
    def _warn(self, title: str, text: str) -> None:
        QMessageBox.warning(self, title, text)

    def _say(self, text: str, ms: int = 6000) -> None:
        self.statusBar().showMessage(text, ms)

    # ================================================================ opening
    def choose_folder(self) -> None:
        start = str(self.store.root) if self.store else str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of images and videos", start)
        if folder and self._confirm_stop_batch("Opening another folder"):
            self.open_path(folder)

    def choose_store(self) -> None:
        start = str(self.store.path.parent) if self.store else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open an annotation store", start, "Annotation store (*.sqlite *.db);;All files (*)")
        if path and self._confirm_stop_batch("Opening another store"):
            self.open_path(path)

    def _move_decisions(self) -> None:
        """The banner's button: the read-only store's copy goes to a file the person picks."""
        if self.store is None or not self._confirm_stop_batch("Moving the decisions"):
            return
        target = choose_copy_place(self, self.store, self.qsettings)
        if target is not None:
            self.open_path(target)

    def open_path(self, path: str | os.PathLike[str]) -> bool:
        """Open a folder (its default store) or a store file, and start scanning its folder."""
        p = Path(path).expanduser()
        # Damage: a dialog and nothing opened. Read-only: its writable copy and a banner.
        opened = open_store_for_window(self, p, self.qsettings)
        if opened is None:
            return False
        store, banner = opened
        self._close_store()
        self.store = store
        self.model.store = store
        self.qsettings.setValue("last_folder", str(p.absolute()))
        self.setWindowTitle(f"VHD Annotator — {store.root.name}")
        where = f"store: {store.path}"
        if store.fell_back:
            where += f" (the folder is read-only, so the store is in your user data folder; annotation file: {self.annotation_path()})"
        self.status_store.setText(where)
        self.status_store.setToolTip(where)
        self.store_banner.show_text(banner, can_move=not store.read_only)
        self._make_review_panel(store)
        self._refresh_categories()
        self._reload_list()
        self._update_counts()
        self.browser.view.setFocus()
        self.did_open.emit(str(store.path))
        self._scan_task = asyncio.ensure_future(self._scan(store))
        return True

    async def _scan(self, store: Store) -> None:
        """Walk the folder in a worker thread; each batch goes to the store, then to the list."""
        loop = asyncio.get_running_loop()
        found = 0
        try:
            files = scan(store.root)

            def take(n: int) -> list[str]:
                batch = list(islice(files, n))
                if batch:
                    store.upsert_items((m.rel, m.kind, m.size, m.mtime) for m in batch)
                return [m.rel for m in batch]

            size = FIRST_SCAN_BATCH
            while True:
                rels = await loop.run_in_executor(None, take, size)
                if store is not self.store or not rels:
                    break
                found += len(rels)
                if not self.browser.is_filtered():
                    self.model.append_paths(rels)
                    if self.current is None and self.model.rowCount() and self.browser.view.currentIndex().row() < 0:
                        self.browser.view.setCurrentIndex(self.model.index(0))
                self.status_counts.setText(f"scanning… {found} files")
                size = SCAN_BATCH
        except MediaError as exc:
            self._warn("Cannot read the folder", str(exc))
        except StoreError as exc:
            self._warn("Cannot write the store", str(exc))
        if store is self.store:
            if self.browser.is_filtered():
                self._reload_list()
            self._update_counts()
            self._refresh_review()
            self.did_finish_scan.emit(found)

    def _close_store(self) -> None:
        if self.store is None:
            return
        if self._scan_task is not None:
            self._scan_task.cancel()
        if self._debate_task is not None and not self._debate_task.done():
            self._debate_task.cancel()
        if self.batch_panel.store is self.store:
            # Running debates are dropped unrecorded; each finished one is already committed.
            self.batch_panel.cancel()
        self.flush_annotations()
        self._drop_review_panel()
        self.store.close()
        self.store = None
        self.current = None
        self._decided.clear()

    # ================================================================ list and current item
    def _reload_list(self) -> None:
        if self.store is None:
            return
        keep = self.current
        sort, desc = self.browser.sort_order()
        self.model.set_paths(self.store.paths(self.browser.filters(), sort, desc))
        self._update_shown()
        row = self.model.row_of(keep) if keep else -1
        if row < 0 and self.model.rowCount():
            row = 0
        if row >= 0:
            self.browser.view.setCurrentIndex(self.model.index(row))
            self.browser.view.scrollTo(self.model.index(row))

    def _update_shown(self) -> None:
        if self.store is not None:
            self.browser.counts.setText(f"{self.model.rowCount()} shown of {self.store.count()}")

    def _update_counts(self) -> None:
        if self.store is None:
            return
        c = self.store.counts()
        bits = [f"{n} {s}" for s, n in c.by_status.items() if n and s not in ("accepted", "overridden")]
        self.status_counts.setText(f"reviewed {c.reviewed} / {c.total}" + (" · " + ", ".join(bits) if bits else ""))
        self.verdict.set_reviewed(c.reviewed, c.total)
        self._update_shown()

    def _refresh_categories(self) -> None:
        if self.store is not None:
            cats = self.store.categories()
            self.browser.set_categories(cats)
            self.verdict.set_categories(cats)

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        path = self.model.path_at(current.row()) if current.isValid() else None
        if path is not None and path != self.current:
            self.show_item(path)

    def abs_path(self, rel: str) -> str:
        assert self.store is not None
        return str(self.store.file_path(rel))  # the real name, also when it is not UTF-8

    def show_item(self, rel: str) -> None:
        if self.store is None:
            return
        self.current = rel
        self.verdict.stop_picking()
        self.model.set_revealed(None)  # reveal never carries over
        rec = self.store.get_record(rel)
        kind = rec.kind if rec else "image"
        frames = list(rec.debate.frames_sent) if rec and rec.debate else []
        self.viewer.show_item(self.abs_path(rel), kind, frames)
        if self._debate_path == rel:
            pass  # the live stream is already in the panels
        elif self._debate_path is not None:
            self.debate.show_record(rec.debate if rec else None, self._summary(rec))
            self.debate.status.setText(self.debate.status.text() + f"  (a debate is running on {os.path.basename(self._debate_path)})")
        else:
            self.debate.show_record(rec.debate if rec else None, self._summary(rec))
        if rel in self.batch_panel.running_paths:
            self.debate.status.setText(self._batch_busy_words())
        self.verdict.show_record(rec)
        self._set_debate_actions()
        self._show_walk_status()

    @staticmethod
    def _summary(rec: Any) -> str:
        if rec is None or rec.debate is None:
            return "No debate yet. Press R to run one."
        d = rec.debate
        if d.status == "error":
            return f"The last debate failed: {d.error}"
        source = "imported" if d.preset_name == formats.IMPORT_PRESET else f"{d.seconds:.1f} s, {d.prompt_tokens + d.completion_tokens} tokens"
        return f"Judge: {d.judge_raw or d.decision} ({source})"

    def step(self, delta: int) -> None:
        if self._walk_mode:
            self._walk_step(delta)
            return
        n = self.model.rowCount()
        if not n:
            return
        row = self.browser.view.currentIndex().row()
        row = min(n - 1, max(0, row + delta)) if row >= 0 else 0
        self.browser.view.setCurrentIndex(self.model.index(row))

    def next_undecided(self) -> None:
        if self.store is None or not self.model.rowCount():
            return
        paths = self.model.paths
        start = self.browser.view.currentIndex().row() + 1
        order = list(range(start, len(paths))) + list(range(0, start))
        for i in range(0, len(order), 500):
            chunk = [paths[j] for j in order[i : i + 500]]
            rows = self.store.rows(chunk)
            for j, p in zip(order[i : i + 500], chunk, strict=False):
                r = rows.get(p)
                if r is not None and r.human_label is None and p != self.current:
                    self.browser.view.setCurrentIndex(self.model.index(j))
                    return
        self._say("Every item shown has a human decision.")

    def _focus_search(self) -> None:
        self.browser.search.setFocus()
        self.browser.search.selectAll()

    # ================================================================ safe view
    def toggle_reveal(self) -> None:
        if self.current is None:
            return
        revealed = not self.viewer.revealed
        self.viewer.set_revealed(revealed)
        self.model.set_revealed(self.current if revealed else None)

    # ================================================================ debates
    def _set_debate_actions(self) -> None:
        running = self.debate_running
        self.actions_by_id["run"].setEnabled(not running and self.current is not None)
        self.actions_by_id["rerun"].setEnabled(not running and self.current is not None)

    @property
    def debate_running(self) -> bool:
        return self._debate_path is not None

    def warm_up(self) -> None:
        """Start importing the agent libraries in the background (the window is already up)."""
        if self._warm is None:
            self._warm = asyncio.get_event_loop().run_in_executor(None, _warm_imports)

    async def _get_engine(self) -> Any:
        self.warm_up()
        assert self._warm is not None
        await self._warm
        if self._engine is None:
            from vhd_gui.engine import DebateEngine

            self._engine = DebateEngine(self.settings, cache=self.cache)
        return self._engine

    def run_debate(self, rerun: bool = False) -> None:
        if self.store is None or self.current is None:
            return
        if self.debate_running:
            self._say("A debate is running; Esc cancels it.")
            return
        rel = self.current
        if rel in self.batch_panel.running_paths:
            self._say(self._batch_busy_words())
            return
        holder = self.store.claim_holder(rel)  # a batch in another process (a terminal) has it
        if holder is not None:
            words = f"Another batch is debating this item right now ({holder.owner}); Run is not started, so the item is not paid for twice."
            self._say(words)
            self.debate.status.setText(words)
            return
        rec = self.store.get_record(rel)
        if not rerun and rec is not None and rec.debate is not None and rec.debate.status != "error":
            self._say("This item has a debate already; Shift+R runs it again.")
            return
        self._debate_path = rel
        self._debate_task = asyncio.ensure_future(self._debate(rel, use_cache=not rerun))
        self._set_debate_actions()

    async def _debate(self, rel: str, use_cache: bool = True) -> None:
        """One debate on ``rel``; Run answers repeated turns from the response cache, Re-run asks again."""
        from vhd_gui.engine import (
            DebateFailed,
            DebateStarted,
            TokenReceived,
            TurnFinished,
            TurnRetrying,
            TurnStarted,
            VerdictReached,
        )

        store = self.store
        assert store is not None
        self._debate_path = rel
        name = os.path.basename(rel)
        self.debate.start(turn_order(self.settings.rounds, self.settings.critic), f"Debating {name}: loading the agents…")
        from_cache = turns = 0
        try:
            engine = await self._get_engine()
            async for ev in engine.run(self.abs_path(rel), label=rel, use_cache=use_cache):
                here = self.current == rel
                if isinstance(ev, TokenReceived):
                    if here:
                        self.debate.append(ev.turn, ev.text)
                elif isinstance(ev, TurnStarted):
                    if here:
                        self.debate.begin_turn(ev.turn, ev.model, ev.attempt)
                elif isinstance(ev, TurnFinished):
                    turns += 1
                    from_cache += ev.from_cache
                    self.session_tokens["prompt"] += ev.prompt_tokens
                    self.session_tokens["completion"] += ev.completion_tokens
                    self.session_tokens["cached"] += ev.cached_tokens
                    self._update_tokens()
                    if here:
                        self.debate.finish_turn(ev.turn, ev.seconds, ev.completion_tokens, ev.prompt_tokens, ev.cached_tokens)
                elif isinstance(ev, TurnRetrying):
                    if here:
                        self.debate.retrying(ev.turn, ev.attempt, ev.delay, ev.reason)
                elif isinstance(ev, DebateStarted):
                    if here:
                        self.debate.start(ev.turns, f"Debating {name} ({len(ev.turns)} turns)…")
                        self.viewer.set_frames(list(ev.frames_sent))
                elif isinstance(ev, (VerdictReached, DebateFailed)):
                    if store is not self.store:
                        return
                    store.record_debate(ev.record)
                    self.model.refresh(rel)
                    self._refresh_categories()
                    self._update_counts()
                    if isinstance(ev, DebateFailed):
                        if here:
                            self.debate.failed(ev.turn, ev.message)
                    elif here:
                        cached = ""
                        if from_cache:
                            cached = (" · answered from the response cache, no request sent" if from_cache == turns
                                      else f" · {from_cache} of {turns} turns from the response cache")
                        self.debate.finished(self._summary(store.get_record(rel)) + cached)
                    if here:
                        self.verdict.show_record(store.get_record(rel))
                    self.did_record_debate.emit(rel)
        except asyncio.CancelledError:
            if self._closing:
                return
            if self.current == rel:
                self.debate.cancelled()
        except ConfigError as exc:
            self.debate.failed(None, str(exc))
        except Exception as exc:  # noqa: BLE001 - a bug must not take the window down
            log.exception("debate of %s crashed", rel)
            if self.current == rel:
                self.debate.failed(None, f"internal error: {type(exc).__name__}: {exc}")
        finally:
            self._debate_path = None
            if not self._closing:
                self._set_debate_actions()

    def cancel(self) -> None:
        if self.verdict.is_picking or self.focusWidget() in (self.verdict.note, self.verdict.category.lineEdit(), self.browser.search):
            self.verdict.stop_picking()
            self.browser.view.setFocus()
            return
        if self._debate_task is not None and not self._debate_task.done():
            self._debate_task.cancel()
            self._say("Debate cancelled.")

    def _update_tokens(self) -> None:
        t = self.session_tokens
        cost = self.settings.cost_usd(t["prompt"], t["cached"], t["completion"])
        self.status_tokens.setText(f"this session: {t['prompt'] + t['completion']:,} tokens · ≈ ${cost:.4f}")

    # ================================================================ decisions
    def accept(self) -> None:
        if self.verdict.is_picking:
            self._category_entered()
            return
        if self.store is None or self.current is None:
            return
        rec = self.store.get_record(self.current)
        d = rec.debate if rec else None
        if d is None or d.status == "error" or d.decision is None:
            self._say("Nothing to accept yet: run the debate (R) or decide with H / N.")
            return
        self.decide(d.decision, d.harmful_type if d.decision == "yes" else "")

    def pick_harmful(self) -> None:
        if self.current is not None:
            self.verdict.start_picking()

    def _category_entered(self) -> None:
        if not self.verdict.is_picking:
            return
        category = self.verdict.chosen_category()
        if not category:
            self._say("Type a category, or press a digit key for one of the ten.")
            return
        self.decide("yes", category)

    def decide_category(self, i: int) -> None:
        self.decide("yes", DEFAULT_CATEGORIES[i])

    def decide(self, label: str, category: str) -> None:
        if self.store is None or self.current is None:
            return
        rel = self.current
        try:
            self.store.record_decision(rel, label, category, note=self.verdict.note.text().strip(), source="window")
        except (StoreError, KeyError, OSError) as exc:
            self._warn("The decision was not saved", str(exc))
            return
        except Exception as exc:  # sqlite3 errors: disk full, locked for too long
            self._warn("The decision was not saved", f"{type(exc).__name__}: {exc}")
            return
        self._decided.append(rel)
        self.verdict.stop_picking()
        self.browser.view.setFocus()
        self._after_decision(rel)
        if self.ui_prefs["auto_advance"] and self.current == rel:
            self.step(1)

    def undo(self) -> None:
        if self.store is None:
            return
        rel = self._decided.pop() if self._decided else self.current
        if rel is None:
            return
        if self.store.undo_decision(rel, source="window") is None:
            self._say("Nothing to undo on this item.")
            return
        row = self.model.row_of(rel)
        if row >= 0 and rel != self.current:
            self.browser.view.setCurrentIndex(self.model.index(row))
        self._after_decision(rel)
        self._say(f"Undone: {os.path.basename(rel)}")

    def _after_decision(self, rel: str) -> None:
        assert self.store is not None
        self.model.refresh(rel)
        self._refresh_categories()
        self._update_counts()
        if rel == self.current:
            self.verdict.show_record(self.store.get_record(rel))
        self._annotations_dirty = True
        self._export_timer.start(self.export_delay_ms)
        self.did_decide.emit(rel)

    # ================================================================ the annotation file
    def annotation_path(self) -> Path:
        assert self.store is not None
        custom = str(self.ui_prefs.get("export_path") or "")
        if custom:
            return Path(custom)
        name = ANNOTATION_FILE[str(self.ui_prefs["export_format"])]
        return self.store.path.parent / name

    def _write_annotations_soon(self) -> None:
        if self.store is None or not self._annotations_dirty:
            return
        self._annotations_dirty = False
        store, fmt, target = self.store, str(self.ui_prefs["export_format"]), self.annotation_path()
        self._export_cf = self._export_pool.submit(formats.export_store, store, fmt, target)
        future = asyncio.wrap_future(self._export_cf)

        def done(f: asyncio.Future[Any]) -> None:
            try:
                files = f.result()
            except Exception as exc:  # noqa: BLE001
                if not self._closing:
                    self._annotations_dirty = True
                    self._say(f"Could not write the annotation file {target}: {exc}", 15000)
                return
            if self._closing:  # the window (maybe its C++ side too) is gone: nobody to tell
                return
            for ef in files:
                self.did_write_annotations.emit(str(ef.path))

        future.add_done_callback(done)
        self._export_task = future

    def _wait_for_export(self) -> None:
        """Let an annotation export in progress finish before its store closes."""
        cf = self._export_cf
        if cf is not None and not cf.done():
            try:
                cf.result(timeout=120)
            except Exception:  # noqa: BLE001 - its own callback reports the failure
                self._annotations_dirty = True

    def flush_annotations(self) -> None:
        """Write the annotation file now if a decision is not in it yet (on close)."""
        self._export_timer.stop()
        self._wait_for_export()
        if self.store is None or not self._annotations_dirty:
            return
        self._annotations_dirty = False
        try:
            for ef in formats.export_store(self.store, str(self.ui_prefs["export_format"]), self.annotation_path()):
                self.did_write_annotations.emit(str(ef.path))
        except Exception as exc:  # noqa: BLE001
            self._warn("Could not write the annotation file", str(exc))

    # ================================================================ import / export
    def choose_import(self) -> None:
        if self.store is None:
            self._warn("Import", "Open a folder first: imported rows are matched to its files.")
            return
        path, _ = QFileDialog.getOpenFileName(self, "Import annotations", str(self.store.root),
                                              "Annotation files (*.csv *.json *.jsonl);;All files (*)")
        if path:
            asyncio.ensure_future(self.import_file(path))

    async def import_file(self, path: str) -> formats.ImportReport | None:
        store = self.store
        if store is None:
            return None
        try:
            report = await asyncio.get_running_loop().run_in_executor(None, formats.import_file, store, path)
        except (formats.FormatError, StoreError, OSError, ValueError) as exc:
            self._warn("Import failed", f"{os.path.basename(path)}: {exc}")
            return None
        if store is not self.store:
            return report
        self._refresh_categories()
        self._reload_list()
        self.model.refresh_all()
        self._update_counts()
        self._refresh_review()
        if self.current:
            self.show_item(self.current)
        text = f"Imported {os.path.basename(path)}: {report.summary()}"
        if report.malformed:
            text += "\nFirst problems:\n" + "\n".join(f"line {p.line}: {p.reason}" for p in report.malformed[:5])
        QMessageBox.information(self, "Import", text)
        return report

    def choose_export(self, fmt: str | None) -> None:
        if self.store is None:
            self._warn("Export", "Open a folder first.")
            return
        fmt = fmt or str(self.ui_prefs["export_format"])
        default = formats.default_export_path(self.store, fmt)
        path, _ = QFileDialog.getSaveFileName(self, f"Export as {fmt}", str(default))
        if path:
            asyncio.ensure_future(self.export_file(fmt, path))

    async def export_file(self, fmt: str, path: str) -> list[formats.ExportedFile]:
        store = self.store
        if store is None:
            return []
        try:
            files = await asyncio.get_running_loop().run_in_executor(None, formats.export_store, store, fmt, path)
        except (formats.FormatError, OSError, ValueError) as exc:
            self._warn("Export failed", str(exc))
            return []
        self._say("Exported " + ", ".join(f"{f.rows} rows to {f.path}" for f in files), 10000)
        return files

    # ================================================================ dialogs
    def show_help(self) -> None:
        from vhd_gui.ui._help_dialog import HelpDialog

        dlg = HelpDialog(self.keys, self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.show()
        self.help_dialog = dlg

    def open_settings(self) -> None:
        try:
            from vhd_gui.ui._settings_dialog import SettingsDialog
        except ImportError as exc:
            self._warn("Settings", f"The settings dialog is not available: {exc}")
            return
        shortcuts = {spec.id: (spec.label, self.keys.get(spec.id, spec.default_key)) for spec in ACTIONS}
        prefs = {k: self.ui_prefs[k] for k in ("safe_view_grayscale", "auto_advance", "export_path", "export_format")}
        dlg = SettingsDialog(self.settings, shortcuts, prefs, self)
        if not dlg.exec():
            return
        self.apply_settings(dlg.settings(), dlg.shortcuts(), dlg.ui_prefs())

    def apply_settings(self, settings: Settings, keys: dict[str, str], prefs: dict[str, Any]) -> None:
        self.settings = settings
        try:
            save_settings(settings)
        except OSError as exc:
            self._warn("Settings", f"Could not save the settings: {exc}")
        if self._engine is not None and not self.debate_running:
            old, self._engine = self._engine, None
            asyncio.ensure_future(old.close())
        self.keys.update({k: v for k, v in keys.items() if k in ACTION_BY_ID})
        save_shortcuts(self.qsettings, self.keys)
        self._apply_keys()
        self.ui_prefs.update({k: v for k, v in prefs.items() if k in DEFAULT_UI_PREFS})
        self.verdict.auto_advance.setChecked(bool(self.ui_prefs["auto_advance"]))
        self.gray_action.setChecked(bool(self.ui_prefs["safe_view_grayscale"]))
        self._save_prefs()
        self._apply_safe_view()
        self._update_tokens()

    # ================================================================ response cache
    def _open_cache(self) -> ResponseCache | None:
        """The app's one response cache (platformdirs cache folder); None if it cannot open."""
        from vhd_gui.cache import ResponseCache

        try:
            return ResponseCache.default()
        except OSError as exc:  # CacheUnavailable included
            log.warning("the response cache is not available: %s", exc)
            return None

    def _debate_recorded(self, _rel: str) -> None:
        if not self.batch_panel.is_running:  # while it runs, the panel's own timer redraws it
            self.batch_panel.refresh_cache_info()

    # ================================================================ batch
    def show_batch(self, scope: str | None = None) -> None:
        """Bring the batch panel forward, with ``scope`` chosen (the user presses Start)."""
        if scope is not None and not self.batch_panel.is_running:
            self.batch_panel.set_scope(scope)
        self.side_tabs.setCurrentIndex(TAB_BATCH)

    def selected_paths(self) -> list[str]:
        """The items selected in the list, in list order."""
        rows = sorted(ix.row() for ix in self.browser.view.selectionModel().selectedRows())
        return [p for p in (self.model.path_at(r) for r in rows) if p is not None]

    def select_paths(self, paths: list[str]) -> None:
        """Select these items in the list (the current item stays where it is)."""
        sel = self.browser.view.selectionModel()
        sel.clearSelection()
        for p in paths:
            row = self.model.row_of(p)
            if row >= 0:
                sel.select(self.model.index(row), QItemSelectionModel.SelectionFlag.Select)

    # BatchHost: what the batch panel asks of the window
    def batch_context(self) -> tuple[Store, Settings] | None:
        return (self.store, self.settings) if self.store is not None else None

    def batch_paths(self, scope: str) -> list[str]:
        if self.store is None:
            return []
        if scope == SCOPE_SELECTED:
            return self.selected_paths()
        if scope == SCOPE_FILTERED:
            sort, desc = self.browser.sort_order()
            return self.store.paths(self.store_filters(), sort, desc)
        return self.store.paths()

    def batch_skip(self, path: str) -> bool:
        """The batch never debates the item open here, nor the one the window is debating."""
        return path == self.current or path == self._debate_path

    async def batch_ready(self) -> None:
        self.warm_up()
        assert self._warm is not None
        await self._warm

    def _batch_busy_words(self) -> str:
        return "The batch is debating this item right now; its verdict shows here when it is recorded."

    def _batch_started_item(self, rel: str) -> None:
        if rel == self.current and self.batch_panel.store is self.store and self._debate_path != rel:
            self.debate.status.setText(self._batch_busy_words())

    def _batch_finished_item(self, rel: str) -> None:
        store = self.store
        if store is None or self.batch_panel.store is not store or self._closing:
            return
        self.model.refresh(rel)
        self._update_counts()
        self._refresh_categories()
        d = store.current_debate(rel)
        if d is not None:  # the batch's tokens count towards this session's too
            self.session_tokens["prompt"] += d.prompt_tokens
            self.session_tokens["completion"] += d.completion_tokens
            self.session_tokens["cached"] += d.cached_tokens
            self._update_tokens()
        if rel == self.current and self._debate_path != rel:
            rec = store.get_record(rel)
            self.debate.show_record(rec.debate if rec else None, self._summary(rec))
            self.verdict.show_record(rec)
        self.did_record_debate.emit(rel)

    def _batch_stopped(self, reason: str) -> None:
        if self._closing or self.store is None or self.batch_panel.store is not self.store:
            return
        self._update_counts()
        p = self.batch_panel.progress
        if p is not None:
            self._say(f"Batch {reason}: {p.done} done, {p.failed} failed, {p.skipped} skipped.", 10000)
        if self.current is not None and self._debate_path is None:
            self.show_item(self.current)

    def _confirm_stop_batch(self, doing: str) -> bool:
        """Ask before an action that cancels a running batch; True to go on."""
        if not self.batch_panel.is_running or self._closing:
            return True
        p = self.batch_panel.progress
        done = f" ({p.finished} of {p.total} finished)" if p is not None else ""
        answer = QMessageBox.question(
            self,
            "A batch is running",
            f"{doing} cancels the running batch{done}. Every finished debate is saved; the ones in flight "
            "are dropped and the next run does them again.",
            QMessageBox.StandardButton.Ok | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer != QMessageBox.StandardButton.Cancel

    # ================================================================ review panel and walks
    def _make_review_panel(self, store: Store) -> None:
        from vhd_gui.ui._review_panel import ReviewPanel

        self._drop_review_panel()
        panel = ReviewPanel(store)
        panel.item_activated.connect(self.open_item)
        panel.audit_sample_drawn.connect(self._audit_drawn)
        panel.did_refresh.connect(self._review_refreshed)
        for view in (panel.queue_view, panel.sample_view):
            view.installEventFilter(self._enter_opens)
        current = self.side_tabs.currentIndex()
        self.side_tabs.blockSignals(True)
        self.side_tabs.removeTab(TAB_REVIEW)
        self.side_tabs.insertTab(TAB_REVIEW, panel, "Review")
        self.side_tabs.setCurrentIndex(current)
        self.side_tabs.blockSignals(False)
        self.review = panel
        self._review_stale = True

    def _drop_review_panel(self) -> None:
        panel, self.review = self.review, None
        if panel is None:
            return
        panel.wait()  # its worker reads the store: let it finish before the store closes
        self.set_walk_mode("")
        self._audit_paths = []
        current = self.side_tabs.currentIndex()
        self.side_tabs.blockSignals(True)
        self.side_tabs.removeTab(TAB_REVIEW)
        self.side_tabs.insertTab(TAB_REVIEW, self.review_placeholder, "Review")
        self.side_tabs.setCurrentIndex(current)
        self.side_tabs.blockSignals(False)
        panel.deleteLater()

    def _refresh_review(self, _rel: str = "") -> None:
        """Recompute the Review panel's figures now if anyone looks at them (the panel is shown
        or next/previous walk its queue), else when it is next shown."""
        if self.review is None or self._closing:
            return
        if self.side_tabs.currentIndex() == TAB_REVIEW or self._walk_mode == WALK_QUEUE:
            self._review_stale = False
            self.review.refresh()
        else:
            self._review_stale = True

    def _side_tab_changed(self, index: int) -> None:
        if index == TAB_REVIEW and self._review_stale:
            self._refresh_review()
        elif index == TAB_BATCH:
            self.batch_panel.refresh_cache_info()

    def _review_refreshed(self) -> None:
        if self.review is None or self._walk_mode != WALK_QUEUE:
            return
        live = self.review.queue_paths()
        # Behind the current item the walk stays as it was (A goes back to what you decided);
        # ahead of it, the queue as it is now, most suspicious first.
        behind = self._walk[: self._walk.index(self.current) + 1] if self.current in self._walk else []
        seen = set(behind)
        self._walk = behind + [p for p in live if p not in seen]
        if self._walk_jump:
            self._walk_jump = False
            if self._walk:
                self.open_item(self._walk[0])
            else:
                self._say("The review queue is empty: every debated item has a human decision.")
        self._show_walk_status()

    def _audit_drawn(self, paths: list[str]) -> None:
        self._audit_paths = list(paths)
        if self._walk_mode == WALK_AUDIT:
            self._walk = list(paths)
            if paths:
                self.open_item(paths[0])
        self._show_walk_status()

    def set_walk_mode(self, mode: str) -> None:
        """Make next/previous follow the review queue or the audit sample ("" for the list);
        choosing the mode already on turns it off."""
        if mode and mode == self._walk_mode:
            mode = ""
        if mode == WALK_AUDIT and not self._audit_paths:
            self._say("Draw an audit sample first (Review panel, Audit tab).")
            mode = ""
        if mode and self.review is None:
            self._say("Open a folder first.")
            mode = ""
        self._walk_mode = mode
        self._walk_jump = False
        self.actions_by_id["walk_queue"].setChecked(mode == WALK_QUEUE)
        self.actions_by_id["walk_audit"].setChecked(mode == WALK_AUDIT)
        if mode == WALK_QUEUE:
            assert self.review is not None
            self._walk = []
            self._walk_jump = True
            self.review.refresh()  # the walk starts when the fresh queue arrives
            self._review_stale = False
        elif mode == WALK_AUDIT:
            self._walk = list(self._audit_paths)
            self.open_item(self._walk[0])
        else:
            self._walk = []
        self._show_walk_status()

    @property
    def walk_mode(self) -> str:
        return self._walk_mode

    def _walk_step(self, delta: int) -> None:
        walk = self._walk
        if not walk:
            self._say("The review queue is empty." if self._walk_mode == WALK_QUEUE else "The audit sample is empty.")
            return
        if self.current in walk:
            i = walk.index(self.current) + delta
            if not 0 <= i < len(walk):
                self._say("End of the review queue." if self._walk_mode == WALK_QUEUE else "End of the audit sample.")
                return
        else:
            i = 0
        self.open_item(walk[i])

    def _show_walk_status(self) -> None:
        if not self._walk_mode:
            self.status_walk.hide()
            return
        what = "review queue" if self._walk_mode == WALK_QUEUE else "audit sample"
        where = f"{self._walk.index(self.current) + 1} of {len(self._walk)}" if self.current in self._walk else f"{len(self._walk)} items"
        self.status_walk.setText(f"walking the {what}: {where}")
        self.status_walk.show()

    def open_item(self, rel: str) -> None:
        """Show ``rel``: selected in the list when the list shows it, else on its own."""
        if self.store is None:
            return
        row = self.model.row_of(rel)
        if row >= 0:
            ix = self.model.index(row)
            self.browser.view.setCurrentIndex(ix)
            self.browser.view.scrollTo(ix)
            if self.current != rel:  # already current in the list but another item shown
                self.show_item(rel)
        else:
            self.show_item(rel)
            self._say(f"{os.path.basename(rel)} is not in the list as it is filtered.")

    # ================================================================ window events
    def event(self, e: QEvent) -> bool:
        if e.type() == QEvent.Type.Paint or (e.type() == QEvent.Type.UpdateRequest and not self._painted):
            if not self._painted:
                self._painted = True
                QTimer.singleShot(0, self.did_first_paint.emit)
        return super().event(e)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self._closing:
            event.accept()
            return
        if not self._confirm_stop_batch("Closing the window"):
            event.ignore()
            return
        self._closing = True
        self._save_layout()
        self._save_prefs()
        if self._debate_task is not None and not self._debate_task.done():
            self._debate_task.cancel()
        self.batch_panel.cancel()
        self._close_store()
        self.viewer.stop()
        self.thumbs.stop()
        self._export_pool.shutdown(wait=False)
        engine, self._engine = self._engine, None
        asyncio.ensure_future(self._release(engine))
        event.accept()
        self.did_close.emit()

    async def _release(self, engine: Any) -> None:
        """After closing: let the batch wind down, then close the HTTP clients and the cache."""
        pending = [t for t in (self.batch_panel.task, self._debate_task) if t is not None and not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=10)
        if engine is not None:
            await engine.close()
        if self._owns_cache and self.cache is not None:
            self.cache.close()

    # for tests and the benchmark
    def role_text(self, role: Role | str) -> str:
        return self.debate.panel(role).plain_text()

    def store_filters(self) -> Filters:
        return self.browser.filters()

