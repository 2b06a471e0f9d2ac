"""The Preset tab of the settings dialog: pick a preset, read its name/kind/hash, edit its
prompts and in-context examples, and save the result as a new TOML file in the user's
config folder (the built-in presets are never written).

``preset_to_toml`` is a small writer for the known shape of a preset (strings, string
arrays, tables and arrays of tables); the standard library only reads TOML.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from vhd_gui import config
from vhd_gui.protocol import (
    BUILTIN_PRESETS,
    Preset,
    PresetError,
    builtin_preset_path,
    load_preset,
    preset_data_from_shell_script,
    preset_from_data,
    preset_hash,
    read_shell_variables,
    shell_script_rounds,
)

OK_COLOR = "#1b7f3b"
ERROR_COLOR = "#b3261e"
NOTE_COLOR = "#8a5a00"

# --------------------------------------------------------------------------- TOML writer

_BARE_KEY_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_BASIC_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _toml_key(key: str) -> str:
    return key if _BARE_KEY_RE.match(key) else _toml_basic_string(key)


def _escape_control(ch: str) -> str:
    code = ord(ch)
    if code < 0x20 or code == 0x7F:
        return f"\\u{code:04X}"
    return ch


def _toml_basic_string(text: str) -> str:
    return '"' + "".join(_BASIC_ESCAPES.get(ch) or _escape_control(ch) for ch in text) + '"'


def _toml_multiline_string(text: str) -> str:
    """A multi-line basic string: real line breaks stay readable, everything else is escaped.

    Backslashes are doubled (a lone one before a line break would join lines), a run of three
    quotes is broken up, CR and other control characters become escapes, and a quote at the very
    end is escaped so it cannot merge with the closing delimiter.
    """
    out: list[str] = []
    quotes = 0
    for i, ch in enumerate(text):
        if ch == '"':
            quotes += 1
            last = i == len(text) - 1
            out.append('\\"' if quotes == 3 or last else '"')
            if quotes == 3:
                quotes = 0
            continue
        quotes = 0
        if ch == "\\":
            out.append("\\\\")
        elif ch == "\n" or ch == "\t":
            out.append(ch)
        elif ch == "\r":
            out.append("\\r")
        else:
            out.append(_escape_control(ch))
    # The line break right after the opening delimiter is not part of the value.
    return '"""\n' + "".join(out) + '"""'


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_multiline_string(value) if "\n" in value else _toml_basic_string(value)
    if isinstance(value, (list, tuple)):
        if any(isinstance(v, Mapping) for v in value):
            raise TypeError("a list of tables must be written as an array of tables")
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write a {type(value).__name__} to TOML")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _write_table(lines: list[str], table: Mapping[str, Any], path: tuple[str, ...]) -> None:
    scalars = [(k, v) for k, v in table.items() if not isinstance(v, Mapping) and not _is_table_array(v)]
    tables = [(k, v) for k, v in table.items() if isinstance(v, Mapping)]
    arrays = [(k, v) for k, v in table.items() if _is_table_array(v)]
    for key, value in scalars:
        lines.append(f"{_toml_key(str(key))} = {_toml_value(value)}")
    for key, value in tables:
        sub = (*path, _toml_key(str(key)))
        lines += ["", f"[{'.'.join(sub)}]"]
        _write_table(lines, value, sub)
    for key, items in arrays:
        sub = (*path, _toml_key(str(key)))
        for item in items:
            lines += ["", f"[[{'.'.join(sub)}]]"]
            _write_table(lines, item, sub)


def preset_to_toml(data: Mapping[str, Any], header: str = "") -> str:
    """Write preset data (or any table of strings, numbers, string arrays and tables) as TOML.

    ``tomllib.loads(preset_to_toml(d)) == d`` for every such ``d``; an empty array of tables is
    written as an empty inline array. ``header`` lines become comments at the top.
    """
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    if lines:
        lines.append("")
    _write_table(lines, data, ())
    return "\n".join(lines).lstrip("\n") + "\n"


def slug(name: str) -> str:
    """A file-name stem for a preset name: letters, digits, dot, dash and underscore."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip("-.")


