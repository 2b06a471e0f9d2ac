"""The batch panel in the real window, against tests/fakeserver.py and generated images: live
badges, pause/resume/cancel, the person's item left alone, and the response cache of Run."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from conftest import Dialogs, key, opened, select, settled, show, wait_until
from PySide6.QtCore import QModelIndex, Qt

from vhd_gui.ui._batch_panel import SCOPE_ALL, SCOPE_FILTERED, SCOPE_SELECTED

from fakeserver import DEFAULT_ANSWERS, FakeServer
from helpers import write_image

pytestmark = [pytest.mark.gui, pytest.mark.asyncio(loop_scope="session")]

N_IMAGES = 8


@pytest.fixture
def eight_images(tmp_path: Path) -> Path:
    folder = tmp_path / "eight"
    for i in range(N_IMAGES):
        write_image(folder / f"img_{i}.png", (96 + 8 * i, 64), (30 * i, 120, 255 - 30 * i))
    return folder




def click(qtbot: Any, button: Any) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)






async def stopped(w: Any, timeout: float = 60) -> str:
    await wait_until(lambda: not w.batch_panel.is_running, timeout=timeout, what="the batch to stop")
    await w.batch_panel.wait()
    return w.batch_panel.stop_reason


async def test_a_batch_labels_the_folder_with_live_badges_and_leaves_the_open_item_alone(
    make_window: Any, eight_images: Path, qtbot: Any, server: FakeServer
) -> None:
    w = await opened(make_window, eight_images)
    panel = w.batch_panel
    first = w.current
    assert first == "img_0.png"
    key(qtbot, w, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)  # Ctrl+2: the batch tab
    assert w.side_tabs.currentWidget() is panel

    badges: list[str] = []  # rows repainted with a model verdict while the batch ran
    finished: list[str] = []

    def repainted(top: QModelIndex, _bottom: QModelIndex, _roles: Any = None) -> None:
        path = w.model.path_at(top.row())
        row = w.model.item_row(path) if path else None
        if panel.is_running and row is not None and row.model_label:
            badges.append(path)

    w.model.dataChanged.connect(repainted)
    panel.did_finish_item.connect(finished.append)
    panel.set_scope(SCOPE_ALL)
    panel.concurrency.setValue(3)
    click(qtbot, panel.start_button)
    assert panel.is_running and not panel.start_button.isEnabled()
    assert await stopped(w) == "done"

    # Every item but the open one is debated; each badge was repainted as its verdict came in.
    others = [p for p in w.model.paths if p != first]
    assert sorted(finished) == sorted(others)
    assert set(badges) == set(others)
    assert panel.left_to_person == [first]
    for p in others:
        row = w.model.item_row(p)
        assert row is not None and row.status == "debated" and row.model_label == "no"
    assert w.store.get_record(first).debate is None
    await wait_until(lambda: "7 debated" in w.status_counts.text(), what="the counter")
    assert panel.progress_bar.value() == panel.progress_bar.maximum() == 7
    assert "Finished" in panel.counts.text() and "7 of 7 done" in panel.counts.text() and "left to you" in panel.counts.text()
    assert "tokens" in panel.figures.text() and "$" in panel.figures.text()
    assert panel.failures.count() == 0
    assert not panel.status_widget.isVisible()

    # Move on; a second run does the one left over and skips the rest, and every badge has a verdict.
    key(qtbot, w, Qt.Key.Key_D)
    assert panel.start()
    assert await stopped(w) == "done"
    assert panel.progress.skipped == N_IMAGES - 1 and panel.progress.done == 1
    for p in w.model.paths:
        row = w.model.item_row(p)
        assert row is not None and row.status == "debated" and row.model_label in ("yes", "no"), p
        assert len(w.store.debates(p)) == 1


async def test_pause_resume_and_cancel_from_the_panel_then_a_rerun_does_the_rest_once(
    make_window: Any, eight_images: Path, qtbot: Any, server: FakeServer
) -> None:
    server.token_delay = 0.01
    w = await opened(make_window, eight_images)
    select(w, "img_7.png")  # the open item is the last one: the batch does the first seven
    panel = w.batch_panel
    panel.concurrency.setValue(2)
    w.show_batch(SCOPE_ALL)
    click(qtbot, panel.start_button)
    await wait_until(lambda: panel.progress.done >= 1, timeout=30, what="a first verdict")

    click(qtbot, panel.pause_button)
    assert panel.progress.paused and panel.pause_button.text() == "Resume"
    await wait_until(lambda: panel.progress.running == 0, timeout=30, what="the running items to finish")
    finished, requests = panel.progress.finished, server.stats.requests
    assert "Paused" in panel.counts.text()
    await asyncio.sleep(0.3)  # nothing new starts while paused
    assert panel.progress.finished == finished and server.stats.requests == requests and panel.is_running

    click(qtbot, panel.pause_button)
    assert not panel.progress.paused and panel.pause_button.text() == "Pause"
    await wait_until(lambda: panel.progress.finished > finished and panel.running_paths, timeout=30, what="work after resume")
    in_flight = set(panel.running_paths)
    click(qtbot, panel.cancel_button)
    assert await stopped(w) == "cancelled"
    assert "not recorded" in panel.counts.text()
    assert panel.start_button.isEnabled() and not panel.cancel_button.isEnabled()
    for p in in_flight:  # dropped, or (if it finished just before the cancel) whole: never half-recorded
        rec = w.store.get_record(p)
        if rec.debate is None:
            assert rec.status == "new", p
        else:
            assert rec.status == "debated" and len(rec.debate.turns) == 5 and len(w.store.debates(p)) == 1, p
    done_before = {p for p in w.model.paths if w.store.get_record(p).debate is not None}
    assert done_before and len(done_before) < N_IMAGES - 1

    assert panel.start()
    assert await stopped(w) == "done"
    assert panel.progress.skipped == len(done_before) + 1  # the finished ones, and the open item
    for p in w.model.paths:
        if p != "img_7.png":
            assert len(w.store.debates(p)) == 1, p
            assert w.model.item_row(p).model_label == "no"


async def test_the_persons_decision_during_a_batch_is_kept_and_R_on_a_batch_item_says_so(
    make_window: Any, eight_images: Path, qtbot: Any, server: FakeServer
) -> None:
    server.token_delay = 0.01
    w = await opened(make_window, eight_images)
    panel = w.batch_panel
    mine = w.current
    started: list[str] = []
    panel.did_start_item.connect(started.append)
    panel.concurrency.setValue(2)
    assert panel.start(SCOPE_FILTERED)  # no filter set: the whole list
    await wait_until(lambda: started, timeout=30, what="the batch to start an item")

    # The open item is decided by hand while the batch runs.
    key(qtbot, w, Qt.Key.Key_N)
    assert w.current != mine  # auto-advance

    # R on an item the batch is debating right now: the window says so and starts nothing.
    busy = next(iter(panel.running_paths))
    select(w, busy)
    key(qtbot, w, Qt.Key.Key_R)
    assert not w.debate_running
    assert "batch is debating this item" in w.statusBar().currentMessage()
    assert "batch is debating this item" in w.debate.status.text()
    # ... and deciding it by hand meanwhile: the person's label wins over the batch's verdict.
    key(qtbot, w, Qt.Key.Key_H)
    key(qtbot, w, Qt.Key.Key_1)
    assert await stopped(w) == "done"

    rec = w.store.get_record(mine)
    assert rec.human is not None and rec.final_label == "no" and rec.debate is None
    assert mine in panel.left_to_person
    busy_rec = w.store.get_record(busy)
    assert busy_rec.debate is not None and busy_rec.debate.decision == "no"  # the batch recorded it ...
    assert busy_rec.final_label == "yes" and busy_rec.human.label == "yes"  # ... and the person's label stands
    assert w.model.item_row(busy).human_label == "yes"


async def test_a_batch_on_the_selected_items_only(make_window: Any, eight_images: Path, qtbot: Any, server: FakeServer) -> None:
    w = await opened(make_window, eight_images)
    select(w, "img_0.png")
    # Shift-click extends the selection in the list (ExtendedSelection).
    view = w.browser.view
    rect = view.visualRect(w.model.index(w.model.row_of("img_3.png")))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, rect.center())
    assert w.selected_paths() == ["img_0.png", "img_1.png", "img_2.png", "img_3.png"]
    w.select_paths(["img_5.png", "img_6.png"])  # the open item (img_3) is not among them
    w.show_batch(SCOPE_SELECTED)
    click(qtbot, w.batch_panel.start_button)
    assert await stopped(w) == "done"
    debated = sorted(p for p in w.model.paths if w.store.get_record(p).debate is not None)
    assert debated == ["img_5.png", "img_6.png"]


@pytest.fixture
def app_stays_up() -> Any:
    """Closing the only window must not quit the test's event loop (the app does the same)."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    before = app.quitOnLastWindowClosed()
    app.setQuitOnLastWindowClosed(False)
    yield app
    app.setQuitOnLastWindowClosed(before)


