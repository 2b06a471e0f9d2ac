"""The first-run page: connect the app to a model server without reading the README.

Shown over the window when no endpoint is usable: nothing configured, no key for a hosted
server, or the configured server does not answer. A person picks a provider preset (each
with its usual base URL), names the key's environment variable or pastes a key that stays in
memory, picks the model from what the server's ``/models`` lists, tests, and saves. It can be
skipped (a banner then stays at the top of the window) and reopened from File → Set up a
model server…. :func:`attach_onboarding` wires it and the empty state into a main window.
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from vhd_gui import config
from vhd_gui.config import DEFAULT_KEY_ENV, ConfigError, RoleEndpoint, Settings, is_local_url
from vhd_gui.ui._overlay import Overlay
from vhd_gui.ui._preset_editor import ERROR_COLOR, OK_COLOR

PROBE_TIMEOUT_S = 4.0


@dataclass(frozen=True)
class ProviderPreset:
    """A kind of server and where it usually listens. ``provider`` is the client kind the
    settings use for it ("openai" for every OpenAI-compatible server, "azure" for Azure
    OpenAI); ``key_env`` is empty for servers that need no key."""

    name: str
    provider: str
    base_url: str
    key_env: str
    model_hint: str
    note: str


PRESETS: tuple[ProviderPreset, ...] = (
    ProviderPreset("OpenAI", "openai", "https://api.openai.com/v1", "OPENAI_API_KEY", "gpt-4o",
                   "Hosted. Needs an API key from platform.openai.com."),
    ProviderPreset("Azure OpenAI", "azure", "https://YOUR-RESOURCE.openai.azure.com", "AZURE_OPENAI_API_KEY", "",
                   "Hosted. Put your resource's name in the URL; the model is your deployment's name."),
    ProviderPreset("vLLM (local)", "openai", "http://127.0.0.1:8000/v1", "", "Qwen/Qwen2.5-VL-7B-Instruct",
                   "vllm serve MODEL: listens on port 8000."),
    ProviderPreset("Ollama", "openai", "http://127.0.0.1:11434/v1", "", "qwen2.5vl",
                   "ollama serve: port 11434. Pull a vision model first (ollama pull qwen2.5vl)."),
    ProviderPreset("LM Studio", "openai", "http://127.0.0.1:1234/v1", "", "",
                   "Start the local server in LM Studio's Developer tab: port 1234."),
    ProviderPreset("llama.cpp server", "openai", "http://127.0.0.1:8080/v1", "", "",
                   "llama-server -m MODEL.gguf --mmproj MMPROJ.gguf: port 8080."),
    ProviderPreset("LiteLLM gateway", "openai", "http://127.0.0.1:4000/v1", "LITELLM_API_KEY", "",
                   "litellm --config config.yaml: port 4000; the key is the gateway's virtual key."),
    ProviderPreset("Other OpenAI-compatible server", "openai", "", "OPENAI_API_KEY", "", "Any server that speaks the chat-completions API."),
)
CUSTOM = PRESETS[-1]


def preset_for_url(url: str) -> ProviderPreset:
    url = url.rstrip("/")
    for p in PRESETS:
        if p.base_url and p.base_url == url:
            return p
    if ".openai.azure.com" in url:
        return PRESETS[1]
    return CUSTOM


# --------------------------------------------------------------------------- is the endpoint usable?


def endpoint_problem_now(settings: Settings) -> str | None:
    """Why no debate could start with these settings, without asking any server; None if one could."""
    if not config.settings_path().exists() and not os.environ.get("OPENAI_BASE_URL") and not os.environ.get(DEFAULT_KEY_ENV):
        if all(not ep.base_url and not ep.api_key for ep in settings.endpoints.values()):
            return "No model server is set up yet."
    for role, ep in settings.endpoints.items():
        try:
            ep.resolve_key()
        except ConfigError as exc:
            return f"The {role} has no API key: {exc}."
    return None


def probe_server(ep: RoleEndpoint, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Ask ``GET {base}/models`` once (blocking): None when the server answers and takes the
    key, else a sentence saying what went wrong. The key never appears in the sentence."""
    url = ep.resolved_base_url() + "/models"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {ep.resolve_key()}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the user's own server URL
            response.read(1 << 20)
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            return f"{ep.resolved_base_url()} refused the key (HTTP {exc.code})."
        if exc.code == 404:
            return None  # some servers have no model list; the chat request decides
        return f"{ep.resolved_base_url()} answered HTTP {exc.code}."
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"The server at {ep.resolved_base_url()} did not answer ({reason})."
    return None


