"""Agreement between people inside the real window: the Review panel's People tab on a folder
two reviewers decided, and a decision made in the window brings its reviewer into the figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import key, opened, wait_until
from PySide6.QtCore import Qt

from vhd_gui.record import DebateRecord
from vhd_gui.store import Store

from helpers import write_image

pytestmark = [pytest.mark.gui, pytest.mark.asyncio(loop_scope="session")]

# (ann, bob) per item; the model says yes to every item
DECISIONS = {"p0.png": ("yes", "yes"), "p1.png": ("no", "no"), "p2.png": ("yes", "no"), "p3.png": ("no", "no")}


@pytest.fixture
def two_reviewers(tmp_path: Path) -> Path:
    folder = tmp_path / "team"
    for i, name in enumerate([*DECISIONS, "p4.png"]):
        write_image(folder / name, (80, 60), (40 * i, 90, 200 - 40 * i))
    with Store.for_folder(folder) as store:
        for name in [*DECISIONS, "p4.png"]:
            store.record_debate(DebateRecord(path=name, kind="image", status="debated", decision="yes", harmful_type="violence"))
        for name, (ann, bob) in DECISIONS.items():
            store.record_decision(name, ann, "violence" if ann == "yes" else "", reviewer="ann")
            store.record_decision(name, bob, "violence" if bob == "yes" else "", reviewer="bob")
    return folder


async def test_people_tab_in_the_window_follows_a_decision(make_window: Any, two_reviewers: Path, qtbot: Any) -> None:
    w = await opened(make_window, two_reviewers)
    panel = w.review
    assert panel is not None
    got: list[int] = []
    panel.people_refreshed.connect(lambda: got.append(1))
    key(qtbot, w, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)  # the Review panel
    panel.tabs.setCurrentIndex(panel.people_tab)
    await wait_until(lambda: got, timeout=20, what="agreement between people")
    first = panel.people_agreement()
    assert first is not None and first.comparable and set(first.reviewers) == {"ann", "bob"}
    (pair,) = first.overall.pairs
    assert (pair.a, pair.b, pair.n, pair.agree.value) == ("ann", "bob", 4, 0.75)
    assert panel.people.pairs.item(0, 0).text() == "ann / bob"

    # The window's own decision on an item ann and bob decided: a third reviewer in the figures.
    got.clear()
    w.open_item("p2.png")
    key(qtbot, w, Qt.Key.Key_N)
    await wait_until(lambda: got and len(panel.people_agreement().reviewers) == 3, timeout=20, what="the new figures")
    after = panel.people_agreement()
    assert after.overall.multi == 4 and len(after.overall.pairs) == 3
    assert panel.people.pairs.rowCount() == 3