def user_presets_dir() -> Path:
    return config.config_dir() / "presets"


def _copy(data: Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(dict(data)))


def _colored(label: QLabel, text: str, color: str | None) -> None:
    label.setText(text)
    label.setStyleSheet(f"color: {color};" if color else "")


# --------------------------------------------------------------------------- editor

_PROMPT_ROLES = (("affirmative", "Affirmative"), ("negative", "Negative"), ("judge", "Judge"), ("critic", "Critic"))
_INSTRUCTION_KEYS = (
    ("affirmative", "Affirmative, round 1"),
    ("affirmative_rebuttal", "Affirmative, later rounds"),
    ("negative", "Negative, round 1"),
    ("negative_rebuttal", "Negative, later rounds"),
    ("judge", "Judge"),
    ("critic", "Critic"),
)
_PLACEHOLDERS = "Placeholders filled in at run time: {definition} {question} {media} {rounds} {max_reasons}"
FILE_SEPARATOR = ";"


class _ExamplesTable(QTableWidget):
    """In-context examples: one row per example, its files (in order) and the judge's answer."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 2, parent)
        self.setHorizontalHeaderLabels([f"Files (in order, separated by {FILE_SEPARATOR})", "Answer (Yes, … / No, …)"])
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.verticalHeader().setDefaultSectionSize(22)

    def set_items(self, items: list[Mapping[str, Any]]) -> None:
        self.blockSignals(True)
        try:
            self.setRowCount(0)
            for item in items:
                files = item.get("files") or ([item["file"]] if "file" in item else [])
                self.add_row([str(f) for f in files], str(item.get("answer", "")))
        finally:
            self.blockSignals(False)

    def add_row(self, files: list[str] | None = None, answer: str = "") -> int:
        row = self.rowCount()
        self.insertRow(row)
        self.setItem(row, 0, QTableWidgetItem(f"{FILE_SEPARATOR} ".join(files or [])))
        self.setItem(row, 1, QTableWidgetItem(answer))
        return row

    def example_items(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for row in range(self.rowCount()):
            files_cell, answer_cell = self.item(row, 0), self.item(row, 1)
            files = [f.strip() for f in (files_cell.text() if files_cell else "").split(FILE_SEPARATOR) if f.strip()]
            answer = (answer_cell.text() if answer_cell else "").strip()
            out.append({"files": files, "answer": answer})
        return out


class PresetEditor(QTabWidget):
    """Edits the text of one preset: question, definition, system prompts, turn instructions,
    and the examples list. Keys it does not show are kept as loaded."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._base: dict[str, Any] = {}

        general = QWidget()
        form = QFormLayout(general)
        self.question = QLineEdit()
        self.description = QLineEdit()
        self.definition = QPlainTextEdit()
        self.definition.setTabChangesFocus(True)
        form.addRow("&Question:", self.question)
        form.addRow("Descr&iption:", self.description)
        form.addRow("De&finition of harmful:", self.definition)
        self.addTab(general, "Question")

        self.prompts: dict[str, QPlainTextEdit] = {}
        prompt_tabs = QTabWidget()
        for key, title in _PROMPT_ROLES:
            self.prompts[key] = self._text_tab(prompt_tabs, title)
        self.addTab(self._with_hint(prompt_tabs, "The system prompt of each agent. " + _PLACEHOLDERS), "System prompts")

        self.instructions: dict[str, QPlainTextEdit] = {}
        instruction_tabs = QTabWidget()
        for key, title in _INSTRUCTION_KEYS:
            self.instructions[key] = self._text_tab(instruction_tabs, title)
        self.addTab(
            self._with_hint(instruction_tabs, "The line that asks each agent for its turn; a later-round line is optional."),
            "Turn instructions",
        )

        examples = QWidget()
        ex_layout = QVBoxLayout(examples)
        ex_layout.setContentsMargins(0, 0, 0, 0)
        self.examples = _ExamplesTable()
        ex_layout.addWidget(self.examples)
        row = QHBoxLayout()
        self.add_example = QPushButton("Add example")
        self.remove_example = QPushButton("Remove selected")
        row.addWidget(self.add_example)
        row.addWidget(self.remove_example)
        row.addStretch(1)
        ex_layout.addLayout(row)
        self.addTab(examples, "In-context examples")

        self.add_example.clicked.connect(self._on_add_example)
        self.remove_example.clicked.connect(self._on_remove_examples)
        self.examples.itemChanged.connect(self._emit_changed)
        for edit in (self.question, self.description):
            edit.textChanged.connect(self._emit_changed)
        for text in (self.definition, *self.prompts.values(), *self.instructions.values()):
            text.textChanged.connect(self._emit_changed)

    @staticmethod
    def _text_tab(tabs: QTabWidget, title: str) -> QPlainTextEdit:
        edit = QPlainTextEdit()
        edit.setTabChangesFocus(True)
        edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        tabs.addTab(edit, title)
        return edit

    @staticmethod
    def _with_hint(widget: QWidget, hint: str) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        label = QLabel(hint)
        label.setWordWrap(True)
        layout.addWidget(label)
        layout.addWidget(widget)
        return box

    def _emit_changed(self, *_: object) -> None:
        self.changed.emit()

    def _on_add_example(self) -> None:
        row = self.examples.add_row()
        self.examples.setCurrentCell(row, 0)
        self.changed.emit()

    def _on_remove_examples(self) -> None:
        rows = sorted({i.row() for i in self.examples.selectedIndexes()}, reverse=True)
        for row in rows:
            self.examples.removeRow(row)
        if rows:
            self.changed.emit()

    def set_data(self, data: Mapping[str, Any]) -> None:
        self._base = _copy(data)
        widgets: list[QWidget] = [self.question, self.description, self.definition, *self.prompts.values(), *self.instructions.values()]
        for w in widgets:
            w.blockSignals(True)
        try:
            self.question.setText(str(data.get("question", "")))
            self.description.setText(str(data.get("description", "")))
            self.definition.setPlainText(str(data.get("definition", "")))
            prompts = data.get("prompts", {}) or {}
            for key, edit in self.prompts.items():
                edit.setPlainText(str(prompts.get(key, "")))
            instructions = data.get("instructions", {}) or {}
            for key, edit in self.instructions.items():
                edit.setPlainText(str(instructions.get(key, "")))
            self.examples.set_items(list((data.get("examples", {}) or {}).get("item", []) or []))
        finally:
            for w in widgets:
                w.blockSignals(False)
        self.changed.emit()

    def data(self) -> dict[str, Any]:
        """The preset data as edited; keys the editor does not show are kept as loaded."""
        data = _copy(self._base)
        data["question"] = self.question.text()
        data["description"] = self.description.text()
        data["definition"] = self.definition.toPlainText()
        prompts = dict(data.get("prompts", {}) or {})
        for key, edit in self.prompts.items():
            prompts[key] = edit.toPlainText()
        data["prompts"] = prompts
        instructions = dict(data.get("instructions", {}) or {})
        for key, edit in self.instructions.items():
            text = edit.toPlainText()
            if text.strip() or key in _REQUIRED_INSTRUCTION_KEYS:
                instructions[key] = text
            else:
                instructions.pop(key, None)  # an emptied later-round line falls back to round 1
        data["instructions"] = instructions
        examples = dict(data.get("examples", {}) or {})
        examples["item"] = self.examples.example_items()
        data["examples"] = examples
        return data