def list_models(base_url: str, key: str | None, timeout: float = 10.0) -> list[str]:
    """The model ids ``GET {base}/models`` lists (blocking). Raises ValueError with a reason."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    request = urllib.request.Request(base_url.rstrip("/") + "/models", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            data = json.loads(response.read(4 << 20))
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise ValueError(f"the server refused the key (HTTP {exc.code})") from None
        raise ValueError(f"the server answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise ValueError(f"the server did not answer ({getattr(exc, 'reason', exc)})") from None
    except ValueError:
        raise ValueError("the server's model list is not JSON") from None
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ValueError("the server's answer has no model list")
    return sorted(str(m["id"]) for m in items if isinstance(m, dict) and m.get("id"))


# --------------------------------------------------------------------------- the page


class FirstRunPage(QWidget):
    """Choose a server, a key and a model; Test; Save or Skip."""

    did_save = Signal(object)  # the new Settings
    did_skip = Signal()

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("firstRunPage")
        self.setAutoFillBackground(True)
        self._settings = settings
        self._task: asyncio.Future[Any] | None = None

        title = QLabel("<h2>Connect VHD Annotator to a model server</h2>")
        self.reason = QLabel("")
        self.reason.setObjectName("firstRunReason")
        self.reason.setWordWrap(True)
        intro = QLabel(
            "Each item is debated by vision-language models on an OpenAI-compatible server. "
            "Pick where yours runs; you can change it, and give each role its own server, in Settings."
        )
        intro.setWordWrap(True)

        self.provider = QComboBox()
        for p in PRESETS:
            self.provider.addItem(p.name)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: palette(mid);")
        self.base_url = QLineEdit()
        self.base_url.setPlaceholderText("http://127.0.0.1:8000/v1")

        self.key_from_env = QRadioButton("From the environment variable")
        self.key_typed = QRadioButton("Paste a key (kept in memory only, forgotten when the app closes)")
        self.key_none = QRadioButton("No key (a local server)")
        group = QButtonGroup(self)
        for b in (self.key_from_env, self.key_typed, self.key_none):
            group.addButton(b)
        self.key_env = QLineEdit(DEFAULT_KEY_ENV)
        self.key_env_state = QLabel("")
        self.key = QLineEdit()
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setPlaceholderText("sk-…")
        env_row = QHBoxLayout()
        env_row.addWidget(self.key_from_env)
        env_row.addWidget(self.key_env, 1)
        env_row.addWidget(self.key_env_state)
        typed_row = QHBoxLayout()
        typed_row.addWidget(self.key_typed)
        typed_row.addWidget(self.key, 1)
        key_box = QVBoxLayout()
        key_box.addLayout(env_row)
        key_box.addLayout(typed_row)
        key_box.addWidget(self.key_none)

        self.model = QComboBox()
        self.model.setEditable(True)
        self.model.setMinimumContentsLength(28)
        self.list_button = QPushButton("List the server's models")
        model_row = QHBoxLayout()
        model_row.addWidget(self.model, 1)
        model_row.addWidget(self.list_button)

        form = QFormLayout()
        form.addRow("Provider", self.provider)
        form.addRow("", self.note)
        form.addRow("Base URL", self.base_url)
        form.addRow("API key", key_box)
        form.addRow("Model", model_row)

        self.result = QLabel("")
        self.result.setObjectName("firstRunResult")
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.test_button = QPushButton("Test")
        self.save_button = QPushButton("Save")
        self.save_button.setDefault(True)
        self.skip_button = QPushButton("Skip for now")
        buttons = QHBoxLayout()
        buttons.addWidget(self.test_button)
        buttons.addStretch(1)
        buttons.addWidget(self.skip_button)
        buttons.addWidget(self.save_button)

        card = QFrame()
        card.setObjectName("firstRunCard")
        card.setFrameShape(QFrame.Shape.StyledPanel)
        card.setMaximumWidth(760)
        inner = QVBoxLayout(card)
        inner.addWidget(title)
        inner.addWidget(self.reason)
        inner.addWidget(intro)
        inner.addSpacing(8)
        inner.addLayout(form)
        inner.addWidget(self.result)
        inner.addLayout(buttons)
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(card, 4)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)

        self.provider.currentIndexChanged.connect(self._provider_changed)
        self.key_env.textChanged.connect(self._update_key_state)
        for b in (self.key_from_env, self.key_typed, self.key_none):
            b.toggled.connect(self._update_key_state)
        self.list_button.clicked.connect(self.start_listing)
        self.test_button.clicked.connect(self.start_test)
        self.save_button.clicked.connect(self.save)
        self.skip_button.clicked.connect(self.did_skip.emit)
        self.prefill(settings)

    # ------------------------------------------------------------------ filling in
    def prefill(self, settings: Settings) -> None:
        """Start from the judge's endpoint, $OPENAI_BASE_URL and $OPENAI_API_KEY."""
        ep = settings.endpoint("judge")
        url = ep.base_url or os.environ.get("OPENAI_BASE_URL", "")
        preset = preset_for_url(url) if url else PRESETS[0]
        self.provider.blockSignals(True)
        self.provider.setCurrentIndex(PRESETS.index(preset))
        self.provider.blockSignals(False)
        self.note.setText(preset.note)
        self.base_url.setText(url or preset.base_url)
        self.key_env.setText(ep.api_key_env or preset.key_env or DEFAULT_KEY_ENV)
        if ep.api_key:
            self.key.setText(ep.api_key)
            self.key_typed.setChecked(True)
        elif os.environ.get(self.key_env.text()) or not is_local_url(self.base_url.text() or "https://x"):
            self.key_from_env.setChecked(True)
        else:
            self.key_none.setChecked(True)
        self.model.setEditText(ep.model or preset.model_hint)
        self._update_key_state()

    def set_reason(self, text: str) -> None:
        self.reason.setText(text)
        self.reason.setStyleSheet(f"color: {ERROR_COLOR};" if text else "")

    def _provider_changed(self, index: int) -> None:
        p = PRESETS[index]
        self.note.setText(p.note)
        if p.base_url or p is CUSTOM:
            self.base_url.setText(p.base_url)
        if p.key_env:
            self.key_env.setText(p.key_env)
            self.key_from_env.setChecked(True)
        else:
            self.key_none.setChecked(True)
        self.model.clear()
        self.model.setEditText(p.model_hint)
        self.result.clear()

    def _update_key_state(self, *_: object) -> None:
        name = self.key_env.text().strip()
        self.key_env.setEnabled(self.key_from_env.isChecked())
        self.key.setEnabled(self.key_typed.isChecked())
        if not self.key_from_env.isChecked():
            self.key_env_state.setText("")
        elif name and os.environ.get(name):
            self.key_env_state.setText("is set")
            self.key_env_state.setStyleSheet(f"color: {OK_COLOR};")
        else:
            self.key_env_state.setText("is not set")
            self.key_env_state.setStyleSheet(f"color: {ERROR_COLOR};")

    # ------------------------------------------------------------------ what the form says
    def endpoint(self) -> RoleEndpoint:
        url = self.base_url.text().strip().rstrip("/")
        ep = RoleEndpoint(base_url=url, model=self.model.currentText().strip())
        if self.provider_kind() == "azure":  # the resource's endpoint; the client builds the deployment's path
            ep.provider, ep.base_url = "azure", ""
            ep.azure_endpoint = url.removesuffix("/v1").removesuffix("/openai")
        if self.key_from_env.isChecked():
            ep.api_key_env = self.key_env.text().strip() or DEFAULT_KEY_ENV
        elif self.key_typed.isChecked():
            ep.api_key = self.key.text().strip() or None
        else:
            ep.api_key_env = self.key_env.text().strip() or DEFAULT_KEY_ENV
        return ep

    def provider_kind(self) -> str:
        """The chosen preset's client kind ("openai" or "azure"), for the settings to use."""
        return PRESETS[self.provider.currentIndex()].provider

    def problem(self) -> str | None:
        ep = self.endpoint()
        url = ep.resolved_base_url() if ep.is_azure else ep.base_url
        if not url:
            return "Enter the server's base URL."
        if "YOUR-RESOURCE" in url:
            return "Put your Azure resource's name in the base URL."
        if not url.startswith(("http://", "https://")):
            return "The base URL must start with http:// or https://."
        if not ep.model:
            return "Choose a model (List the server's models fills the list)."
        if self.key_typed.isChecked() and not ep.api_key:
            return "Paste the key, or choose the environment variable."
        if self.key_from_env.isChecked() and not os.environ.get(ep.api_key_env) and not is_local_url(url):
            return f"${ep.api_key_env} is not set in this session: export it and restart, or paste the key."
        return None

    def settings(self) -> Settings:
        """The settings this page would save: every role on the chosen endpoint."""
        ep = self.endpoint()
        s = replace(self._settings, endpoints={role: replace(ep) for role in self._settings.endpoints})
        for role_ep in s.endpoints.values():
            role_ep.api_key = ep.api_key
        return s

    def _show(self, ok: bool | None, text: str) -> None:
        self.result.setText(text)
        self.result.setStyleSheet("" if ok is None else f"color: {OK_COLOR if ok else ERROR_COLOR};")

    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    # ------------------------------------------------------------------ actions
    def start_listing(self) -> None:
        if self.busy():
            return
        ep = self.endpoint()
        if ep.is_azure:
            self._show(None, "Azure OpenAI lists no deployments: type your deployment's name as the model.")
            return
        if not ep.base_url:
            self._show(False, "Enter the server's base URL first.")
            return
        self._show(None, f"Asking {ep.base_url} for its models…")
        self._task = asyncio.ensure_future(self._list(ep))

    async def _list(self, ep: RoleEndpoint) -> None:
        try:
            key = ep.resolve_key()
        except ConfigError:
            key = None
        try:
            models = await asyncio.to_thread(list_models, ep.base_url, key)
        except ValueError as exc:
            self._show(False, f"Could not list the models: {exc}.")
            return
        keep = self.model.currentText().strip()
        self.model.clear()
        self.model.addItems(models)
        if keep in models:
            self.model.setCurrentText(keep)
        elif models:
            self.model.setCurrentIndex(0)
        self._show(True, f"The server lists {len(models)} model{'s' if len(models) != 1 else ''}." if models else "The server lists no models.")

    def start_test(self) -> None:
        if self.busy():
            return
        problem = self.problem()
        if problem:
            self._show(False, problem)
            return
        self._show(None, "Testing: asking for the model list and one tiny answer…")
        self._task = asyncio.ensure_future(self._test(self.settings()))

    async def _test(self, settings: Settings) -> None:
        try:
            import importlib

            engine_module = await asyncio.to_thread(importlib.import_module, "vhd_gui.engine")
            engine = engine_module.DebateEngine(settings)
            try:
                report = await engine.check_connection("judge")
            finally:
                await engine.close()
        except asyncio.CancelledError:
            raise
        except ConfigError as exc:
            self._show(False, f"Failed: {exc}")
        except Exception as exc:  # noqa: BLE001 - any failure is the answer to show
            self._show(False, f"Failed: {type(exc).__name__}: {exc}")
        else:
            self._show(True, f"Works: {report}")

    def save(self) -> None:
        problem = self.problem()
        if problem:
            self._show(False, problem)
            return
        self.did_save.emit(self.settings())

    def cancel_work(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()


class SetupBanner(QToolBar):
    """A strip at the top of the window while no server is set up."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Set-up", parent)
        self.setObjectName("setupBanner")
        self.setMovable(False)
        self.setFloatable(False)
        self.text = QLabel("  No model server is set up: debates cannot run yet.  ")
        self.text.setStyleSheet(f"color: {ERROR_COLOR}; font-weight: bold;")
        self.addWidget(self.text)
        self.setup_action = self.addAction("Set up a model server…")
        self.setup_action.setObjectName("action_banner_setup")


# --------------------------------------------------------------------------- wiring


class Onboarding(QObject):
    """The first-run page, its banner and the empty state of one main window."""

    did_check = Signal(bool)  # True when the first-run page was shown by the start-up check

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        from vhd_gui.ui._empty_state import EmptyState

        self.window = window
        self.central = window.centralWidget()
        self.page: FirstRunPage | None = None
        self.page_overlay: Overlay | None = None
        self.banner = SetupBanner(window)
        window.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.banner)
        self.banner.hide()
        self.banner.setup_action.triggered.connect(lambda: self.show_first_run(""))
        self.empty = EmptyState(window.qsettings, self.central)
        self.empty_overlay = Overlay(self.empty, self.central)
        self.empty.open_requested.connect(window.choose_folder)
        self.empty.open_store_requested.connect(window.choose_store)
        self.empty.recent_requested.connect(self._open_recent)
        window.did_open.connect(self._opened)
        self.setup_action = QAction("Set up a model &server…", window)
        self.setup_action.setObjectName("action_first_run")
        self.setup_action.triggered.connect(lambda: self.show_first_run(""))
        self._add_to_file_menu()
        self._check: asyncio.Future[None] | None = None
        if window.store is None:
            self.empty.refresh()
            self.empty_overlay.show_over()

    def _add_to_file_menu(self) -> None:
        settings_action = self.window.actions_by_id.get("settings")
        for top in self.window.menuBar().actions():
            menu = top.menu()
            if menu is None or settings_action not in menu.actions():
                continue
            following = menu.actions()[menu.actions().index(settings_action) + 1 :]
            if following:
                menu.insertAction(following[0], self.setup_action)
            else:
                menu.addAction(self.setup_action)
            return
        self.window.menuBar().addAction(self.setup_action)

    # ------------------------------------------------------------------ empty state
    def _opened(self, _store_path: str) -> None:
        store = self.window.store
        if store is not None:
            from vhd_gui.ui._empty_state import remember_folder

            remember_folder(self.window.qsettings, str(store.root))
        self.empty_overlay.hide()
        if self.page_overlay is not None and self.page_overlay.isVisible():
            self.page_overlay.raise_()

    def _open_recent(self, folder: str) -> None:
        if not os.path.isdir(folder):
            from vhd_gui.ui._empty_state import forget_folder

            forget_folder(self.window.qsettings, folder)
            self.empty.refresh()
            self.window._say(f"{folder} is gone; removed it from the recent folders")
            return
        self.window.open_path(folder)

    # ------------------------------------------------------------------ first run
    def start_check(self) -> asyncio.Future[None]:
        """Decide (asking the server if needed) whether to show the first-run page."""
        self._check = asyncio.ensure_future(self._run_check())
        return self._check

    async def _run_check(self) -> None:
        settings = self.window.settings
        problem = endpoint_problem_now(settings)
        if problem is None:
            seen: set[str] = set()
            for ep in settings.endpoints.values():
                url = ep.resolved_base_url()
                if url in seen:
                    continue
                seen.add(url)
                problem = await asyncio.to_thread(probe_server, ep)
                if problem:
                    break
        if problem:
            self.show_first_run(problem)
        self.did_check.emit(bool(problem))

    def show_first_run(self, reason: str) -> FirstRunPage:
        if self.page is None:
            self.page = FirstRunPage(self.window.settings)
            self.page_overlay = Overlay(self.page, self.central)
            self.page.did_save.connect(self._saved)
            self.page.did_skip.connect(self._skipped)
        else:
            self.page.prefill(self.window.settings)
        assert self.page_overlay is not None
        self.page.set_reason(reason)
        self.page_overlay.show_over()
        self.page.base_url.setFocus()
        return self.page

    def _close_page(self) -> None:
        if self.page is not None:
            self.page.cancel_work()
        if self.page_overlay is not None:
            self.page_overlay.hide()

    def _saved(self, settings: Settings) -> None:
        w = self.window
        w.apply_settings(settings, dict(w.keys), dict(w.ui_prefs))
        self._close_page()
        self.banner.hide()
        ep = settings.endpoint("judge")
        w._say(f"Saved: every role uses {ep.model} at {ep.resolved_base_url()}", 10000)

    def _skipped(self) -> None:
        self._close_page()
        self.banner.show()


def attach_onboarding(window: Any, *, check: bool = True) -> Onboarding:
    """Give ``window`` its empty state, the first-run page and banner, and the menu entry;
    with ``check``, decide now (asynchronously) whether the first-run page is needed."""
    from PySide6.QtCore import QTimer

    onboarding = Onboarding(window)
    window.onboarding = onboarding
    if check:
        QTimer.singleShot(0, onboarding.start_check)
    return onboarding
