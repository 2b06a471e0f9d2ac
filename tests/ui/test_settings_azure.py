"""The settings dialog's endpoint forms for Azure OpenAI, offscreen: the provider switch, the
fields it shows, what is saved to the settings file, and Test connection against the test
server speaking Azure's paths and api-key header (tests/fakeserver.py: AzureFakeServer)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QDialogButtonBox

from vhd_gui.config import DEFAULT_AZURE_API_VERSION, Settings, load_settings, save_settings
from vhd_gui.protocol import Role
from vhd_gui.ui._actions import ACTIONS, DEFAULT_CATEGORIES
from vhd_gui.ui._settings_dialog import SettingsDialog

from fakeserver import AzureFakeServer

pytestmark = pytest.mark.gui
on_qasync_loop = pytest.mark.asyncio(loop_scope="session")

AZURE_KEY = "azure-dialog-key-5d0c2e9a71"


@pytest.fixture
def make_dialog(qtbot: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[..., SettingsDialog]:
    for var in ("AZURE_OPENAI_ENDPOINT", "OPENAI_API_VERSION"):
        monkeypatch.delenv(var, raising=False)

    def make(settings: Settings | None = None) -> SettingsDialog:
        prefs = {"safe_view_grayscale": False, "auto_advance": True, "export_path": "", "export_format": "vhd11k-json",
                 "categories": list(DEFAULT_CATEGORIES)}
        dlg = SettingsDialog(settings or Settings(), {a.id: (a.label, a.default_key) for a in ACTIONS}, prefs)
        qtbot.addWidget(dlg)
        return dlg

    return make


def ok_enabled(dlg: SettingsDialog) -> bool:
    return dlg.buttons.button(QDialogButtonBox.StandardButton.Ok).isEnabled()


def test_switching_a_role_to_azure_shows_its_fields_and_saves_them(make_dialog: Callable[..., SettingsDialog], tmp_path: Path) -> None:
    dlg = make_dialog()
    form = dlg.endpoints_tab.forms["judge"]
    assert form.base_url.isVisibleTo(form) and not form.azure_endpoint.isVisibleTo(form) and not form.api_version.isVisibleTo(form)
    form.provider.setCurrentIndex(form.provider.findData("azure"))
    assert not form.base_url.isVisibleTo(form) and form.azure_endpoint.isVisibleTo(form) and form.api_version.isVisibleTo(form)
    assert form.model_label.text() == "Deploy&ment:" and form.key_env.text() == "AZURE_OPENAI_API_KEY"
    assert form.api_version.placeholderText() == f"empty: {DEFAULT_AZURE_API_VERSION}"
    # No endpoint anywhere: OK stays disabled with a reason.
    assert not ok_enabled(dlg) and "names no endpoint" in dlg.problems.text() and "AZURE_OPENAI_ENDPOINT" in dlg.problems.text()
    form.azure_endpoint.setText("https://contoso.openai.azure.com")
    form.model.setText("gpt4o-judge")
    assert ok_enabled(dlg), dlg.problems.text()
    form.api_version.setText("newest")
    assert not ok_enabled(dlg) and "api_version 'newest' is not an Azure OpenAI API version" in dlg.problems.text()
    form.api_version.setText("2025-01-01-preview")
    assert ok_enabled(dlg)

    s = dlg.settings()
    judge = s.endpoint(Role.JUDGE)
    assert (judge.provider, judge.azure_endpoint, judge.model, judge.api_version, judge.api_key_env) == (
        "azure", "https://contoso.openai.azure.com", "gpt4o-judge", "2025-01-01-preview", "AZURE_OPENAI_API_KEY")
    assert not s.endpoint(Role.NEGATIVE).is_azure
    text = save_settings(s, tmp_path / "settings.toml").read_text()
    assert 'provider = "azure"' in text and 'deployment = "gpt4o-judge"' in text
    # The file opens again in the dialog as it was left.
    reopened = make_dialog(load_settings(tmp_path / "settings.toml"))
    again = reopened.endpoints_tab.forms["judge"]
    assert again.current_provider() == "azure" and again.azure_endpoint.isVisibleTo(again) and not again.base_url.isVisibleTo(again)
    assert (again.azure_endpoint.text(), again.model.text(), again.api_version.text()) == ("https://contoso.openai.azure.com", "gpt4o-judge", "2025-01-01-preview")


def test_a_named_key_variable_is_kept_and_copy_to_all_copies_the_kind(make_dialog: Callable[..., SettingsDialog]) -> None:
    dlg = make_dialog()
    forms = dlg.endpoints_tab.forms
    forms["negative"].key_env.setText("TEAM_KEY")
    forms["negative"].provider.setCurrentIndex(forms["negative"].provider.findData("azure"))
    assert forms["negative"].key_env.text() == "TEAM_KEY"
    forms["negative"].provider.setCurrentIndex(forms["negative"].provider.findData("openai"))
    assert forms["negative"].key_env.text() == "TEAM_KEY" and forms["negative"].base_url.isVisibleTo(forms["negative"])

    judge = forms["judge"]
    judge.provider.setCurrentIndex(judge.provider.findData("azure"))
    judge.azure_endpoint.setText("https://x.openai.azure.com")
    judge.copy_to_all.click()
    assert {(ep.provider, ep.azure_endpoint, ep.api_key_env) for ep in dlg.settings().endpoints.values()} == {
        ("azure", "https://x.openai.azure.com", "AZURE_OPENAI_API_KEY")}
    assert all(f.azure_endpoint.isVisibleTo(f) and f.model_label.text() == "Deploy&ment:" for f in forms.values())


# --------------------------------------------------------------------------- Test connection


@pytest.fixture
def azure(monkeypatch: pytest.MonkeyPatch) -> Iterator[AzureFakeServer]:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", AZURE_KEY)
    with AzureFakeServer(api_key=AZURE_KEY) as srv:
        yield srv


async def run_test(dlg: SettingsDialog, role: str) -> str:
    form = dlg.endpoints_tab.forms[role]
    form.test_button.click()
    loop = asyncio.get_running_loop()
    end = loop.time() + 30
    while dlg.is_testing(role):
        assert loop.time() < end, "the connection test hangs"
        await asyncio.sleep(0.01)
    return form.result.text()


@on_qasync_loop
async def test_test_connection_for_azure(azure: AzureFakeServer, make_dialog: Callable[..., SettingsDialog]) -> None:
    dlg = make_dialog()
    form = dlg.endpoints_tab.forms["critic"]
    form.provider.setCurrentIndex(form.provider.findData("azure"))
    form.azure_endpoint.setText(azure.endpoint)
    form.model.setText("fake-judge")
    text = await run_test(dlg, "critic")
    assert text.startswith(f"OK: {azure.endpoint} answered; the key was accepted; model 'fake-judge' replied"), text
    assert azure.paths == [f"/openai/deployments/fake-judge/chat/completions?api-version={DEFAULT_AZURE_API_VERSION}"]

    form.model.setText("not-deployed")
    text = await run_test(dlg, "critic")
    assert text.startswith("Failed: ") and "'not-deployed' not found" in text

    form.model.setText("fake-judge")
    form.key.setText("typed-but-wrong")
    text = await run_test(dlg, "critic")
    assert text.startswith("Failed: ") and "rejected the API key (401)" in text and "typed-but-wrong" not in text
    form.key.setText(AZURE_KEY)
    assert (await run_test(dlg, "critic")).startswith("OK: ")
