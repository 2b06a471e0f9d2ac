"""A team in the real window: decisions carry the reviewer's name, other reviewers' decisions
show unless the project is blind, "next undecided" serves the next item for this reviewer and
holds it with a review lease, and another person's decision shows up while the window is open."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import key, opened, select, settled, wait_until
from PySide6.QtCore import Qt

from vhd_gui import config
from vhd_gui.record import DebateRecord
from vhd_gui.store import Store

from helpers import write_image

pytestmark = [pytest.mark.gui, pytest.mark.asyncio(loop_scope="session")]

NAMES = ["p0.png", "p1.png", "p2.png", "p3.png"]


def _team_folder(tmp_path: Path, **project: Any) -> Path:
    folder = tmp_path / "team"
    for i, name in enumerate(NAMES):
        write_image(folder / name, (80, 60), (50 * i, 90, 200 - 40 * i))
    with Store.for_folder(folder) as store:
        store.upsert_items([(n, "image", None, None) for n in NAMES])
        for name in NAMES:
            store.record_debate(DebateRecord(path=name, kind="image", status="debated", decision="yes", harmful_type="violence"))
        if project:
            store.set_project_settings(**project)
        store.record_decision("p0.png", "yes", "violence", reviewer="ann")
        store.record_decision("p0.png", "no", reviewer="bob")  # ann and bob disagree on p0
        store.record_decision("p1.png", "no", reviewer="ann")
    return folder


def _others(w: Any) -> str:
    return str(w.team.others.text()) if w.team.others.isVisible() else ""


async def _show(w: Any, name: str) -> None:
    shown: list[str] = []
    w.team.did_show_others.connect(shown.append)
    if w.current == name:  # already on screen: read again
        w.team.refresh()
    else:
        select(w, name)
    await wait_until(lambda: name in shown, what=f"the reviewers' decisions on {name}")


async def test_decisions_and_undo_carry_the_reviewer_and_the_status_bar_names_them(make_window: Any, tmp_path: Path, qtbot: Any) -> None:
    folder = _team_folder(tmp_path)
    w = await opened(make_window, folder, reviewer="cat")
    assert w.team.status.text() == "reviewing as cat" and w.team.status.isVisible()
    await _show(w, "p2.png")
    decided: list[str] = []
    w.did_decide.connect(decided.append)
    key(qtbot, w, Qt.Key.Key_N)
    await wait_until(lambda: decided, what="the decision")
    with Store.for_folder(folder) as other:
        assert {r: e.label for r, e in other.standing_decisions("p2.png").items()} == {"cat": "no"}
        assert other.decision_history("p2.png")[-1].source == "window"

    # Undo on p0 takes back cat's own decision only: ann's and bob's stay.
    await _show(w, "p0.png")
    decided.clear()
    key(qtbot, w, Qt.Key.Key_H)
    w.decide("yes", "violence")
    await wait_until(lambda: decided, what="the decision on p0")
    with Store.for_folder(folder) as other:
        assert set(other.standing_decisions("p0.png")) == {"ann", "bob", "cat"}
    w.undo()
    w.undo()  # p0, then p2: both cat's
    with Store.for_folder(folder) as other:
        assert set(other.standing_decisions("p0.png")) == {"ann", "bob"}
        assert other.standing_decisions("p2.png") == {}
        assert other.decision_history("p0.png")[-1].reviewer == "cat"


async def test_settings_name_the_reviewer_and_refuse_a_bad_name(make_window: Any, tmp_path: Path, qtbot: Any) -> None:
    from vhd_gui.ui._settings_dialog import SettingsDialog

    folder = _team_folder(tmp_path)
    w = await opened(make_window, folder)
    assert w.team.reviewer == config.default_reviewer()
    dlg = SettingsDialog(w.settings, {}, {"categories": ["violence"]}, w)
    qtbot.addWidget(dlg)
    assert "not a login" in " ".join(lbl.text() for lbl in dlg.team_tab.findChildren(type(w.team.status)))
    dlg.team_tab.reviewer.setText(" dan")
    assert any("Reviewer name" in p for p in dlg.problem_list())
    assert not dlg.buttons.button(dlg.buttons.StandardButton.Ok).isEnabled()
    dlg.team_tab.reviewer.setText("dan")
    assert dlg.problem_list() == []
    settings = dlg.settings()
    dlg.close()
    w.apply_settings(settings, {}, {})
    assert w.team.reviewer == "dan" and w.team.status.text() == "reviewing as dan"
    assert config.load_settings().reviewer == "dan"  # saved to the settings file's reviewer key

    await _show(w, "p3.png")
    decided: list[str] = []
    w.did_decide.connect(decided.append)
    w.decide("no", "")
    await wait_until(lambda: decided, what="the decision")
    with Store.for_folder(folder) as other:
        assert set(other.standing_decisions("p3.png")) == {"dan"}


async def test_other_reviewers_show_with_a_disputed_badge_and_the_list_filters_them(make_window: Any, tmp_path: Path) -> None:
    folder = _team_folder(tmp_path, resolution="majority")
    w = await opened(make_window, folder, reviewer="cat")
    await _show(w, "p0.png")
    text = _others(w)
    assert "<b>ann</b>: harmful (violence)" in text and "<b>bob</b>: not harmful" in text and "disputed" in text
    # "You" is cat's own decision (none yet), then what the item comes to.
    assert w.verdict.human.text() == "not decided · item: disputed, needs adjudication"
    await _show(w, "p1.png")
    assert "<b>ann</b>: not harmful" in _others(w) and "disputed" not in _others(w)
    assert w.verdict.human.text() == "not decided · item: not harmful (from ann)"
    await _show(w, "p3.png")
    assert _others(w) == ""  # nobody decided it

    rows = w.model.item_row("p0.png")
    assert rows is not None and rows.disputed and rows.reviewer_count == 2
    w.browser.status.setCurrentText("needs adjudication")
    await wait_until(lambda: w.model.paths == ["p0.png"], what="the disputed items only")
    w.browser.status.setCurrentText("not decided by me")
    await wait_until(lambda: w.model.paths == NAMES, what="the items cat did not decide")


async def test_blind_review_shows_only_my_own_decision_and_the_model(make_window: Any, tmp_path: Path, qtbot: Any) -> None:
    folder = _team_folder(tmp_path, blind=True)
    w = await opened(make_window, folder, reviewer="cat")
    await _show(w, "p0.png")
    assert w.status_counts.text().startswith("reviewed 0 / 4")  # ann's and bob's decisions are not counted for cat
    assert "hidden" in _others(w) and "ann" not in _others(w)
    # The verdict bar and the list are as cat may see them: the model's verdict, nobody's decision.
    rec = w.store.record_for("p0.png", "cat")
    assert rec.others_hidden and rec.standing == {}
    row = w.model.item_row("p0.png")
    assert row is not None and row.human_label is None and row.reviewer_count == 0 and not row.disputed
    decided: list[str] = []
    w.did_decide.connect(decided.append)
    key(qtbot, w, Qt.Key.Key_N)
    await wait_until(lambda: decided, what="cat's decision")
    row = w.model.item_row("p0.png")
    assert row is not None and row.human_label == "no" and row.reviewer_count == 1
    await wait_until(lambda: w.status_counts.text().startswith("reviewed 1 / 4"), what="cat's count")

    # The adjudicator sees everyone's.
    with Store.for_folder(folder) as store:
        store.set_project_settings(blind=True, resolution="adjudicator", adjudicator="cat")
    await wait_until(lambda: "<b>ann</b>" in _others(w), what="the adjudicator's view")


async def test_next_for_me_skips_what_enough_people_decided_and_holds_a_lease(make_window: Any, tmp_path: Path, qtbot: Any) -> None:
    folder = _team_folder(tmp_path, overlap=2)
    w = await opened(make_window, folder, reviewer="cat")
    await wait_until(lambda: w.team.team_mode, what="team mode")
    await _show(w, "p0.png")  # ann and bob decided it: two people, the overlap
    key(qtbot, w, Qt.Key.Key_J)
    await wait_until(lambda: w.current == "p1.png", what="the next item for cat")  # only ann decided it
    with Store.for_folder(folder) as other:
        assert [(lease.path, lease.reviewer) for lease in other.review_leases()] == [("p1.png", "cat")]
        first_until = other.review_leases()[0].lease_until
    # The lease is renewed while p1 stays on screen (every 30 s; sooner here).
    w.team._renew.setInterval(50)
    with Store.for_folder(folder) as other:
        await wait_until(lambda: other.review_leases()[0].lease_until > first_until, what="the renewed lease")
    w.team._renew.setInterval(30_000)
    with Store.for_folder(folder) as other:
        # dan, with overlap 2, may still be served p1 (one decision + cat's lease = 2: no).
        served = other.next_for_reviewer("dan")
        assert served is not None and served.path == "p2.png"
    key(qtbot, w, Qt.Key.Key_J)
    await wait_until(lambda: w.current == "p2.png", what="the item after")  # dan's lease counts as one
    await wait_until(lambda: _others(w) == "Looking at it now: dan", what="who else looks at p2")
    with Store.for_folder(folder) as other:
        await wait_until(lambda: {(x.path, x.reviewer) for x in other.review_leases()} == {("p2.png", "cat"), ("p2.png", "dan")},
                         what="cat's lease moving on")
        # A lease never blocks a decision: dan decides the item cat holds.
        other.record_decision("p2.png", "yes", "violence", reviewer="dan")
    w.close()
    with Store.for_folder(folder) as other:
        assert [x.reviewer for x in other.review_leases()] == ["dan"]  # cat's lease released on close


async def test_another_persons_decision_shows_in_the_open_item_and_the_list(make_window: Any, tmp_path: Path) -> None:
    folder = _team_folder(tmp_path)
    w = await opened(make_window, folder, reviewer="cat")
    await _show(w, "p3.png")
    assert _others(w) == ""
    with Store.for_folder(folder) as other:  # another person, another connection
        other.record_decision("p3.png", "yes", "violence", reviewer="eve")
        other.record_decision("p3.png", "no", reviewer="fay")
    await wait_until(lambda: "<b>eve</b>" in _others(w) and "<b>fay</b>" in _others(w), what="eve's and fay's decisions")
    await wait_until(lambda: (r := w.model.cached_row("p3.png")) is not None and r.reviewer_count == 2, what="the list's row")


async def test_project_dialog_shows_progress_and_changes_the_projects_rules(make_window: Any, tmp_path: Path) -> None:
    from vhd_gui.ui._project_dialog import ProjectDialog

    folder = _team_folder(tmp_path)
    w = await opened(make_window, folder, reviewer="cat")
    action = next(a for a in w.menuBar().findChildren(type(w.actions_by_id["settings"])) if a.objectName() == "action_project")
    action.trigger()
    dlg = w.findChild(ProjectDialog)
    assert dlg is not None
    await wait_until(lambda: dlg.loaded, what="the project settings")
    assert dlg.overlap.value() == 1 and dlg.resolution.currentData() == "latest" and not dlg.blind.isChecked()
    assert "4 items" in dlg.progress.text() and "ann 2" in dlg.progress.text() and "bob 1" in dlg.progress.text()
    save = dlg.buttons.button(dlg.buttons.StandardButton.Save)

    # As the CLI: adjudicator resolution needs a name, and a name must be a valid reviewer name.
    dlg.resolution.setCurrentIndex(dlg.resolution.findData("adjudicator"))
    assert not save.isEnabled() and "needs an adjudicator" in dlg.problems.text()
    dlg.adjudicator.setText("a\tb")
    assert not save.isEnabled() and "control characters" in dlg.problems.text()
    dlg.adjudicator.setText("ann")
    dlg.overlap.setValue(2)
    dlg.blind.setChecked(True)
    assert save.isEnabled()
    saved: list[Any] = []
    dlg.did_save.connect(saved.append)
    looked: list[int] = []
    w.team.did_look.connect(lambda: looked.append(1))
    save.click()
    await wait_until(lambda: saved, what="the saved settings")
    with Store.for_folder(folder) as other:
        p = other.project_settings()
        assert (p.overlap, p.resolution, p.adjudicator, p.blind) == (2, "adjudicator", "ann", True)
        assert other.get_record("p0.png").final_label == "yes"  # ann's decision settles p0 now
    # The window follows at once: cat is blind now, and the team counts two per item.
    await wait_until(lambda: looked and w.team.look.blind and w.team.team_mode, what="the window following the change")


async def test_a_lone_reviewer_on_an_old_store_keeps_the_plain_walk_and_writes_no_lease(make_window: Any, tmp_path: Path, qtbot: Any) -> None:
    folder = tmp_path / "old"
    for i, name in enumerate(NAMES):
        write_image(folder / name, (80, 60), (50 * i, 90, 120))
    with Store.for_folder(folder) as store:
        store.upsert_items([(n, "image", None, None) for n in NAMES])
        store.record_decision("p1.png", "yes", "violence")  # from before reviewers: no name
    w = await opened(make_window, folder, reviewer="cat")
    looked: list[int] = []
    w.team.did_look.connect(lambda: looked.append(1))
    w.team.refresh()
    await wait_until(lambda: looked, what="the team read")
    assert not w.team.team_mode
    await _show(w, "p1.png")
    assert _others(w) == ""
    assert w.verdict.human.text().startswith("harmful (violence)")
    select(w, "p0.png")
    key(qtbot, w, Qt.Key.Key_J)
    await settled(w)  # the plain walk, looked for off the GUI thread
    assert w.current == "p2.png"  # skipping p1
    with Store.for_folder(folder) as other:
        assert other.review_leases() == []
