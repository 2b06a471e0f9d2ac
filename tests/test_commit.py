"""commit_debate: the one way a finished debate reaches the store (window and batch alike)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vhd_gui.commit import commit_debate
from vhd_gui.engine import DebateFailed, VerdictReached
from vhd_gui.protocol import Verdict
from vhd_gui.record import DebateRecord
from vhd_gui.store import Store
from vhd_gui.store_api import open_store


@pytest.fixture
def store(store_target: str, tmp_path: Path) -> Store:
    s = open_store(store_target, root=tmp_path)
    s.add_item(tmp_path / "a.png", "image")
    return s


def test_a_verdict_and_a_failure_are_recorded_as_what_they_are(store: Store) -> None:
    ok = DebateRecord(path="a.png", kind="image", status="debated", decision="yes", harmful_type="violence")
    commit_debate(store, VerdictReached(Verdict("yes", "violence"), ok))
    assert store.get_record("a.png").debate.decision == "yes"
    bad = DebateRecord(path="a.png", kind="image", status="error", error_kind="api", error="HTTP 502")
    commit_debate(store, DebateFailed("api", "HTTP 502", None, bad))
    rec = store.get_record("a.png")
    assert rec.debate.status == "error" and len(store.debates("a.png")) == 2


def test_a_record_that_contradicts_its_event_is_refused_and_nothing_is_written(store: Store) -> None:
    failed_as_verdict = DebateRecord(path="a.png", kind="image", status="error", error="empty answer")
    with pytest.raises(ValueError, match="VerdictReached carries a record with status 'error'"):
        commit_debate(store, VerdictReached(Verdict("yes", ""), failed_as_verdict))
    verdict_as_failure = DebateRecord(path="a.png", kind="image", status="debated", decision="no")
    with pytest.raises(ValueError, match="DebateFailed"):
        commit_debate(store, DebateFailed("api", "x", None, verdict_as_failure))
    assert store.debates("a.png") == []
    store.close()