_REQUIRED_INSTRUCTION_KEYS = ("affirmative", "negative", "judge", "critic")


# --------------------------------------------------------------------------- the tab

AUTOMATIC_LABEL = "Automatic: vhd11k-image for images, vhd11k-video for videos"


class PresetPanel(QWidget):
    """Picker, read-only facts, editor, examples folder and Save as… for the prompt preset."""

    changed = Signal()
    rounds_imported = Signal(int)

    def __init__(self, preset_spec: str, examples_folder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._preset: Preset | None = None
        self._load_error: str | None = None
        self._clean_hash = ""
        self._imported_from = ""

        picker = QHBoxLayout()
        self.combo = QComboBox()
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(30)
        self.open_button = QPushButton("Open file…")
        self.import_button = QPushButton("Import annotateImage.sh / annotateVideo.sh…")
        self.save_button = QPushButton("Save as…")
        label = QLabel("Pre&set:")
        label.setBuddy(self.combo)
        picker.addWidget(label)
        picker.addWidget(self.combo, 1)
        picker.addWidget(self.open_button)

        self.facts = QLabel()
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.facts.setWordWrap(True)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.editor = PresetEditor()

        folder_row = QHBoxLayout()
        self.folder = QLineEdit(examples_folder)
        self.folder.setClearButtonEnabled(True)
        self.folder_button = QPushButton("Choose…")
        self.check_button = QPushButton("Check files")
        folder_label = QLabel("E&xamples folder:")
        folder_label.setBuddy(self.folder)
        folder_row.addWidget(folder_label)
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(self.folder_button)
        folder_row.addWidget(self.check_button)
        self.check_result = QLabel()
        self.check_result.setWordWrap(True)
        self.check_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        actions = QHBoxLayout()
        actions.addWidget(self.import_button)
        actions.addStretch(1)
        actions.addWidget(self.save_button)

        layout = QVBoxLayout(self)
        layout.addLayout(picker)
        layout.addWidget(self.facts)
        layout.addWidget(self.editor, 1)
        layout.addLayout(folder_row)
        layout.addWidget(self.check_result)
        layout.addWidget(self.status)
        layout.addLayout(actions)

        self._fill_combo(preset_spec)
        self.combo.currentIndexChanged.connect(self._on_selection)
        self.open_button.clicked.connect(self._on_open)
        self.import_button.clicked.connect(self._on_import)
        self.save_button.clicked.connect(self._on_save_as)
        self.folder_button.clicked.connect(self._on_choose_folder)
        self.check_button.clicked.connect(self.check_examples)
        self.folder.textChanged.connect(self._on_folder_changed)
        self.editor.changed.connect(self._on_edited)
        self._on_selection()

    # ------------------------------------------------------------------ picker
    def _fill_combo(self, spec: str) -> None:
        self.combo.addItem(AUTOMATIC_LABEL, "")
        for name in BUILTIN_PRESETS:
            self.combo.addItem(f"{name} (built-in)", name)
        folder = user_presets_dir()
        if folder.is_dir():
            for path in sorted([*folder.glob("*.toml"), *folder.glob("*.json")]):
                self._add_file(str(path))
        self.select_spec(spec)

    def _add_file(self, path: str) -> int:
        index = self.combo.findData(path)
        if index < 0:
            self.combo.addItem(f"{Path(path).name}  ({Path(path).parent})", path)
            index = self.combo.count() - 1
        return index

    def select_spec(self, spec: str) -> None:
        index = self.combo.findData(spec)
        if index < 0:
            index = self._add_file(spec)
        self.combo.setCurrentIndex(index)

    def preset_spec(self) -> str:
        """What goes into ``Settings.preset``: "", a built-in name, or a file path."""
        return str(self.combo.currentData() or "")

    def examples_folder(self) -> str:
        return self.folder.text().strip()

    def error(self) -> str | None:
        """Why the selected preset cannot be used, or None."""
        return self._load_error

    def is_edited(self) -> bool:
        return bool(self._clean_hash) and preset_hash(self.editor.data()) != self._clean_hash

    def _on_selection(self, *_: object) -> None:
        spec = self.preset_spec()
        self._imported_from = ""
        try:
            if not spec:
                preset = load_preset(builtin_preset_path(BUILTIN_PRESETS[0]))
            elif spec in BUILTIN_PRESETS:
                preset = load_preset(builtin_preset_path(spec))
            else:
                preset = load_preset(spec)
        except PresetError as exc:
            self._preset, self._load_error = None, f"The preset cannot be used: {exc}"
            self.editor.setEnabled(False)
            self.save_button.setEnabled(False)
            _colored(self.facts, self._load_error, ERROR_COLOR)
            self.changed.emit()
            return
        self._preset, self._load_error = preset, None
        self.editor.setEnabled(True)
        self.editor.set_data(preset.data)
        self._clean_hash = preset_hash(self.editor.data())
        self._refresh()
        self.check_examples()
        self.changed.emit()

    def _on_open(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a prompt preset", str(user_presets_dir()), "Presets (*.toml *.json);;All files (*)")
        if path:
            self.select_spec(path)

    # ------------------------------------------------------------------ facts and checks
    def _is_builtin(self) -> bool:
        return self.preset_spec() in ("", *BUILTIN_PRESETS)

    def _own_folder(self) -> str:
        """The examples folder the preset in the editor names itself (the folder field overrides it)."""
        return str((self.editor.data().get("examples", {}) or {}).get("folder", "") or "")

    def _refresh(self) -> None:
        preset = self._preset
        if preset is None:
            return
        own = self._own_folder()
        self.folder.setPlaceholderText(
            f"empty: the preset's own folder, {own}" if own else "empty: the preset names no folder, so no examples are sent"
        )
        where = "built-in, read-only" if self._is_builtin() else preset.source_path
        facts = f"<b>{_html(preset.name)}</b> · {preset.kind} · hash <code>{preset.content_hash}</code> · {_html(where)}"
        if not self.preset_spec():
            facts += "<br>Videos use vhd11k-video; the editor shows vhd11k-image."
        folder = self.examples_folder()
        if folder and folder != own:
            try:
                effective = preset.with_examples_folder(folder).content_hash
                facts += f"<br>With the examples folder set here, results record hash <code>{effective}</code>."
            except PresetError:
                pass
        self.facts.setText(facts)
        self.facts.setStyleSheet("")
        self._refresh_status()

    def _refresh_status(self) -> None:
        problem = self.editor_error()
        self.save_button.setEnabled(self._preset is not None and problem is None)
        if problem:
            _colored(self.status, problem, ERROR_COLOR)
        elif self._imported_from:
            _colored(self.status, f"Imported from {self._imported_from} (hash {preset_hash(self.editor.data())}); use Save as… to keep it.", NOTE_COLOR)
        elif self.is_edited():
            what = "a built-in preset is never changed" if self._is_builtin() else "the file is not changed until you save"
            _colored(
                self.status,
                f"Edited (hash {preset_hash(self.editor.data())}); use Save as… to keep the edits ({what}). "
                "Unsaved edits are not used for debates.",
                NOTE_COLOR,
            )
        else:
            _colored(self.status, "", None)

    def editor_error(self) -> str | None:
        try:
            preset_from_data(self.editor.data(), "the edited preset")
        except PresetError as exc:
            return str(exc)
        return None

    def _examples_base(self) -> Path | None:
        folder = self.examples_folder() or self._own_folder()
        if not folder:
            return None
        base = Path(folder).expanduser()
        if not base.is_absolute() and self._preset is not None and self._preset.source_path:
            base = Path(self._preset.source_path).parent / base
        return base

    def missing_example_files(self) -> tuple[int, list[str]]:
        """(number of example files, those not found) for the examples in the editor."""
        base = self._examples_base()
        files = [f for item in self.editor.examples.example_items() for f in item["files"]]
        if base is None:
            return len(files), []
        return len(files), [f for f in files if not (base / f).is_file()]

    def check_examples(self, *_: object) -> None:
        base = self._examples_base()
        total, missing = self.missing_example_files()
        if total == 0:
            _colored(self.check_result, "No in-context examples in this preset.", None)
        elif base is None:
            _colored(self.check_result, f"{total} example file(s) listed; examples are off until a folder is set.", None)
        elif missing:
            shown = ", ".join(missing)
            _colored(self.check_result, f"{len(missing)} of {total} example file(s) not found in {base}: {shown}", ERROR_COLOR)
        else:
            _colored(self.check_result, f"All {total} example file(s) found in {base}.", OK_COLOR)

    def _on_folder_changed(self, *_: object) -> None:
        self._refresh()
        self.check_examples()
        self.changed.emit()

    def _on_choose_folder(self) -> None:
        start = self.examples_folder() or self._own_folder() or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Folder of the in-context example files", start)
        if folder:
            self.folder.setText(folder)

    def _on_edited(self) -> None:
        self._refresh_status()
        self.changed.emit()

    # ------------------------------------------------------------------ save and import
    def _on_save_as(self) -> None:
        suggestion = self._imported_from_stem() or (f"{self._preset.name}-custom" if self._preset else "my-preset")
        name, ok = QInputDialog.getText(self, "Save preset as", "Name of the new preset (saved in your config folder):", QLineEdit.EchoMode.Normal, suggestion)
        if ok:
            self.save_as(name)

    def _imported_from_stem(self) -> str:
        return f"imported-{Path(self._imported_from).stem}" if self._imported_from else ""

    def save_as(self, name: str) -> Path | None:
        """Write the edited preset as ``<config>/presets/<name>.toml`` and select it."""
        name = name.strip()
        stem = slug(name)
        if not stem:
            _colored(self.status, "Give the preset a name with at least one letter or digit.", ERROR_COLOR)
            return None
        if stem in BUILTIN_PRESETS:
            _colored(self.status, f"{stem} is a built-in preset; choose another name.", ERROR_COLOR)
            return None
        data = self.editor.data()
        data["name"] = name
        examples = dict(data.get("examples", {}) or {})
        examples["folder"] = self.examples_folder() or str(examples.get("folder", "") or "")
        data["examples"] = examples
        try:
            preset_from_data(data, name)
        except PresetError as exc:
            _colored(self.status, str(exc), ERROR_COLOR)
            return None
        path = user_presets_dir() / f"{stem}.toml"
        if path.exists():
            answer = QMessageBox.question(
                self,
                "Replace preset?",
                f"A preset file {path.name} already exists in {path.parent}. Replace it?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return None
        header = f"Prompt preset {name!r}, saved by VHD Annotator.\nA stored result keeps this preset's name and a hash of its content."
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(preset_to_toml(data, header), encoding="utf-8")
            os.replace(tmp, path)
            saved = load_preset(path)
        except (OSError, PresetError) as exc:
            _colored(self.status, f"Could not save the preset: {exc}", ERROR_COLOR)
            return None
        index = self._add_file(str(path))
        if index == self.combo.currentIndex():
            self._on_selection()
        else:
            self.combo.setCurrentIndex(index)  # reloads the editor from the new file
        _colored(self.status, f"Saved {saved.name!r} to {path} (hash {saved.content_hash}); it is now selected.", OK_COLOR)
        return path

    def _on_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import a VHD11K annotate script", str(Path.home()), "Shell scripts (*.sh);;All files (*)"
        )
        if path:
            self.import_script(path)

    def import_script(self, path: str) -> bool:
        """Fill the editor from an original annotate script, then offer Save as…"""
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            _colored(self.status, f"Cannot read {path}: {exc.strerror or exc}", ERROR_COLOR)
            return False
        variables = read_shell_variables(text)
        kind = "video" if "video" in Path(path).name.lower() or "path2VideoICL" in variables or "videoRoot" in variables else "image"
        try:
            data = preset_data_from_shell_script(text, kind)
            data["name"] = f"imported-{Path(path).stem}"
        except PresetError as exc:
            _colored(self.status, f"Cannot import {Path(path).name}: {exc}", ERROR_COLOR)
            return False
        self.editor.set_data(data)
        self._imported_from = path
        rounds = shell_script_rounds(text)
        if rounds is not None:
            self.rounds_imported.emit(rounds)
        self._refresh()
        self.check_examples()
        self._on_save_as()
        return True


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
