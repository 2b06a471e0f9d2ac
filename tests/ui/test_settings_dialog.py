"""The settings dialog, offscreen: edits round-trip, typed keys stay in memory, Test
connection against a real local server, preset Save as… and shell-script import, key
conflicts. No modal opens: file, input and message dialogs are monkeypatched."""

from __future__ import annotations

import asyncio
import logging
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDialogButtonBox, QFileDialog, QInputDialog, QLabel, QLineEdit, QMessageBox

from vhd_gui import config
from vhd_gui.config import RoleEndpoint, Settings, save_settings, settings_to_toml
from vhd_gui.protocol import BUILTIN_PRESETS, Role, builtin_preset_path, load_preset, preset_from_data
from vhd_gui.ui._actions import ACTIONS, DEFAULT_CATEGORIES, save_shortcuts
from vhd_gui.ui._preset_editor import preset_to_toml
from vhd_gui.ui._settings_dialog import SettingsDialog

from fakeserver import FakeServer

pytestmark = pytest.mark.gui

KEY_ENV = "VHD_DIALOG_TEST_KEY"
SECRET = "sk-typed-in-dialog-7f3a9c1e5b"
WAIT_MS = 30_000  # a generous ceiling for a local round trip (the first openai import is slow)
# Tests that need the asyncio loop run as coroutines on tests/ui/conftest.py's session-wide
# qasync loop (pytest_asyncio_loop_factories), as the app runs on one qasync loop.
on_qasync_loop = pytest.mark.asyncio(loop_scope="session")

# --------------------------------------------------------------------------- fixtures

async def until(predicate: Callable[[], object], what: str) -> None:
    """Let the qasync loop run until ``predicate()`` holds; the ceiling only guards a hang."""
    loop = asyncio.get_running_loop()
    end = loop.time() + WAIT_MS / 1000
    while not predicate():
        assert loop.time() < end, f"still waiting for {what}"
        await asyncio.sleep(0.01)


def default_shortcuts() -> dict[str, tuple[str, str]]:
    return {a.id: (a.label, a.default_key) for a in ACTIONS}


def default_prefs() -> dict[str, Any]:
    return {
        "safe_view_grayscale": False,
        "auto_advance": True,
        "export_path": "",
        "export_format": "vhd11k-json",
        "categories": list(DEFAULT_CATEGORIES),
    }


@pytest.fixture
def make_dialog(qtbot: Any) -> Callable[..., SettingsDialog]:
    def make(settings: Settings | None = None, shortcuts: dict[str, tuple[str, str]] | None = None, prefs: dict[str, Any] | None = None) -> SettingsDialog:
        dlg = SettingsDialog(settings or Settings(), shortcuts or default_shortcuts(), prefs or default_prefs())
        qtbot.addWidget(dlg)
        return dlg

    return make


