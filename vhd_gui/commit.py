"""The one place a finished debate goes into the store, for the window's Run and the batch
runner alike.

The engine persists nothing: it ends every debate with a ``VerdictReached`` or a
``DebateFailed`` event carrying the whole record. Committing checks that the record says what
the event says (a failure is never stored as a verdict, nor a verdict as a failure) and writes
it in one transaction. Only a committed debate counts: a debate dropped before this point is
simply run again next time.
"""

from __future__ import annotations

from vhd_gui.engine import DebateFailed, VerdictReached
from vhd_gui.record import STATUS_DEBATED, STATUS_ERROR, DebateRecord
from vhd_gui.store import Claim
from vhd_gui.store_api import StoreLike


def commit_debate(store: StoreLike, outcome: VerdictReached | DebateFailed, claim: Claim | None = None) -> DebateRecord:
    """Record ``outcome``'s debate in ``store`` and return it. Raises ValueError when the record
    contradicts the event, and whatever the store raises when it cannot take the write.

    With ``claim`` (a batch's lease on the item) the record is written only while the claim
    still holds; the store raises ClaimLost when another holder has taken the item meanwhile."""
    record = outcome.record
    expected = STATUS_DEBATED if isinstance(outcome, VerdictReached) else STATUS_ERROR
    if record.status != expected:
        raise ValueError(f"{record.path}: a {type(outcome).__name__} carries a record with status {record.status!r}")
    if claim is None:
        store.record_debate(record)
    else:
        store.record_claimed_debate(record, claim)
    return record