async def test_closing_the_window_mid_batch_asks_then_cancels_cleanly(
    make_window: Any, eight_images: Path, qtbot: Any, server: FakeServer, dialogs: Dialogs, app_stays_up: Any
) -> None:
    server.token_delay = 0.01
    w = await opened(make_window, eight_images)
    panel = w.batch_panel
    store_path = w.store.path
    assert panel.start(SCOPE_ALL)
    await wait_until(lambda: panel.progress.done >= 1 and panel.running_paths, timeout=30, what="a verdict and more in flight")
    in_flight = set(panel.running_paths)
    w.close()
    assert any(kind == "question" and "batch is running" in title for kind, title, _ in dialogs.shown)
    assert await stopped(w) == "cancelled"
    from vhd_gui.store import Store

    with Store.open(store_path, create=False) as store:
        for p in in_flight:  # dropped, or (if it finished before the cancel landed) whole: never half-recorded
            rec = store.get_record(p)
            assert rec.debate is None or (rec.status == "debated" and len(rec.debate.turns) == 5), p
        assert all(len(store.debates(p)) <= 1 for p in store.paths())
        assert any(store.get_record(p).debate is not None for p in store.paths())


async def test_run_uses_the_response_cache_and_rerun_bypasses_it(make_window: Any, tmp_path: Path, qtbot: Any, server: FakeServer) -> None:
    folder = tmp_path / "twins"
    write_image(folder / "a.png", (120, 90), (10, 200, 10))
    write_image(folder / "b.png", (120, 90), (10, 200, 10))  # the same picture under another name
    w = await opened(make_window, folder)
    assert w.cache is not None and w.cache.entries() == 0
    recorded: list[str] = []
    w.did_record_debate.connect(recorded.append)

    async def press(k: Qt.Key, mod: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
        recorded.clear()
        key(qtbot, w, k, mod)
        await wait_until(lambda: recorded and not w.debate_running, timeout=30, what="the verdict")

    select(w, "a.png")
    await press(Qt.Key.Key_R)
    turns = len(w.store.get_record("a.png").debate.turns)
    assert server.stats.requests == turns and w.cache.entries() == turns

    # Re-run (Shift+R) asks the server again, every turn.
    await press(Qt.Key.Key_R, Qt.KeyboardModifier.ShiftModifier)
    assert server.stats.requests == 2 * turns
    assert len(w.store.debates("a.png")) == 2

    # Run on the same picture under another name: every turn from the cache, no request.
    select(w, "b.png")
    await press(Qt.Key.Key_R)
    assert server.stats.requests == 2 * turns
    rec = w.store.get_record("b.png")
    assert rec.debate is not None and rec.debate.decision == "no"
    assert DEFAULT_ANSWERS["judge"] in w.role_text("judge")
    assert "response cache, no request sent" in w.debate.status.text()

    # The panel shows the cache and clears it.
    w.show_batch()
    assert f"{turns} answers" in w.batch_panel.cache_label.text()
    click(qtbot, w.batch_panel.clear_cache_button)
    await wait_until(lambda: w.cache.entries() == 0 and "0 answers" in w.batch_panel.cache_label.text(), what="the cleared cache")


async def test_a_token_budget_and_rpm_from_the_panel(make_window: Any, eight_images: Path, qtbot: Any, server: FakeServer) -> None:
    w = await opened(make_window, eight_images)
    panel = w.batch_panel
    assert not panel.budget.isVisible()  # no budget: no figure to misread
    panel.budget_kind.setCurrentIndex(panel.budget_kind.findData("tokens"))
    w.show_batch(SCOPE_ALL)
    assert panel.budget.isVisible()
    panel.budget.setValue(1)  # spent by the first debate
    panel.concurrency.setValue(1)
    panel.rpm.setValue(600)
    click(qtbot, panel.start_button)
    assert panel.run is not None and panel.run.limiter is not None and panel.run.limiter.rpm == 600
    assert await stopped(w) == "budget"
    assert panel.progress.done == 1
    assert "budget is spent" in panel.counts.text()
    assert f"The run went over the budget of 1 tokens by {panel.progress.tokens - 1:,}" in panel.counts.text()
    assert sum(w.store.get_record(p).debate is not None for p in w.model.paths) == 1


async def test_a_full_disk_stops_the_batch_and_the_panel_says_why(make_window: Any, tmp_path: Path, qtbot: Any, server: FakeServer) -> None:
    from helpers import fill_disk, small_tmpfs

    folder = tmp_path / "many"
    for i in range(12):
        write_image(folder / f"img_{i:02d}.png", (96, 64), (20 * i, 120, 200))
    with small_tmpfs(folder / ".vhd-annotator") as disk:  # the store's own folder is a small disk
        w = await opened(make_window, folder)
        panel = w.batch_panel
        filler = fill_disk(disk, 192 * 1024)
        panel.concurrency.setValue(1)
        assert panel.start(SCOPE_ALL)
        assert await stopped(w) == "error"
        text = panel.counts.text()
        assert "Stopped by an error" in text and "database or disk is full" in text, text
        assert " 0 failed" not in text and panel.progress.failed == 1
        assert panel.failures.count() == 1 and "disk is full" in panel.failures.item(0).text()
        # The session total counts what was paid, the debate the store refused included.
        assert w.session_tokens["prompt"] + w.session_tokens["completion"] == panel.progress.tokens > 0
        done = panel.progress.done
        assert 1 <= done < 11
        filler.unlink()
        assert sum(w.store.get_record(p).debate is not None for p in w.model.paths) == done
        w.close()


async def test_run_on_an_item_another_batch_has_claimed_says_so_and_the_panel_leaves_it(
    make_window: Any, eight_images: Path, qtbot: Any, server: FakeServer
) -> None:
    from vhd_gui.store import Store

    w = await opened(make_window, eight_images)
    # A batch in another process (its own connection to the same store file) holds img_5.
    with Store.open(w.store.path, create=False) as other:
        claim = other.claim_item("img_5.png", "batch on far-host (pid 4242)", lease_seconds=600)
        assert claim is not None
        await show(w, "img_5.png")
        key(qtbot, w, Qt.Key.Key_R)
        await settled(w)  # R asks the store who holds the item, off the GUI thread
        assert not w.debate_running and server.stats.requests == 0
        assert "Another batch is debating this item" in w.statusBar().currentMessage()
        assert "far-host (pid 4242)" in w.debate.status.text()

        # The window's own batch shares the queue: it leaves the claimed item to its holder ...
        select(w, "img_0.png")
        panel = w.batch_panel
        assert panel.start(SCOPE_ALL)
        await wait_until(lambda: panel.progress.done == N_IMAGES - 2, timeout=60, what="every free item")
        assert panel.is_running and w.store.get_record("img_5.png").debate is None
        # ... and skips it once the other batch has recorded its verdict.
        from vhd_gui.record import DebateRecord

        other.record_claimed_debate(DebateRecord(path="img_5.png", kind="image", status="debated", decision="yes"), claim)
        assert await stopped(w) == "done"
    assert panel.progress.done_elsewhere == 1 and "done meanwhile by another batch" in panel.counts.text()
    assert [d.decision for d in w.store.debates("img_5.png")] == ["yes"]
    assert server.stats.requests == 5 * (N_IMAGES - 2)


async def test_a_server_that_stops_answering_pauses_the_panel_s_batch_until_resumed(
    make_window: Any, eight_images: Path, qtbot: Any, server: FakeServer
) -> None:
    server.fault_rates = {"hang": 1.0}  # the server takes requests and never answers
    w = await opened(make_window, eight_images, turn_timeout=2, attempts=1)
    select(w, "img_7.png")
    panel = w.batch_panel
    panel.concurrency.setValue(1)
    assert panel.start(SCOPE_ALL)
    await wait_until(lambda: panel.progress.paused and panel.failures.count() == 3, timeout=120, what="the batch to pause itself")
    assert panel.progress.failed == 3 and panel.progress.done == 0
    assert "Paused: the server stopped answering: 3 items in a row failed (no answer in time)" in panel.counts.text()
    assert panel.pause_button.text() == "Resume" and panel.is_running
    requests = server.stats.requests
    await asyncio.sleep(0.3)
    assert server.stats.requests == requests  # nothing new is sent while paused

    server.fault_rates = {}  # the server is back
    click(qtbot, panel.pause_button)
    assert await stopped(w) == "done"
    assert panel.progress.done == 4 and panel.progress.failed == 3
    assert "server stopped answering" not in panel.counts.text()
    assert sum(w.store.get_record(p).status == "debated" for p in w.model.paths) == 4
