"""The Review panel's People tab offscreen, on a real store with several reviewers: computed
off the GUI thread only when the tab is shown, the overall figures with intervals, the pairwise
table and the model against each person; updated after a decision; one line when people cannot
be compared. A screenshot is written and checked for the tables' ink."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QTableWidget

from vhd_gui.record import DebateRecord
from vhd_gui.store import Store
from vhd_gui.ui._review_panel import ReviewPanel

pytestmark = pytest.mark.gui

# Wikipedia's Cohen's kappa table as (ann, bob) → items: agreement 70 %, kappa 0.400.
CELLS = {("yes", "yes"): 20, ("yes", "no"): 5, ("no", "yes"): 10, ("no", "no"): 15}


def build(folder: Path, reviewers: str = "ann bob carol") -> None:
    folder.mkdir()
    names = reviewers.split()
    with Store.for_folder(folder) as store, store.transaction():
        i = 0
        for (a, b), count in CELLS.items():
            for _ in range(count):
                path = f"item_{i:02}.{'mp4' if i % 5 == 0 else 'png'}"
                store.record_debate(DebateRecord(path=path, kind="video" if i % 5 == 0 else "image", status="debated", decision="yes", harmful_type="violence"))
                store.record_decision(path, a, "violence" if a == "yes" else "", reviewer=names[0])
                if len(names) > 1:
                    store.record_decision(path, b, "gore" if b == "yes" else "", reviewer=names[1])
                if len(names) > 2 and i % 2:
                    store.record_decision(path, a, "violence" if a == "yes" else "", reviewer=names[2])
                i += 1


@pytest.fixture
def panel_on(qtbot: Any, tmp_path: Path) -> Iterator[Any]:
    opened: list[tuple[ReviewPanel, Store]] = []

    def make(reviewers: str = "ann bob carol") -> tuple[ReviewPanel, Store]:
        folder = tmp_path / f"project_{len(opened)}"
        build(folder, reviewers)
        store = Store.for_folder(folder)
        panel = ReviewPanel(store.reader())
        qtbot.addWidget(panel)
        panel.resize(640, 1000)
        panel.show()
        with qtbot.waitSignal(panel.did_refresh, timeout=20_000):
            panel.refresh()
        opened.append((panel, store))
        return panel, store

    yield make
    for panel, store in opened:
        panel.wait(10)
        store.close()


def cells(table: QTableWidget) -> list[list[str]]:
    return [[table.item(r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())]


def test_people_tab_figures_pairs_model_and_screenshot(panel_on: Any, qtbot: Any, tmp_path: Path) -> None:
    panel, store = panel_on()
    assert panel.people_agreement() is None  # nothing read until someone looks
    with qtbot.waitSignal(panel.people_refreshed, timeout=20_000):
        panel.tabs.setCurrentIndex(panel.people_tab)
    result = panel.people_agreement()
    assert result is not None and result.comparable
    view = panel.people
    assert "<b>3</b> reviewers" in view.caption.text() and "<b>50</b> items decided by people" in view.caption.text()
    overall = {row[0]: row[1:] for row in cells(view.overall)}
    assert list(overall) == ["percent agreement", "Fleiss' kappa", "Krippendorff's alpha", "Gwet's AC1"]
    for value in overall.values():
        assert "\n[" in value[0] and value[0].endswith("]")  # each value with its 95 % interval under it
    pairs = {row[0]: row[1:] for row in cells(view.pairs)}
    assert set(pairs) == {"ann / bob", "ann / carol", "bob / carol"}
    assert pairs["ann / bob"][0] == "50" and pairs["ann / bob"][1].startswith("70.0 %\n[") and pairs["ann / bob"][2].startswith("0.400\n[")
    assert pairs["ann / carol"][0] == "25" and pairs["ann / carol"][1].startswith("100.0 %")
    model = {row[0]: row[1:] for row in cells(view.model)}
    assert list(model) == ["ann", "bob", "carol", "final label"]
    assert model["ann"][1].startswith("50.0 %")  # the model said yes to all 50; ann to 25
    view.split_combo.setCurrentIndex(0)
    assert [row[0] for row in cells(view.split)] == ["image", "video"]
    view.split_combo.setCurrentIndex(1)
    assert {row[0] for row in cells(view.split)} == {"violence", "gore"}
    assert view.pairs.isVisible() and view.model.isVisible() and "bootstrap" in view.note.text()

    shot = tmp_path / "people-tab.png"
    assert panel.grab().save(str(shot))
    image = panel.grab().toImage()
    dark = sum(1 for y in range(0, image.height(), 4) for x in range(0, image.width(), 4) if image.pixelColor(x, y).lightness() < 100)
    assert shot.stat().st_size > 10_000 and dark > 200  # the tables' text is drawn

    # A decision while the tab is shown: the next refresh brings new figures.
    store.record_decision("item_00.mp4", "no", reviewer="dave")
    store.record_decision("item_01.png", "yes", "violence", reviewer="dave")
    with qtbot.waitSignal(panel.people_refreshed, timeout=20_000):
        panel.refresh()
    pairs = {row[0]: row[1:] for row in cells(view.pairs)}
    assert "ann / dave" in pairs and pairs["ann / dave"][0] == "2"


def test_one_reviewer_says_so_and_still_compares_the_model(panel_on: Any, qtbot: Any) -> None:
    panel, _ = panel_on("ann")
    with qtbot.waitSignal(panel.people_refreshed, timeout=20_000):
        panel.tabs.setCurrentIndex(panel.people_tab)
    view = panel.people
    assert view.caption.text() == "Agreement between people needs two reviewers who decided the same items: only one reviewer (ann) has decided items."
    assert not view.pairs.isVisible() and not view.overall.isVisible()
    assert view.model.isVisible() and [row[0] for row in cells(view.model)] == ["ann", "final label"]


def test_not_computed_while_another_tab_is_shown(panel_on: Any, qtbot: Any) -> None:
    panel, store = panel_on()
    with qtbot.waitSignal(panel.people_refreshed, timeout=20_000):
        panel.tabs.setCurrentIndex(panel.people_tab)
    first = panel.people_agreement()
    panel.tabs.setCurrentIndex(0)
    store.record_decision("item_02.png", "no", reviewer="erin")
    with qtbot.waitSignal(panel.did_refresh, timeout=20_000):
        panel.refresh()
    assert panel.people_agreement() is first  # the People tab is hidden: nothing recomputed
    with qtbot.waitSignal(panel.people_refreshed, timeout=20_000):
        panel.tabs.setCurrentIndex(panel.people_tab)  # shown again: stale figures are recomputed
    again = panel.people_agreement()
    assert again is not first and again is not None and "erin" in again.reviewers


def test_under_blind_review_only_the_adjudicator_sees_how_people_agree(panel_on: Any, qtbot: Any) -> None:
    panel, store = panel_on()
    store.set_project_settings(blind=True, resolution="adjudicator", adjudicator="carol")
    panel.viewer = "ann"
    with qtbot.waitSignal(panel.people_refreshed, timeout=20_000):
        panel.tabs.setCurrentIndex(panel.people_tab)
    view = panel.people
    assert panel.people_agreement() is None and "reviews blind" in view.caption.text() and "carol" in view.caption.text()
    assert not any(w.isVisible() for w in (view.overall, view.pairs, view.model))
    with qtbot.waitSignal(panel.people_refreshed, timeout=20_000):
        panel.viewer = "carol"  # the adjudicator sees everyone's
    assert panel.people_agreement() is not None and view.pairs.isVisible()
    assert set(panel.people_agreement().reviewers) == {"ann", "bob", "carol"}
