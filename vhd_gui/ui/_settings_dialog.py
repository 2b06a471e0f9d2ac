"""The settings dialog: endpoints per role (OpenAI-compatible or Azure OpenAI) with Test
connection, debate options, the prompt preset, keyboard shortcuts and view options.

The dialog edits copies: ``settings()``, ``shortcuts()`` and ``ui_prefs()`` return new
objects and the caller decides what to save. A key typed here goes into
``RoleEndpoint.api_key`` and nowhere else: the dialog writes no file and no QSettings.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any
from urllib.parse import urlparse

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QKeySequenceEdit,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from vhd_gui import config
from vhd_gui.config import ConfigError, RoleEndpoint, Settings
from vhd_gui.protocol import Role
from vhd_gui.ui._actions import ACTION_BY_ID
from vhd_gui.ui._preset_editor import ERROR_COLOR, OK_COLOR, PresetPanel

EXPORT_FORMATS = (("vhd11k-json", "VHD11K JSON"), ("vhd11k-csv", "VHD11K CSV"))
LAYOUTS = (
    ("flat", "Flat (recommended)", "One system message and one user message with the media, then the debate so far. Works with strict chat templates (Gemma, Mistral on vLLM or llama.cpp)."),
    ("chat", "Chat", "Each earlier turn as its own message, named by agent. Closer to a chat, but strict chat templates reject it."),
)
PROVIDERS = (
    ("openai", "OpenAI or compatible", "OpenAI, or any OpenAI-compatible server (vLLM, Ollama, llama.cpp, LM Studio, a gateway) at its base URL."),
    ("azure", "Azure OpenAI", "An Azure OpenAI resource: its endpoint, the name of a deployment, and an API version. "
     "The key goes in the api-key header."),
)
_NO_TEMPERATURE = -0.1  # the spin box's minimum, shown as "server default"
_DIGIT_KEYS = "1234567890"


def _set_status(label: QLabel, text: str, color: str | None) -> None:
    label.setText(text)
    label.setStyleSheet(f"color: {color};" if color else "")


def _portable(sequence: str) -> str:
    return QKeySequence(sequence).toString(QKeySequence.SequenceFormat.PortableText)


async def _import_off_thread(module: str) -> None:
    """Import a slow module (openai costs about two seconds) on a plain short-lived thread,
    so the window keeps painting; the thread ends with the import."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vhd-import")
    try:
        await asyncio.wrap_future(pool.submit(importlib.import_module, module))
    finally:
        pool.shutdown(wait=False)


# --------------------------------------------------------------------------- endpoints


