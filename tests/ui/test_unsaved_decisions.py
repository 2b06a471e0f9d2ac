"""A decision the store cannot take (here: its disk is full) is kept in the window, shown, and
written once the store takes it; closing the window with such decisions asks first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import Dialogs, key, opened, select, wait_until
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from helpers import fill_disk, small_tmpfs, write_image

pytestmark = [pytest.mark.gui, pytest.mark.asyncio(loop_scope="session")]


async def test_a_decision_on_a_full_disk_is_kept_shown_and_saved_when_there_is_room(
    make_window: Any, tmp_path: Path, qtbot: Any, dialogs: Dialogs, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "m"
    write_image(folder / "a.png", (96, 64), (200, 30, 30))
    write_image(folder / "b.png", (96, 64), (30, 30, 200))
    with small_tmpfs(folder / ".vhd-annotator") as disk:  # the store's own folder is a small disk
        w = await opened(make_window, folder)
        select(w, "a.png")
        filler = fill_disk(disk, 0)
        key(qtbot, w, Qt.Key.Key_N)
        # Not in the store, but not lost: kept, and the banner says so and why.
        assert [d.path for d in w.unsaved.pending] == ["a.png"]
        assert w.store.human_decision("a.png") is None
        assert not w.unsaved_banner.isHidden()
        assert "Not saved" in w.unsaved_banner.label.text() and "full" in w.unsaved_banner.label.text()
        # A newer decision waits behind it, so the store ends with what the person meant last.
        select(w, "a.png")
        key(qtbot, w, Qt.Key.Key_H)
        key(qtbot, w, Qt.Key.Key_1)
        assert [d.label for d in w.unsaved.pending] == ["no", "yes"]
        # Closing now asks; Cancel keeps the window and the decisions.
        w.close()
        assert any(kind == "question" and title == "Decisions not saved" for kind, title, _ in dialogs.shown)
        assert w.isVisible() and len(w.unsaved.pending) == 2
        # Room again: "Save now" writes them in order and the banner goes.
        filler.unlink()
        qtbot.mouseClick(w.unsaved_banner.save_button, Qt.MouseButton.LeftButton)
        assert not w.unsaved.pending and w.unsaved_banner.isHidden()
        history = w.store.decision_history("a.png")
        assert [e.label for e in history] == ["no", "yes"]
        h = w.store.human_decision("a.png")
        assert h is not None and h.label == "yes" and h.category
        await wait_until(lambda: w.model.row_of("a.png") >= 0, what="the list")
        # Undo of a decision that never reached the store takes it out of the queue.
        fill_disk(disk, 0)
        select(w, "b.png")
        key(qtbot, w, Qt.Key.Key_N)
        assert [d.path for d in w.unsaved.pending] == ["b.png"]
        key(qtbot, w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
        assert not w.unsaved.pending and w.store.human_decision("b.png") is None
        assert w.store.human_decision("a.png").label == "yes"  # type: ignore[union-attr]  # the saved one is untouched
        # With a decision waiting, Discard closes and says so in the log; nothing half-written.
        key(qtbot, w, Qt.Key.Key_N)
        monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: QMessageBox.StandardButton.Discard))
        w.close()
        assert not w.isVisible()
