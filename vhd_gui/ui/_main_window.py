"""The labelling window: browser | viewer over debate panels, the verdict bar below.

The window class builds the widgets and wires the rooms that each hold one job:
``_debate_controller`` (which debate is live for which item), ``_window_actions`` (the keys and
menus), ``_autosave`` (the annotation file), ``_review_walk`` (where next/previous go) and
``_prefs`` (the window's own preferences), ``_item_records`` (records read off the GUI thread)
and ``_store_open`` (stores opened off it). What stays here is the glue: which item is current,
what the panels show for it, and the store writes a key press makes. What runs off the GUI
thread, and what the window shows meanwhile: docs/ARCHITECTURE.md#what-runs-where.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QItemSelectionModel, QModelIndex, QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeyEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from vhd_gui import formats
from vhd_gui.checks import self_command
from vhd_gui.config import Settings, save_settings
from vhd_gui.media import MediaError, kind_of
from vhd_gui.protocol import Role, turn_order
from vhd_gui.scanning import FolderScan
from vhd_gui.store import STORE_ERRORS, Counts, Filters, Store, StoreDamaged, StoreError
from vhd_gui.store_api import is_server_url
from vhd_gui.ui._actions import ACTION_BY_ID, ACTIONS, action_labels, category_labels, load_shortcuts, save_shortcuts
from vhd_gui.ui._autosave import AnnotationAutosave
from vhd_gui.ui._background import Background, Job
from vhd_gui.ui._batch_panel import SCOPE_FILTERED, SCOPE_SELECTED, BatchPanel
from vhd_gui.ui._browser import BrowserWidget, ItemDelegate, ItemListModel, path_index
from vhd_gui.ui._debate_controller import ENDED_CANCELLED, ENDED_ERROR, DebateController
from vhd_gui.ui._debate_view import DebateView
from vhd_gui.ui._figures import CATEGORIES, COUNTS, StoreFigures
from vhd_gui.ui._item_records import LANE as RECORDS_LANE
from vhd_gui.ui._item_records import ItemRecords
from vhd_gui.ui._prefs import ANNOTATION_FILE, DEFAULT_UI_PREFS, clean_categories, load_prefs, restore_layout, save_layout, save_prefs
from vhd_gui.ui._review_walk import WALK_AUDIT, WALK_QUEUE, ReviewWalk
from vhd_gui.ui._store_open import StoreBanner, choose_copy_place, chosen_copies, explain_open_failure, open_for_window
from vhd_gui.ui._store_watch import StoreWatch
from vhd_gui.ui._team import TeamDesk
from vhd_gui.ui._thumbnails import ThumbnailLoader
from vhd_gui.ui._unsaved import PendingDecision, UnsavedBanner, UnsavedDecisions
from vhd_gui.ui._verdict_bar import VerdictBar
from vhd_gui.ui._viewer import Viewer
from vhd_gui.ui._window_actions import TAB_BATCH, TAB_REVIEW, apply_keys, build_actions, build_menus

if TYPE_CHECKING:
    from vhd_gui.cache import ResponseCache
    from vhd_gui.ui._review_panel import ReviewPanel

log = logging.getLogger(__name__)

SCAN_LANE = "scan"
WARM_UP_QUIET_MS = 2000
WARM_UP_LATEST_MS = 30_000
LIST_LANE = "list"
OPEN_LANE = "open"
BACKUP_LANE = "backup"  # the daily check and backup of a store


class _EnterOpens(QObject):
    """Lets a list in a side panel keep Return/Enter (to open its item) instead of the window's
    Accept shortcut taking it."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent):
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and event.modifiers() == Qt.KeyboardModifier.NoModifier:
                event.accept()
                return True
        return super().eventFilter(watched, event)


