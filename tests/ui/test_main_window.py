"""The real window against tests/fakeserver.py and generated media, on one qasync loop."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Dialogs, key, opened, select, settled, show, wait_until
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QImage

from vhd_gui.ui._actions import ACTIONS, DEFAULT_CATEGORIES

from fakeserver import DEFAULT_ANSWERS, FakeServer, Fault

pytestmark = [pytest.mark.gui, pytest.mark.asyncio(loop_scope="session")]

DEBATE_ORDER = [("affirmative", 0), ("negative", 0), ("affirmative", 1), ("negative", 1), ("judge", 0)]








async def run_to_verdict(qtbot: Any, w: Any) -> None:
    recorded: list[str] = []
    w.did_record_debate.connect(recorded.append)
    key(qtbot, w, Qt.Key.Key_R)
    await wait_until(lambda: recorded and not w.debate_running, timeout=30, what="the verdict")


async def test_open_folder_lists_every_item_and_blurs_by_default(make_window: Any, media_folder: Path, qtbot: Any) -> None:
    w = await opened(make_window, media_folder)
    assert sorted(w.model.paths) == ["a_knife.jpg", "b_beach.png", "d_clip.avi", "sub/c_street.jpg"]
    assert w.store.count() == 4
    assert w.store.path == media_folder / ".vhd-annotator" / "annotations.sqlite"
    assert "reviewed 0 / 4" in w.status_counts.text()
    assert str(w.store.path) in w.status_store.text()

    # Safe view is on: the viewer and every thumbnail show a veiled picture.
    assert w.viewer.veiled and w.viewer.veil_note.isVisible()
    await wait_until(lambda: w.viewer._image is not None, what="the picture")
    shown = w.viewer.image_view._item.pixmap()
    assert max(shown.width(), shown.height()) <= 10
    await wait_until(lambda: isinstance(w.model.data(w.model.index(0), Qt.ItemDataRole.DecorationRole), QImage), what="a thumbnail")
    thumb = w.model.data(w.model.index(0), Qt.ItemDataRole.DecorationRole)
    assert max(thumb.width(), thumb.height()) <= 10

    # Space reveals the current item only, and the reveal does not carry over to the next one.
    first = w.current
    key(qtbot, w, Qt.Key.Key_Space)
    assert w.viewer.revealed and not w.viewer.veiled
    assert w.viewer.image_view._item.pixmap().width() > 100
    assert w.model.revealed == first
    key(qtbot, w, Qt.Key.Key_D)
    assert w.current != first
    assert w.viewer.veiled and w.model.revealed is None


async def test_a_debate_fills_each_panel_in_order_and_reaches_the_store(make_window: Any, media_folder: Path, qtbot: Any, server: FakeServer) -> None:
    server.token_delay = 0.01
    w = await opened(make_window, media_folder)
    select(w, "a_knife.jpg")
    finished: list[tuple[str, int]] = []
    seen_streaming: list[bool] = []

    def on_finish(role: str, rnd: int) -> None:
        finished.append((role, rnd))
        # what the panels hold at the end of each turn: this one and earlier ones only
        seen_streaming.append(all(bool(w.role_text(r)) == ((r, 0) in finished or r == role) for r in ("affirmative", "negative", "judge")))

    w.debate.did_finish_turn.connect(on_finish)
    key(qtbot, w, Qt.Key.Key_R)
    await wait_until(lambda: w.role_text("affirmative").strip().startswith("Round 1\n1."), what="streamed tokens")
    assert not w.role_text("negative") and not w.role_text("judge")
    assert w.debate_running
    await wait_until(lambda: not w.debate_running, timeout=30, what="the debate")

    assert finished == DEBATE_ORDER
    assert all(seen_streaming)
    assert w.role_text("affirmative").count(DEFAULT_ANSWERS["affirmative"]) == 2
    assert w.role_text("negative").count(DEFAULT_ANSWERS["negative"]) == 2
    assert DEFAULT_ANSWERS["judge"] in w.role_text("judge")
    assert "tokens out" in w.role_text("judge")
    assert not w.debate.panel("critic").isVisible()
    rec = w.store.get_record("a_knife.jpg")
    assert rec is not None and rec.status == "debated" and rec.debate is not None
    assert rec.debate.decision == "no" and len(rec.debate.turns) == 5
    await settled(w)
    assert "not harmful" in w.verdict.model_verdict.text()
    assert "tokens" in w.status_tokens.text() and "$" in w.status_tokens.text()

    # Coming back to the item shows the stored debate the same way.
    key(qtbot, w, Qt.Key.Key_D)
    assert w.role_text("judge") == ""
    key(qtbot, w, Qt.Key.Key_A)
    assert DEFAULT_ANSWERS["judge"] in w.role_text("judge")
    assert w.role_text("affirmative").count(DEFAULT_ANSWERS["affirmative"]) == 2


async def test_accept_override_and_undo_reach_the_store_and_the_annotation_file(make_window: Any, media_folder: Path, qtbot: Any) -> None:
    w = await opened(make_window, media_folder)
    select(w, "a_knife.jpg")
    await run_to_verdict(qtbot, w)
    written: list[str] = []
    w.did_write_annotations.connect(written.append)

    # H, then a digit: override to harmful with that category; auto-advance moves on.
    key(qtbot, w, Qt.Key.Key_H)
    assert w.verdict.is_picking
    key(qtbot, w, Qt.Key.Key_3)
    rec = w.store.get_record("a_knife.jpg")
    assert rec.status == "overridden" and rec.final_label == "yes" and rec.final_category == DEFAULT_CATEGORIES[2]
    assert w.current == "b_beach.png"
    await wait_until(lambda: "reviewed 1 / 4" in w.verdict.reviewed.text(), what="the counter")
    row = w.model.item_row("a_knife.jpg")
    assert row is not None and row.status == "overridden" and row.human_label == "yes"

    # Ctrl+Z takes it back and returns to that item.
    key(qtbot, w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert w.current == "a_knife.jpg"
    rec = w.store.get_record("a_knife.jpg")
    assert rec.status == "debated" and rec.human is None
    await wait_until(lambda: "reviewed 0 / 4" in w.verdict.reviewed.text(), what="the counter")

    # Enter accepts the model's verdict, with the note typed first.
    w.verdict.note.setText("kitchen knife, fine")
    key(qtbot, w, Qt.Key.Key_Return)
    await settled(w)
    rec = w.store.get_record("a_knife.jpg")
    assert rec.status == "accepted" and rec.final_label == "no" and rec.human.note == "kitchen knife, fine"
    assert w.current == "b_beach.png"

    # N on an item without a debate, then a free-text category on the next one.
    key(qtbot, w, Qt.Key.Key_N)
    assert w.store.get_record("b_beach.png").final_label == "no"
    here = w.current
    key(qtbot, w, Qt.Key.Key_H)
    qtbot.keyClicks(w.verdict.category.lineEdit(), "graffiti")
    qtbot.keyClick(w.verdict.category.lineEdit(), Qt.Key.Key_Return)
    assert w.store.get_record(here).final_category == "graffiti"
    assert "graffiti" in w.store.categories()
    await wait_until(lambda: "reviewed 3 / 4" in w.status_counts.text(), what="the counter")
    assert w.verdict.category.findText("graffiti") >= 0 and w.browser.category.findText("graffiti") >= 0

    # The annotation file catches up a moment after the last decision; with images and videos
    # both labelled, VHD11K's layout is one file per kind.
    store_dir = media_folder / ".vhd-annotator"

    def annotation_text() -> str:
        return "".join(p.read_text() for p in sorted(store_dir.glob("annotations_vhd11k*.json")))

    await wait_until(lambda: "graffiti" in annotation_text(), what="the annotation file")
    images = store_dir / "annotations_vhd11k_images.json"
    rows = {Path(r["imagePath"]).name: r for r in json.loads(images.read_text())}
    assert rows["a_knife.jpg"]["decision"] == "no"
    assert rows["a_knife.jpg"]["affirmativeDebater_argument_0"] == DEFAULT_ANSWERS["affirmative"]

    # J jumps to the one item left without a human decision.
    w.browser.view.setCurrentIndex(w.model.index(0))
    start = w.current
    key(qtbot, w, Qt.Key.Key_J)
    await wait_until(lambda: w.current != start, what="the next undecided item")
    assert w.store.get_record(w.current).human is None


async def test_cancel_mid_stream_stops_the_debate_and_keeps_the_item_as_it_was(make_window: Any, media_folder: Path, qtbot: Any, server: FakeServer) -> None:
    server.token_delay = 0.05
    w = await opened(make_window, media_folder)
    select(w, "b_beach.png")
    key(qtbot, w, Qt.Key.Key_R)
    await wait_until(lambda: "1." in w.role_text("affirmative"), timeout=30, what="the first tokens")
    key(qtbot, w, Qt.Key.Key_Escape)
    await wait_until(lambda: not w.debate_running, what="the cancel")
    assert "(cancelled)" in w.role_text("affirmative")
    assert w.role_text("negative") == ""
    assert w.store.get_record("b_beach.png").status == "new"
    assert "cancelled" in w.debate.status.text().lower()
    # and the window carries on: a new run works
    server.token_delay = 0.0
    await run_to_verdict(qtbot, w)
    assert w.store.get_record("b_beach.png").status == "debated"


async def test_a_server_error_shows_in_its_panel_and_nothing_else_breaks(make_window: Any, media_folder: Path, qtbot: Any, server: FakeServer, dialogs: Dialogs) -> None:
    w = await opened(make_window, media_folder, attempts=1)
    select(w, "a_knife.jpg")
    server.inject(Fault("500"), role="negative")
    await run_to_verdict(qtbot, w)
    assert "server error (500)" in w.role_text("negative")
    assert DEFAULT_ANSWERS["affirmative"] in w.role_text("affirmative")
    assert w.debate.retry.isVisible()
    assert "failed" in w.debate.status.text()
    rec = w.store.get_record("a_knife.jpg")
    assert rec.status == "error" and "500" in rec.debate.error
    assert not dialogs.shown  # shown in the panel, not in a dialog

    # Deciding and moving still work, and Retry runs the debate again.
    key(qtbot, w, Qt.Key.Key_N)
    assert w.store.get_record("a_knife.jpg").final_label == "no"
    await show(w, "a_knife.jpg")
    assert w.debate.retry.isVisible()
    recorded: list[str] = []
    w.did_record_debate.connect(recorded.append)
    qtbot.mouseClick(w.debate.retry, Qt.MouseButton.LeftButton)
    await wait_until(lambda: recorded and not w.debate_running, timeout=30, what="the retried debate")
    assert w.store.get_record("a_knife.jpg").debate.status == "debated"
    assert not w.debate.retry.isVisible()


async def test_a_video_shows_the_frames_the_agents_saw(make_window: Any, media_folder: Path, qtbot: Any) -> None:
    w = await opened(make_window, media_folder, frames=3)
    select(w, "d_clip.avi")
    await run_to_verdict(qtbot, w)
    rec = w.store.get_record("d_clip.avi")
    assert rec.debate.frames_sent and len(rec.debate.frames_sent) == 3
    await wait_until(lambda: len(w.viewer._frames) == 3, what="the frame strip")
    assert [f for f, _ in w.viewer._frames] == rec.debate.frames_sent
    assert w.viewer.veiled


async def test_import_export_and_a_bad_file(make_window: Any, media_folder: Path, qtbot: Any, dialogs: Dialogs, tmp_path: Path) -> None:
    w = await opened(make_window, media_folder)
    csv_file = tmp_path / "vhd11k.csv"
    csv_file.write_text(
        "imagePath,decision,harmfulType,affirmativeDebater_argument_0,negativeDebater_argument_0\n"
        "images/b_beach.png,Yes,violence,It shows a fight.,It is a beach.\n",
        encoding="utf-8",
    )
    report = await w.import_file(str(csv_file))
    assert report is not None and report.added + report.updated == 1
    await show(w, "b_beach.png")
    assert "It shows a fight." in w.role_text("affirmative")
    assert "It is a beach." in w.role_text("negative")
    assert "imported" in w.role_text("affirmative")
    assert "HARMFUL" in w.verdict.model_verdict.text()

    bad = tmp_path / "broken.json"
    bad.write_text("{ not json", encoding="utf-8")
    assert await w.import_file(str(bad)) is None
    assert any(k == "warning" and "broken.json" in m for k, _, m in dialogs.shown)

    out = tmp_path / "out.csv"
    dialogs.answers.append(str(out))
    w.findChild(type(w.actions_by_id["run"]), "action_export_vhd11k-csv").trigger()
    await wait_until(lambda: out.exists(), what="the export")
    assert "b_beach.png" in out.read_text(encoding="utf-8")


async def test_help_lists_every_action_with_its_key(make_window: Any, media_folder: Path, qtbot: Any) -> None:
    w = await opened(make_window, media_folder)
    key(qtbot, w, Qt.Key.Key_F1)
    table = w.help_dialog.table
    assert table.rowCount() == len(ACTIONS)
    labels = {table.item(r, 1).text(): table.item(r, 0).text() for r in range(table.rowCount())}
    assert labels["Next item"] == "D" and labels["Undo the last decision on this item"] in ("Ctrl+Z",)
    w.help_dialog.close()


async def test_layout_last_folder_and_keys_persist_in_qsettings(make_window: Any, media_folder: Path, qtbot: Any) -> None:
    w = await opened(make_window, media_folder)
    w.apply_settings(w.settings, {"next": "L"}, {"auto_advance": False})
    w.close()
    s = QSettings()
    assert s.value("last_folder") == str(media_folder)
    assert not s.value("window/geometry").isEmpty()
    assert s.value("shortcuts/next") == "L"
    w2 = make_window()
    assert w2.keys["next"] == "L" and w2.ui_prefs["auto_advance"] is False
    assert w2.actions_by_id["next"].shortcut().toString() == "L"


async def test_a_read_only_folder_says_where_the_store_went(make_window: Any, tmp_path: Path) -> None:
    import os

    folder = tmp_path / "ro"
    from helpers import write_image

    write_image(folder / "x.jpg")
    os.chmod(folder, 0o555)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        w = await opened(make_window, folder)
        assert w.store.fell_back and "read-only" in w.status_store.text()
    finally:
        os.chmod(folder, 0o755)
    await asyncio.sleep(0)


async def test_a_reasoning_models_thinking_stays_apart_and_collapsed(make_window: Any, media_folder: Path, qtbot: Any, server: FakeServer) -> None:
    thought = "The blade is on a cutting board beside vegetables, so this is cooking."
    server.reasoning = {"judge": thought, "affirmative": "Look for blood first."}
    w = await opened(make_window, media_folder)
    select(w, "a_knife.jpg")
    await run_to_verdict(qtbot, w)
    judge = w.debate.panel("judge")
    # Apart: the argument box holds the answer only; the thinking box holds the thinking.
    assert DEFAULT_ANSWERS["judge"] in w.role_text("judge") and "cutting board" not in w.role_text("judge")
    assert "cutting board beside vegetables" in judge.thinking_text()
    # Collapsed by default, with a button that says how much there is and opens it.
    assert judge.thinking.isHidden() and not judge.thinking_button.isHidden()
    assert judge.thinking_button.text().startswith("Thinking (")
    qtbot.mouseClick(judge.thinking_button, Qt.MouseButton.LeftButton)
    assert not judge.thinking.isHidden()
    assert w.debate.panel("negative").thinking_button.isHidden()  # no thinking, no button
    # Stored apart and never the verdict; the stored record shows the same way.
    rec = w.store.get_record("a_knife.jpg")
    assert rec is not None and rec.debate is not None and rec.debate.decision == "no"
    assert thought in rec.debate.turns[-1].thinking and thought not in rec.debate.turns[-1].text
    key(qtbot, w, Qt.Key.Key_D)
    key(qtbot, w, Qt.Key.Key_A)
    await settled(w)
    assert "cutting board" in w.debate.panel("judge").thinking_text() and "cutting board" not in w.role_text("judge")
    assert w.debate.panel("judge").thinking.isHidden()
    assert "blood" in w.debate.panel("affirmative").thinking_text() and "blood" not in w.role_text("affirmative")


async def test_the_windows_run_claims_its_item_so_a_batch_leaves_it(make_window: Any, media_folder: Path, qtbot: Any, server: FakeServer) -> None:
    from vhd_gui.store import Store

    server.token_delay = 0.01
    w = await opened(make_window, media_folder)
    select(w, "a_knife.jpg")
    key(qtbot, w, Qt.Key.Key_R)
    await wait_until(lambda: w.role_text("affirmative").strip(), what="the debate under way")
    with Store.open(w.store.path, create=False) as other:  # what a batch in a terminal sees
        holder = other.claim_holder("a_knife.jpg")
        assert holder is not None and holder.owner.startswith("window on ")
        assert other.claim_item("a_knife.jpg", "batch on elsewhere (pid 1)", lease_seconds=60) is None
        await wait_until(lambda: not w.debate_running, timeout=30, what="the debate")
        assert other.claim_holder("a_knife.jpg") is None  # recording the debate ended the claim
        assert len(other.debates("a_knife.jpg")) == 1
    # A cancelled Run gives its item back at once.
    select(w, "b_beach.png")
    key(qtbot, w, Qt.Key.Key_R)
    await wait_until(lambda: w.role_text("affirmative").strip(), what="the second debate under way")
    key(qtbot, w, Qt.Key.Key_Escape)
    await wait_until(lambda: not w.debate_running, what="the cancel")
    assert w.store.claim_holder("b_beach.png") is None and w.store.get_record("b_beach.png").debate is None  # type: ignore[union-attr]