@pytest.fixture
def no_modals(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Any modal the test did not plan for fails it, instead of blocking the run."""
    opened: list[str] = []

    def refuse(name: str) -> Callable[..., Any]:
        def fail(*args: Any, **kwargs: Any) -> Any:
            opened.append(name)
            raise AssertionError(f"unexpected modal: {name}")

        return fail

    for name in ("getOpenFileName", "getSaveFileName", "getExistingDirectory"):
        monkeypatch.setattr(QFileDialog, name, staticmethod(refuse(f"QFileDialog.{name}")))
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(refuse("QInputDialog.getText")))
    for name in ("question", "warning", "information", "critical"):
        monkeypatch.setattr(QMessageBox, name, staticmethod(refuse(f"QMessageBox.{name}")))
    return opened


def ok_button(dlg: SettingsDialog) -> Any:
    return dlg.buttons.button(QDialogButtonBox.StandardButton.Ok)


def endpoint_settings(base_url: str, model: str = "fake-vlm") -> Settings:
    s = Settings()
    for ep in s.endpoints.values():
        ep.base_url = base_url
        ep.model = model
        ep.api_key_env = KEY_ENV
    return s


# --------------------------------------------------------------------------- round trips


def test_edits_round_trip_and_the_input_is_untouched(make_dialog: Callable[..., SettingsDialog], no_modals: list[str], qtbot: Any) -> None:
    original = Settings()
    dlg = make_dialog(original)
    judge = dlg.endpoints_tab.forms["judge"]
    judge.base_url.setText("http://127.0.0.1:8000/v1")
    judge.model.setText("qwen2-vl")
    judge.key_env.setText("MY_KEY")
    judge.temperature.setValue(0.3)
    judge.max_tokens.setValue(256)
    d = dlg.debate_tab
    d.rounds.setValue(3)
    d.frames.setValue(8)
    d.max_side.setValue(768)
    d.layout_combo.setCurrentIndex(d.layout_combo.findData("chat"))
    d.critic.setChecked(True)
    d.turn_timeout.setValue(90)
    d.attempts.setValue(2)
    d.logprobs.setChecked(True)
    d.price_in.setValue(0.001)
    d.price_cached.setValue(0.0005)
    d.price_out.setValue(0.004)
    dlg.preset_tab.select_spec("vhd11k-video")
    dlg.preset_tab.folder.setText("/data/ICL_videos_frames")
    v = dlg.view_tab
    v.grayscale.setChecked(True)
    v.auto_advance.setChecked(False)
    v.export_path.setText("/tmp/labels.csv")
    v.export_format.setCurrentIndex(v.export_format.findData("vhd11k-csv"))

    s = dlg.settings()
    ep = s.endpoint(Role.JUDGE)
    assert (ep.base_url, ep.model, ep.api_key_env, ep.temperature, ep.max_tokens, ep.api_key) == (
        "http://127.0.0.1:8000/v1", "qwen2-vl", "MY_KEY", 0.3, 256, None)
    assert s.endpoint(Role.AFFIRMATIVE) == RoleEndpoint()  # untouched roles stay default
    assert (s.rounds, s.frames, s.max_side, s.layout, s.critic, s.turn_timeout, s.attempts, s.request_logprobs) == (
        3, 8, 768, "chat", True, 90.0, 2, True)
    assert (s.price_in_per_1k, s.price_cached_in_per_1k, s.price_out_per_1k) == (0.001, 0.0005, 0.004)
    assert (s.preset, s.examples_folder) == ("vhd11k-video", "/data/ICL_videos_frames")
    assert "Each earlier turn" in d.layout_hint.text()
    prefs = dlg.ui_prefs()
    assert prefs == {**default_prefs(), "safe_view_grayscale": True, "auto_advance": False,
                     "export_path": "/tmp/labels.csv", "export_format": "vhd11k-csv"}
    assert dlg.shortcuts() == {a.id: a.default_key for a in ACTIONS}
    # Fields the dialog does not show survive, and the caller's object is not changed.
    assert s.read_timeout == original.read_timeout and s.retry_base_delay == original.retry_base_delay
    assert original == Settings() and s is not original and s.endpoints is not original.endpoints
    assert ok_button(dlg).isEnabled()
    assert no_modals == []


def test_video_frame_sampling_round_trips_through_the_settings_file(make_dialog: Callable[..., SettingsDialog], tmp_path: Path) -> None:
    dlg = make_dialog()
    combo = dlg.debate_tab.sampling
    assert combo.currentData() == "exact" and [combo.itemData(i) for i in range(combo.count())] == ["exact", "keyframes"]
    combo.setCurrentIndex(combo.findData("keyframes"))
    s = dlg.settings()
    assert s.sampling == "keyframes"
    path = tmp_path / "settings.toml"
    save_settings(s, path)
    assert tomllib.loads(path.read_text())["debate"]["sampling"] == "keyframes"
    again = make_dialog(config.load_settings(path))  # and it shows what the file says
    assert again.debate_tab.sampling.currentData() == "keyframes"


def test_defaults_show_unset_values_as_server_default(make_dialog: Callable[..., SettingsDialog]) -> None:
    dlg = make_dialog()
    form = dlg.endpoints_tab.forms["critic"]
    assert form.temperature.text() == "server default" and form.max_tokens.text() == "server default"
    assert dlg.settings() == Settings()
    assert dlg.preset_tab.preset_spec() == ""  # automatic: the built-in preset per media kind


def test_same_as_judge_and_copy_to_all(make_dialog: Callable[..., SettingsDialog]) -> None:
    dlg = make_dialog()
    forms = dlg.endpoints_tab.forms
    forms["judge"].base_url.setText("http://judge.local/v1")
    forms["judge"].model.setText("big-model")
    forms["critic"].same_as_judge.click()
    assert dlg.settings().endpoint(Role.CRITIC).model == "big-model"
    assert dlg.settings().endpoint(Role.NEGATIVE).model == ""
    assert not forms["judge"].same_as_judge.isVisibleTo(forms["judge"])
    forms["affirmative"].model.setText("small-model")
    forms["affirmative"].copy_to_all.click()
    assert {ep.model for ep in dlg.settings().endpoints.values()} == {"small-model"}


def test_invalid_base_url_disables_ok_with_a_plain_reason(make_dialog: Callable[..., SettingsDialog]) -> None:
    dlg = make_dialog()
    form = dlg.endpoints_tab.forms["negative"]
    form.base_url.setText("ftp://example.org")
    assert not ok_button(dlg).isEnabled()
    assert "negative base_url must start with http:// or https://" in dlg.problems.text()
    form.base_url.setText("http://")
    assert "names no server" in dlg.problems.text() and not ok_button(dlg).isEnabled()
    form.base_url.setText("http://localhost:11434/v1")
    assert ok_button(dlg).isEnabled() and dlg.problems.text() == ""


# --------------------------------------------------------------------------- keys in memory


def test_a_typed_key_lives_only_in_memory(
    make_dialog: Callable[..., SettingsDialog], tmp_path: Path, qtbot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    dlg = make_dialog()
    form = dlg.endpoints_tab.forms["judge"]
    assert any("never written to the settings file, QSettings or logs" in w.text() for w in dlg.endpoints_tab.findChildren(QLabel))
    assert form.key.echoMode() == QLineEdit.EchoMode.Password
    qtbot.keyClicks(form.key, SECRET)
    s = dlg.settings()
    assert s.endpoint(Role.JUDGE).api_key == SECRET
    assert s.endpoint(Role.JUDGE).resolve_key() == SECRET

    # What the main window would persist: the settings file and the shortcuts in QSettings.
    assert SECRET not in settings_to_toml(s)
    assert SECRET not in repr(s)
    written = save_settings(s, tmp_path / "settings.toml")
    qs = QSettings()
    save_shortcuts(qs, dlg.shortcuts())
    for key, value in dlg.ui_prefs().items():
        qs.setValue(f"view/{key}", value)
    qs.sync()
    assert SECRET not in written.read_text(encoding="utf-8")
    assert all(SECRET not in str(qs.value(k)) for k in qs.allKeys())
    assert SECRET.encode() not in Path(qs.fileName()).read_bytes()
    # No file anywhere under the isolated home or tmp dir holds it (config, QSettings, caches).
    for root in (Path(config.config_dir()).parents[1], tmp_path):
        for path in root.rglob("*"):
            if path.is_file():
                assert SECRET.encode() not in path.read_bytes(), path
    assert SECRET not in caplog.text


# --------------------------------------------------------------------------- test connection


@pytest.fixture
def key_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    monkeypatch.setenv(KEY_ENV, "k")
    with FakeServer(api_key="k") as srv:
        yield srv


async def run_test(dlg: SettingsDialog, role: str) -> str:
    """Click the role's Test connection button and wait for its verdict line."""
    form = dlg.endpoints_tab.forms[role]
    form.test_button.click()
    assert not form.test_button.isEnabled() and form.result.text() == "Testing…"
    await until(lambda: not dlg.is_testing(role), f"the {role} connection test")
    assert form.test_button.isEnabled()
    return form.result.text()


@on_qasync_loop
async def test_test_connection_says_ok(key_server: FakeServer, make_dialog: Callable[..., SettingsDialog]) -> None:
    dlg = make_dialog(endpoint_settings(key_server.base_url))
    text = await run_test(dlg, "judge")
    assert text.startswith("OK: ") and key_server.base_url in text and "'fake-vlm'" in text
    assert "#1b7f3b" in dlg.endpoints_tab.forms["judge"].result.styleSheet()
    assert dlg.endpoints_tab.forms["affirmative"].result.text() == ""  # only the role asked


@on_qasync_loop
async def test_test_connection_names_a_wrong_model(key_server: FakeServer, make_dialog: Callable[..., SettingsDialog]) -> None:
    dlg = make_dialog(endpoint_settings(key_server.base_url))
    dlg.endpoints_tab.forms["critic"].model.setText("no-such-model")  # the form, not the input, is tested
    text = await run_test(dlg, "critic")
    assert text.startswith("Failed: ")
    assert "model 'no-such-model' not found" in text and "404" in text
    assert "#b3261e" in dlg.endpoints_tab.forms["critic"].result.styleSheet()


@on_qasync_loop
async def test_test_connection_uses_the_typed_key_and_reports_a_bad_one(
    make_dialog: Callable[..., SettingsDialog], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with FakeServer(api_key=SECRET) as srv:
        dlg = make_dialog(endpoint_settings(srv.base_url))  # $KEY_ENV is not set
        form = dlg.endpoints_tab.forms["negative"]
        assert "not set" in form.key.placeholderText()
        assert "rejected the API key (401)" in await run_test(dlg, "negative")
        form.key.setText(SECRET)
        text = await run_test(dlg, "negative")
        assert text.startswith("OK: ") and SECRET not in text
    assert SECRET not in caplog.text


@on_qasync_loop
async def test_test_connection_reports_an_unreachable_server(make_dialog: Callable[..., SettingsDialog]) -> None:
    import socket

    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dlg = make_dialog(endpoint_settings(f"http://127.0.0.1:{port}/v1"))
    text = await run_test(dlg, "affirmative")
    assert text.startswith("Failed: cannot reach the server")


@on_qasync_loop
async def test_closing_the_dialog_cancels_a_running_test(key_server: FakeServer, make_dialog: Callable[..., SettingsDialog]) -> None:
    key_server.inject("hang")
    dlg = make_dialog(endpoint_settings(key_server.base_url))
    dlg.endpoints_tab.forms["judge"].test_button.click()
    await until(lambda: key_server.stats.requests > 0, "the hanging request")
    task = dlg._tests["judge"]
    dlg.reject()
    await until(task.done, "the cancelled test")
    assert task.cancelled()


# --------------------------------------------------------------------------- presets


TRICKY = 'He said """hi""" and \\n is not a break; a tab\there\r\nCRLF, ünïcode, {rounds}, ends with a quote"'

TRICKY_TEXT = TRICKY.replace("\r\n", "\n")  # what a text box holds: Qt keeps no CR


@pytest.mark.parametrize(
    "value",
    ["plain", "", 'one "quote"', 'ends with "', '""', '"""', '""""', "back\\slash\\", "line\nbreak", "\nleading newline",
     "trailing newline\n", "\x01control\x7f", "tab\tand\rcr", TRICKY],
)
def test_toml_writer_round_trips_tricky_strings(value: str) -> None:
    data = {"name": value, "prompts": {"judge": value, "odd key.x": value}, "examples": {"folder": value, "item": [{"files": [value, "b"], "answer": value}]}}
    assert tomllib.loads(preset_to_toml(data, "header line\nsecond")) == data


def test_toml_writer_round_trips_every_builtin_preset() -> None:
    for name in BUILTIN_PRESETS:
        data = dict(load_preset(builtin_preset_path(name)).data)
        assert tomllib.loads(preset_to_toml(data)) == data


def test_preset_save_as_writes_a_new_file_and_selects_it(
    make_dialog: Callable[..., SettingsDialog], no_modals: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    builtin_bytes = {n: builtin_preset_path(n).read_bytes() for n in BUILTIN_PRESETS}
    dlg = make_dialog()
    panel = dlg.preset_tab
    panel.select_spec("vhd11k-image")
    before = load_preset(builtin_preset_path("vhd11k-image"))
    assert before.content_hash in panel.facts.text() and "built-in" in panel.facts.text()
    panel.editor.question.setText("Is this picture harmful?")
    panel.editor.prompts["judge"].setPlainText(TRICKY_TEXT)
    panel.editor.instructions["negative_rebuttal"].setPlainText("")  # optional: dropped
    panel.editor.examples.add_row(["clip_0.png", "clip_1.png"], "No, a cooking show.")
    assert panel.is_edited() and "Save as" in panel.status.text()
    panel.folder.setText("/icl")
    asked: list[str] = []
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: (asked.append(a[2]) or ("My preset", True))))
    panel.save_button.click()

    path = config.config_dir() / "presets" / "My-preset.toml"
    assert asked and path.is_file()
    saved = load_preset(path)
    assert saved.name == "My preset" and saved.kind == "image"
    assert saved.question == "Is this picture harmful?"
    assert saved.prompts["judge"] == TRICKY_TEXT
    assert "negative_rebuttal" not in saved.instructions
    assert saved.examples[-1].files == ("clip_0.png", "clip_1.png") and len(saved.examples) == len(before.examples) + 1
    assert saved.examples_folder == "/icl"
    assert saved.content_hash != before.content_hash
    assert dlg.settings().preset == str(path)
    assert saved.content_hash in panel.facts.text() and not panel.is_edited()
    assert "Saved" in panel.status.text()
    assert {n: builtin_preset_path(n).read_bytes() for n in BUILTIN_PRESETS} == builtin_bytes
    # A second dialog lists the saved file among the presets and selects it from the settings.
    again = make_dialog(dlg.settings())
    assert again.preset_tab.preset_spec() == str(path)
    assert again.preset_tab.editor.prompts["judge"].toPlainText() == TRICKY_TEXT


def test_save_as_refuses_builtin_names_and_asks_before_replacing(
    make_dialog: Callable[..., SettingsDialog], no_modals: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    dlg = make_dialog()
    panel = dlg.preset_tab
    assert panel.save_as("vhd11k-image") is None and "built-in preset" in panel.status.text()
    path = panel.save_as("mine")
    assert path is not None and path.is_file()
    first = path.read_bytes()
    panel.editor.question.setText("Changed?")
    answers = iter([QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes])
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: next(answers)))
    assert panel.save_as("mine") is None and path.read_bytes() == first
    assert panel.save_as("mine") == path and load_preset(path).question == "Changed?"