class MainWindow(QMainWindow):
    did_open = Signal(str)  # the store's path
    did_finish_scan = Signal(int)  # files found
    did_record_debate = Signal(str)  # item path
    did_decide = Signal(str)  # item path
    did_write_annotations = Signal(str)  # file written
    did_close = Signal()
    did_first_paint = Signal()
    did_count = Signal()  # the counters and categories on screen are up to date
    did_show_outside_change = Signal()  # another process's writes to the store are on screen
    did_show_item = Signal(str)  # the current item's record is on screen (first drawn or updated)

    def __init__(
        self, settings: Settings, qsettings: QSettings | None = None, parent: QWidget | None = None, cache: ResponseCache | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("VHD Annotator")
        self.settings = settings
        self.qsettings = qsettings or QSettings()
        self._owns_cache = cache is None
        self.cache = cache if cache is not None else self._open_cache()
        self._review: ReviewPanel | None = None  # built when first looked at (see review)
        self._review_stale = False
        self.walk = ReviewWalk()
        self.store: Store | None = None
        self.current: str | None = None
        self.ui_prefs = load_prefs(self.qsettings)
        self.keys = load_shortcuts(self.qsettings)
        self.session_tokens = {"prompt": 0, "completion": 0, "cached": 0}
        # Every job off the GUI thread goes through here: one error path, cancellable jobs.
        self.bg = Background(report=self._background_failed)
        self.bg.add_lane(SCAN_LANE, 1)
        self.bg.add_lane(LIST_LANE, 1)  # one list read at a time; a superseded one never starts
        self.bg.add_lane(OPEN_LANE, 1)  # stores open one after another; the last asked for wins
        self.bg.add_lane(BACKUP_LANE, 1)
        self._open_generation = 0
        self._opening: Path | None = None
        self._list_job: Job[Any] | None = None
        self._list_outside = False
        self._scanned_meanwhile: list[str] = []  # added by the scan while the list was being read
        self.reader: Store | None = None  # a read-only connection of its own, for the workers
        self.figures = StoreFigures(self.bg, self)
        self.figures.did_count.connect(self._show_counts)
        self.figures.did_list_categories.connect(self._show_categories)
        self.figures.did_settle.connect(self.did_count)
        self._total = 0  # items in the store, as last counted
        self.watch = StoreWatch(self.bg, self)
        self.watch.did_change.connect(self._store_changed_elsewhere)
        self.team = TeamDesk(self.bg, settings.resolved_reviewer(), self)  # reviewer, others' decisions, lease
        self._shown_debate: Any = None  # the stored debate the panels show, if any
        self.records = ItemRecords(self.bg, self)
        self.records.did_read.connect(self._record_arrived)
        self.records.did_fail.connect(self._record_failed)
        self._shown_record_of: str | None = None  # the item whose record is on screen
        self._record_failed_of: str | None = None  # the item whose record could not be read
        self._keep_panels_for: str | None = None  # its panels show a debate that just finished streaming
        self._outside_pending = False  # another process's change is being read for the current item
        self._accepts: dict[str, Job[Any]] = {}  # Enter on an item whose verdict is being read
        self._run_check: Job[Any] | None = None  # R: who holds the item and whether it has a debate
        self._next_job: Job[Any] | None = None  # the next undecided item, being looked for
        self.debates = DebateController(settings, self.cache, self, self.bg)
        self._debate_turns = self._debate_from_cache = 0  # of the live debate, for its summary
        self._scan_task: asyncio.Task[None] | None = None
        self.autosave = AnnotationAutosave(self._autosave_target, self.bg, self)
        self.autosave.did_write.connect(self.did_write_annotations)
        self.autosave.did_fail.connect(lambda target, why: self._say(f"Could not write the annotation file {target}: {why}", 15000))
        self._decided: list[str] = []  # paths decided this session, for Undo
        self._painted = False
        self._closing = False

        self.actions_by_id: dict[str, QAction] = build_actions(self)
        apply_keys(self.actions_by_id, self.keys)
        self.thumbs = ThumbnailLoader(parent=self, background=self.bg)
        self.model = ItemListModel(None, self.thumbs, self)
        self.model.background = self.bg
        self.model.viewer = self.figures.viewer = self.team.reviewer
        self.browser = BrowserWidget(self.model)
        self.viewer = Viewer(background=self.bg)
        self.debate = DebateView()
        self.verdict = VerdictBar(self.actions_by_id)
        self.verdict.me = self.team.reviewer
        self.verdict.auto_advance.setChecked(bool(self.ui_prefs["auto_advance"]))
        self.verdict.auto_advance.toggled.connect(self._auto_advance_toggled)
        self.verdict.did_pick_digit.connect(lambda d: self.decide_category((d - 1) % 10))
        category_line = self.verdict.category.lineEdit()
        assert category_line is not None
        category_line.returnPressed.connect(self._category_entered)

        self.batch_panel = BatchPanel(self, self.cache, self.qsettings)
        self.batch_panel.did_start_item.connect(self._batch_started_item)
        self.batch_panel.did_finish_item.connect(self._batch_finished_item)
        self.batch_panel.did_spend.connect(self._batch_spent)
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
        self.review_holder = QStackedWidget()  # the placeholder, or the open store's Review panel
        self.review_holder.addWidget(self.review_placeholder)
        self.side_tabs.addTab(self.review_holder, "Review")
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
        # Decisions the store could not take (a full disk, a lock): kept, shown, retried.
        self.unsaved = UnsavedDecisions(self._write_decision, self)
        self.unsaved.did_save.connect(self._decision_saved)
        self.unsaved_banner = UnsavedBanner(self.unsaved)
        lay.addWidget(self.unsaved_banner)
        lay.addWidget(self.main, 1)
        lay.addWidget(self.team.others)
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
        self.statusBar().addPermanentWidget(self.team.status)
        self.statusBar().addPermanentWidget(self.batch_panel.status_widget)
        for i, w in enumerate((self.status_counts, self.status_tokens, self.status_store)):
            if i:
                sep = QLabel("|")
                sep.setStyleSheet("color: palette(mid);")
                self.statusBar().addPermanentWidget(sep)
            self.statusBar().addPermanentWidget(w)
        self._update_tokens()

        self.safe_action, self.gray_action = build_menus(self)
        self._apply_categories()
        self._apply_safe_view()
        self.browser.view.selectionModel().currentChanged.connect(self._current_changed)
        self._last_moved = 0.0  # when the list last scrolled or moved (see warm_up_when_idle)
        self.browser.view.selectionModel().currentChanged.connect(self._moved)
        self.browser.view.verticalScrollBar().valueChanged.connect(self._moved)
        self.browser.did_change_filters.connect(self._reload_list)
        self.debate.retry_requested.connect(lambda: self.run_debate(rerun=True))
        self.did_decide.connect(self._refresh_review)
        self.did_record_debate.connect(self._refresh_review)
        self.did_record_debate.connect(self._debate_recorded)
        self.resize(1400, 900)
        restore_layout(self.qsettings, self, self.main, self.right)
        self._set_debate_actions()
        ItemDelegate.warm_up(self.browser.view.font(), self.browser.view.palette())
        self.bg.start_workers()  # every lane's threads, before a folder scan competes with their start

    @property
    def export_delay_ms(self) -> int:
        """How long after the last decision the annotation file is written."""
        return self.autosave.delay_ms

    @export_delay_ms.setter
    def export_delay_ms(self, ms: int) -> None:
        self.autosave.delay_ms = ms

    # ================================================================ preferences
    def _save_prefs(self) -> None:
        save_prefs(self.qsettings, self.ui_prefs)

    def _auto_advance_toggled(self, on: bool) -> None:
        self.ui_prefs["auto_advance"] = on
        self._save_prefs()

    def safe_toggled(self, on: bool) -> None:
        self.ui_prefs["safe_view"] = on
        self._save_prefs()
        self._apply_safe_view()

    def gray_toggled(self, on: bool) -> None:
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
        if folder and self._confirm_stop_batch("Opening another folder") and self._confirm_unsaved("Opening another folder"):
            self.open_path(folder)

    def choose_store(self) -> None:
        start = str(self.store.path.parent) if self.store else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open an annotation store", start, "Annotation store (*.sqlite *.db);;All files (*)")
        if path and self._confirm_stop_batch("Opening another store") and self._confirm_unsaved("Opening another store"):
            self.open_path(path)

    def _move_decisions(self) -> None:
        """The banner's button: the read-only store's copy goes to a file the person picks."""
        if self.store is None or not (self._confirm_stop_batch("Moving the decisions") and self._confirm_unsaved("Moving the decisions")):
            return
        target = choose_copy_place(self, self.store, self.qsettings)
        if target is not None:
            self.open_path(target)

    def open_path(self, path: str | os.PathLike[str], *, root: Path | None = None) -> None:
        """Open a folder (its default store), a store file, or a shared ``postgresql://`` store
        whose media are in the folder ``root``; then start scanning the media folder.

        The store is opened off the GUI thread (its quick check takes a few hundred ms on a large
        store); meanwhile the window says what it opens and the store open so far stays usable.
        A damaged store is a dialog and nothing changes; a read-only one is worked on through its
        writable copy, with a banner. When several opens are asked for, the last one wins.
        """
        url = str(path) if is_server_url(path) else None
        p = (root or Path.cwd()) if url else Path(path).expanduser()
        target: Path | str = url or p
        chosen = chosen_copies(self.qsettings)

        def work() -> tuple[Store, str, Store | None, bool]:
            # Each store may show a Review panel; its module (the metrics) takes ≈40 ms to import,
            # so that happens here rather than on the GUI thread when the panel is first built.
            importlib.import_module("vhd_gui.ui._review_panel")
            store, banner = open_for_window(target, chosen, root=p if url else None)
            try:
                reader = store.reader()
            except StoreError as exc:  # reads then share the window's connection
                log.warning("no separate reader for %s: %s", store.path, exc)
                reader = None
            return store, banner, reader, store.daily_backup_due()

        self._open_generation += 1
        self._opening = p
        if url:
            from vhd_gui.store_pg import display_url  # never shows a password

            shown = display_url(url)
        else:
            shown = str(p)
        self.status_counts.setText(f"opening {shown if url else (p.name or p)}…")
        self.status_counts.setToolTip(shown)
        generation = self._open_generation
        self.bg.run(work, lane=OPEN_LANE, what=f"opening {shown}", done=partial(self._store_opened, generation, p),
                    failed=partial(self._open_failed, generation))

    @property
    def opening(self) -> bool:
        """A store is being opened (the window shows the one open before, if any)."""
        return self._opening is not None

    def _open_failed(self, generation: int, exc: BaseException) -> None:
        if generation != self._open_generation or self._closing:
            return
        self._opening = None
        self._show_counts_again()
        # Damage: a dialog and nothing opened (the store open before stays open).
        if not explain_open_failure(self, exc):
            self.bg.fail("opening the store", exc)

    def _show_counts_again(self) -> None:
        self.status_counts.setToolTip("")
        if self.store is None:
            self.status_counts.setText("no folder open")
        else:
            self.status_counts.setText("")
            self._update_counts()

    def _store_opened(self, generation: int, p: Path, opened: tuple[Store, str, Store | None, bool]) -> None:
        store, banner, reader, backup_due = opened
        if generation != self._open_generation or self._closing:  # another open was asked for since
            for s in (reader, store):
                if s is not None:
                    s.close(optimize=False)
            return
        self._opening = None
        self._close_store()
        self.store = store
        self.reader = reader
        self.status_counts.setToolTip("")
        self.status_counts.setText("")
        self.model.store = store
        self.model.reader = self.reader
        if store.backend == "sqlite":  # a server store is opened again with --store, never from here
            self.qsettings.setValue("last_folder", str(p.absolute()))
        self.setWindowTitle(f"VHD Annotator — {store.root.name}")
        where = f"store: {store.location}"
        if store.fell_back:
            where += f" (the folder is read-only, so the store is in your user data folder; annotation file: {self.annotation_path()})"
        self.status_store.setText(where)
        self.status_store.setToolTip(where)
        self.store_banner.show_text(banner, can_move=not store.read_only)
        self._review_stale = True  # its panel (the last store's went with it) is built when first looked at
        if self.side_tabs.currentIndex() == TAB_REVIEW:
            self._refresh_review()
        self.watch.watch(store)
        self.team.use(store, self.reader)
        self.figures.use(self.reader or store)
        self.records.use(self.reader or store, self.team.reviewer)
        self._refresh_categories()
        self._reload_list()
        self._update_counts()
        self.browser.view.setFocus()
        self.did_open.emit(str(store.path))
        self._scan_task = asyncio.ensure_future(self._scan(store))
        self._say_store_warnings(store)
        if backup_due:  # once a day: the whole file checked, then backed up, off the GUI thread
            self.bg.run(store.daily_backup, what="the daily check and backup of the store", lane=BACKUP_LANE,
                        done=lambda _: self._say_store_warnings(store), failed=self._daily_backup_failed)

    def _say_store_warnings(self, store: Store) -> None:
        """What the store had to say while opening (a backup it could not write, a server store
        without its name-search index): each said once, in the status bar and the log."""
        if store is not self.store or not store.warnings:
            return
        said, store.warnings[:] = list(store.warnings), []
        for text in said:
            log.warning("%s", text)
        self._say("Store: " + " · ".join(said), 15000)

    def _daily_backup_failed(self, exc: BaseException) -> None:
        if isinstance(exc, StoreDamaged):
            self._warn("The store is damaged", f"{exc}\n\nKeep this window's work safe: export it, then run vhd-annotator store recover.")
        else:
            self._say(f"The daily backup of the store failed: {exc}", 12000)

    async def _scan(self, store: Store) -> None:
        """Walk the folder in a worker thread; each batch goes to the store, then to the list."""
        found = 0
        # A big folder is walked by a helper process, which leaves Python's lock to this window.
        files = FolderScan(store.root, self_command())
        try:

            def take() -> tuple[list[str], int]:
                batch = files.next_batch()
                if batch:
                    store.upsert_items((m.rel, m.kind, m.size, m.mtime) for m in batch)
                return [m.rel for m in batch], store.count()

            while True:
                rels, total = await self.bg.submit(take, lane=SCAN_LANE, what="scanning the folder")
                if store is not self.store or not rels:
                    break
                found += len(rels)
                if self._list_job is not None:
                    self._scanned_meanwhile.extend(rels)
                if not self.browser.is_filtered():
                    self.model.append_paths(rels)
                    if self.current is None and self.model.rowCount() and self.browser.view.currentIndex().row() < 0:
                        self.browser.view.setCurrentIndex(self.model.index(0))
                self._total = max(self._total, total)
                self._update_shown()
                self.status_counts.setText(f"scanning… {found} files")
        except MediaError as exc:
            self._warn("Cannot read the folder", str(exc))
        except StoreError as exc:
            self._warn("Cannot write the store", str(exc))
        finally:
            files.close()
            if files.fallback:
                log.warning("%s", files.fallback)
        if store is self.store:
            if self.browser.is_filtered():
                self._reload_list()
            self._update_counts()
            self._refresh_review()
            self.did_finish_scan.emit(found)

    def _close_store(self) -> None:
        if self.store is None:
            return
        if self.unsaved.pending:  # asked first where a person closes it (_confirm_unsaved)
            log.warning("%d unsaved decision(s) dropped with the store %s", self.unsaved.drop_all(), self.store.path)
        if self._scan_task is not None:
            self._scan_task.cancel()
        self.debates.cancel()
        if self.batch_panel.store is self.store:
            # Running debates are dropped unrecorded; each finished one is already committed.
            self.batch_panel.cancel()
        self.flush_annotations()
        self._drop_review_panel()
        self.watch.stop()
        for job in (*self._accepts.values(), self._run_check, self._next_job):
            if job is not None:
                job.cancel()
                job.wait()
        self._accepts.clear()
        self._run_check = self._next_job = None
        self.records.use(None)
        self._shown_record_of = None
        self.team.use(None)
        self.figures.use(None)
        if self._list_job is not None:
            self._list_job.cancel()
            self._list_job.wait()
            self._list_job = None
        self.model.wait()
        self.model.reader = None
        if self.reader is not None:
            self.reader.close()
            self.reader = None
        self.store.close()
        self.store = None
        self.current = None
        self._decided.clear()

    # ================================================================ list and current item
    def _reload_list(self, outside: bool = False) -> None:
        """Read the list again for the filters and sort on screen, off the GUI thread.

        The list keeps its rows (the counter says it is reading) until the new ones arrive; a
        newer request drops an older one, so only the latest filters ever reach the screen.
        ``outside``: another process changed the store; the current item and the selection stay
        as they are (else the current item stays if the new list has it, or the first row is).
        """
        store = self.store
        if store is None:
            return
        source = self.reader or store
        if self._list_job is not None:
            self._list_job.cancel()
            outside = outside and self._list_outside  # a person's filter change still pending wins
        filters = self.browser.filters()
        sort, desc = self.browser.sort_order()

        viewer = self.team.reviewer

        def read() -> tuple[list[str], dict[str, int]]:
            paths = source.paths(filters, sort, desc, viewer=viewer)
            return paths, path_index(paths)

        self._list_outside = outside
        self._scanned_meanwhile = []
        self._list_job = self.bg.run(read, lane=LIST_LANE, what="reading the list", done=partial(self._list_arrived, store))
        self._update_shown()

    @property
    def list_pending(self) -> bool:
        """The list is being read again (it shows the previous rows)."""
        return self._list_job is not None

    def _list_arrived(self, store: Store, result: tuple[list[str], dict[str, int]]) -> None:
        self._list_job = None
        if store is not self.store:
            return
        paths, index = result
        scanned, self._scanned_meanwhile = self._scanned_meanwhile, []
        if self._list_outside:
            if paths == self.model.paths:
                self._update_shown()
                return
            selected = self.selected_paths()
            self.model.set_paths(paths, index)
            self._update_shown()
            row = self.model.row_of(self.current) if self.current else -1
            if row >= 0:
                sel = self.browser.view.selectionModel()
                sel.setCurrentIndex(self.model.index(row), QItemSelectionModel.SelectionFlag.NoUpdate)
                self.select_paths(selected)
            return
        keep = self.current
        self.model.set_paths(paths, index)
        if scanned and not self.browser.is_filtered():  # found by the scan after the read began
            self.model.append_paths(scanned)
        self._update_shown()
        row = self.model.row_of(keep) if keep else -1
        if row < 0 and self.model.rowCount():
            row = 0
        if row >= 0:
            self.browser.view.setCurrentIndex(self.model.index(row))
            self.browser.view.scrollTo(self.model.index(row))

    def _update_shown(self) -> None:
        if self.store is not None:
            self.browser.counts.setText(f"{self.model.rowCount()} shown of {self._total}")
        self.browser.set_busy("reading the list…" if self._list_job is not None else "")

    def _update_counts(self) -> None:
        """Count the items by status again (on a worker: a large store takes a while)."""
        self.figures.want(COUNTS)

    def _refresh_categories(self) -> None:
        """Read the categories in use again, for the filter and the picker (on a worker)."""
        self.figures.want(CATEGORIES)

    @property
    def figures_pending(self) -> bool:
        """Counters or categories are being read again (they show the previous figures)."""
        return self.figures.pending

    def _show_counts(self, c: Counts) -> None:
        self._total = c.total
        bits = [f"{n} {s}" for s, n in c.by_status.items() if n and s not in ("accepted", "overridden")]
        self.status_counts.setText(f"reviewed {c.reviewed} / {c.total}" + (" · " + ", ".join(bits) if bits else ""))
        self.verdict.set_reviewed(c.reviewed, c.total)
        self._update_shown()

    def _show_categories(self, cats: list[str]) -> None:
        self.browser.set_categories(cats)
        self.verdict.set_categories(cats)

    def _background_failed(self, what: str, exc: BaseException) -> None:
        if not self._closing:
            self._say(f"{what[:1].upper()}{what[1:]} failed: {exc}", 15000)

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        path = self.model.path_at(current.row()) if current.isValid() else None
        if path is not None and path != self.current:
            self.show_item(path)

    def abs_path(self, rel: str) -> str:
        assert self.store is not None
        return str(self.store.file_path(rel))  # the real name, also when it is not UTF-8

    def show_item(self, rel: str) -> None:
        """Make ``rel`` the current item. Its file starts loading at once; its record is read off
        the GUI thread (drawn at once when it was read lately and has not changed since)."""
        if self.store is None:
            return
        self.current = rel
        self.verdict.stop_picking()
        self.model.set_revealed(None)  # reveal never carries over
        self._keep_panels_for = None
        self._shown_record_of = self._record_failed_of = None
        self.team.show(rel)  # the other reviewers' decisions, and a lease in team mode
        known, rec = self.records.known(rel)
        if known:
            self._show_record(rel, rec)
            self.team.took_record(rel, rec)
            return
        row = self.model.known_row(rel)
        kind = row.kind if row is not None else (kind_of(rel) or "image")
        self.viewer.show_item(self.abs_path(rel), kind, self._live_frames(rel, []))
        self._shown_debate = None
        self.debate.clear(f"Reading the record of {os.path.basename(rel)}…")
        if rel in self.batch_panel.running_paths:
            self.debate.status.setText(self._batch_busy_words())
        self.verdict.show_record(None)
        self._set_debate_actions()
        self._show_walk_status()
        self.records.read(rel)

    def _live_frames(self, rel: str, frames: list[int]) -> list[int]:
        for ev in self.debates.live_events(rel) or []:  # the live debate's frames, once it has chosen them
            frames = list(getattr(ev, "frames_sent", frames))
        return frames

    @property
    def record_pending(self) -> bool:
        """The current item's record is being read (first drawn or updated when it comes)."""
        current = self.current
        if current is None:
            return False
        if self.records.pending == current:
            return True
        return self._shown_record_of != current and self._record_failed_of != current

    @property
    def reads_pending(self) -> bool:
        """Something a key press or a change asked for is still being read off the GUI thread
        (the list, the current record, Enter's verdict, R's check, the next undecided item)."""
        return self.record_pending or self.list_pending or bool(self._accepts) or self._run_check is not None or self._next_job is not None

    def _record_arrived(self, rel: str, rec: Any) -> None:
        """A record read off the GUI thread: drawn if its item is still the current one."""
        if self.store is None or rel != self.current or self._closing:
            return  # the person moved on: an older item's record never reaches the screen
        self.team.took_record(rel, rec)
        if self._shown_record_of == rel:
            self._update_record(rel, rec)
        else:
            note = self.verdict.note.text()  # typed while the record was being read
            self._show_record(rel, rec, viewer_started=True)
            self.verdict.note.setText(note)

    def _record_failed(self, rel: str, why: str) -> None:
        if rel == self.current and self._shown_record_of != rel and not self._closing:
            self._record_failed_of = rel
            self.debate.clear(f"Could not read the record of {os.path.basename(rel)}: {why}. Move to another item and back to try again.")

    def _show_record(self, rel: str, rec: Any, viewer_started: bool = False) -> None:
        """Draw the current item from its record: viewer, debate panels (or the live debate), verdict bar."""
        self._shown_record_of = rel
        kind = rec.kind if rec else "image"
        live = self.debates.live_path
        events = self.debates.live_events(rel)
        frames = self._live_frames(rel, list(rec.debate.frames_sent) if rec and rec.debate else [])
        if viewer_started:
            self.viewer.set_frames(frames)
        else:
            self.viewer.show_item(self.abs_path(rel), kind, frames)
        if events is not None:
            # Back on the item being debated: what it said so far, then the stream as it comes.
            self.debate.start(turn_order(self.settings.rounds, self.settings.critic), f"Debating {os.path.basename(rel)}: loading the agents…")
            for ev in events:
                self.debate.apply(ev, os.path.basename(rel))
        elif live is not None:
            self._show_stored_debate(rec)
            self.debate.status.setText(self.debate.status.text() + f"  (a debate is running on {os.path.basename(live)})")
        else:
            self._show_stored_debate(rec)
        if rel in self.batch_panel.running_paths:
            self.debate.status.setText(self._batch_busy_words())
        self.verdict.show_record(rec)
        self._set_debate_actions()
        self._show_walk_status()
        self.did_show_item.emit(rel)
        self._read_ahead(rel)

    def _read_ahead(self, rel: str) -> None:
        """The record of the item after ``rel`` in the list (where N, H, Enter and the down key go)."""
        row = self.model.row_of(rel)
        following = self.model.path_at(row + 1) if row >= 0 else None
        if following is not None:
            self.records.prefetch(following)

    def _update_record(self, rel: str, rec: Any) -> None:
        """The current item changed in the store (a decision, a debate, another process): the
        verdict bar and, when the debate is another one, the panels; a note being typed stays."""
        keep_panels, self._keep_panels_for = self._keep_panels_for == rel, None
        if self.debates.live_path != rel and rel not in self.batch_panel.running_paths:
            debate = rec.debate if rec else None
            if keep_panels:  # the panels show this debate as it finished streaming
                self._shown_debate = debate
            elif debate != self._shown_debate:
                self._show_stored_debate(rec)
        note = self.verdict.note.text()
        self.verdict.show_record(rec)
        self.verdict.note.setText(note)
        self._set_debate_actions()
        if self._outside_pending:
            self._outside_pending = False
            self.did_show_outside_change.emit()
        self.did_show_item.emit(rel)

    def _item_changed(self, rel: str) -> None:
        """The store changed ``rel``: its list row and record are read again (the record only if
        it is on screen)."""
        self.model.refresh(rel)
        self.records.forget(rel)
        if rel == self.current and self._shown_record_of == rel:
            self.records.read(rel)

    def _show_stored_debate(self, rec: Any) -> None:
        debate = rec.debate if rec else None
        self._shown_debate = debate
        self.debate.show_record(debate, self._summary(rec))

    # ================================================================ another process's writes
    def _store_changed_elsewhere(self) -> None:
        """A batch in a terminal, an import or another window wrote to the store: show it, and
        keep what the person is doing (the current item, the selection, the reveal, a note)."""
        if self.store is None or self._closing:
            return
        self.model.refresh_all()
        self.records.forget_all()
        self._update_counts()
        self._refresh_categories()
        self._refresh_review()
        self.team.refresh()
        rel = self.current
        if rel is not None and self._shown_record_of == rel:
            self._outside_pending = True
            self.records.read(rel)
        self._reload_list(outside=True)
        self.team.refresh()

    @staticmethod
    def _summary(rec: Any) -> str:
        return MainWindow._debate_summary(rec.debate if rec is not None else None)

    @staticmethod
    def _debate_summary(d: Any) -> str:
        if d is None:
            return "No debate yet. Press R to run one."
        if d.status == "error":
            return f"The last debate failed: {d.error}"
        source = "imported" if d.preset_name == formats.IMPORT_PRESET else f"{d.seconds:.1f} s, {d.prompt_tokens + d.completion_tokens} tokens"
        return f"Judge: {d.judge_raw or d.decision} ({source})"

    def step(self, delta: int) -> None:
        if self.walk.mode:
            self._walk_step(delta)
            return
        n = self.model.rowCount()
        if not n:
            return
        row = self.browser.view.currentIndex().row()
        row = min(n - 1, max(0, row + delta)) if row >= 0 else 0
        self.browser.view.setCurrentIndex(self.model.index(row))

    def next_undecided(self) -> None:
        """Go to the next item in the list without a person's decision, looked for off the GUI
        thread (the list's rows are read in blocks); dropped if the person moved meanwhile."""
        store = self.store
        if store is None or not self.model.rowCount() or self._next_job is not None:
            return
        if self.team.team_mode:  # served by the store: skips what I or enough others decided, and leases it
            sort, desc = self.browser.sort_order()
            self.team.next_for_me(self.browser.filters(), sort, desc, self.current, self._next_for_me_arrived)
            return
        reader = self.reader or store
        paths = self.model.paths
        start = self.browser.view.currentIndex().row() + 1
        order = list(range(start, len(paths))) + list(range(0, start))
        current = self.current
        waiting = {d.path for d in self.unsaved.pending}  # decided, not in the store yet

        def look() -> str | None:
            for i in range(0, len(order), 500):
                chunk = [paths[j] for j in order[i : i + 500]]
                rows = reader.rows(chunk)
                for p in chunk:
                    r = rows.get(p)
                    if r is not None and r.human_label is None and p != current and p not in waiting:
                        return p
            return None

        def found(path: str | None) -> None:
            self._next_job = None
            if store is not self.store or self.current != current:
                return
            row = self.model.row_of(path) if path is not None else -1
            if row < 0:
                self._say("Every item shown has a human decision.")
                return
            self.browser.view.setCurrentIndex(self.model.index(row))

        def failed(exc: BaseException) -> None:
            self._next_job = None
            self.bg.fail("looking for the next undecided item", exc)

        self._next_job = self.bg.run(look, what="looking for the next undecided item", done=found, failed=failed)

    def _next_for_me_arrived(self, path: str | None) -> None:
        if path is None:
            self._say("Nothing is left for you: every item shown is decided by you or by enough reviewers.")
        else:
            self.open_item(path)

    def focus_search(self) -> None:
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
        return self.debates.running

    @property
    def _debate_task(self) -> asyncio.Task[None] | None:
        return self.debates.task

    @property
    def _warm(self) -> Job[None] | None:
        return self.debates._warm

    @_warm.setter
    def _warm(self, value: Job[None] | None) -> None:
        self.debates._warm = value

    def warm_up(self) -> None:
        """Start importing the agent libraries in the background (the window is already up)."""
        self.debates.warm_up()

    def warm_up_when_idle(self) -> None:
        """:meth:`warm_up` once the window is idle: no folder being opened or listed, and the
        list neither scrolled nor moved for WARM_UP_QUIET_MS (at the latest after
        WARM_UP_LATEST_MS). Importing the agent libraries runs Python for a second or two, and
        beside a big folder being listed, or a person scrolling, it slowed every repaint of the
        list for as long. A debate asked for before then starts it at once."""
        started = time.monotonic()

        def look() -> None:
            if self._closing or self.debates.warming:
                return
            busy = self.opening or (self._scan_task is not None and not self._scan_task.done())
            quiet = (time.monotonic() - self._last_moved) * 1000 >= WARM_UP_QUIET_MS
            if (not busy and quiet) or (time.monotonic() - started) * 1000 >= WARM_UP_LATEST_MS:
                self.warm_up()
            else:
                QTimer.singleShot(WARM_UP_QUIET_MS // 4, look)

        look()

    def _moved(self, *_: Any) -> None:
        self._last_moved = time.monotonic()

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
        if self._run_check is not None:
            return  # R pressed again while the first press is being checked
        store, reader = self.store, self.reader or self.store

        def check() -> tuple[Any, Any]:  # off the GUI thread: who holds the item, and its verdict
            return reader.claim_holder(rel), reader.row(rel)

        def checked(result: tuple[Any, Any]) -> None:
            self._run_check = None
            if store is self.store and rel == self.current and not self.debate_running:
                self._start_debate(rel, rerun, *result)

        def failed(exc: BaseException) -> None:
            self._run_check = None
            self.bg.fail("checking the item before its debate", exc)

        self._run_check = self.bg.run(check, what="checking the item before its debate", done=checked, failed=failed)

    def _start_debate(self, rel: str, rerun: bool, holder: Any, row: Any) -> None:
        assert self.store is not None
        if holder is not None:  # a batch in another process (a terminal) has it
            words = f"Another batch is debating this item right now ({holder.owner}); Run is not started, so the item is not paid for twice."
            self._say(words)
            self.debate.status.setText(words)
            return
        if not rerun and row is not None and row.model_label is not None:
            self._say("This item has a debate already; Shift+R runs it again.")
            return
        self._debate_from_cache = self._debate_turns = 0
        self.debate.start(turn_order(self.settings.rounds, self.settings.critic), f"Debating {os.path.basename(rel)}: loading the agents…")
        self.debates.start(self.store, rel, self.abs_path(rel), use_cache=not rerun)
        self._set_debate_actions()

    # DebateSink: what the debate controller tells the window
    def debate_event(self, rel: str, event: Any) -> None:
        from vhd_gui.engine import DebateStarted, TurnFinished

        if isinstance(event, TurnFinished):
            self._debate_turns += 1
            self._debate_from_cache += event.from_cache
            self.session_tokens["prompt"] += event.prompt_tokens
            self.session_tokens["completion"] += event.completion_tokens
            self.session_tokens["cached"] += event.cached_tokens
            self._update_tokens()
        if self.current != rel:
            return
        self.debate.apply(event, os.path.basename(rel))
        if isinstance(event, DebateStarted):
            self.viewer.set_frames(list(event.frames_sent))

    def debate_recorded(self, rel: str, event: Any) -> None:
        from vhd_gui.engine import DebateFailed

        if self.current == rel:
            if isinstance(event, DebateFailed):
                self.debate.failed(event.turn, event.message)
            else:
                cached = ""
                from_cache, turns = self._debate_from_cache, self._debate_turns
                if from_cache:
                    cached = (" · answered from the response cache, no request sent" if from_cache == turns
                              else f" · {from_cache} of {turns} turns from the response cache")
                self.debate.finished(self._debate_summary(event.record) + cached)
            self._keep_panels_for = rel  # the stored record (read next) updates the verdict bar only
        self._item_changed(rel)
        self._refresh_categories()
        self._update_counts()
        self.did_record_debate.emit(rel)

    def debate_ended(self, rel: str, how: str, message: str) -> None:
        if self._closing:
            return
        if self.current == rel:
            if how == ENDED_CANCELLED:
                self.debate.cancelled()
            elif how == ENDED_ERROR:
                self.debate.failed(None, message)
        self._set_debate_actions()

    def cancel(self) -> None:
        if self.verdict.is_picking or self.focusWidget() in (self.verdict.note, self.verdict.category.lineEdit(), self.browser.search):
            self.verdict.stop_picking()
            self.browser.view.setFocus()
            return
        if self.debates.cancel():
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
        rel, note = self.current, self.verdict.note.text().strip()
        known, rec = self.records.known(rel)
        if known:
            d = rec.debate if rec else None
            verdict = (d.decision, d.harmful_type) if d is not None and d.status != "error" and d.decision else None
            self._accept(rel, note, verdict)
            return
        row = self.model.known_row(rel)
        if row is not None:
            self._accept(rel, note, (row.model_label, row.model_category) if row.model_label else None)
            return
        if rel in self._accepts:
            return
        # Neither the record nor the list's row is here yet: read the verdict off the GUI thread
        # and decide on this item when it comes, wherever the person is by then.
        reader = self.reader or self.store

        def arrived(row: Any) -> None:
            self._accepts.pop(rel, None)
            self._accept(rel, note, (row.model_label, row.model_category) if row is not None and row.model_label else None)

        def failed(exc: BaseException) -> None:
            self._accepts.pop(rel, None)
            self.bg.fail(f"reading the verdict of {os.path.basename(rel)}", exc)

        self._accepts[rel] = self.bg.run(reader.row, rel, lane=RECORDS_LANE, what=f"reading the verdict of {rel}", done=arrived, failed=failed)

    def _accept(self, rel: str, note: str, verdict: tuple[str, str] | None) -> None:
        if verdict is None:
            self._say("Nothing to accept yet: run the debate (R) or decide with H / N.")
            return
        label, category = verdict
        self.decide(label, category if label == "yes" else "", rel=rel, note=note)

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

    @property
    def categories(self) -> list[str]:
        """The user's harmful categories (Settings → View); the first ten are on the digit keys."""
        return list(self.ui_prefs["categories"])

    def decide_category(self, i: int) -> None:
        cats = self.categories
        if i >= len(cats):
            self._say(f"No category is on the key {(i + 1) % 10}: Settings → View lists {len(cats)}.")
            return
        self.decide("yes", cats[i])

    def _apply_categories(self) -> None:
        """The category list drives the picker and the digit keys' labels (menu, tooltips)."""
        self.verdict.set_keyed(self.categories)
        for action_id, label in category_labels(self.categories).items():
            action = self.actions_by_id[action_id]
            action.setText(label)
            action.setToolTip(label)

    def decide(self, label: str, category: str, rel: str | None = None, note: str | None = None) -> None:
        """A person's decision on ``rel`` (default: the current item, with the note typed)."""
        if self.store is None or self.current is None:
            return
        if rel is None:
            rel = self.current
        if note is None:
            note = self.verdict.note.text().strip()
        if rel == self.current:
            self.verdict.note.clear()  # it went with the decision
        decision = PendingDecision(rel, label, category, note, self.team.reviewer)
        if not self.unsaved.submit(decision):
            # Kept in this window and written as soon as the store takes it (the banner says so).
            self._say(f"Not saved yet: {self.unsaved.reason}. The decision is kept and saved when the store takes it.", 12000)
        self._decided.append(rel)
        self.verdict.stop_picking()
        self.browser.view.setFocus()
        if self.ui_prefs["auto_advance"] and self.current == rel:
            self.step(1)

    def _write_decision(self, d: PendingDecision) -> None:
        """The one store write of a person's decision; raises when the store cannot take it."""
        if self.store is None:
            raise StoreError("no store is open")
        self.store.record_decision(d.path, d.label, d.category, note=d.note, reviewer=d.reviewer, source="window")

    def _decision_saved(self, d: PendingDecision) -> None:
        if self.store is not None:
            self._after_decision(d.path)

    def undo(self) -> None:
        if self.store is None:
            return
        if self._accepts:  # the newest Enter, its verdict still being read: it simply goes
            withdrawn, job = self._accepts.popitem()
            job.cancel()
            self._say(f"Undone: {os.path.basename(withdrawn)} (it had not been saved yet)")
            return
        waiting = self.unsaved.take_last()
        if waiting is not None:  # the newest decision never reached the store: it simply goes
            if self._decided and self._decided[-1] == waiting.path:
                self._decided.pop()
            self.model.refresh(waiting.path)
            self._say(f"Undone: {os.path.basename(waiting.path)} (it had not been saved yet)")
            return
        rel = self._decided.pop() if self._decided else self.current
        if rel is None:
            return
        try:
            undone = self.store.undo_decision(rel, reviewer=self.team.reviewer, source="window")
        except STORE_ERRORS as exc:
            self._warn("The undo was not saved", f"The store cannot take it now: {exc}")
            return
        if undone is None:
            self._say("Nothing to undo on this item.")
            return
        row = self.model.row_of(rel)
        if row >= 0 and rel != self.current:
            self.browser.view.setCurrentIndex(self.model.index(row))
        self._after_decision(rel)
        self._say(f"Undone: {os.path.basename(rel)}")

    def _confirm_unsaved(self, doing: str) -> bool:
        """Before the store closes: write what waits, and ask if it still cannot be written."""
        if not self.unsaved.pending or self.unsaved.flush():
            return True
        n = len(self.unsaved.pending)
        answer = QMessageBox.question(
            self,
            "Decisions not saved",
            f"{n} decision{'s are' if n != 1 else ' is'} not saved: the store cannot take {'them' if n != 1 else 'it'} "
            f"({self.unsaved.reason}). {doing} loses {'them' if n != 1 else 'it'}.",
            QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Discard:
            return False
        log.warning("%d unsaved decision(s) dropped: %s", self.unsaved.drop_all(), doing)
        return True

    def _after_decision(self, rel: str) -> None:
        assert self.store is not None
        self._item_changed(rel)
        self._refresh_categories()
        self._update_counts()
        self.team.refresh()
        self.autosave.mark_dirty()
        self.did_decide.emit(rel)

    # ================================================================ the annotation file
    def annotation_path(self) -> Path:
        assert self.store is not None
        custom = str(self.ui_prefs.get("export_path") or "")
        if custom:
            return Path(custom)
        name = ANNOTATION_FILE[str(self.ui_prefs["export_format"])]
        return self.store.path.parent / name

    def _autosave_target(self) -> tuple[Store, str, Path] | None:
        if self.store is None:
            return None
        # Written from the reader connection: a long export never holds up a decision's write.
        return self.reader or self.store, str(self.ui_prefs["export_format"]), self.annotation_path()

    def flush_annotations(self) -> None:
        """Write the annotation file now if a decision is not in it yet (on close)."""
        try:
            self.autosave.flush()
        except Exception as exc:  # noqa: BLE001 - any failure is told, the store keeps every decision
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
            report = await self.bg.submit(formats.import_file, store, path, what=f"importing {path}")
        except (formats.FormatError, StoreError, OSError, ValueError) as exc:
            self._warn("Import failed", f"{os.path.basename(path)}: {exc}")
            return None
        if store is not self.store:
            return report
        self._refresh_categories()
        self._reload_list()
        self.model.refresh_all()
        self.records.forget_all()
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
            files = await self.bg.submit(formats.export_store, store, fmt, path, what=f"exporting to {path}")
        except (formats.FormatError, OSError, ValueError) as exc:
            self._warn("Export failed", str(exc))
            return []
        self._say("Exported " + ", ".join(f"{f.rows} rows to {f.path}" for f in files), 10000)
        return files

    # ================================================================ dialogs
    def show_help(self) -> None:
        from vhd_gui.ui._help_dialog import HelpDialog

        dlg = HelpDialog(self.keys, self, action_labels(self.categories))
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.show()
        self.help_dialog = dlg

    def open_settings(self) -> None:
        try:
            from vhd_gui.ui._settings_dialog import SettingsDialog
        except ImportError as exc:
            self._warn("Settings", f"The settings dialog is not available: {exc}")
            return
        labels = action_labels(self.categories)
        shortcuts = {spec.id: (labels[spec.id], self.keys.get(spec.id, spec.default_key)) for spec in ACTIONS}
        prefs = {k: self.ui_prefs[k] for k in ("safe_view_grayscale", "auto_advance", "export_path", "export_format", "categories")}
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
        self.debates.use_settings(settings)
        if self.team.set_reviewer(settings.resolved_reviewer()):
            self.model.viewer = self.figures.viewer = self.verdict.me = self.team.reviewer
            if self._review is not None:
                self._review.viewer = self.team.reviewer
            if self.store is not None:
                self.records.use(self.reader or self.store, self.team.reviewer)  # records as the new name may see them
                if self.current is not None:
                    self.records.read(self.current)
            self.model.refresh_all()
            self._update_counts()
            self._reload_list()
        self.keys.update({k: v for k, v in keys.items() if k in ACTION_BY_ID})
        save_shortcuts(self.qsettings, self.keys)
        apply_keys(self.actions_by_id, self.keys)
        self.ui_prefs.update({k: v for k, v in prefs.items() if k in DEFAULT_UI_PREFS})
        self.ui_prefs["categories"] = clean_categories(self.ui_prefs["categories"])
        self._apply_categories()
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
        # Read on the reader connection (a decision's write never waits behind it), but still on
        # the GUI thread: Start waits for it (≈0.1 s for 100,000 items) once per batch.
        source = self.reader or self.store
        if scope == SCOPE_FILTERED:
            sort, desc = self.browser.sort_order()
            return source.paths(self.store_filters(), sort, desc)
        return source.paths()

    def batch_skip(self, path: str) -> bool:
        """The batch never debates the item open here, nor the one the window is debating."""
        return path == self.current or path == self.debates.live_path

    async def batch_ready(self) -> None:
        await self.debates.ready()

    def _batch_busy_words(self) -> str:
        return "The batch is debating this item right now; its verdict shows here when it is recorded."

    def _batch_started_item(self, rel: str) -> None:
        if rel == self.current and self.batch_panel.store is self.store and self.debates.live_path != rel:
            self.debate.status.setText(self._batch_busy_words())

    def _batch_finished_item(self, rel: str) -> None:
        store = self.store
        if store is None or self.batch_panel.store is not store or self._closing:
            return
        self._item_changed(rel)
        self._update_counts()
        self._refresh_categories()
        self.did_record_debate.emit(rel)

    def _batch_spent(self, prompt: int, completion: int, cached: int) -> None:
        """The batch's tokens count towards this session's too (what was paid, saved or not)."""
        self.session_tokens["prompt"] += prompt
        self.session_tokens["completion"] += completion
        self.session_tokens["cached"] += cached
        self._update_tokens()

    def _batch_stopped(self, reason: str) -> None:
        if self._closing or self.store is None or self.batch_panel.store is not self.store:
            return
        self._update_counts()
        p = self.batch_panel.progress
        if p is not None:
            self._say(f"Batch {reason}: {p.done} done, {p.failed} failed, {p.skipped} skipped.", 10000)
        if self.current is not None and self.debates.live_path is None:
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
    @property
    def review(self) -> ReviewPanel | None:
        """The open store's Review panel (None without a store).

        It is built the first time it is needed (its tab shown, the queue walked): building its
        tables and laying them out took 20-40 ms of the GUI thread, which opening a store paid
        while the folder's first rows were arriving, for a panel most people open later if at all.
        """
        if self._review is None and self.store is not None and not self._closing:
            from vhd_gui.ui._review_panel import ReviewPanel

            panel = ReviewPanel(self.reader or self.store, background=self.bg)
            panel.viewer = self.team.reviewer
            panel.item_activated.connect(self.open_item)
            panel.audit_sample_drawn.connect(self._audit_drawn)
            panel.did_refresh.connect(self._review_refreshed)
            for view in (panel.queue_view, panel.sample_view):
                view.installEventFilter(self._enter_opens)
            self.review_holder.addWidget(panel)
            self.review_holder.setCurrentWidget(panel)
            self._review = panel
        return self._review

    def _drop_review_panel(self) -> None:
        panel, self._review = self._review, None
        if panel is None:
            return
        # Its worker reads the store: dropped and let finish before the store closes. Dropped,
        # not only waited for: figures already on their way back would reach a deleted panel.
        panel.stop()
        self.set_walk_mode("")
        self.walk.reset()
        self.review_holder.setCurrentWidget(self.review_placeholder)
        self.review_holder.removeWidget(panel)
        panel.deleteLater()

    def _refresh_review(self, _rel: str = "") -> None:
        """Recompute the Review panel's figures now if anyone looks at them (the panel is shown
        or next/previous walk its queue), else when it is next shown."""
        if self.store is None or self._closing:
            return
        if self.side_tabs.currentIndex() == TAB_REVIEW or self.walk.mode == WALK_QUEUE:
            panel = self.review
            assert panel is not None
            self._review_stale = False
            panel.refresh()
        else:
            self._review_stale = True

    def _side_tab_changed(self, index: int) -> None:
        if index == TAB_REVIEW and self._review_stale:
            self._refresh_review()
        elif index == TAB_BATCH:
            self.batch_panel.refresh_cache_info()

    def _review_refreshed(self) -> None:
        if self._review is None or self.walk.mode != WALK_QUEUE:
            return
        self.walk.queue_arrived(self._review.queue_paths(), self.current)
        if self.walk.jump:
            self.walk.jump = False
            if self.walk.paths:
                self.open_item(self.walk.paths[0])
            else:
                self._say("The review queue is empty: every debated item has a human decision.")
        self._show_walk_status()

    def _audit_drawn(self, paths: list[str]) -> None:
        self.walk.audit_drawn(paths)
        if self.walk.mode == WALK_AUDIT and paths:
            self.open_item(paths[0])
        self._show_walk_status()

    def set_walk_mode(self, mode: str) -> None:
        """Make next/previous follow the review queue or the audit sample ("" for the list);
        choosing the mode already on turns it off."""
        mode, message = self.walk.choose(mode, have_review=self.store is not None)
        if message:
            self._say(message)
        self.actions_by_id["walk_queue"].setChecked(mode == WALK_QUEUE)
        self.actions_by_id["walk_audit"].setChecked(mode == WALK_AUDIT)
        if mode == WALK_QUEUE:
            panel = self.review
            assert panel is not None
            panel.refresh()  # the walk starts when the fresh queue arrives
            self._review_stale = False
        elif mode == WALK_AUDIT:
            self.open_item(self.walk.paths[0])
        self._show_walk_status()

    @property
    def walk_mode(self) -> str:
        return self.walk.mode

    def _walk_step(self, delta: int) -> None:
        target, message = self.walk.step(self.current, delta)
        if target is None:
            self._say(message)
        else:
            self.open_item(target)

    def _show_walk_status(self) -> None:
        text = self.walk.status(self.current)
        self.status_walk.setText(text)
        self.status_walk.setVisible(bool(text))

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
        if not self._confirm_stop_batch("Closing the window") or not self._confirm_unsaved("Closing the window"):
            event.ignore()
            return
        self._closing = True
        self.unsaved.stop()
        save_layout(self.qsettings, self, self.main, self.right)
        self._save_prefs()
        self.debates.cancel()
        self.batch_panel.cancel()
        self._close_store()
        self.viewer.stop()
        self.thumbs.stop()
        self.autosave.shutdown()
        self.bg.shutdown()
        asyncio.ensure_future(self._release())
        event.accept()
        self.did_close.emit()

    async def _release(self) -> None:
        """After closing: let the batch wind down, then close the HTTP clients and the cache."""
        task = self.batch_panel.task
        if task is not None and not task.done():
            await asyncio.wait([task], timeout=10)
        await self.debates.close()
        if self._owns_cache and self.cache is not None:
            self.cache.close()

    # for tests and the benchmark
    def role_text(self, role: Role | str) -> str:
        return self.debate.panel(role).plain_text()

    def store_filters(self) -> Filters:
        return self.browser.filters()

