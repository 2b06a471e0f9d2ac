"""The Review panel inside the real window: figures follow decisions, its lists open items, and
next/previous walk the review queue or a drawn audit sample."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import key, opened, wait_until
from PySide6.QtCore import Qt

from vhd_gui.record import DebateRecord, EndpointInfo, TurnRecord
from vhd_gui.store import Store

from helpers import write_image

pytestmark = [pytest.mark.gui, pytest.mark.asyncio(loop_scope="session")]

# name → (model decision, judge's P(yes), flags); the queue ranks by how suspicious each looks
VERDICTS: dict[str, tuple[str, float | None, tuple[str, ...]]] = {
    "p00.png": ("no", 0.02, ()),
    "p01.png": ("yes", 0.55, ()),
    "p02.png": ("no", 0.30, ()),
    "p03.png": ("yes", None, ("judge_unparsed",)),
    "p04.png": ("no", 0.45, ()),
    "p05.png": ("yes", 0.97, ()),
    "p06.png": ("no", 0.10, ()),
    "p07.png": ("yes", 0.70, ()),
}
DECIDED = {"p00.png": "no", "p05.png": "yes", "p06.png": "yes"}  # human decisions before the window opens


def verdict(path: str, decision: str, p_yes: float | None, flags: tuple[str, ...]) -> DebateRecord:
    return DebateRecord(
        path=path,
        kind="image",
        status="debated",
        decision=decision,
        harmful_type="violence" if decision == "yes" else "",
        judge_raw="Yes, violence." if decision == "yes" else "No, a quiet scene.",
        judge_yes_prob=p_yes,
        flags=list(flags),
        turns=[TurnRecord("judge", 0, f"{decision}.")],
        endpoints={"judge": EndpointInfo("http://127.0.0.1:9/v1", "fake-vlm")},
        preset_name="vhd11k-image",
    )


@pytest.fixture
def reviewed_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "reviewed"
    for i, name in enumerate(VERDICTS):
        write_image(folder / name, (80, 60), (20 * i, 90, 200 - 20 * i))
    with Store.for_folder(folder) as store:
        for name, (decision, p_yes, flags) in VERDICTS.items():
            store.record_debate(verdict(name, decision, p_yes, flags))
        for name, label in DECIDED.items():
            store.record_decision(name, label, category="violence" if label == "yes" else "")
    return folder


async def opened_walking(make_window: Any, folder: Path) -> Any:
    w = await opened(make_window, folder)
    w.verdict.auto_advance.setChecked(True)
    return w




async def refreshed(w: Any, trigger: Any) -> None:
    """Run ``trigger`` and wait for the Review panel's next figures."""
    got: list[int] = []

    def seen() -> None:
        got.append(1)

    w.review.did_refresh.connect(seen)
    trigger()
    await wait_until(lambda: got, timeout=20, what="the Review panel's figures")
    w.review.did_refresh.disconnect(seen)


async def test_review_figures_follow_each_decision(make_window: Any, reviewed_folder: Path, qtbot: Any) -> None:
    w = await opened_walking(make_window, reviewed_folder)
    panel = w.review
    assert panel is not None and w.side_tabs.widget(2) is w.review_holder
    await refreshed(w, lambda: key(qtbot, w, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier))  # Ctrl+3 shows it
    assert w.side_tabs.currentWidget() is w.review_holder and w.review_holder.currentWidget() is panel
    before = panel.summary().overall
    assert before.n == 3
    assert "3" in panel.headline.text()
    figures_before = [panel.figures.item(r, 0).text() for r in range(panel.figures.rowCount())]

    # Decide p07 (model: yes) as not harmful: one more pair, one more disagreement.
    w.open_item("p07.png")
    assert w.current == "p07.png"
    await refreshed(w, lambda: key(qtbot, w, Qt.Key.Key_N))
    after = panel.summary().overall
    assert after.n == 4 and after.confusion.no_yes == before.confusion.no_yes + 1
    assert [panel.figures.item(r, 0).text() for r in range(panel.figures.rowCount())] != figures_before
    assert "p07.png" not in panel.queue_paths()

    # Undo takes it back out of the figures.
    await refreshed(w, lambda: key(qtbot, w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier))
    assert panel.summary().overall.n == 3 and "p07.png" in panel.queue_paths()


async def test_the_review_panel_waits_for_the_folder_and_is_refreshed_when_shown(
    make_window: Any, reviewed_folder: Path, qtbot: Any
) -> None:
    w = await opened_walking(make_window, reviewed_folder)
    assert w.side_tabs.currentIndex() == 0
    w.open_item("p01.png")
    key(qtbot, w, Qt.Key.Key_N)  # decided while the panel is hidden: nothing computed yet
    assert w.review.summary() is None
    await refreshed(w, lambda: w.side_tabs.setCurrentIndex(2))
    assert w.review.summary().overall.n == 4


