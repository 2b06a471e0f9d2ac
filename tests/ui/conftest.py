"""GUI test set-up: one qasync loop for the whole session, QSettings in tmp_path,
no modal dialog ever opens, and one factory that builds (and closes) the real window."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

os.environ.setdefault("QT_API", "pyside6")

from PySide6.QtCore import QCoreApplication, QSettings, Qt  # noqa: E402
from PySide6.QtWidgets import QApplication, QDialog, QFileDialog, QMessageBox  # noqa: E402

from fakeserver import FakeServer  # noqa: E402
from helpers import settings_for, write_image, write_video  # noqa: E402


def _qasync_loop() -> asyncio.AbstractEventLoop:
    import qasync

    app = QApplication.instance() or QApplication([])
    return qasync.QEventLoop(app)


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Every async test under tests/ui runs on a qasync loop (and with loop_scope='session',
    on the same one: closing qasync loops leaks)."""
    return {"qasync": _qasync_loop}


async def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "") -> None:
    """Let the loop run until ``predicate()`` holds. The timeout only guards against a hang."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.01)


@pytest.fixture(autouse=True)
def _isolated_qsettings(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "qsettings"
    folder.mkdir()
    app = QApplication.instance() or QApplication([])
    assert app is not None
    old = QCoreApplication.organizationName(), QCoreApplication.applicationName()
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    QCoreApplication.setOrganizationName("vhd-annotator-test")
    QCoreApplication.setApplicationName(f"t{os.getpid()}")
    yield folder
    QCoreApplication.setOrganizationName(old[0])
    QCoreApplication.setApplicationName(old[1])


@dataclass
class Dialogs:
    """What the window tried to show or ask; file dialogs answer from ``answers``."""

    shown: list[tuple[str, str, str]] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)

    def texts(self) -> str:
        return "\n".join(f"{k}: {t}: {m}" for k, t, m in self.shown)


@pytest.fixture(autouse=True)
def dialogs(monkeypatch: pytest.MonkeyPatch) -> Dialogs:
    d = Dialogs()

    def box(kind: str) -> Callable[..., QMessageBox.StandardButton]:
        def show(_parent: Any, title: str, text: str, *a: Any, **k: Any) -> QMessageBox.StandardButton:
            d.shown.append((kind, title, text))
            return QMessageBox.StandardButton.Ok

        return staticmethod(show)  # type: ignore[return-value]

    for kind in ("warning", "information", "critical", "question"):
        monkeypatch.setattr(QMessageBox, kind, box(kind))

    def answer(*_a: Any, **_k: Any) -> tuple[str, str]:
        d.shown.append(("file", "", ""))
        return (d.answers.pop(0) if d.answers else "", "")

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(answer))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(answer))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: answer()[0]))

    def no_modal(self: QDialog) -> int:
        raise AssertionError(f"a modal dialog tried to open: {type(self).__name__}")

    monkeypatch.setattr(QDialog, "exec", no_modal)
    return d


@pytest.fixture
def server(make_server: Callable[..., FakeServer]) -> FakeServer:
    """Tokens a little apart, so that the window's tests see a debate stream."""
    return make_server(token_delay=0.002)


@pytest.fixture
def media_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "media"
    write_image(folder / "a_knife.jpg", (1600, 1200), (200, 30, 30))
    write_image(folder / "b_beach.png", (640, 480), (30, 120, 200))
    write_image(folder / "sub" / "c_street.jpg", (800, 600), (90, 90, 90))
    write_video(folder / "d_clip.avi", frames=30)
    return folder


@pytest_asyncio.fixture(loop_scope="session")
async def make_window(qtbot: Any, server: FakeServer) -> AsyncIterator[Callable[..., Any]]:
    """Build the real main window against the fake server; closed after the test."""
    from vhd_gui.ui._main_window import MainWindow

    made: list[MainWindow] = []
    threads_of: dict[int, list[Any]] = {}

    def make(**debate: Any) -> MainWindow:
        debate.setdefault("retry_base_delay", 0.01)
        w = MainWindow(settings_for(server.base_url, **debate))
        w.export_delay_ms = 50
        threads_of[id(w)] = w.bg
        qtbot.addWidget(w, before_close_func=lambda w: w.close())
        w.show()
        w.activateWindow()  # shortcuts fire in the active window only
        made.append(w)
        return w

    yield make
    import shiboken6

    for w in made:
        if shiboken6.isValid(w):
            w.close()
    for w in made:
        tasks = [t for t in (w._debate_task, w._scan_task, w.viewer._task, w.batch_panel.task) if t is not None] if shiboken6.isValid(w) else []
        if tasks:
            await asyncio.wait(tasks, timeout=5)
    threads = [th for bg in threads_of.values() for th in bg.threads()]
    await wait_until(lambda: not any(th.is_alive() for th in threads), timeout=30, what="the background workers to end")
    await asyncio.sleep(0.05)  # let engine clients close on this loop


# ------------------------------------------------------------------ helpers the window tests share


async def opened(make_window: Callable[..., Any], folder: Path, **debate: Any) -> Any:
    """A new window on ``folder``, once its scan finished and an item is current."""
    w = make_window(**debate)
    done: list[int] = []
    w.did_finish_scan.connect(done.append)
    w.open_path(folder)
    await wait_until(lambda: done, what="the scan")
    await wait_until(lambda: w.current is not None, what="a current item")
    await wait_until(lambda: not w.figures_pending, what="the counters")
    return w


def key(qtbot: Any, w: Any, k: Qt.Key, mod: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    """Press a key where a person's key press would go."""
    qtbot.keyClick(w.focusWidget() or w.browser.view, k, mod)


async def settled(w: Any) -> None:
    """Until what the window reads off the GUI thread (a record, the list, Enter's verdict, R's
    check, the next undecided item) has arrived and is on screen."""
    await wait_until(lambda: not w.reads_pending, what="the window's reads")


async def show(w: Any, name: str) -> None:
    """Select the item whose path ends with ``name`` and wait until its record is on screen."""
    select(w, name)
    await settled(w)


def select(w: Any, name: str) -> None:
    """Make the item whose path ends with ``name`` current, as a click in the list would."""
    row = next(i for i, p in enumerate(w.model.paths) if p.endswith(name))
    w.browser.view.setCurrentIndex(w.model.index(row))
    w.browser.view.setFocus()
