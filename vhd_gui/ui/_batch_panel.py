"""The batch panel: run the debate on many items while the person keeps labelling.

The panel only drives :class:`vhd_gui.batch.BatchRun` (no Qt there) on the window's qasync
loop and shows its progress. Which items, which store and which item to leave alone come
from the window through :class:`BatchHost`; the window reacts to the panel's signals (badges,
counts, the Review panel). The response cache the window's Run uses is shown and cleared here.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from vhd_gui.batch import BatchRun, Progress
    from vhd_gui.cache import ResponseCache
    from vhd_gui.config import Settings
    from vhd_gui.store import Store

log = logging.getLogger(__name__)

SCOPE_ALL = "all"
SCOPE_FILTERED = "filtered"
SCOPE_SELECTED = "selected"
SCOPES: tuple[tuple[str, str], ...] = (
    (SCOPE_ALL, "all items"),
    (SCOPE_FILTERED, "the items the list shows (current filter)"),
    (SCOPE_SELECTED, "the selected items"),
)
BUDGET_NONE, BUDGET_TOKENS, BUDGET_USD = "none", "tokens", "usd"
TICK_MS = 500  # how often rate, ETA and the cache size are redrawn while a batch runs
_PREFS = "batch"

STOP_WORDS = {
    "done": "Finished",
    "budget": "Stopped: the budget is spent",
    "cancelled": "Cancelled",
    "config": "Stopped: the endpoint settings are wrong (see the failure below)",
    "error": "Stopped by an error",
    "server": "Stopped: the server stopped answering",
}


class BatchHost(Protocol):
    """What the panel needs from the window."""

    def batch_context(self) -> tuple[Store, Settings] | None: ...  # None: no folder is open

    def batch_paths(self, scope: str) -> list[str]: ...

    def batch_skip(self, path: str) -> bool: ...  # True: leave this item to the person

    async def batch_ready(self) -> None: ...  # the agent libraries are imported


def duration_words(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {s:02d} s"
    hours, m = divmod(minutes, 60)
    return f"{hours} h {m:02d} min"


def size_words(n: int) -> str:
    if n < 1024:
        return f"{n:,} bytes"
    value = float(n)
    for unit in ("KB", "MB", "GB"):
        value /= 1024
        if value < 1024 or unit == "GB":
            break
    return f"{value:.1f} {unit}"


class BatchStatus(QWidget):
    """The batch's progress in the status bar, so it stays in sight on the other tabs."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(120)
        self.bar.setMaximumHeight(14)
        self.bar.setTextVisible(False)
        self.label = QLabel()
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel("batch"))
        lay.addWidget(self.bar)
        lay.addWidget(self.label)
        sep = QLabel("|")
        sep.setStyleSheet("color: palette(mid);")
        lay.addWidget(sep)
        self.hide()


