"""Several reviewers on one store (real SQLite files and a real PostgreSQL server): each person's decisions kept apart,
undo per reviewer, the project's overlap and resolution, disputes, blind views, and the
"next item for me" review leases across threads and processes."""

from __future__ import annotations

import csv
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vhd_gui.formats import export_store, import_file
from vhd_gui.record import DebateRecord
from vhd_gui.store import DecisionEntry, Filters, ProjectSettings, Resolution, Store, list_backups, resolve_decisions
from vhd_gui.store_api import open_store

REPO = Path(__file__).resolve().parents[1]


def verdict(path: str, decision: str = "yes", category: str = "violence") -> DebateRecord:
    return DebateRecord(path=path, kind="image", status="debated", decision=decision, harmful_type=category if decision == "yes" else "")


_TARGETS: dict[int, str] = {}  # what each fixture store was opened from, to open it again


def reopen(store: Store, root: Path) -> Store:
    """The same store opened afresh (another window, a restart), on its own backend."""
    return open_store(_TARGETS[id(store)], root=root)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Six items, once per backend: the folder's own SQLite file, then a PostgreSQL database."""
    target = str(tmp_path / ".vhd-annotator" / "annotations.sqlite") if request.param == "sqlite" else request.getfixturevalue("pg_url")
    s = Store.for_folder(tmp_path) if request.param == "sqlite" else open_store(target, root=tmp_path)
    _TARGETS[id(s)] = target
    s.upsert_items([(f"img/{i:02d}.png", "image", 1, float(i)) for i in range(6)])
    yield s
    s.close()


# --------------------------------------------------------------------------- decisions per reviewer


def test_an_undo_takes_back_only_its_own_reviewers_decision(store: Store) -> None:
    store.record_debate(verdict("img/00.png", "yes"))
    store.record_decision("img/00.png", "no", reviewer="ana")
    store.record_decision("img/00.png", "yes", category="gore", reviewer="bo")
    store.record_decision("img/00.png", "yes", category="weapons", reviewer="ana")
    assert store.undo_decision("img/00.png", reviewer="cy") is None  # cy decided nothing: nothing written
    assert store.undo_decision("img/00.png", reviewer="bo") is not None
    row = store.row("img/00.png")
    assert row is not None and (row.human_label, row.human_category) == ("yes", "weapons")  # ana's latest stands
    assert store.undo_decision("img/00.png", reviewer="ana") is not None
    row = store.row("img/00.png")
    assert row is not None and row.human_label == "no" and row.status == "overridden"  # ana's earlier "no" is back
    assert store.undo_decision("img/00.png", reviewer="bo") is None  # bo has nothing left
    history = store.decision_history("img/00.png")
    assert [(e.action, e.reviewer) for e in history] == [
        ("set", "ana"), ("set", "bo"), ("set", "ana"), ("undo", "bo"), ("undo", "ana"),
    ]


def test_a_store_without_reviewer_names_replays_as_it_always_did(store: Store) -> None:
    """Undo without a reviewer (every store before reviewers) takes back the latest of anyone."""
    store.record_debate(verdict("img/01.png", "no"))
    store.record_decision("img/01.png", "yes", category="gore")
    store.record_decision("img/01.png", "no")
    store.record_decision("img/01.png", "yes", category="blood", reviewer="ann")  # an import --as human
    assert store.undo_decision("img/01.png") is not None  # takes back ann's, the latest
    assert store.row("img/01.png").human_label == "no"  # type: ignore[union-attr]
    assert store.undo_decision("img/01.png") is not None
    row = store.row("img/01.png")
    assert row is not None and (row.human_label, row.human_category, row.status) == ("yes", "gore", "overridden")
    assert store.undo_decision("img/01.png") is not None
    assert store.undo_decision("img/01.png") is None
    assert store.row("img/01.png").status == "debated"  # type: ignore[union-attr]


# --------------------------------------------------------------------------- resolution and disputes