async def test_the_review_panel_is_built_when_first_shown_and_for_the_store_open_then(
    make_window: Any, reviewed_folder: Path, tmp_path: Path
) -> None:
    w = await opened(make_window, reviewed_folder)
    assert w._review is None  # opening a store builds no panel nobody looks at
    assert w.review_holder.currentWidget() is w.review_placeholder
    await refreshed(w, lambda: w.side_tabs.setCurrentIndex(2))
    first = w.review
    assert w.review_holder.currentWidget() is first and first.summary().overall.n == 3

    # Another folder opened while the Review tab is on screen: its own panel, its own figures.
    other = tmp_path / "other"
    write_image(other / "q0.png", (80, 60), (1, 2, 3))
    with Store.for_folder(other) as store:
        store.record_debate(verdict("q0.png", "yes", 0.9, ()))
        store.record_decision("q0.png", "no")
    opened_again: list[str] = []
    w.did_open.connect(opened_again.append)
    w.open_path(other)
    await wait_until(lambda: opened_again and w._review is not None and w._review.summary() is not None, timeout=20,
                     what="the other store's Review figures")
    assert w.review is not first and w.review_holder.currentWidget() is w.review
    assert w.review.summary().overall.n == 1
    assert w.review_holder.count() == 2  # the placeholder and one panel: the old one is gone


async def test_queue_walk_follows_the_review_queue_and_its_list_opens_items(make_window: Any, reviewed_folder: Path, qtbot: Any) -> None:
    w = await opened_walking(make_window, reviewed_folder)
    panel = w.review
    w.side_tabs.setCurrentIndex(2)
    await wait_until(lambda: panel.summary() is not None, timeout=20, what="the figures")
    queue = panel.queue_paths()
    assert queue[0] == "p03.png" and set(queue) == set(VERDICTS) - set(DECIDED)
    assert queue != sorted(queue)  # not the list's order

    # Q turns the walk on and opens the most suspicious item; D and A follow the queue.
    key(qtbot, w, Qt.Key.Key_Q)
    assert w.walk_mode == "queue" and w.actions_by_id["walk_queue"].isChecked()
    await wait_until(lambda: w.current == queue[0], timeout=20, what="the first queue item")
    assert "walking the review queue: 1 of 5" in w.status_walk.text()
    key(qtbot, w, Qt.Key.Key_D)
    assert w.current == queue[1]
    key(qtbot, w, Qt.Key.Key_Right)
    assert w.current == queue[2]
    key(qtbot, w, Qt.Key.Key_A)
    assert w.current == queue[1]

    # A decision advances along the queue; the decided item leaves the queue, the walk goes on.
    await refreshed(w, lambda: key(qtbot, w, Qt.Key.Key_N))
    assert w.current == queue[2]
    assert queue[1] not in panel.queue_paths()
    key(qtbot, w, Qt.Key.Key_D)
    assert w.current == queue[3]
    key(qtbot, w, Qt.Key.Key_D)
    key(qtbot, w, Qt.Key.Key_D)  # past the end: stays, and says so
    assert w.current == queue[4]
    assert "End of the review queue" in w.statusBar().currentMessage()

    # Q again: back to the list's order.
    key(qtbot, w, Qt.Key.Key_Q)
    assert w.walk_mode == "" and not w.status_walk.isVisible()
    here = w.model.row_of(w.current)
    key(qtbot, w, Qt.Key.Key_A)
    assert w.model.row_of(w.current) == here - 1

    # Enter on a queue entry opens that item (and does not accept the open one's verdict).
    panel.tabs.setCurrentIndex(1)
    view = panel.queue_view
    target = panel.queue_paths()[2]
    before = w.current
    view.setFocus()
    view.setCurrentIndex(panel.queue_model.index(2))
    key(qtbot, w, Qt.Key.Key_Return)
    assert w.current == target
    assert w.store.get_record(before).human is None


async def test_audit_walk_follows_the_drawn_sample(make_window: Any, reviewed_folder: Path, qtbot: Any) -> None:
    w = await opened_walking(make_window, reviewed_folder)
    panel = w.review
    w.side_tabs.setCurrentIndex(2)
    await wait_until(lambda: panel.summary() is not None, timeout=20, what="the figures")
    key(qtbot, w, Qt.Key.Key_Q, Qt.KeyboardModifier.ShiftModifier)  # no sample yet
    assert w.walk_mode == "" and "Draw an audit sample first" in w.statusBar().currentMessage()

    panel.sample_size.setValue(3)
    sample = panel.draw_sample()
    assert len(sample) == 3
    key(qtbot, w, Qt.Key.Key_Q, Qt.KeyboardModifier.ShiftModifier)
    assert w.walk_mode == "audit" and w.current == sample[0]
    key(qtbot, w, Qt.Key.Key_D)
    assert w.current == sample[1]
    key(qtbot, w, Qt.Key.Key_D)
    assert w.current == sample[2]
    key(qtbot, w, Qt.Key.Key_A)
    assert w.current == sample[1]
    assert "walking the audit sample: 2 of 3" in w.status_walk.text()


async def test_an_item_the_list_does_not_show_still_opens_from_the_queue(make_window: Any, reviewed_folder: Path, qtbot: Any) -> None:
    w = await opened_walking(make_window, reviewed_folder)
    w.browser.search.setText("p00")  # the list now shows one item
    await wait_until(lambda: w.model.rowCount() == 1, what="the filtered list")
    w.review.item_activated.emit("p05.png")
    assert w.current == "p05.png"
    assert "not in the list" in w.statusBar().currentMessage()