class BatchPanel(QWidget):
    did_start = Signal(int)  # items the run will consider
    did_start_item = Signal(str)  # a relative path the batch began debating
    did_finish_item = Signal(str)  # its debate (verdict or failure) is in the store
    did_spend = Signal(int, int, int)  # prompt, completion, cached tokens one debate cost (recorded or not)
    did_stop = Signal(str)  # the reason: done, budget, cancelled, config, error
    item_activated = Signal(str)  # a failure the user double-clicked
    did_clear_cache = Signal()

    def __init__(
        self, host: BatchHost, cache: ResponseCache | None, qsettings: QSettings | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.host = host
        self.cache = cache
        self.qsettings = qsettings or QSettings()
        self.run: BatchRun | None = None
        self.store: Store | None = None  # the store the current (or last) run writes to
        self.task: asyncio.Task[None] | None = None
        self.running_paths: set[str] = set()
        self.left_to_person: list[str] = []  # items skipped because the window had them
        self.stop_reason = ""
        self._active = False  # from start() until the run has stopped
        self._cancelling = False
        self._clearing: asyncio.Future[None] | None = None
        self.status_widget = BatchStatus()

        self.scope = QComboBox()
        for key, text in SCOPES:
            self.scope.addItem(text, key)
        self.concurrency = QSpinBox()
        self.concurrency.setRange(1, 64)
        self.concurrency.setValue(4)
        self.concurrency.setToolTip("How many debates run at the same time")
        self.rpm = QSpinBox()
        self.rpm.setRange(0, 100_000)
        self.rpm.setSpecialValueText("no limit")
        self.rpm.setToolTip("At most this many requests per minute, over all debates (0: no limit)")
        self.budget_kind = QComboBox()
        self.budget_kind.addItem("no budget", BUDGET_NONE)
        self.budget_kind.addItem("tokens", BUDGET_TOKENS)
        self.budget_kind.addItem("US$ (estimated)", BUDGET_USD)
        self.budget_kind.setToolTip(
            "A ceiling: a new item starts only if what is spent, plus what the running items are expected to cost, leaves room for it"
        )
        self.budget = QDoubleSpinBox()
        self.budget_kind.currentIndexChanged.connect(self._budget_kind_changed)
        self.redo = QCheckBox("redo items already debated")
        self.redo.setToolTip("Debate again items that have a debate; a person's decision is kept either way")
        self.use_cache = QCheckBox("use the response cache")
        self.use_cache.setChecked(True)
        self.use_cache.setToolTip("A turn asked before with the very same request is answered without a request")

        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("batchStart")
        self.start_button.clicked.connect(lambda _c=False: self.start())
        self.pause_button = QPushButton("Pause")
        self.pause_button.setObjectName("batchPause")
        self.pause_button.setToolTip("Start no new item; the running ones finish")
        self.pause_button.clicked.connect(lambda _c=False: self.toggle_pause())
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("batchCancel")
        self.cancel_button.setToolTip("Stop now; the debates in flight are dropped and the next run does them again")
        self.cancel_button.clicked.connect(lambda _c=False: self.cancel())

        self.progress_bar = QProgressBar()
        self.progress_bar.setFormat("%v / %m")
        self.progress_bar.setValue(0)
        self.counts = QLabel("No batch has run yet.")
        self.counts.setObjectName("batchCounts")
        self.counts.setWordWrap(True)
        self.figures = QLabel("")
        self.figures.setObjectName("batchFigures")
        self.failures = QListWidget()
        self.failures.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.failures.setToolTip("Double-click to open the item")
        self.failures.setWordWrap(True)  # reasons are long: wrap them instead of scrolling sideways
        self.failures.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.failures.itemActivated.connect(self._failure_activated)
        self.failures.itemDoubleClicked.connect(self._failure_activated)
        self.failures_title = QLabel("Failures")
        self.cache_label = QLabel("")
        self.cache_label.setObjectName("cacheInfo")
        self.clear_cache_button = QPushButton("Clear cache")
        self.clear_cache_button.setToolTip("Forget every cached answer (the next debates send their requests again)")
        self.clear_cache_button.clicked.connect(lambda _c=False: self.clear_cache())

        options = QGridLayout()
        options.addWidget(QLabel("Run on"), 0, 0)
        options.addWidget(self.scope, 0, 1, 1, 3)
        options.addWidget(QLabel("Concurrency"), 1, 0)
        options.addWidget(self.concurrency, 1, 1)
        options.addWidget(QLabel("Requests/min"), 1, 2)
        options.addWidget(self.rpm, 1, 3)
        options.addWidget(QLabel("Budget"), 2, 0)
        options.addWidget(self.budget_kind, 2, 1)
        options.addWidget(self.budget, 2, 2, 1, 2)
        options.addWidget(self.redo, 3, 0, 1, 2)
        options.addWidget(self.use_cache, 3, 2, 1, 2)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.pause_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        left = QVBoxLayout()
        left.addLayout(options)
        left.addLayout(buttons)
        left.addStretch(1)
        cache_row = QHBoxLayout()
        cache_row.addWidget(self.cache_label, 1)
        cache_row.addWidget(self.clear_cache_button)
        left.addLayout(cache_row)

        right = QVBoxLayout()
        right.addWidget(self.progress_bar)
        right.addWidget(self.counts)
        right.addWidget(self.figures)
        right.addWidget(self.failures_title)
        right.addWidget(self.failures, 1)
        lay = QHBoxLayout(self)
        lay.addLayout(left, 2)
        lay.addLayout(right, 3)

        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)
        self._load_prefs()
        self._budget_kind_changed()
        self._set_buttons()
        self.refresh_cache_info()

    # ----------------------------------------------------------------- options
    def _budget_kind_changed(self) -> None:
        kind = self.budget_kind.currentData()
        self.budget.setVisible(kind != BUDGET_NONE)
        if kind == BUDGET_TOKENS:
            self.budget.setDecimals(0)
            self.budget.setRange(1, 1e12)
            self.budget.setSingleStep(10_000)
            self.budget.setPrefix("")
        else:
            self.budget.setDecimals(2)
            self.budget.setRange(0.01, 1e6)
            self.budget.setSingleStep(1.0)
            self.budget.setPrefix("$ " if kind == BUDGET_USD else "")

    def _load_prefs(self) -> None:
        s = self.qsettings
        s.beginGroup(_PREFS)
        try:
            self.concurrency.setValue(int(str(s.value("concurrency", 4))))
            self.rpm.setValue(int(str(s.value("rpm", 0))))
            i = self.budget_kind.findData(str(s.value("budget_kind", BUDGET_NONE)))
            self.budget_kind.setCurrentIndex(max(0, i))
            self._budget_kind_changed()
            self.budget.setValue(float(str(s.value("budget", 0) or 0)))
            self.use_cache.setChecked(str(s.value("use_cache", True)).lower() in ("1", "true"))
        except (TypeError, ValueError):
            pass  # a hand-edited settings file: keep the defaults
        finally:
            s.endGroup()

    def _save_prefs(self) -> None:
        s = self.qsettings
        s.beginGroup(_PREFS)
        try:
            s.setValue("concurrency", self.concurrency.value())
            s.setValue("rpm", self.rpm.value())
            s.setValue("budget_kind", self.budget_kind.currentData())
            s.setValue("budget", self.budget.value())
            s.setValue("use_cache", self.use_cache.isChecked())
        finally:
            s.endGroup()

    def set_scope(self, scope: str) -> None:
        self.scope.setCurrentIndex(max(0, self.scope.findData(scope)))

    # ----------------------------------------------------------------- state
    @property
    def is_running(self) -> bool:
        return self._active

    @property
    def progress(self) -> Progress | None:
        return self.run.progress if self.run is not None else None

    def _set_buttons(self) -> None:
        running = self.is_running
        paused = bool(running and self.run is not None and self.run.progress.paused)
        self.start_button.setEnabled(not running)
        self.pause_button.setEnabled(running and not self._cancelling)
        self.pause_button.setText("Resume" if paused else "Pause")
        self.cancel_button.setEnabled(running and not self._cancelling)
        for w in (self.scope, self.concurrency, self.rpm, self.budget_kind, self.budget, self.redo, self.use_cache):
            w.setEnabled(not running)
        self.clear_cache_button.setEnabled(self.cache is not None and not running and self._clearing is None)

    # ----------------------------------------------------------------- control
    def start(self, scope: str | None = None) -> bool:
        """Start a batch on ``scope`` (default: the one chosen in the panel). False if it cannot."""
        if self.is_running:
            return False
        if scope is not None:
            self.set_scope(scope)
        context = self.host.batch_context()
        if context is None:
            self.counts.setText("Open a folder first.")
            return False
        store, settings = context
        scope = str(self.scope.currentData())
        paths = self.host.batch_paths(scope)
        if not paths:
            self.counts.setText("No item to run: select some in the list first." if scope == SCOPE_SELECTED else "No item to run.")
            return False
        from vhd_gui.batch import ON_DEAD_SERVER_PAUSE, BatchRun, default_owner

        kind = self.budget_kind.currentData()
        self.left_to_person = []

        def skip(path: str) -> bool:
            if self.host.batch_skip(path):
                self.left_to_person.append(path)
                return True
            return False

        self.run = BatchRun(
            store,
            settings,
            paths,
            concurrency=self.concurrency.value(),
            rpm=self.rpm.value() or None,
            budget_tokens=int(self.budget.value()) if kind == BUDGET_TOKENS else None,
            budget_usd=float(self.budget.value()) if kind == BUDGET_USD else None,
            redo=self.redo.isChecked(),
            use_cache=self.use_cache.isChecked() and self.cache is not None,
            cache=self.cache,
            skip=skip,
            owner=default_owner("the batch of a window"),
            on_dead_server=ON_DEAD_SERVER_PAUSE,  # the person resumes when the server is back
        )
        self._save_prefs()
        self.store = store
        self.stop_reason = ""
        self._cancelling = False
        self.running_paths.clear()
        self.failures.clear()
        self.failures_title.setText("Failures")
        p = self.run.progress
        self.progress_bar.setRange(0, max(1, p.total))
        self.progress_bar.setValue(0)
        self._active = True
        self.task = asyncio.ensure_future(self._drive(self.run))
        self._timer.start()
        self._show_progress(p)
        self.status_widget.show()
        self._set_buttons()
        self.did_start.emit(p.total)
        return True

    def pause(self) -> None:
        if self.run is not None and self.is_running:
            self.run.pause()
            self._show_progress(self.run.progress)
            self._set_buttons()

    def resume(self) -> None:
        if self.run is not None and self.is_running:
            self.run.resume()
            self._show_progress(self.run.progress)
            self._set_buttons()

    def toggle_pause(self) -> None:
        if self.run is not None and self.run.progress.paused:
            self.resume()
        else:
            self.pause()

    def cancel(self) -> None:
        """Stop at once: running debates are dropped unrecorded (the next run does them)."""
        if self.run is not None and self.is_running:
            self._cancelling = True
            self.run.cancel()
            self.counts.setText(self.counts.text() + " · cancelling…")
            self._set_buttons()

    async def wait(self) -> None:
        """Until the run has stopped (and its HTTP clients are closed)."""
        if self.task is not None:
            await asyncio.wait([self.task])

    # ----------------------------------------------------------------- the run
    def _spent_since(self, progress: Progress, before: tuple[int, int, int]) -> tuple[int, int, int]:
        """Tell the window what the run paid since ``before`` (the run's own totals, so a debate
        whose verdict the store refused, or that failed after it was paid, still counts)."""
        now = (progress.prompt_tokens, progress.completion_tokens, progress.cached_tokens)
        delta = tuple(a - b for a, b in zip(now, before, strict=True))
        if any(delta):
            self.did_spend.emit(*delta)
        return now

    async def _drive(self, run: BatchRun) -> None:
        from vhd_gui.batch import BatchStopped, ItemFinished, ItemStarted

        reason = "error"
        spent = (0, 0, 0)
        try:
            await self.host.batch_ready()
            async for ev in run.run():
                if isinstance(ev, ItemStarted):
                    self.running_paths.add(ev.path)
                    self.did_start_item.emit(ev.path)
                elif isinstance(ev, ItemFinished):
                    self.running_paths.discard(ev.path)
                    failures = ev.progress.failures
                    if failures and failures[-1].path == ev.path:
                        self._add_failure(ev.path, failures[-1].kind, failures[-1].message)
                    self._show_progress(ev.progress)
                    self._set_buttons()  # the run may have paused itself (the server stopped answering)
                    spent = self._spent_since(ev.progress, spent)  # paid for, whether or not the store took it
                    self.did_finish_item.emit(ev.path)
                elif isinstance(ev, BatchStopped):
                    reason = ev.reason
                    self.running_paths.clear()
                    self._show_progress(ev.progress)
                    spent = self._spent_since(ev.progress, spent)
        except asyncio.CancelledError:
            reason = "cancelled"
            run.cancel()
        except Exception as exc:  # noqa: BLE001 - a bug must not take the window down
            log.exception("the batch crashed")
            self._add_failure("", "internal", f"{type(exc).__name__}: {exc}")
        finally:
            self._active = False
            self.running_paths.clear()
            self.stop_reason = reason
            self._cancelling = False
            self._timer.stop()
            self._finished(reason)

    def _finished(self, reason: str) -> None:
        p = self.progress
        words = STOP_WORDS.get(reason, "Stopped by an internal error")
        if p is not None and p.stop_message and reason == "error":
            words += f" ({p.stop_message}). Every debate that finished before it is saved"
        if p is not None:
            self._show_progress(p)
            self.counts.setText(f"{words}. " + self._count_words(p))
            if p.overrun():
                self.counts.setText(self.counts.text() + f" The run {p.overrun()}.")
            if reason == "cancelled":
                self.counts.setText(self.counts.text() + " The debates that were running were not recorded; the next run does them.")
        self.status_widget.hide()
        self.refresh_cache_info()
        self._set_buttons()
        self.did_stop.emit(reason)

    def _add_failure(self, path: str, kind: str, message: str) -> None:
        name = os.path.basename(path) if path else "batch"
        item = QListWidgetItem(f"{name} — {kind}: {message}")
        item.setData(Qt.ItemDataRole.UserRole, path)
        item.setToolTip(f"{path}\n{kind}: {message}")
        self.failures.addItem(item)
        self.failures_title.setText(f"Failures ({self.failures.count()})")

    def _failure_activated(self, item: QListWidgetItem) -> None:
        path = item.data(Qt.ItemDataRole.UserRole)
        if path:
            self.item_activated.emit(str(path))

    # ----------------------------------------------------------------- showing
    def _count_words(self, p: Progress) -> str:
        bits = [f"{p.done} of {p.total} done", f"{p.failed} failed", f"{p.skipped} skipped"]
        if p.running:
            bits.append(f"{p.running} running")
        text = " · ".join(bits)
        if p.done_elsewhere:
            text += f" ({p.done_elsewhere} done meanwhile by another batch on this store)"
        if self.left_to_person:
            n = len(self.left_to_person)
            text += f" ({n} left to you: {'it was' if n == 1 else 'they were'} open in the window)"
        return text

    def _show_progress(self, p: Progress) -> None:
        self.progress_bar.setRange(0, max(1, p.total))
        self.progress_bar.setValue(min(p.finished, max(1, p.total)))
        state = ""
        if self.is_running and p.paused and p.notice:
            state = f"Paused: {p.notice}. Resume when it answers again. "
        elif self.is_running:
            state = "Paused (the running items finish). " if p.paused else "Running. "
        self.counts.setText(state + self._count_words(p))
        rate = f"{p.rate * 60:.1f} items/min" if p.finished else "—"
        eta = "paused" if p.paused else duration_words(p.eta) if self.is_running else "—"
        estimated = f", ≈ {p.estimated_tokens:,} estimated" if p.estimated_tokens else ""
        self.figures.setText(
            f"{rate} · ETA {eta} · {p.tokens:,} tokens ({p.cached_tokens:,} cached{estimated}) · ≈ ${p.cost_usd:.4f}"
            f" · {duration_words(p.elapsed)} so far"
        )
        st = self.status_widget
        st.bar.setRange(0, max(1, p.total))
        st.bar.setValue(min(p.finished, max(1, p.total)))
        st.label.setText(f"{p.finished}/{p.total}" + (" paused" if p.paused else f" · ETA {duration_words(p.eta)}"))

    def _tick(self) -> None:
        p = self.progress
        if p is not None and self.is_running:
            self._show_progress(p)
            if self._cancelling:
                self.counts.setText(self.counts.text() + " · cancelling…")
        self.refresh_cache_info()

    # ----------------------------------------------------------------- response cache
    def refresh_cache_info(self) -> None:
        if self.cache is None:
            self.cache_label.setText("Response cache: not available")
            return
        try:
            entries, size = self.cache.entries(), self.cache.size_bytes()
        except Exception as exc:  # noqa: BLE001 - sqlite3 errors: shown, not raised
            self.cache_label.setText(f"Response cache: cannot read it ({exc})")
            return
        self.cache_label.setText(f"Response cache: {entries:,} answers · {size_words(size)}")
        self.cache_label.setToolTip(str(self.cache.path))

    def clear_cache(self) -> asyncio.Future[None] | None:
        """Empty the cache in a worker thread (VACUUM can take a moment); not during a batch."""
        if self.cache is None or self.is_running or self._clearing is not None:
            return None
        cache = self.cache
        self._clearing = asyncio.get_event_loop().run_in_executor(None, cache.clear)
        self.cache_label.setText("Response cache: clearing…")
        self._set_buttons()

        def done(f: asyncio.Future[None]) -> None:
            self._clearing = None
            try:
                f.result()
            except Exception as exc:  # noqa: BLE001
                self.cache_label.setText(f"Response cache: could not clear it ({exc})")
                self._set_buttons()
                return
            self.refresh_cache_info()
            self._set_buttons()
            self.did_clear_cache.emit()

        self._clearing.add_done_callback(done)
        return self._clearing