def test_invalid_preset_edits_block_save_as_with_the_reason(make_dialog: Callable[..., SettingsDialog]) -> None:
    dlg = make_dialog()
    panel = dlg.preset_tab
    panel.editor.examples.add_row(["x.png"], "Maybe, hard to say.")
    assert not panel.save_button.isEnabled()
    assert "must start with Yes or No" in panel.status.text()
    panel.editor.examples.removeRow(panel.editor.examples.rowCount() - 1)
    panel.editor.prompts["critic"].setPlainText("  ")
    assert not panel.save_button.isEnabled() and "needs a non-empty 'critic'" in panel.status.text()
    # Unsaved edits never block OK: the selected preset file itself is fine.
    assert ok_button(dlg).isEnabled()


def test_a_broken_preset_file_disables_ok(make_dialog: Callable[..., SettingsDialog], tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('name = "x"\n[prompts]\n', encoding="utf-8")
    s = Settings()
    s.preset = str(broken)
    dlg = make_dialog(s)
    assert not ok_button(dlg).isEnabled()
    assert "The preset cannot be used" in dlg.problems.text()
    dlg.preset_tab.select_spec("vhd11k-image")
    assert ok_button(dlg).isEnabled()


def test_open_preset_file_via_the_file_dialog(make_dialog: Callable[..., SettingsDialog], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = dict(load_preset(builtin_preset_path("vhd11k-video")).data)
    data["name"] = "shared-by-a-colleague"
    path = tmp_path / "shared.toml"
    path.write_text(preset_to_toml(data), encoding="utf-8")
    dlg = make_dialog()
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(path), "")))
    dlg.preset_tab.open_button.click()
    assert dlg.settings().preset == str(path)
    assert "shared-by-a-colleague" in dlg.preset_tab.facts.text() and "video" in dlg.preset_tab.facts.text()


