"""The first-run page, its banner and the empty state, on the real window (offscreen) against
the real test server. Screenshots of both go to docs/."""

from __future__ import annotations

import os
import socket
import tomllib
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_until
from PySide6.QtCore import Qt

from vhd_gui import config
from vhd_gui.config import Settings
from vhd_gui.ui._first_run import PRESETS, FirstRunPage, Onboarding, attach_onboarding

from fakeserver import FakeServer
from helpers import TEST_KEY, TEST_KEY_ENV, settings_for

pytestmark = [pytest.mark.gui, pytest.mark.asyncio(loop_scope="session")]
DOCS = Path(__file__).resolve().parents[2] / "docs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def checked(w: Any) -> tuple[Onboarding, bool]:
    ob = attach_onboarding(w, check=False)
    shown: list[bool] = []
    ob.did_check.connect(shown.append)
    ob.start_check()
    await wait_until(lambda: shown, what="the start-up check")
    return ob, shown[0]


def page_visible(ob: Onboarding) -> bool:
    return ob.page_overlay is not None and ob.page_overlay.isVisible()


async def test_nothing_configured_shows_the_first_run_page_and_save_makes_it_work(
    make_window: Any, server: FakeServer, qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = make_window()
    w.settings = Settings()  # no settings file, no $OPENAI_* variables
    ob, shown = await checked(w)
    assert shown and page_visible(ob) and ob.page is not None
    page = ob.page
    assert "No model server is set up" in page.reason.text()
    assert page.provider.currentText() == "OpenAI" and page.base_url.text() == "https://api.openai.com/v1"
    assert [p.name for p in PRESETS][:7] == ["OpenAI", "Azure OpenAI", "vLLM (local)", "Ollama", "LM Studio", "llama.cpp server", "LiteLLM gateway"]
    assert all(p.provider in ("openai", "azure") for p in PRESETS) and PRESETS[1].provider == "azure"

    # a local vLLM preset fills its usual URL and needs no key
    page.provider.setCurrentIndex(2)
    assert page.base_url.text() == "http://127.0.0.1:8000/v1" and page.key_none.isChecked()
    w.resize(1100, 720)
    w.grab().save(str(DOCS / "first-run.png"))

    # point it at the test server, with the key from an environment variable
    page.base_url.setText(server.base_url)
    page.key_from_env.setChecked(True)
    page.key_env.setText(TEST_KEY_ENV)
    assert page.key_env_state.text() == "is set"
    page.list_button.click()
    await wait_until(lambda: page.model.count() == 2, what="the model list")
    assert [page.model.itemText(i) for i in range(2)] == ["fake-judge", "fake-vlm"]
    page.model.setCurrentText("fake-vlm")
    page.test_button.click()
    await wait_until(lambda: page.result.text().startswith(("Works", "Failed")), timeout=60, what="the test")
    assert page.result.text().startswith("Works"), page.result.text()
    page.save_button.click()
    assert not page_visible(ob) and not ob.banner.isVisible()
    saved = tomllib.loads(config.settings_path().read_text(encoding="utf-8"))
    assert saved["roles"]["judge"] == {"base_url": server.base_url, "model": "fake-vlm", "api_key_env": TEST_KEY_ENV}
    assert all(w.settings.endpoint(r).model == "fake-vlm" for r in ("affirmative", "negative", "judge"))
    assert TEST_KEY not in config.settings_path().read_text(encoding="utf-8")


async def test_a_pasted_key_stays_in_memory(make_window: Any, server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TEST_KEY_ENV)
    w = make_window()
    ob = attach_onboarding(w, check=False)
    page = ob.show_first_run("")
    page.provider.setCurrentIndex(len(PRESETS) - 1)  # another OpenAI-compatible server
    page.base_url.setText(server.base_url)
    page.key_typed.setChecked(True)
    page.model.setEditText("fake-vlm")
    page.save_button.click()
    assert page.result.text() == "Paste the key, or choose the environment variable."
    page.key.setText(TEST_KEY)
    page.save_button.click()
    assert not page_visible(ob)
    assert w.settings.endpoint("judge").api_key == TEST_KEY
    assert TEST_KEY not in config.settings_path().read_text(encoding="utf-8")


async def test_prefilled_from_openai_variables_and_a_silent_server_is_named(
    make_window: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment-123456")
    w = make_window()
    w.settings = Settings()
    ob, shown = await checked(w)
    assert shown and ob.page is not None
    assert f"The server at http://127.0.0.1:{port}/v1 did not answer" in ob.page.reason.text()
    assert ob.page.base_url.text() == f"http://127.0.0.1:{port}/v1"
    assert ob.page.key_from_env.isChecked() and ob.page.key_env.text() == "OPENAI_API_KEY"
    assert ob.page.key_env_state.text() == "is set"
    assert "sk-from-the-environment" not in ob.page.reason.text()


async def test_a_working_endpoint_shows_no_page_and_skip_leaves_a_banner(make_window: Any, server: FakeServer) -> None:
    w = make_window()
    ob, shown = await checked(w)
    assert not shown and not page_visible(ob) and not ob.banner.isVisible()

    # reachable later from the File menu, next to Settings
    file_menu = w.menuBar().actions()[0].menu()
    names = [a.objectName() for a in file_menu.actions()]
    assert "action_first_run" in names
    ob.setup_action.trigger()
    assert page_visible(ob)
    assert ob.page is not None and ob.page.base_url.text() == server.base_url
    ob.page.skip_button.click()
    assert not page_visible(ob) and ob.banner.isVisible()
    ob.banner.setup_action.trigger()
    assert page_visible(ob)


async def test_a_rejected_key_leads_to_the_page(make_window: Any, server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TEST_KEY_ENV, "sk-wrong-key-000000000000")
    w = make_window()
    ob, shown = await checked(w)
    assert shown and ob.page is not None and "refused the key (HTTP 401)" in ob.page.reason.text()
    assert "sk-wrong" not in ob.page.reason.text()


async def test_empty_state_offers_open_folder_and_recent_folders(make_window: Any, media_folder: Path, tmp_path: Path, dialogs: Any) -> None:
    gone = tmp_path / "gone"
    w = make_window()
    # the screenshot shows made-up folders, so that it does not change from run to run
    w.qsettings.setValue("recent_folders", ["/home/ana/moderation/batch-07", "/srv/datasets/vhd11k-sample"])
    ob = attach_onboarding(w, check=False)
    assert ob.empty_overlay.isVisible()
    w.resize(1100, 700)
    w.grab().save(str(DOCS / "empty-state.png"))

    w.qsettings.setValue("recent_folders", [str(media_folder), str(gone)])
    ob.empty.refresh()
    items = [ob.empty.recent.item(i).data(Qt.ItemDataRole.UserRole) for i in range(ob.empty.recent.count())]
    assert items == [str(media_folder), str(gone)]

    # a folder that no longer exists is dropped from the list, nothing opens
    ob.empty.recent_requested.emit(str(gone))
    assert w.store is None and ob.empty.recent.count() == 1

    # Open folder asks for a folder (the test's file dialog answers) and opens it
    dialogs.answers.append(str(media_folder))
    ob.empty.open_button.click()
    await wait_until(lambda: w.store is not None, what="the folder to open")
    assert not ob.empty_overlay.isVisible()
    assert w.qsettings.value("recent_folders")[0] == str(media_folder.absolute())


async def test_page_problem_sentences() -> None:
    page = FirstRunPage(settings_for("http://127.0.0.1:9/v1"))
    page.base_url.setText("")
    assert page.problem() == "Enter the server's base URL."
    page.provider.setCurrentIndex(1)  # Azure
    assert page.problem() == "Put your Azure resource's name in the base URL."
    assert page.provider_kind() == "azure"
    page.base_url.setText("ftp://x/v1")
    assert page.problem() == "The base URL must start with http:// or https://."
    page.base_url.setText("https://res.openai.azure.com/openai/v1")
    page.model.setEditText("")
    assert page.problem() is not None and page.problem().startswith("Choose a model")
    page.model.setEditText("my-deployment")
    os.environ.pop("AZURE_OPENAI_API_KEY", None)
    assert page.problem() == "$AZURE_OPENAI_API_KEY is not set in this session: export it and restart, or paste the key."


async def test_the_window_icon_comes_from_the_desktop_icon_files() -> None:
    from PySide6.QtCore import QSize
    from PySide6.QtWidgets import QApplication

    from vhd_gui.appinfo import APP_ID
    from vhd_gui.ui.app import _set_app_icon

    app = QApplication.instance()
    assert isinstance(app, QApplication)
    _set_app_icon(app)
    sizes = app.windowIcon().availableSizes()
    assert QSize(16, 16) in sizes and QSize(512, 512) in sizes
    assert app.desktopFileName() == APP_ID


async def test_the_azure_preset_saves_an_azure_endpoint_that_works(make_window: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from fakeserver import AzureFakeServer

    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-" + TEST_KEY)
    with AzureFakeServer(api_key="azure-" + TEST_KEY) as azure:
        w = make_window()
        w.settings = Settings()
        ob, shown = await checked(w)
        assert shown and ob.page is not None
        page = ob.page
        page.provider.setCurrentIndex([p.name for p in PRESETS].index("Azure OpenAI"))
        assert page.key_env.text() == "AZURE_OPENAI_API_KEY" and "YOUR-RESOURCE" in page.base_url.text()
        assert page.problem() == "Put your Azure resource's name in the base URL."
        page.base_url.setText(azure.endpoint)
        page.list_button.click()  # Azure lists no deployments: the page says to type it
        assert "type your deployment's name" in page.result.text()
        page.model.setCurrentText("fake-vlm")
        page.test_button.click()
        await wait_until(lambda: page.result.text().startswith(("Works", "Failed")), timeout=60, what="the test")
        assert page.result.text().startswith("Works"), page.result.text()
        page.save_button.click()
        saved = tomllib.loads(config.settings_path().read_text(encoding="utf-8"))
        judge = saved["roles"]["judge"]
        assert judge["provider"] == "azure" and judge["azure_endpoint"] == azure.endpoint and judge["deployment"] == "fake-vlm"
        assert w.settings.endpoint("judge").is_azure
        assert "azure-" + TEST_KEY not in config.settings_path().read_text(encoding="utf-8")
        assert any("/openai/deployments/fake-vlm/chat/completions" in p for p in azure.paths)