class _RoleForm(QGroupBox):
    """One role's endpoint, with its own Test connection button and result line."""

    test_requested = Signal(str)
    copy_to_all_requested = Signal(str)
    same_as_judge_requested = Signal(str)
    changed = Signal()

    def __init__(self, role: Role, endpoint: RoleEndpoint, parent: QWidget | None = None) -> None:
        super().__init__(role.display_name, parent)
        self.role = role
        self.provider = QComboBox()
        for value, title, hint in PROVIDERS:
            self.provider.addItem(title, value)
            self.provider.setItemData(self.provider.count() - 1, hint, Qt.ItemDataRole.ToolTipRole)
        self.provider.setCurrentIndex(max(0, self.provider.findData(endpoint.provider)))
        self.base_url = QLineEdit(endpoint.base_url)
        self.base_url.setPlaceholderText("empty: $OPENAI_BASE_URL or OpenAI")
        self.azure_endpoint = QLineEdit(endpoint.azure_endpoint)
        self.api_version = QLineEdit(endpoint.api_version)
        self.model = QLineEdit(endpoint.model)
        self.model.setPlaceholderText(f"empty: {config.DEFAULT_MODEL}")
        self.key_env = QLineEdit(endpoint.api_key_env)
        self.key_env.setPlaceholderText(config.DEFAULT_KEY_ENV)
        self.key = QLineEdit(endpoint.api_key or "")
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setClearButtonEnabled(True)
        self.key.setToolTip("Kept in memory for this session only; never saved.")
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(_NO_TEMPERATURE, 2.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setDecimals(2)
        self.temperature.setSpecialValueText("server default")
        self.temperature.setValue(_NO_TEMPERATURE if endpoint.temperature is None else endpoint.temperature)
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(0, 1_000_000)
        self.max_tokens.setSingleStep(64)
        self.max_tokens.setSpecialValueText("server default")
        self.max_tokens.setValue(endpoint.max_tokens or 0)

        form = QFormLayout()
        self._form = form
        self.model_label = QLabel("&Model:")
        self.model_label.setBuddy(self.model)
        form.addRow("Pr&ovider:", self.provider)
        form.addRow("Base &URL:", self.base_url)
        form.addRow("A&zure endpoint:", self.azure_endpoint)
        form.addRow("API ver&sion:", self.api_version)
        form.addRow(self.model_label, self.model)
        form.addRow("Key va&riable:", self.key_env)
        form.addRow("API ke&y (memory only):", self.key)
        form.addRow("&Temperature:", self.temperature)
        form.addRow("Ma&x tokens:", self.max_tokens)

        buttons = QHBoxLayout()
        self.same_as_judge = QPushButton("Same as judge")
        self.same_as_judge.setVisible(role is not Role.JUDGE)
        self.copy_to_all = QPushButton("Copy to all roles")
        self.test_button = QPushButton("Test connection")
        buttons.addWidget(self.same_as_judge)
        buttons.addWidget(self.copy_to_all)
        buttons.addStretch(1)
        buttons.addWidget(self.test_button)

        self.result = QLabel()
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.result)

        self.test_button.clicked.connect(self._on_test)
        self.copy_to_all.clicked.connect(self._on_copy_to_all)
        self.same_as_judge.clicked.connect(self._on_same_as_judge)
        for edit in (self.base_url, self.azure_endpoint, self.api_version, self.model, self.key_env, self.key):
            edit.textChanged.connect(self._on_changed)
        self.temperature.valueChanged.connect(self._on_changed)
        self.max_tokens.valueChanged.connect(self._on_changed)
        self._shown_provider = self.current_provider()
        self.provider.currentIndexChanged.connect(self._on_provider)
        self._show_provider_fields()
        self._update_key_hint()

    def current_provider(self) -> str:
        return str(self.provider.currentData())

    def _on_provider(self, *_: object) -> None:
        # A key variable left at the old kind's default follows the new kind's default.
        old, new = self._shown_provider, self.current_provider()
        self._shown_provider = new
        if self.key_env.text().strip() in ("", config.default_key_env(old)):
            self.key_env.setText(config.default_key_env(new))
        self._show_provider_fields()
        self._on_changed()

    def _show_provider_fields(self) -> None:
        azure = self.current_provider() == "azure"
        self._form.setRowVisible(self.base_url, not azure)
        self._form.setRowVisible(self.azure_endpoint, azure)
        self._form.setRowVisible(self.api_version, azure)
        self.model_label.setText("Deploy&ment:" if azure else "&Model:")
        self.model.setToolTip("The name given to the deployment in the Azure resource, sent in the request's path." if azure else "")
        self.provider.setToolTip(next(hint for v, _, hint in PROVIDERS if v == self.current_provider()))

    def _on_test(self) -> None:
        self.test_requested.emit(self.role.value)

    def _on_copy_to_all(self) -> None:
        self.copy_to_all_requested.emit(self.role.value)

    def _on_same_as_judge(self) -> None:
        self.same_as_judge_requested.emit(self.role.value)

    def _on_changed(self, *_: object) -> None:
        self._update_key_hint()
        self.changed.emit()

    def _update_key_hint(self) -> None:
        default_var = config.default_key_env(self.current_provider())
        var = self.key_env.text().strip() or default_var
        state = "set" if os.environ.get(var, "").strip() else "not set"
        self.key.setPlaceholderText(f"empty: uses ${var} ({state})")
        self.key_env.setPlaceholderText(default_var)
        env_endpoint = os.environ.get(config.AZURE_ENDPOINT_ENV, "").strip()
        self.azure_endpoint.setPlaceholderText(f"empty: ${config.AZURE_ENDPOINT_ENV} ({env_endpoint or 'not set'})")
        env_version = os.environ.get(config.AZURE_API_VERSION_ENV, "").strip()
        self.api_version.setPlaceholderText(f"empty: {env_version or config.DEFAULT_AZURE_API_VERSION}")

    def endpoint(self) -> RoleEndpoint:
        temperature = self.temperature.value()
        provider = self.current_provider()
        return RoleEndpoint(
            base_url=self.base_url.text().strip(),
            model=self.model.text().strip(),
            api_key_env=self.key_env.text().strip() or config.default_key_env(provider),
            temperature=None if temperature <= _NO_TEMPERATURE + 1e-9 else round(temperature, 2),
            max_tokens=self.max_tokens.value() or None,
            provider=provider,
            azure_endpoint=self.azure_endpoint.text().strip(),
            api_version=self.api_version.text().strip(),
            api_key=self.key.text().strip() or None,
        )

    def set_endpoint(self, ep: RoleEndpoint) -> None:
        self.provider.setCurrentIndex(max(0, self.provider.findData(ep.provider)))
        self.azure_endpoint.setText(ep.azure_endpoint)
        self.api_version.setText(ep.api_version)
        self.base_url.setText(ep.base_url)
        self.model.setText(ep.model)
        self.key_env.setText(ep.api_key_env)
        self.key.setText(ep.api_key or "")
        self.temperature.setValue(_NO_TEMPERATURE if ep.temperature is None else ep.temperature)
        self.max_tokens.setValue(ep.max_tokens or 0)

    def show_testing(self) -> None:
        self.test_button.setEnabled(False)
        _set_status(self.result, "Testing…", None)

    def show_result(self, ok: bool, text: str) -> None:
        self.test_button.setEnabled(True)
        _set_status(self.result, f"OK: {text}" if ok else f"Failed: {text}", OK_COLOR if ok else ERROR_COLOR)