def test_examples_check_lists_missing_files(make_dialog: Callable[..., SettingsDialog], tmp_path: Path) -> None:
    dlg = make_dialog()
    panel = dlg.preset_tab
    panel.select_spec("vhd11k-image")
    assert "examples are off" in panel.check_result.text()
    icl = tmp_path / "ICL_images"
    icl.mkdir()
    files = [f for ex in load_preset(builtin_preset_path("vhd11k-image")).examples for f in ex.files]
    for name in files[:-2]:
        (icl / name).write_bytes(b"x")
    panel.folder.setText(str(icl))
    text = panel.check_result.text()
    assert text.startswith(f"2 of {len(files)} example file(s) not found") and files[-1] in text and files[-2] in text
    for name in files[-2:]:
        (icl / name).write_bytes(b"x")
    panel.check_button.click()
    assert panel.check_result.text() == f"All {len(files)} example file(s) found in {icl}."
    assert dlg.settings().examples_folder == str(icl)


SCRIPT = r'''#!/usr/bin/bash
path2ImageICL="/nowhere/ICL_images"
initMessage="Is the given image harmful?"
debateRoundNum=3
affirmativeInstruction="You are a debater for the harmful side. Within $debateRoundNum rounds, at most 3 short reasons."
negativeInstruction="You are a debater for the unharmful side. Within $debateRoundNum rounds, at most 3 short reasons."
judgeInstruction="You are a judge. Answer \"Yes, <category>.\" or \"No, <reason>.\". For instance, here are 2 images and their responses:[newline]<img $path2ImageICL/a.jpeg> [arrow] Yes, bloody scene.[newline]<img $path2ImageICL/b.png> [arrow] No, neutral expression."
'''


