"""The window on a damaged store (a dialog, nothing opened) and on a store on a read-only mount
(its writable copy, a banner saying where decisions go, and a way to put them elsewhere)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import Dialogs, key, opened, select, wait_until
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from vhd_gui.store import STORE_DIR_NAME, Store, fallback_store_path

from helpers import read_only_bind_mount, write_image

pytestmark = [pytest.mark.gui, pytest.mark.asyncio(loop_scope="session")]


def project(folder: Path, items: int = 3) -> Path:
    for i in range(items):
        write_image(folder / f"p{i}.png", (64, 48), (60 * i, 90, 90))
    with Store.for_folder(folder) as s:
        s.upsert_items((str(folder / f"p{i}.png"), "image", 1, 1.0) for i in range(items))
        s.record_decision("p0.png", "no", note="made before")
        return s.path


def damage_items(path: Path) -> None:
    with Store.open(path) as s:  # enough rows for several pages
        s.upsert_items((f"bulk/{i:05}.png", "image", i, 1.0) for i in range(3000))
    conn = sqlite3.connect(path)
    pages = [r[0] for r in conn.execute("SELECT pageno FROM dbstat WHERE name = 'items' AND pagetype = 'leaf' ORDER BY pageno")]
    conn.close()
    with open(path, "r+b") as f:
        f.seek((pages[len(pages) // 2] - 1) * 4096)
        f.write(b"\x00\xff" * 2048)


async def test_a_damaged_store_is_a_dialog_and_is_not_opened(make_window: Any, tmp_path: Path, dialogs: Dialogs) -> None:
    folder = tmp_path / "proj"
    path = project(folder)
    with Store.open(path) as s:
        backup = s.backup()
    damage_items(path)
    damaged = path.read_bytes()
    w = make_window()
    for target in (folder, path):
        dialogs.shown.clear()
        w.open_path(target)
        await wait_until(lambda: dialogs.shown, what="the dialog")
        assert w.store is None and not w.opening
        [(kind, title, text)] = dialogs.shown
        assert kind == "critical" and title == "The store is damaged"
        assert str(backup) in text and f"vhd-annotator store recover {path}" in text
    assert path.read_bytes() == damaged
    assert not fallback_store_path(folder).exists()


async def test_a_read_only_store_opens_its_copy_with_a_banner(
    make_window: Any, tmp_path: Path, dialogs: Dialogs, qtbot: Any
) -> None:
    src = tmp_path / "src"
    own = project(src)
    before = own.read_bytes()
    with read_only_bind_mount(src, tmp_path / "mnt") as mnt:
        w = await opened(make_window, mnt)
        copy = fallback_store_path(mnt)
        assert w.store.path == copy and not w.store.read_only
        assert w.store_banner.isVisible() and w.store_banner.move_button.isVisible()
        banner = w.store_banner.text.text()
        assert banner.startswith(f"read-only: decisions go to {copy}") and str(mnt / STORE_DIR_NAME) in banner
        assert w.store.human_decision("p0.png").note == "made before"  # what the read-only store held

        select(w, "p1.png")
        await wait_until(lambda: w.current == "p1.png", what="p1 current")
        key(qtbot, w, Qt.Key.Key_N)
        assert w.store.human_decision("p1.png").label == "no"  # type: ignore[union-attr]
        assert not [d for d in dialogs.shown if d[0] in ("warning", "critical")], dialogs.texts()

        # The banner's button puts the decisions in a file the person picks, remembered next time.
        chosen = tmp_path / "mine" / "decisions.sqlite"
        chosen.parent.mkdir()
        dialogs.answers.append(str(chosen))
        qtbot.mouseClick(w.store_banner.move_button, Qt.MouseButton.LeftButton)
        await wait_until(lambda: not w.opening, what="the copy opened")
        assert w.store.path == chosen
        assert w.store.human_decision("p1.png").label == "no"  # type: ignore[union-attr]
        assert w.store_banner.text.text().startswith(f"read-only: decisions go to {chosen}")
        w.close()

        again = await opened(make_window, mnt)
        assert again.store.path == chosen
    assert own.read_bytes() == before


async def test_without_a_place_for_a_copy_the_banner_says_decisions_cannot_be_saved(
    make_window: Any, tmp_path: Path, dialogs: Dialogs, qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    project(src)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("the user data folder cannot be made here")
    monkeypatch.setenv("XDG_DATA_HOME", str(blocker))
    with read_only_bind_mount(src, tmp_path / "mnt") as mnt:
        w = await opened(make_window, mnt)
        assert w.store.read_only and w.store.path == mnt / STORE_DIR_NAME / "annotations.sqlite"
        assert w.store_banner.isVisible() and not w.store_banner.move_button.isVisible()
        assert "decisions cannot be saved" in w.store_banner.text.text()
        select(w, "p1.png")
        await wait_until(lambda: w.current == "p1.png", what="p1 current")
        key(qtbot, w, Qt.Key.Key_N)
        # said, not lost: kept in the window with the store's reason (the scan could not add
        # files to the store either, and said so)
        warnings = [(t, m) for k, t, m in dialogs.shown if k == "warning"]
        assert {t for t, _ in warnings} <= {"Cannot write the store"}
        assert [d.path for d in w.unsaved.pending] == ["p1.png"] and "read-only" in w.unsaved.reason
        assert not w.unsaved_banner.isHidden()
        assert w.store.human_decision("p1.png") is None
        monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: QMessageBox.StandardButton.Discard))
        w.close()
        assert not w.isVisible()


async def test_the_daily_backup_is_taken_off_the_gui_thread_when_the_window_opens(make_window: Any, tmp_path: Path) -> None:
    from vhd_gui.store import list_backups

    store_path = project(tmp_path / "daily")  # a store with items and no backup yet: one is due
    assert not list_backups(store_path)
    w = await opened(make_window, tmp_path / "daily")
    assert w.store.path == store_path
    await wait_until(lambda: len(list_backups(store_path)) == 1, what="the daily backup")
    backup = list_backups(store_path)[0].path
    with Store.open(backup, create=False, daily_backup=False) as b:  # a real, readable copy of the store
        assert b.human_decision("p0.png").label == "no"  # type: ignore[union-attr]