class _EndpointsTab(QWidget):
    changed = Signal()

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        note = QLabel(
            "Each role may use its own server and model. A key typed here stays in memory for this session only: "
            "it is never written to the settings file, QSettings or logs. To keep a key, put it in an environment "
            "variable and name that variable here."
        )
        note.setWordWrap(True)
        self.forms: dict[str, _RoleForm] = {}
        grid = QGridLayout()
        for i, role in enumerate(Role):
            form = _RoleForm(role, settings.endpoints.get(role.value, RoleEndpoint()))
            form.changed.connect(self.changed)
            form.copy_to_all_requested.connect(self._copy_to_all)
            form.same_as_judge_requested.connect(self._same_as_judge)
            self.forms[role.value] = form
            grid.addWidget(form, i // 2, i % 2)
        inner = QWidget()
        inner_layout = QVBoxLayout(inner)
        inner_layout.addWidget(note)
        inner_layout.addLayout(grid)
        inner_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(inner)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll)

    def _copy_to_all(self, source: str) -> None:
        ep = self.forms[source].endpoint()
        for role, form in self.forms.items():
            if role != source:
                form.set_endpoint(ep)

    def _same_as_judge(self, target: str) -> None:
        self.forms[target].set_endpoint(self.forms[Role.JUDGE.value].endpoint())

    def endpoints(self) -> dict[str, RoleEndpoint]:
        return {role: form.endpoint() for role, form in self.forms.items()}


# --------------------------------------------------------------------------- debate