def test_import_shell_script_fills_saves_and_selects_a_preset(
    make_dialog: Callable[..., SettingsDialog], no_modals: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "annotateImage.sh"
    script.write_text(SCRIPT, encoding="utf-8")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(script), "")))
    suggested: list[str] = []

    def name_it(*args: Any, **kwargs: Any) -> tuple[str, bool]:
        suggested.append(args[4] if len(args) > 4 else kwargs.get("text", ""))
        return suggested[-1], True

    monkeypatch.setattr(QInputDialog, "getText", staticmethod(name_it))
    dlg = make_dialog()
    dlg.preset_tab.import_button.click()

    assert suggested == ["imported-annotateImage"]
    path = config.config_dir() / "presets" / "imported-annotateImage.toml"
    preset = load_preset(path)
    assert dlg.settings().preset == str(path)
    assert dlg.settings().rounds == 3  # debateRoundNum lands in the Debate tab
    assert preset.question == "Is the given image harmful?"
    assert preset.examples_folder == "/nowhere/ICL_images"
    assert [e.answer for e in preset.examples] == ["Yes, bloody scene.", "No, neutral expression."]
    assert "Within 3 rounds" in preset.system_prompt(Role.AFFIRMATIVE, rounds=3)
    assert "2 of 2 example file(s) not found" in dlg.preset_tab.check_result.text()


