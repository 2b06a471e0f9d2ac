"""The Review panel offscreen: figures with intervals, pictures, the queue and its signal, audit
draws and estimates, and the report written and opened."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from vhd_gui import metrics
from vhd_gui.metrics import Confusion
from vhd_gui.record import DebateRecord, EndpointInfo, TurnRecord
from vhd_gui.store import Store
from vhd_gui.ui._review_panel import ReviewPanel, category_bars_image, confusion_image

pytestmark = pytest.mark.gui

CELLS = {("yes", "yes"): 20, ("yes", "no"): 5, ("no", "yes"): 10, ("no", "no"): 15}  # κ = 0.4


def verdict(path: str, decision: str, flags: tuple[str, ...] = (), critic: str | None = None) -> DebateRecord:
    turns = [TurnRecord("judge", 0, f"{decision}.")]
    if critic:
        turns.append(TurnRecord("critic", 0, critic))
    return DebateRecord(
        path=path,
        kind="image",
        status="debated",
        decision=decision,
        harmful_type="violence" if decision == "yes" else "",
        flags=list(flags),
        turns=turns,
        endpoints={"judge": EndpointInfo("http://localhost:8000/v1", "gpt-4o")},
        preset_name="vhd11k-image",
    )


@pytest.fixture
def review_store(tmp_path: Path) -> Iterator[Store]:
    (tmp_path / "project").mkdir()
    with Store.for_folder(tmp_path / "project") as store:
        with store.transaction():
            i = 0
            for (human, model), count in CELLS.items():
                for _ in range(count):
                    path = f"done_{i:02}.png"
                    store.record_debate(verdict(path, model))
                    store.record_decision(path, human, category=("gore" if i % 2 else "violence") if human == "yes" else "")
                    i += 1
            for j in range(30):
                store.record_debate(verdict(f"todo_{j:02}.png", "yes" if j % 3 else "no"))
            store.record_debate(verdict("todo_critic.png", "no", critic="1. It is a real gun.\nDisagree."))
            store.record_debate(verdict("todo_unparsed.png", "yes", flags=("judge_unparsed",)))
        yield store


@pytest.fixture
def make_panel(qtbot: Any, review_store: Store) -> Iterator[Any]:
    panels: list[ReviewPanel] = []

    def make() -> ReviewPanel:
        panel = ReviewPanel(review_store)
        qtbot.addWidget(panel)
        panel.resize(560, 900)
        panel.show()
        with qtbot.waitSignal(panel.did_refresh, timeout=20_000):
            panel.refresh()
        panels.append(panel)
        return panel

    yield make
    for panel in panels:
        panel.wait(10)  # no worker thread outlives its test


def test_figures_and_pictures(make_panel: Any) -> None:
    panel = make_panel()
    figures = {panel.figures.verticalHeaderItem(r).text(): (panel.figures.item(r, 0).text(), panel.figures.item(r, 1).text()) for r in range(panel.figures.rowCount())}
    assert figures["accuracy on harmful"] == ("80.0 %", "[60.9, 91.1]")
    assert figures["Cohen's kappa"][0] == "0.400"
    assert figures["mean of the two"][0] == "70.0 %" and figures["mean of the two"][1].startswith("[")
    assert "50" in panel.headline.text() and "32 in the queue" in panel.headline.text()
    pixmap = panel.confusion_label.pixmap()
    assert not pixmap.isNull() and pixmap.width() > 100
    assert not panel.bars_label.pixmap().isNull()
    panel.split_combo.setCurrentIndex(1)  # human category
    names = [panel.groups.item(r, 0).text() for r in range(panel.groups.rowCount())]
    assert set(names) == {"gore", "violence", metrics.NOT_HARMFUL_GROUP}


def test_confusion_picture_colours_agreement_and_disagreement() -> None:
    image = confusion_image(Confusion(90, 10, 5, 95))
    assert (image.width(), image.height()) == (400, 250)
    # the top-left cell (agreeing, 90 % of its row) is strongly green, the top-right faint red
    agree = image.pixelColor(145, 55)
    disagree = image.pixelColor(265, 55)
    assert agree.green() > agree.red() and disagree.red() > disagree.green()
    assert agree.lightness() < disagree.lightness()
    bars = category_bars_image({})  # nothing yet: still a picture, saying so
    assert bars.width() == 470 and not bars.isNull()


def test_queue_order_signal_and_paths(make_panel: Any, qtbot: Any, review_store: Store) -> None:
    panel = make_panel()
    paths = panel.queue_paths()
    assert paths[:2] == ["todo_unparsed.png", "todo_critic.png"]
    assert paths[2:] == [f"todo_{j:02}.png" for j in range(30)]  # equal scores: name order
    view = panel.queue_view
    panel.tabs.setCurrentIndex(1)
    view.setFocus()
    view.setCurrentIndex(panel.queue_model.index(1))
    with qtbot.waitSignal(panel.item_activated) as blocker:
        qtbot.keyClick(view, Qt.Key.Key_Return)
    assert blocker.args == ["todo_critic.png"]

    review_store.record_decision("todo_critic.png", "yes")  # what the window does, then refresh()
    with qtbot.waitSignal(panel.did_refresh, timeout=20_000):
        panel.refresh()
        panel.refresh()  # a burst of requests is folded into one more run
    assert "todo_critic.png" not in panel.queue_paths() and len(panel.queue_paths()) == 31


def test_audit_draw_and_estimate(make_panel: Any, qtbot: Any, review_store: Store) -> None:
    panel = make_panel()
    panel.sample_size.setValue(6)
    panel.sample_seed.setValue(3)
    with qtbot.waitSignal(panel.did_refresh, timeout=20_000), qtbot.waitSignal(panel.audit_sample_drawn) as blocker:
        qtbot.mouseClick(panel.draw_button, Qt.MouseButton.LeftButton)
    drawn = blocker.args[0]
    assert len(drawn) == 6 and all(p.startswith("todo_") for p in drawn)
    assert drawn == list(metrics.draw_audit_sample(review_store.verdict_rows(), 6, 3).paths)
    assert panel.audit_estimate.text() == "No audit item reviewed yet; 32 model-only verdicts unreviewed."

    for path in drawn:  # people confirm every sampled verdict
        model = review_store.current_debate(path)
        assert model is not None and model.decision is not None
        review_store.record_decision(path, model.decision)
    with qtbot.waitSignal(panel.did_refresh, timeout=20_000):
        panel.refresh()
    text = panel.audit_estimate.text()
    assert "unreviewed model-only verdicts: 100.0 %" in text and "from 6 reviewed audit items" in text
    assert panel.sample_model.data(panel.sample_model.index(0)).startswith("\u2713 ")


@pytest.mark.parametrize("suffix", [".md", ".html"])
def test_report_written_and_opened(make_panel: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str) -> None:
    panel = make_panel()
    target = tmp_path / "out" / f"review{suffix}"
    target.parent.mkdir()
    asked: list[str] = []

    def save_name(*args: Any, **kwargs: Any) -> tuple[str, str]:
        asked.append(str(args[1] if len(args) > 1 else ""))
        return str(target), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(save_name))
    panel.export_button.click()
    assert asked == ["Export review report"]
    text = target.read_text(encoding="utf-8")
    assert "0.400" in text and "todo_unparsed.png" in text
    for name in ("review-confusion.png", "review-categories.png"):
        assert name in text
        with Image.open(target.parent / name) as picture:
            picture.load()
            assert picture.format == "PNG" and picture.width >= 400
    assert "Report written" in panel.headline.text()
