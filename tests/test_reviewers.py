"""Several reviewers on one store (real SQLite files): each person's decisions kept apart,
undo per reviewer, the project's overlap and resolution, disputes, blind views, and the
"next item for me" review leases across threads and processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vhd_gui.record import DebateRecord
from vhd_gui.store import Store


def verdict(path: str, decision: str = "yes", category: str = "violence") -> DebateRecord:
    return DebateRecord(path=path, kind="image", status="debated", decision=decision, harmful_type=category if decision == "yes" else "")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.for_folder(tmp_path)
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