class _DebateTab(QWidget):
    changed = Signal()

    def __init__(self, s: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rounds = self._int(1, 20, s.rounds)
        self.frames = self._int(1, 64, s.frames, suffix=" frames")
        self.max_side = self._int(64, 8192, s.max_side, step=64, suffix=" px")
        self.sampling = QComboBox()
        self.sampling.addItem("Exact: frames evenly spread over the video", "exact")
        self.sampling.addItem("Keyframes: the keyframe nearest each spot (much faster)", "keyframes")
        self.sampling.setCurrentIndex(max(0, self.sampling.findData(s.sampling)))
        self.layout_combo = QComboBox()
        for value, title, _ in LAYOUTS:
            self.layout_combo.addItem(title, value)
        self.layout_combo.setCurrentIndex(max(0, self.layout_combo.findData(s.layout)))
        self.layout_hint = QLabel()
        self.layout_hint.setWordWrap(True)
        self.critic = QCheckBox("Add a critic after the judge (one more request per item)")
        self.critic.setChecked(s.critic)
        self.turn_timeout = self._float(1, 3600, s.turn_timeout, 1, " s", step=10)
        self.read_timeout = self._float(1, 3600, s.read_timeout, 1, " s", step=10)
        self.attempts = self._int(1, 20, s.attempts)
        self.logprobs = QCheckBox("Ask the judge's server for log-probabilities (a confidence for Yes/No)")
        self.logprobs.setChecked(s.request_logprobs)
        self.price_in = self._float(0, 10, s.price_in_per_1k, 6, " USD", step=0.0005)
        self.price_cached = self._float(0, 10, s.price_cached_in_per_1k, 6, " USD", step=0.0005)
        self.price_out = self._float(0, 10, s.price_out_per_1k, 6, " USD", step=0.0005)

        self.layout_hint.setMinimumWidth(560)
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        form.addRow("&Rounds:", self.rounds)
        form.addRow("Video &frames sent:", self.frames)
        form.addRow("Max image &side:", self.max_side)
        form.addRow("Frame sa&mpling:", self.sampling)
        form.addRow("Message &layout:", self.layout_combo)
        form.addRow("", self.layout_hint)
        form.addRow("", self.critic)
        form.addRow("Turn deadli&ne:", self.turn_timeout)
        form.addRow("Read &timeout:", self.read_timeout)
        form.addRow("Attempts per t&urn:", self.attempts)
        form.addRow("", self.logprobs)
        form.addRow(QLabel("<b>Prices per 1k tokens</b> (for the cost shown in the status bar)"))
        form.addRow("&Input:", self.price_in)
        form.addRow("&Cached input:", self.price_cached)
        form.addRow("&Output:", self.price_out)

        self.layout_combo.currentIndexChanged.connect(self._on_layout)
        self._on_layout()
        for spin in (self.rounds, self.frames, self.max_side, self.attempts):
            spin.valueChanged.connect(self.changed)
        for dspin in (self.turn_timeout, self.read_timeout, self.price_in, self.price_cached, self.price_out):
            dspin.valueChanged.connect(self.changed)
        self.sampling.currentIndexChanged.connect(self.changed)
        self.critic.toggled.connect(self.changed)
        self.logprobs.toggled.connect(self.changed)

    @staticmethod
    def _int(low: int, high: int, value: int, step: int = 1, suffix: str = "") -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(low, high)
        spin.setSingleStep(step)
        spin.setSuffix(suffix)
        spin.setValue(value)
        return spin

    @staticmethod
    def _float(low: float, high: float, value: float, decimals: int, suffix: str, step: float) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setDecimals(decimals)
        spin.setRange(low, high)
        spin.setSingleStep(step)
        spin.setSuffix(suffix)
        spin.setValue(value)
        return spin

    def _on_layout(self, *_: object) -> None:
        value = self.layout_combo.currentData()
        self.layout_hint.setText(next(hint for v, _, hint in LAYOUTS if v == value))
        self.changed.emit()

    def apply(self, s: Settings) -> None:
        s.rounds = self.rounds.value()
        s.frames = self.frames.value()
        s.max_side = self.max_side.value()
        s.sampling = str(self.sampling.currentData())
        s.layout = str(self.layout_combo.currentData())
        s.critic = self.critic.isChecked()
        s.turn_timeout = self.turn_timeout.value()
        s.read_timeout = self.read_timeout.value()
        s.attempts = self.attempts.value()
        s.request_logprobs = self.logprobs.isChecked()
        s.price_in_per_1k = self.price_in.value()
        s.price_cached_in_per_1k = self.price_cached.value()
        s.price_out_per_1k = self.price_out.value()


# --------------------------------------------------------------------------- team


class _TeamTab(QWidget):
    """Who this person is in a shared project: the settings file's ``reviewer`` key."""

    changed = Signal()

    def __init__(self, s: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.reviewer = QLineEdit(s.reviewer)
        self.reviewer.setPlaceholderText(f"blank: your system user name ({config.default_reviewer()})")
        self.reviewer.setMaxLength(config.REVIEWER_MAX_CHARS + 1)  # one more, so the problem can be said
        self.reviewer.setMinimumWidth(320)
        self.reviewer.textChanged.connect(self.changed)
        note = QLabel(
            "Your decisions are recorded under this name, so that a team sharing one store can tell "
            "who decided what and measure how well people agree. It is a name, not a login: "
            "anyone can type any name, and it proves nothing about who you are."
        )
        note.setWordWrap(True)
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        form.addRow("Reviewer &name:", self.reviewer)
        form.addRow("", note)

    def name(self) -> str:
        return self.reviewer.text()

    def problems(self) -> list[str]:
        name = self.name()
        problem = config.reviewer_problem(name) if name else ""
        return [f"Reviewer name: {problem}."] if problem else []


# --------------------------------------------------------------------------- keys


class _KeysTab(QWidget):
    changed = Signal()

    def __init__(self, shortcuts: Mapping[str, tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(len(shortcuts), 2)
        self.table.setHorizontalHeaderLabels(["Action", "Key"])
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        self.table.setColumnWidth(1, 190)
        self.edits: dict[str, QKeySequenceEdit] = {}
        self.labels: dict[str, str] = {}
        for row, (action_id, (label, keys)) in enumerate(shortcuts.items()):
            self.labels[action_id] = label
            item = QTableWidgetItem(label)
            item.setToolTip(action_id)
            self.table.setItem(row, 0, item)
            edit = QKeySequenceEdit(QKeySequence(keys))
            edit.setMaximumSequenceLength(1)
            edit.setClearButtonEnabled(True)
            edit.setObjectName(f"key_{action_id}")
            edit.keySequenceChanged.connect(self._on_changed)
            self.edits[action_id] = edit
            self.table.setCellWidget(row, 1, edit)
        self.table.resizeRowsToContents()

        hint = QLabel("Click a key field and press the new key; the clear button removes a key.")
        self.conflicts_label = QLabel()
        self.conflicts_label.setWordWrap(True)
        self.conflicts_label.setStyleSheet(f"color: {ERROR_COLOR};")
        self.restore = QPushButton("Restore defaults")
        self.restore.clicked.connect(self.restore_defaults)
        bottom = QHBoxLayout()
        bottom.addWidget(self.conflicts_label, 1)
        bottom.addWidget(self.restore)
        layout = QVBoxLayout(self)
        layout.addWidget(hint)
        layout.addWidget(self.table, 1)
        layout.addLayout(bottom)
        self._refresh()

    def _on_changed(self, *_: object) -> None:
        self._refresh()
        self.changed.emit()

    def restore_defaults(self) -> None:
        for action_id, edit in self.edits.items():
            spec = ACTION_BY_ID.get(action_id)
            if spec is not None:
                edit.setKeySequence(QKeySequence(spec.default_key))
        self._refresh()
        self.changed.emit()

    def shortcuts(self) -> dict[str, str]:
        return {action_id: edit.keySequence().toString(QKeySequence.SequenceFormat.PortableText) for action_id, edit in self.edits.items()}

    def conflicts(self) -> list[str]:
        """One plain sentence per key bound to more than one action."""
        by_key: dict[str, list[str]] = {}
        for action_id, keys in self.shortcuts().items():
            if keys:
                by_key.setdefault(_portable(keys), []).append(self.labels[action_id])
        return [f"{key} is used by {' and '.join(repr(n) for n in names)}." for key, names in by_key.items() if len(names) > 1]

    def _refresh(self) -> None:
        problems = self.conflicts()
        self.conflicts_label.setText(" ".join(problems) + (" Give each action its own key." if problems else ""))


# --------------------------------------------------------------------------- view


class _ViewTab(QWidget):
    changed = Signal()

    def __init__(self, prefs: Mapping[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.grayscale = QCheckBox("Safe view: gray instead of color when an item is blurred")
        self.grayscale.setChecked(bool(prefs.get("safe_view_grayscale", False)))
        self.auto_advance = QCheckBox("Go to the next item after each decision")
        self.auto_advance.setChecked(bool(prefs.get("auto_advance", True)))
        self.export_path = QLineEdit(str(prefs.get("export_path", "") or ""))
        self.export_path.setPlaceholderText("empty: annotations file in the folder's .vhd-annotator/")
        self.export_path.setClearButtonEnabled(True)
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._on_browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.export_path, 1)
        path_row.addWidget(browse)
        self.export_format = QComboBox()
        for value, title in EXPORT_FORMATS:
            self.export_format.addItem(title, value)
        self.export_format.setCurrentIndex(max(0, self.export_format.findData(prefs.get("export_format", "vhd11k-json"))))

        self.categories = QTableWidget(0, 1)
        self.categories.setHorizontalHeaderLabels(["Category"])
        self.categories.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.categories.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.categories.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.categories.verticalHeader().setDefaultSectionSize(24)
        for name in prefs.get("categories", []) or []:
            self._append(str(name))
        self._renumber()
        self.categories.itemChanged.connect(self._on_changed)
        cat_buttons = QVBoxLayout()
        for text, slot in (("Add", self._on_add), ("Remove", self._on_remove), ("Up", self._on_up), ("Down", self._on_down)):
            button = QPushButton(text)
            button.clicked.connect(slot)
            cat_buttons.addWidget(button)
        cat_buttons.addStretch(1)
        cat_row = QHBoxLayout()
        cat_row.addWidget(self.categories, 1)
        cat_row.addLayout(cat_buttons)

        form = QFormLayout(self)
        form.addRow("", self.grayscale)
        form.addRow("", self.auto_advance)
        path_label = QLabel("Annotation &file:")
        path_label.setBuddy(self.export_path)
        form.addRow(path_label, path_row)
        form.addRow("F&ormat:", self.export_format)
        form.addRow(QLabel("<b>Harmful categories</b>: the first ten are on the keys 1–9 and 0, in this order. Double-click to edit."))
        form.addRow(cat_row)

        for box in (self.grayscale, self.auto_advance):
            box.toggled.connect(self.changed)
        self.export_path.textChanged.connect(self.changed)
        self.export_format.currentIndexChanged.connect(self.changed)

    def _append(self, name: str) -> int:
        row = self.categories.rowCount()
        self.categories.insertRow(row)
        self.categories.setItem(row, 0, QTableWidgetItem(name))
        return row

    def _renumber(self) -> None:
        labels = [_DIGIT_KEYS[i] if i < len(_DIGIT_KEYS) else "–" for i in range(self.categories.rowCount())]
        self.categories.setVerticalHeaderLabels(labels)

    def _on_changed(self, *_: object) -> None:
        self._renumber()
        self.changed.emit()

    def _on_add(self) -> None:
        row = self._append("new category")
        self._renumber()
        self.categories.setCurrentCell(row, 0)
        cell = self.categories.item(row, 0)
        if cell is not None:
            self.categories.editItem(cell)
        self.changed.emit()

    def _on_remove(self) -> None:
        row = self.categories.currentRow()
        if row >= 0:
            self.categories.removeRow(row)
            self._renumber()
            self.changed.emit()

    def _move(self, delta: int) -> None:
        row = self.categories.currentRow()
        target = row + delta
        if row < 0 or not 0 <= target < self.categories.rowCount():
            return
        names = self.category_list()
        names[row], names[target] = names[target], names[row]
        self.categories.blockSignals(True)
        for i, name in enumerate(names):
            cell = self.categories.item(i, 0)
            if cell is not None:
                cell.setText(name)
        self.categories.blockSignals(False)
        self.categories.setCurrentCell(target, 0)
        self.changed.emit()

    def _on_up(self) -> None:
        self._move(-1)

    def _on_down(self) -> None:
        self._move(1)

    def _on_browse(self) -> None:
        fmt = str(self.export_format.currentData())
        pattern = "VHD11K CSV (*.csv)" if fmt == "vhd11k-csv" else "VHD11K JSON (*.json)"
        path, _ = QFileDialog.getSaveFileName(self, "Annotation file", self.export_path.text(), pattern)
        if path:
            self.export_path.setText(path)

    def category_list(self) -> list[str]:
        out = []
        for row in range(self.categories.rowCount()):
            cell = self.categories.item(row, 0)
            out.append(cell.text().strip() if cell is not None else "")
        return out

    def problems(self) -> list[str]:
        names = self.category_list()
        out = []
        if any(not n for n in names):
            out.append("A category is empty: type a name or remove it.")
        seen: set[str] = set()
        for n in names:
            if n and n.lower() in seen:
                out.append(f"The category {n!r} is listed twice.")
            seen.add(n.lower())
        return out

    def apply(self, prefs: dict[str, Any]) -> None:
        prefs["safe_view_grayscale"] = self.grayscale.isChecked()
        prefs["auto_advance"] = self.auto_advance.isChecked()
        prefs["export_path"] = self.export_path.text().strip()
        prefs["export_format"] = str(self.export_format.currentData())
        prefs["categories"] = self.category_list()


# --------------------------------------------------------------------------- dialog


class SettingsDialog(QDialog):
    """Edits settings, shortcuts and view preferences; the caller saves what it gets back."""

    def __init__(
        self,
        settings: Settings,
        shortcuts: dict[str, tuple[str, str]],
        ui_prefs: dict[str, Any],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self._input = settings
        self._prefs = dict(ui_prefs)
        self._tests: dict[str, asyncio.Future[None]] = {}

        self.tabs = QTabWidget()
        self.endpoints_tab = _EndpointsTab(settings)
        self.debate_tab = _DebateTab(settings)
        self.preset_tab = PresetPanel(settings.preset, settings.examples_folder)
        self.keys_tab = _KeysTab(shortcuts)
        self.view_tab = _ViewTab(ui_prefs)
        self.team_tab = _TeamTab(settings)
        self.tabs.addTab(self.endpoints_tab, "&Endpoints")
        self.tabs.addTab(self.debate_tab, "&Debate")
        self.tabs.addTab(self.preset_tab, "&Preset")
        self.tabs.addTab(self.keys_tab, "&Keys")
        self.tabs.addTab(self.view_tab, "&View")
        self.tabs.addTab(self.team_tab, "&Team")

        self.problems = QLabel()
        self.problems.setWordWrap(True)
        self.problems.setStyleSheet(f"color: {ERROR_COLOR};")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.problems)
        layout.addWidget(self.buttons)
        self.resize(980, 720)

        for form in self.endpoints_tab.forms.values():
            form.test_requested.connect(self.start_test)
        for tab in (self.endpoints_tab, self.debate_tab, self.preset_tab, self.keys_tab, self.view_tab, self.team_tab):
            tab.changed.connect(self._revalidate)
        self.preset_tab.rounds_imported.connect(self.debate_tab.rounds.setValue)
        self._revalidate()

    # ------------------------------------------------------------------ results
    def settings(self) -> Settings:
        """A new Settings with the edits; the object given to the constructor is untouched."""
        s = replace(self._input, endpoints=self.endpoints_tab.endpoints())
        self.debate_tab.apply(s)
        s.preset = self.preset_tab.preset_spec()
        s.examples_folder = self.preset_tab.examples_folder()
        name = self.team_tab.name()
        s.reviewer = "" if config.reviewer_problem(name) else name  # blank: the system user
        return s

    def shortcuts(self) -> dict[str, str]:
        return self.keys_tab.shortcuts()

    def ui_prefs(self) -> dict[str, Any]:
        prefs = dict(self._prefs)
        self.view_tab.apply(prefs)
        return prefs

    # ------------------------------------------------------------------ validation
    def problem_list(self) -> list[str]:
        """Everything that keeps OK disabled, in plain sentences."""
        out: list[str] = []
        s = self.settings()
        try:
            config.validate(s, "Settings")
        except ConfigError as exc:
            out.append(str(exc))
        for role, ep in s.endpoints.items():
            if ep.base_url and urlparse(ep.base_url).scheme in ("http", "https") and not urlparse(ep.base_url).hostname:
                out.append(f"The {role} base URL {ep.base_url!r} names no server.")
            if ep.is_azure and not ep.resolved_base_url():
                out.append(f"The {role} role uses Azure OpenAI but names no endpoint: type https://NAME.openai.azure.com "
                           f"(or set ${config.AZURE_ENDPOINT_ENV} before starting the app).")
            elif ep.is_azure and urlparse(ep.azure_endpoint).scheme in ("http", "https") and not urlparse(ep.azure_endpoint).hostname:
                out.append(f"The {role} Azure endpoint {ep.azure_endpoint!r} names no server.")
        preset_problem = self.preset_tab.error()
        if preset_problem:
            out.append(preset_problem)
        out += self.keys_tab.conflicts()
        out += self.view_tab.problems()
        out += self.team_tab.problems()
        return out

    def _revalidate(self, *_: object) -> None:
        problems = self.problem_list()
        self.problems.setText(" ".join(problems))
        self.problems.setVisible(bool(problems))
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(not problems)
        ok.setToolTip("Fix the problems shown above first." if problems else "")

    def accept(self) -> None:
        if self.problem_list():
            self._revalidate()
            return
        super().accept()

    # ------------------------------------------------------------------ test connection
    def start_test(self, role: str) -> None:
        """Test one role's endpoint as the form stands now; the result shows under its form."""
        running = self._tests.get(role)
        if running is not None and not running.done():
            return
        form = self.endpoints_tab.forms[role]
        form.show_testing()
        task = asyncio.ensure_future(self._test_connection(role, self.settings()))
        self._tests[role] = task

    def is_testing(self, role: str | None = None) -> bool:
        tasks = [self._tests.get(role)] if role else list(self._tests.values())
        return any(t is not None and not t.done() for t in tasks)

    async def _test_connection(self, role: str, settings: Settings) -> None:
        form = self.endpoints_tab.forms[role]
        try:
            config.validate(settings, "Settings")
            if "openai" not in sys.modules:
                await _import_off_thread("openai")
            from vhd_gui.engine import DebateEngine

            engine = DebateEngine(settings)
            try:
                report = await engine.check_connection(role)
            finally:
                await engine.close()
        except asyncio.CancelledError:
            raise
        except ConfigError as exc:
            form.show_result(False, str(exc))
        except Exception as exc:  # noqa: BLE001 - any failure is the answer to show
            form.show_result(False, f"{type(exc).__name__}: {exc}")
        else:
            form.show_result(True, report)

    def done(self, result: int) -> None:
        for task in self._tests.values():
            if not task.done():
                task.cancel()
        super().done(result)