def test_import_of_an_unrelated_script_says_why(
    make_dialog: Callable[..., SettingsDialog], no_modals: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "build.sh"
    script.write_text("#!/bin/sh\nmake all\n", encoding="utf-8")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(script), "")))
    dlg = make_dialog()
    dlg.preset_tab.import_button.click()
    assert "Cannot import build.sh: no VHD11K variables found" in dlg.preset_tab.status.text()
    assert dlg.settings().preset == ""


def test_imported_preset_is_a_valid_preset_even_when_not_saved(
    make_dialog: Callable[..., SettingsDialog], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "annotateVideo.sh"
    script.write_text(SCRIPT.replace("path2ImageICL", "path2VideoICL"), encoding="utf-8")
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("", False)))  # cancelled
    dlg = make_dialog()
    assert dlg.preset_tab.import_script(str(script))
    data = dlg.preset_tab.editor.data()
    assert preset_from_data(data).kind == "video"
    assert "Imported from" in dlg.preset_tab.status.text()
    assert dlg.settings().preset == ""  # nothing selected until it is saved


# --------------------------------------------------------------------------- keys


def test_key_conflict_warns_and_disables_ok_until_fixed(make_dialog: Callable[..., SettingsDialog], qtbot: Any) -> None:
    dlg = make_dialog()
    keys = dlg.keys_tab
    edit = keys.edits["next"]
    edit.setFocus()
    qtbot.keyClick(edit, Qt.Key.Key_H)
    assert dlg.shortcuts()["next"] == "H"
    assert not ok_button(dlg).isEnabled()
    harmful, nxt = keys.labels["harmful"], keys.labels["next"]
    assert f"H is used by {harmful!r} and {nxt!r}." in keys.conflicts_label.text()
    assert "H is used by" in dlg.problems.text()
    edit.setKeySequence(QKeySequence("Ctrl+Shift+D"))
    assert ok_button(dlg).isEnabled() and keys.conflicts_label.text() == ""
    assert dlg.shortcuts()["next"] == "Ctrl+Shift+D"