def test_latest_majority_and_adjudicator_form_the_final_label(store: Store) -> None:
    p = "img/02.png"
    store.record_debate(verdict(p, "no"))
    store.record_decision(p, "yes", category="gore", reviewer="ana")
    store.record_decision(p, "no", reviewer="bo")
    rec = store.get_record(p)
    assert rec is not None and list(rec.standing) == ["ana", "bo"] and rec.reviewer_count == 2
    assert (rec.final_label, rec.status, rec.disputed) == ("no", "accepted", False)  # latest: bo's

    assert store.set_project_settings(resolution="majority").resolution == "majority"
    row = store.row(p)
    assert row is not None and row.disputed and row.reviewer_count == 2
    assert (row.human_label, row.final_label, row.status) == (None, "no", "debated")  # a tie: the model's verdict
    assert store.get_record(p).human is None  # type: ignore[union-attr]
    store.record_decision(p, "yes", category="weapons", reviewer="cy")
    row = store.row(p)
    assert row is not None and not row.disputed and (row.final_label, row.status) == ("yes", "overridden")
    assert row.final_category == "weapons"  # one each: the most recent of the winning side

    store.set_project_settings(resolution="adjudicator", adjudicator="bo")
    assert store.row(p).final_label == "no"  # type: ignore[union-attr]
    store.undo_decision(p, reviewer="bo")  # without the adjudicator, ana and cy agree
    row = store.row(p)
    assert row is not None and not row.disputed and row.final_label == "yes" and row.reviewer_count == 2
    store.record_decision(p, "no", reviewer="dee")
    assert store.row(p).disputed  # type: ignore[union-attr]
    assert store.count(Filters(needs_adjudication=True)) == 1 and store.counts().disputed == 1

    with pytest.raises(ValueError, match="needs an adjudicator"):
        store.set_project_settings(adjudicator="")
    with pytest.raises(ValueError, match="overlap"):
        store.set_project_settings(overlap=0)
    with pytest.raises(ValueError, match="resolution"):
        store.set_project_settings(resolution="loudest")
    assert store.project_settings() == ProjectSettings(1, "adjudicator", "bo", False)  # refused changes change nothing


def test_majority_takes_the_category_most_of_the_winning_side_gave() -> None:
    def e(i: int, reviewer: str, label: str, category: str = "") -> DecisionEntry:
        return DecisionEntry(i, "set", label, category, "", reviewer, "window", f"2026-01-01T00:00:0{i}")

    standing = {d.reviewer: d for d in [e(1, "a", "yes", "gore"), e(2, "b", "yes"), e(3, "c", "no"), e(4, "d", "yes", "gore"), e(5, "f", "yes", "war")]}
    outcome = resolve_decisions(standing, "majority")
    assert outcome.decision is standing["d"] and not outcome.disputed and outcome.split
    assert resolve_decisions(standing, "latest").decision is standing["f"]
    assert resolve_decisions({}, "majority") == Resolution(None, False, False)
    two = {"a": e(1, "a", "yes"), "b": e(2, "b", "no")}
    assert resolve_decisions(two, "majority").disputed and resolve_decisions(two, "adjudicator", "z").disputed
    assert resolve_decisions(two, "adjudicator", "a").decision is two["a"]


def test_filters_for_reviewers_and_a_store_reopened_keeps_them(store: Store, tmp_path: Path) -> None:
    store.set_project_settings(resolution="majority", overlap=2)
    store.record_decision("img/00.png", "yes", reviewer="ana")
    store.record_decision("img/00.png", "no", reviewer="bo")
    store.record_decision("img/01.png", "no", reviewer="ana")
    store.record_decision("img/02.png", "no", reviewer="bo")
    store.record_decision("img/02.png", "no", reviewer="ana")
    assert store.paths(Filters(undecided_by="ana")) == ["img/03.png", "img/04.png", "img/05.png"]
    assert store.paths(Filters(decided_by="bo")) == ["img/00.png", "img/02.png"]
    assert store.paths(Filters(needs_adjudication=True)) == ["img/00.png"]
    assert store.paths(Filters(reviewers_disagree=True, undecided_by="cy")) == ["img/00.png"]
    assert store.reviewers() == {"ana": 3, "bo": 2}
    progress = store.review_progress()
    assert (progress.total, progress.complete, progress.partial, progress.disputed) == (6, 1, 1, 1)
    store.close()
    with reopen(store, tmp_path) as again:
        assert again.project_settings().overlap == 2
        assert again.paths(Filters(needs_adjudication=True)) == ["img/00.png"]


