"""Sequences a person goes through in the real window: editing the harmful categories in
Settings, walking away from a debate and back, watching a folder being scanned."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import key, opened, select, show, wait_until
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox, QPushButton

from vhd_gui.ui._actions import DEFAULT_CATEGORIES

from fakeserver import FakeServer
from helpers import write_image

pytestmark = [pytest.mark.gui, pytest.mark.asyncio(loop_scope="session")]


def _edit_categories_then_ok(qtbot: Any) -> Any:
    """A SettingsDialog.exec that does what a person does on the View tab, then presses OK."""

    def run(dlg: Any) -> int:
        view = dlg.view_tab
        dlg.tabs.setCurrentWidget(view)
        table = view.categories
        buttons = {b.text(): b for b in view.findChildren(QPushButton)}
        table.item(0, 0).setText("spam")  # rename the first one (what a double-click edit ends in)
        table.setCurrentCell(2, 0)
        qtbot.mouseClick(buttons["Up"], Qt.MouseButton.LeftButton)  # the third one to second place
        table.setCurrentCell(table.rowCount() - 1, 0)
        qtbot.mouseClick(buttons["Remove"], Qt.MouseButton.LeftButton)  # and the last one out
        ok = dlg.buttons.button(QDialogButtonBox.StandardButton.Ok)
        assert ok.isEnabled(), dlg.problems.text()
        qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
        return int(dlg.result())

    return run


async def test_categories_edited_in_settings_drive_the_digit_keys_the_picker_and_the_file_and_survive_a_restart(
    make_window: Any, media_folder: Path, qtbot: Any, monkeypatch: pytest.MonkeyPatch, _isolated_qsettings: Path
) -> None:
    from vhd_gui.ui._settings_dialog import SettingsDialog

    monkeypatch.setattr(SettingsDialog, "exec", _edit_categories_then_ok(qtbot))
    w = await opened(make_window, media_folder)
    select(w, "a_knife.jpg")
    key(qtbot, w, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)  # Ctrl+, opens Settings
    expected = ["spam", DEFAULT_CATEGORIES[2], DEFAULT_CATEGORIES[1], *DEFAULT_CATEGORIES[3:9]]
    assert w.categories == expected

    # The picker offers the new list, in its order, with the keys it is on.
    key(qtbot, w, Qt.Key.Key_H)
    assert w.verdict.is_picking
    assert "1 spam" in w.verdict.picker_hint.text() and "2 self-harm" not in w.verdict.picker_hint.text()
    assert [w.verdict.category.itemText(i) for i in range(len(expected))] == expected
    written: list[str] = []
    w.did_write_annotations.connect(written.append)
    key(qtbot, w, Qt.Key.Key_1)
    assert w.store.get_record("a_knife.jpg").final_category == "spam"

    # The digit keys follow it too, outside the picker; 0 has nothing on it any more.
    here = w.current
    key(qtbot, w, Qt.Key.Key_2)
    assert w.store.get_record(here).final_category == DEFAULT_CATEGORIES[2]
    there = w.current
    key(qtbot, w, Qt.Key.Key_0)
    assert w.store.get_record(there).human is None and "No category is on the key 0" in w.statusBar().currentMessage()
    assert w.actions_by_id["category_1"].text() == "Harmful: spam"

    # The annotation file carries the new names.
    await wait_until(lambda: any("spam" in Path(f).read_text() for f in written), what="the annotation file")
    rows = json.loads(Path(written[-1]).read_text())
    by_name = {Path(r["imagePath"]).name: r for r in rows}
    assert by_name["a_knife.jpg"]["harmfulType"] == "spam" and by_name["a_knife.jpg"]["decision"] == "yes"
    assert by_name[Path(here).name]["harmfulType"] == DEFAULT_CATEGORIES[2]

    # A restart (a new window on the same settings file) keeps the list and its keys.
    w.close()
    assert "spam" in "".join(p.read_text(errors="replace") for p in _isolated_qsettings.rglob("*.ini"))
    w2 = await opened(make_window, media_folder)
    assert w2.categories == expected
    select(w2, "d_clip.avi")
    key(qtbot, w2, Qt.Key.Key_1)
    assert w2.store.get_record("d_clip.avi").final_category == "spam"


async def test_leaving_and_coming_back_mid_debate_shows_that_items_debate_never_another_items(
    make_window: Any, media_folder: Path, qtbot: Any, server: FakeServer
) -> None:
    # A stored debate on the beach picture, with words of its own.
    server.answers.update({"affirmative": "BEACH sand and sea", "negative": "BEACH nothing wrong", "judge": "No, a beach."})
    w = await opened(make_window, media_folder)
    select(w, "b_beach.png")
    recorded: list[str] = []
    w.did_record_debate.connect(recorded.append)
    key(qtbot, w, Qt.Key.Key_R)
    await wait_until(lambda: recorded and not w.debate_running, timeout=30, what="the beach verdict")
    beach = {r: w.role_text(r) for r in ("affirmative", "negative", "judge")}

    # A slow debate on the knife: leave it after its first words.
    long = " ".join(f"KNIFE{i}" for i in range(40))
    server.answers.update({"affirmative": long, "negative": long, "judge": "Yes, violence."})
    server.token_delay = 0.02
    select(w, "a_knife.jpg")
    key(qtbot, w, Qt.Key.Key_R)
    await wait_until(lambda: "KNIFE3" in w.role_text("affirmative"), timeout=30, what="the first tokens")
    select(w, "b_beach.png")
    assert {r: w.role_text(r) for r in beach} == beach  # the beach's own record, nothing of the knife
    assert "a debate is running on a_knife.jpg" in w.debate.status.text()

    # Back on the knife while it still runs: what it said so far, then the stream as it comes.
    await wait_until(lambda: any(type(e).__name__ == "TurnStarted" and e.turn.role.value == "negative"
                                 for e in w.debates.live_events("a_knife.jpg") or []), timeout=30, what="the second turn")
    select(w, "a_knife.jpg")
    text = w.role_text("affirmative")
    assert text.startswith("Round 1\nKNIFE0 KNIFE1") and "KNIFE39" in text and "BEACH" not in text
    assert "BEACH" not in w.role_text("negative") and "BEACH" not in w.role_text("judge")
    await wait_until(lambda: "Round 2" in w.role_text("affirmative"), timeout=30, what="the second round")

    # Away again when it ends: the beach stays as it is; back on the knife, its stored record.
    select(w, "b_beach.png")
    await wait_until(lambda: not w.debate_running, timeout=60, what="the knife verdict")
    assert {r: w.role_text(r) for r in beach} == beach
    await show(w, "a_knife.jpg")
    stored = w.store.get_record("a_knife.jpg").debate
    assert stored is not None and stored.decision == "yes"
    for turn in stored.turns:
        assert turn.text in w.role_text(turn.role)
    assert w.role_text("affirmative").count("KNIFE39") == 2 and "BEACH" not in w.role_text("affirmative")
    assert w.debate.status.text().startswith("Judge: Yes, violence.")


async def test_the_counter_follows_the_list_while_a_folder_is_scanned(make_window: Any, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    for i in range(450):  # more than the scan's first two batches
        write_image(folder / f"img_{i:03d}.png", (8, 8), (i % 256, 10, 10))
    w = make_window()
    seen: list[tuple[int, str]] = []

    def look(*_: Any) -> None:  # right after rows arrive, and before the scan goes on
        from PySide6.QtCore import QTimer

        QTimer.singleShot(0, lambda: seen.append((w.model.rowCount(), w.browser.counts.text())))

    w.model.rowsInserted.connect(look)
    done: list[int] = []
    w.did_finish_scan.connect(done.append)
    w.open_path(folder)
    await wait_until(lambda: done, what="the scan")
    assert done == [450]
    mid = [(rows, text) for rows, text in seen if rows < 450]
    assert mid, "no moment in the middle of the scan was seen"
    for rows, text in mid:
        shown, _, total = text.partition(" shown of ")
        assert int(shown) == rows and rows <= int(total) <= 450, text
    assert w.browser.counts.text() == "450 shown of 450"


async def test_another_processs_writes_show_up_and_the_person_keeps_their_place(
    make_window: Any, media_folder: Path, qtbot: Any, server: FakeServer
) -> None:
    import asyncio
    import os
    import subprocess
    import sys

    from vhd_gui.commit import commit_debate
    from vhd_gui.engine import VerdictReached
    from vhd_gui.protocol import Verdict
    from vhd_gui.record import DebateRecord
    from vhd_gui.store import Store

    w = await opened(make_window, media_folder)
    select(w, "b_beach.png")
    key(qtbot, w, Qt.Key.Key_Space)  # revealed
    w.verdict.note.setText("half-typed note")
    key(qtbot, w, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)  # the Review panel in view
    shown: list[None] = []
    w.did_show_outside_change.connect(lambda: shown.append(None))

    # Another connection (as a second window would) debates and decides.
    with Store.open(w.store.path, create=False) as other:
        for rel, decision in (("a_knife.jpg", "no"), ("b_beach.png", "yes")):
            rec = DebateRecord(path=rel, kind="image", status="debated", decision=decision, harmful_type="weapons", judge_raw=f"{decision}, outside")
            commit_debate(other, VerdictReached(Verdict(decision, "weapons"), rec))
        other.record_decision("a_knife.jpg", "yes", category="weapons", source="import")

    await wait_until(lambda: "reviewed 1 / 4" in w.status_counts.text() and shown, what="the outside writes on screen")
    assert w.current == "b_beach.png" and w.selected_paths() == ["b_beach.png"]
    assert w.viewer.revealed and w.model.revealed == "b_beach.png"
    assert "HARMFUL" in w.verdict.model_verdict.text() and w.debate.status.text().startswith("Judge: yes, outside")
    assert w.verdict.note.text() == "half-typed note"
    await wait_until(lambda: w.model.cached_row("a_knife.jpg") is not None and w.model.cached_row("a_knife.jpg").human_label == "yes",
                     what="the list's row")
    await wait_until(lambda: w.browser.category.findText("weapons") >= 0, what="the categories in the filter")  # read after the counters
    await wait_until(lambda: w.review.summary() is not None and w.review.summary().overall.n == 1, what="the Review figures")

    # A real batch in a terminal beside the window: its verdicts show up while the window is open.
    env = dict(os.environ)  # the test server's key is in $VHD_TEST_KEY
    cmd = [sys.executable, "-m", "vhd_gui", "batch", str(media_folder), "--no-cache", "--base-url", server.base_url,
           "--model", "fake-vlm", "--api-key-env", "VHD_TEST_KEY"]
    done = await asyncio.get_running_loop().run_in_executor(None, lambda: subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300))
    assert done.returncode == 0, done.stderr
    await wait_until(lambda: "3 debated" in w.status_counts.text(), timeout=30, what="the batch's verdicts in the counters")
    for rel in ("sub/c_street.jpg", "d_clip.avi"):
        await wait_until(lambda rel=rel: getattr(w.model.cached_row(rel), "model_label", None) == "no", what=f"the badge of {rel}")
    assert w.current == "b_beach.png" and w.viewer.revealed


async def test_a_debate_whose_claim_waits_for_another_writer_leaves_the_window_free(
    make_window: Any, media_folder: Path, qtbot: Any, caplog: Any
) -> None:
    import asyncio
    import logging
    import sqlite3

    caplog.set_level(logging.INFO, logger="vhd_gui")
    w = await opened(make_window, media_folder)
    select(w, "a_knife.jpg")
    # Another program holds the store's write lock: the debate's claim has to wait for it.
    other = sqlite3.connect(w.store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    recorded: list[str] = []
    w.did_record_debate.connect(recorded.append)
    key(qtbot, w, Qt.Key.Key_R)
    await asyncio.sleep(0.2)  # the claim is waiting now; the person moves on meanwhile
    select(w, "b_beach.png")
    assert w.current == "b_beach.png" and w.debates.live_path == "a_knife.jpg" and not recorded
    other.execute("COMMIT")
    other.close()
    await wait_until(lambda: recorded and not w.debate_running, timeout=30, what="the knife verdict")
    assert recorded == ["a_knife.jpg"] and w.store.get_record("a_knife.jpg").debate is not None
    assert w.store.claims(include_expired=True) == []
    # The claim waited off the GUI thread and was taken; on the GUI thread it froze the window
    # for the store's whole busy timeout, then gave up ("database is locked") and ran unclaimed.
    assert "no claim on" not in caplog.text


async def test_a_debate_cancelled_while_its_claim_waits_starts_nothing_and_leaves_no_claim(
    make_window: Any, media_folder: Path, qtbot: Any, server: FakeServer
) -> None:
    import asyncio
    import sqlite3

    w = await opened(make_window, media_folder)
    select(w, "a_knife.jpg")
    other = sqlite3.connect(w.store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    before = len(server.requests)
    key(qtbot, w, Qt.Key.Key_R)
    await asyncio.sleep(0.2)  # the claim waits for the other program's write lock
    assert w.debate_running
    w.cancel()
    other.execute("COMMIT")
    other.close()
    await wait_until(lambda: not w.debate_running, timeout=30, what="the debate's end")
    # The claim was taken once the lock was free, then given back: no request, no record.
    assert w.debate.status.text() == "Debate cancelled. R runs it again." and len(server.requests) == before
    await wait_until(lambda: w.store.claims(include_expired=True) == [], what="the claim given back")
    assert w.store.get_record("a_knife.jpg").debate is None