def test_equal_keys_written_differently_still_conflict(make_dialog: Callable[..., SettingsDialog]) -> None:
    dlg = make_dialog(shortcuts={"a": ("First", "Ctrl+Shift+K"), "b": ("Second", "Shift+Ctrl+K"), "c": ("Third", "")})
    assert dlg.keys_tab.conflicts() == ["Ctrl+Shift+K is used by 'First' and 'Second'."]
    assert not ok_button(dlg).isEnabled()


def test_restore_defaults_and_clearing_a_key(make_dialog: Callable[..., SettingsDialog]) -> None:
    custom = default_shortcuts()
    custom["undo"] = (custom["undo"][0], "Ctrl+U")
    custom["next"] = (custom["next"][0], "H")  # a conflict the user brought along
    dlg = make_dialog(shortcuts=custom)
    assert not ok_button(dlg).isEnabled()
    dlg.keys_tab.edits["zoom_fit"].clear()
    assert dlg.shortcuts()["zoom_fit"] == ""
    dlg.keys_tab.restore.click()
    assert dlg.shortcuts() == {a.id: a.default_key for a in ACTIONS}
    assert ok_button(dlg).isEnabled()


# --------------------------------------------------------------------------- view


def test_categories_edit_and_order_follow_the_digit_keys(make_dialog: Callable[..., SettingsDialog], qtbot: Any) -> None:
    dlg = make_dialog()
    view = dlg.view_tab
    table = view.categories
    assert [table.verticalHeaderItem(i).text() for i in range(table.rowCount())] == list("1234567890")
    table.setCurrentCell(1, 0)
    view._on_up()
    assert dlg.ui_prefs()["categories"][:2] == [DEFAULT_CATEGORIES[1], DEFAULT_CATEGORIES[0]]
    view._on_add()
    table.item(table.rowCount() - 1, 0).setText("spam")
    assert table.verticalHeaderItem(10).text() == "–"  # only ten digit keys
    assert dlg.ui_prefs()["categories"][-1] == "spam"
    table.item(3, 0).setText("  ")
    assert not ok_button(dlg).isEnabled() and "A category is empty" in dlg.problems.text()
    table.setCurrentCell(3, 0)
    view._on_remove()
    assert ok_button(dlg).isEnabled() and len(dlg.ui_prefs()["categories"]) == 10


def test_annotation_file_chooser(make_dialog: Callable[..., SettingsDialog], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def pick(*args: Any, **kwargs: Any) -> tuple[str, str]:
        seen.append(args[3])
        return str(tmp_path / "out.csv"), args[3]

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(pick))
    dlg = make_dialog()
    view = dlg.view_tab
    view.export_format.setCurrentIndex(view.export_format.findData("vhd11k-csv"))
    view._on_browse()
    assert seen == ["VHD11K CSV (*.csv)"]
    assert dlg.ui_prefs()["export_path"] == str(tmp_path / "out.csv")


def test_extra_prefs_pass_through(make_dialog: Callable[..., SettingsDialog]) -> None:
    prefs = {**default_prefs(), "something_else": 3}
    dlg = make_dialog(prefs=prefs)
    assert dlg.ui_prefs()["something_else"] == 3
    assert dlg.ui_prefs() is not prefs