def test_a_schema_5_store_gets_each_reviewers_standing_decision(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with Store.open(path) as s:
        s.upsert_items([("a.png", "image", 1, 1.0), ("b.png", "image", 1, 1.0)])
        s.record_decision("a.png", "yes", reviewer="ana")
        s.record_decision("a.png", "no")
        s.record_decision("b.png", "no", reviewer="bo")
    conn = sqlite3.connect(path)  # take it back to schema 5 as that version left it
    for statement in ("DROP TABLE review_leases", "DROP TABLE standing_decisions", "DROP INDEX items_disputed"):
        conn.execute(statement)
    for column in ("reviewer_count", "disputed", "reviewers_split"):
        conn.execute(f"ALTER TABLE items DROP COLUMN {column}")
    conn.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with Store.open(path) as s:
        assert s.schema_version == 6
        assert s.paths(Filters(undecided_by="ana")) == ["b.png"]
        rows = s.rows(["a.png", "b.png"])
        assert (rows["a.png"].reviewer_count, rows["a.png"].final_label, rows["b.png"].reviewer_count) == (2, "no", 1)
    assert any(b.reason == "before-schema-6" for b in list_backups(path))


def test_exports_keep_the_vhd11k_shape_and_jsonl_round_trips_every_reviewer(store: Store, tmp_path: Path) -> None:
    store.set_project_settings(resolution="majority")
    store.record_debate(verdict("img/00.png", "yes", "gore"))
    store.record_decision("img/00.png", "no", reviewer="ana")
    store.record_decision("img/00.png", "yes", category="blood", reviewer="bo")  # a tie: the model's verdict
    store.record_decision("img/01.png", "yes", category="war", reviewer="ana")
    store.record_decision("img/01.png", "no", reviewer="bo")
    store.record_decision("img/01.png", "no", reviewer="cy")
    store.undo_decision("img/01.png", reviewer="cy")
    store.record_decision("img/01.png", "yes", category="war", reviewer="cy")
    export_store(store, "vhd11k-csv", tmp_path / "out.csv")
    with open(tmp_path / "out.csv", newline="", encoding="utf-8") as fh:
        rows = {r["imagePath"]: r for r in csv.DictReader(fh)}
    assert list(rows["img/00.png"])[:3] == ["imagePath", "decision", "harmfulType"]
    assert (rows["img/00.png"]["decision"], rows["img/00.png"]["harmfulType"]) == ("yes", "gore")
    assert (rows["img/01.png"]["decision"], rows["img/01.png"]["harmfulType"]) == ("yes", "war")
    export_store(store, "jsonl", tmp_path / "all.jsonl")
    other = tmp_path / "other"
    other.mkdir()
    with Store.for_folder(other) as copy:
        copy.set_project_settings(resolution="majority")
        assert import_file(copy, tmp_path / "all.jsonl").added == 2
        for p in ("img/00.png", "img/01.png"):
            mine, theirs = store.get_record(p), copy.get_record(p)
            assert mine is not None and theirs is not None
            assert [(e.action, e.reviewer, e.label) for e in theirs.history] == [(e.action, e.reviewer, e.label) for e in mine.history]
            assert {r: (e.label, e.category) for r, e in theirs.standing.items()} == {r: (e.label, e.category) for r, e in mine.standing.items()}
            assert (theirs.final_label, theirs.disputed) == (mine.final_label, mine.disputed)


# --------------------------------------------------------------------------- blind review


def test_a_blind_reviewer_sees_only_their_own_decisions(store: Store) -> None:
    store.record_debate(verdict("img/00.png", "yes", "gore"))
    store.record_decision("img/00.png", "no", reviewer="ana")
    store.record_decision("img/01.png", "yes", category="war", reviewer="ana")
    store.record_decision("img/00.png", "yes", reviewer="bo")
    assert not store.blind_for("bo")
    assert store.record_for("img/00.png", "bo") == store.get_record("img/00.png")  # not blind: everything
    store.set_project_settings(blind=True, resolution="majority", adjudicator="cy")
    assert store.blind_for("bo") and not store.blind_for("cy") and not store.blind_for(None)
    seen = store.record_for("img/00.png", "bo")
    assert seen is not None and seen.others_hidden and list(seen.standing) == ["bo"]
    assert [e.reviewer for e in seen.history] == ["bo"] and not seen.disputed and seen.reviewer_count == 1
    assert (seen.final_label, seen.final_category, seen.status) == ("yes", "gore", "accepted")
    whole = store.record_for("img/00.png", "cy")  # the adjudicator sees everyone
    assert whole is not None and not whole.others_hidden and whole.disputed and list(whole.standing) == ["ana", "bo"]
    rows = {r.path: r for r in store.page(viewer="bo")}
    assert (rows["img/00.png"].human_label, rows["img/00.png"].status, rows["img/00.png"].disputed) == ("yes", "accepted", False)
    assert (rows["img/01.png"].human_label, rows["img/01.png"].final_label, rows["img/01.png"].status) == (None, None, "new")
    assert store.row("img/01.png", viewer="ana").final_category == "war"  # type: ignore[union-attr]
    # the review figures' rows too: a blind reviewer's own decisions, the adjudicator's everyone's
    seen_rows = {r.path: r for r in store.verdict_rows(viewer="bo")}
    all_rows = {r.path: r for r in store.verdict_rows(viewer="cy")}
    assert (seen_rows["img/00.png"].human_label, seen_rows["img/00.png"].status) == ("yes", "accepted")
    assert seen_rows["img/01.png"].human_label is None and all_rows["img/01.png"].human_label is not None
    assert all_rows == {r.path: r for r in store.verdict_rows()}
    # paging on by the last row seen walks the viewer's own status order
    by_status = store.paths(sort="status", viewer="bo")
    assert [r.path for r in store.page(sort="status", viewer="bo", after=by_status[0], limit=len(by_status))] == by_status[1:]
    # the filters and counts see what the viewer sees, not others' labels
    assert store.paths(Filters(final_label="yes"), viewer="bo") == ["img/00.png"]
    assert store.paths(Filters(final_label="yes")) == ["img/00.png", "img/01.png"]
    assert store.count(Filters(needs_adjudication=True), viewer="bo") == 0 and store.counts(viewer="cy").disputed == 1
    assert store.counts(viewer="bo").by_status["accepted"] == 1
    assert store.paths(sort="status", viewer="bo")[0] == "img/00.png"  # accepted sorts before new


# --------------------------------------------------------------------------- next item for me


def test_next_for_me_skips_what_i_decided_and_what_others_hold(store: Store) -> None:
    a = store.next_for_reviewer("ana")
    b = store.next_for_reviewer("bo")
    assert a is not None and b is not None and (a.path, b.path) == ("img/00.png", "img/01.png")
    assert [(info.path, info.reviewer) for info in store.review_leases()] == [("img/00.png", "ana"), ("img/01.png", "bo")]
    again = store.next_for_reviewer("ana")  # her own lease does not hide the item from her
    assert again is not None and again.path == "img/00.png" and again.token != a.token
    assert store.renew_review_lease(a) is None  # replaced by the newer lease
    store.record_decision("img/00.png", "yes", reviewer="ana")
    nxt = store.next_for_reviewer("ana", after="img/00.png")
    assert nxt is not None and nxt.path == "img/02.png"  # 01 is bo's for now
    store.release_review_lease(b)
    assert store.next_for_reviewer("cy").path == "img/01.png"  # type: ignore[union-attr]
    wrapped = store.next_for_reviewer("ana", after="img/05.png")  # nothing after 05 is hers: it wraps round
    assert wrapped is not None and wrapped.path == "img/02.png"
    renewed = store.renew_review_lease(wrapped, 600)
    assert renewed is not None and renewed.lease_until > wrapped.lease_until and renewed.token == wrapped.token
    # filters and the other sorts
    assert store.next_for_reviewer("dee", Filters(name_contains="04")).path == "img/04.png"  # type: ignore[union-attr]
    eve = store.next_for_reviewer("eve", sort="mtime", after="img/04.png")
    assert eve is not None and eve.path == "img/05.png"
    backwards = store.next_for_reviewer("fay", sort="mtime", after="img/05.png", descending=True)
    assert backwards is not None and backwards.path == "img/03.png"  # 04 is held by dee
    assert store.next_for_reviewer("gus", after="img/00.png", descending=True) is None  # every item decided or held
    store.release_review_lease(eve)
    assert store.next_for_reviewer("gus", after="img/00.png", descending=True).path == "img/05.png"  # type: ignore[union-attr]  # wraps round
    with pytest.raises(ValueError):
        store.next_for_reviewer("")


def test_overlap_lets_that_many_people_see_an_item_and_a_dispute_stays_open(store: Store) -> None:
    store.set_project_settings(overlap=2, resolution="majority")
    filt = Filters(name_contains="00")
    assert store.next_for_reviewer("ana", filt).path == "img/00.png"  # type: ignore[union-attr]
    assert store.next_for_reviewer("bo", filt).path == "img/00.png"  # type: ignore[union-attr]
    assert store.next_for_reviewer("cy", filt) is None  # two people hold it
    store.record_decision("img/00.png", "yes", reviewer="ana")
    store.record_decision("img/00.png", "no", reviewer="bo")
    assert store.row("img/00.png").disputed  # type: ignore[union-attr]
    tie_breaker = store.next_for_reviewer("cy", filt)  # a tie under majority: one more decision may settle it
    assert tie_breaker is not None and tie_breaker.path == "img/00.png"
    assert store.next_for_reviewer("dee", filt) is None  # ... and only one person at a time is asked
    store.record_decision("img/00.png", "yes", reviewer="cy")
    assert store.next_for_reviewer("dee", filt) is None  # settled: three decided, overlap 2
    store.set_project_settings(resolution="adjudicator", adjudicator="zed")
    store.record_decision("img/01.png", "yes", reviewer="ana")
    store.record_decision("img/01.png", "no", reviewer="bo")
    only = Filters(needs_adjudication=True)
    assert store.paths(only) == ["img/00.png", "img/01.png"]
    assert store.next_for_reviewer("cy", only) is None  # under adjudicator only the adjudicator settles it
    assert store.next_for_reviewer("zed", only).path == "img/00.png"  # type: ignore[union-attr]


def test_expired_leases_free_the_item_and_a_lease_never_blocks_a_decision(store: Store) -> None:
    only = Filters(name_contains="03")
    held = store.next_for_reviewer("ana", only, lease_seconds=0.05)
    assert held is not None and store.next_for_reviewer("bo", only) is None
    time.sleep(0.1)
    assert store.renew_review_lease(held) is None  # ran out
    taken = store.next_for_reviewer("bo", only)
    assert taken is not None and taken.path == "img/03.png"
    # two people decide the same item anyway: both decisions are kept
    store.record_decision("img/03.png", "no", reviewer="ana")
    store.record_decision("img/03.png", "yes", reviewer="bo")
    assert {r: e.label for r, e in store.standing_decisions("img/03.png").items()} == {"ana": "no", "bo": "yes"}
    assert store.row("img/03.png").reviewer_count == 2  # type: ignore[union-attr]
    mine = store.lease_for_review("img/04.png", "cy")  # opened from the list: held too
    assert store.next_for_reviewer("dee", Filters(name_contains="04")) is None
    store.release_review_lease(mine)
    assert store.review_leases("img/04.png") == []


def test_two_reviewers_asking_at_once_from_two_threads_are_never_served_the_same_item(store_target: str, tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    target = store_target if "://" in store_target else str(folder / "s.sqlite")
    with open_store(target, root=folder) as s:
        s.upsert_items([(f"x/{i:03d}.png", "image", 1, float(i)) for i in range(60)])
    served: dict[str, list[str]] = {"ana": [], "bo": []}
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            with open_store(target, root=folder, daily_backup=False) as own:  # a connection each, as two windows would have
                barrier.wait()
                after = None
                # every other item is decided, the rest stay held; served again means wrapped round
                while (lease := own.next_for_reviewer(name, after=after)) is not None and lease.path not in served[name]:
                    served[name].append(lease.path)
                    after = lease.path
                    if len(served[name]) % 2:
                        own.record_decision(lease.path, "no", reviewer=name)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in served]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert not set(served["ana"]) & set(served["bo"])
    assert sorted(served["ana"] + served["bo"]) == [f"x/{i:03d}.png" for i in range(60)]


_WORKER = """
import sys
from vhd_gui.store_api import open_store
target, folder, name = sys.argv[1], sys.argv[2], sys.argv[3]
with open_store(target, root=folder, daily_backup=False) as store:
    print("ready", flush=True)
    sys.stdin.readline()
    seen, after = set(), None
    while (lease := store.next_for_reviewer(name, after=after)) is not None and lease.path not in seen:
        print(lease.path, flush=True)  # held, never decided: the other process must not get it
        seen.add(lease.path)
        after = lease.path
"""


def test_two_reviewer_processes_on_one_store_share_the_items_without_overlap(store_target: str, tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    target = store_target if "://" in store_target else str(folder / "s.sqlite")
    with open_store(target, root=folder) as s:
        s.upsert_items([(f"x/{i:03d}.png", "image", 1, float(i)) for i in range(80)])
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen([sys.executable, "-c", _WORKER, target, str(folder), name], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for name in ("ana", "bo")
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    for p in procs:  # both start asking at once
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    outputs = [p.communicate(timeout=300)[0].split() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert not set(outputs[0]) & set(outputs[1])
    assert sorted(outputs[0] + outputs[1]) == [f"x/{i:03d}.png" for i in range(80)]
    with open_store(target, root=folder) as s:
        assert len(s.review_leases()) == 80  # every item held by the one it was served to


def test_a_batch_never_debates_an_item_people_decided_even_when_they_disagree(store: Store) -> None:
    from vhd_gui.batch import pending_items

    store.set_project_settings(resolution="majority")
    store.record_decision("img/00.png", "yes", reviewer="ana")
    store.record_decision("img/00.png", "no", reviewer="bo")
    row = store.row("img/00.png")
    assert row is not None and row.disputed and row.human_label is None and row.status == "new"
    todo, skipped = pending_items(store, ["img/00.png", "img/01.png"])
    assert (todo, skipped) == (["img/01.png"], 1)


@pytest.mark.parametrize("resolution, adjudicator", [("majority", ""), ("adjudicator", "bo"), ("latest", "")])
def test_switching_the_resolution_gives_what_deciding_under_it_gives(tmp_path: Path, resolution: str, adjudicator: str) -> None:
    def fill(store: Store) -> None:
        store.upsert_items([(f"i/{n}.png", "image", 1, 1.0) for n in range(8)])
        store.record_debate(verdict("i/0.png", "yes", "gore"))
        store.record_debate(verdict("i/1.png", "no"))
        store.record_debate(DebateRecord(path="i/2.png", kind="image", status="error", error="HTTP 500"))
        plan = {
            0: [("ana", "yes", ""), ("bo", "no", "")],
            1: [("ana", "yes", "war"), ("bo", "yes", ""), ("cy", "no", "")],
            2: [("ana", "no", ""), ("bo", "yes", "blood")],
            3: [("bo", "yes", "drugs"), ("cy", "yes", "guns"), ("ana", "yes", "guns")],
            4: [("cy", "no", "")],
            6: [("ana", "yes", ""), ("cy", "no", "")],
            5: [("ana", "yes", ""), ("bo", "no", ""), ("cy", "no", ""), ("dee", "yes", "")],
        }
        for n, decisions in plan.items():
            for reviewer, label, category in decisions:
                store.record_decision(f"i/{n}.png", label, category=category, reviewer=reviewer)
        store.undo_decision("i/5.png", reviewer="cy")

    def state(store: Store) -> list[tuple[object, ...]]:
        return [
            (r.path, r.status, r.human_label, r.human_category, r.final_label, r.final_category, r.reviewer_count, r.disputed)
            for r in store.page(limit=None)
        ]

    with Store.open(tmp_path / "before.sqlite") as first, Store.open(tmp_path / "after.sqlite") as later:
        first.set_project_settings(resolution=resolution, adjudicator=adjudicator)
        fill(first)
        fill(later)
        later.set_project_settings(resolution="adjudicator", adjudicator="cy")  # some other rule first
        later.set_project_settings(resolution=resolution, adjudicator=adjudicator)
        assert state(later) == state(first)
        assert any(row[-1] for row in state(first)) == (resolution != "latest")
