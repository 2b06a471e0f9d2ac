"""The window's side of a team sharing one store: who is reviewing, what the other reviewers
decided on the item shown, and the review lease that tells the others "someone looks at this".

Every store read and write here runs on a background lane of its own (one worker, so a lease
is taken, renewed and released in the order asked); the GUI thread only shows the answers.

Team mode (the project asks more than one person per item, or the store holds decisions or
live leases of someone else): the item shown is held with a review lease, renewed every
30 seconds while it stays on screen and released when the person moves on or the store
closes, and "next undecided" asks the store for the next item *for this reviewer*
(:meth:`Store.next_for_reviewer`). A lone reviewer keeps the plain walk and writes nothing
while browsing. A lease never blocks a decision.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QLabel, QWidget

from vhd_gui.store import Filters, ItemRecord, ProjectSettings, ReviewLease, Store
from vhd_gui.ui._background import Background, Job

LANE = "team"
LEASE_SECONDS = 120.0
RENEW_MS = 30_000
DISPUTED_BADGE = (
    '<span style="background:#b3261e; color:white; font-weight:bold;">&nbsp;disputed&nbsp;</span>'
)


@dataclass(frozen=True, slots=True)
class TeamLook:
    """What the window knows about the team on the open store (read off the GUI thread)."""

    project: ProjectSettings = field(default_factory=ProjectSettings)
    reviewers: dict[str, int] = field(default_factory=dict)
    others_looking: bool = False  # another reviewer holds a live review lease
    blind: bool = False  # this reviewer sees only their own decisions

    def team_mode(self, me: str) -> bool:
        # '' is the one anonymous person of a store from before reviewers: not a team.
        return self.project.overlap > 1 or any(r not in (me, "") for r in self.reviewers) or self.others_looking


def look_at_team(store: Store, me: str) -> TeamLook:
    project = store.project_settings()
    return TeamLook(
        project,
        store.reviewers(),
        any(lease.reviewer not in (me, "") for lease in store.review_leases()),
        project.blind and me != project.adjudicator,
    )


def label_words(label: str | None, category: str) -> str:
    if label == "yes":
        return f"harmful ({category})" if category else "harmful"
    if label == "no":
        return "not harmful"
    return "no decision"


def read_looking(store: Store, rel: str, me: str) -> list[str]:
    """The other reviewers holding a live lease on ``rel`` (the item's record itself comes from
    the window's record lane, read once for the panels and this line alike)."""
    return [lease.reviewer for lease in store.review_leases(rel) if lease.reviewer != me]


def describe_others(rec: ItemRecord | None, me: str, team: bool, looking: Sequence[str] = ()) -> str:
    """The line above the verdict bar: every reviewer's standing decision on the item (rich
    text), a "disputed" badge, who else is looking at it now, or under blind review a note
    saying others' decisions are hidden; '' when there is nothing a team needs to see."""
    if rec is None:
        return ""
    words = "looking at it now: " + ", ".join(html.escape(name) for name in looking) if team and looking else ""
    now = " · " + words if words else ""
    if rec.others_hidden:
        return ("<i>Blind review: other reviewers' decisions are hidden from you; you see your own and the model's.</i>" + now) if team else ""
    if not rec.standing or (not team and set(rec.standing) <= {me, ""}):
        return words[:1].upper() + words[1:]
    bits = []
    for name, entry in rec.standing.items():
        who = html.escape(name or "(no name)") + (" (you)" if name == me else "")
        bits.append(f"<b>{who}</b>: {html.escape(label_words(entry.label, entry.category))}")
    text = "Reviewers: " + " · ".join(bits)
    if rec.disputed:
        text += " " + DISPUTED_BADGE
    return text + now


class LeaseKeeper:
    """The one review lease this window holds. Its methods run on the team lane only (one
    worker), so they never overlap; ``held`` is read elsewhere only for tests."""

    def __init__(self) -> None:
        self.held: ReviewLease | None = None
        self._mutex = threading.Lock()

    def _drop_unless(self, store: Store, path: str | None) -> None:
        if self.held is not None and self.held.path != path:
            lease, self.held = self.held, None
            store.release_review_lease(lease)

    def hold(self, store: Store, path: str, me: str) -> None:
        with self._mutex:
            self._drop_unless(store, path)
            if self.held is None or self.held.reviewer != me:
                self.held = store.lease_for_review(path, me, LEASE_SECONDS)

    def renew(self, store: Store) -> None:
        with self._mutex:
            if self.held is not None:
                renewed = store.renew_review_lease(self.held, LEASE_SECONDS)
                # Ran out meanwhile (a long sleep): take it again; it steers, never blocks.
                self.held = renewed or store.lease_for_review(self.held.path, self.held.reviewer, LEASE_SECONDS)

    def drop(self, store: Store) -> None:
        with self._mutex:
            self._drop_unless(store, None)

    def next_for(self, store: Store, me: str, filters: Filters, sort: str, descending: bool, after: str | None) -> str | None:
        with self._mutex:
            lease = store.next_for_reviewer(me, filters, sort, after, LEASE_SECONDS, descending=descending)
            if lease is None:
                return None
            self._drop_unless(store, lease.path)
            self.held = lease
            return lease.path


class TeamDesk(QObject):
    """Reviewer identity, the others' decisions on the item shown, and its review lease."""

    did_show_others = Signal(str)  # the others' line for this item is on screen
    did_look = Signal()  # the project settings and reviewers are read again

    def __init__(self, background: Background, reviewer: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bg = background
        background.add_lane(LANE, 1)
        self.reviewer = reviewer
        self.look = TeamLook()
        self.keeper = LeaseKeeper()
        self._store: Store | None = None
        self._reader: Store | None = None
        self._rel: str | None = None
        self._record: tuple[str, ItemRecord | None] | None = None  # the shown item's record, as the window read it
        self._leases: tuple[str, list[str]] | None = None  # who else holds a lease on it
        self._looking: Job[TeamLook] | None = None
        self._look_again = False  # asked while a look was running: one more when it ends
        self.others = QLabel()
        self.others.setObjectName("otherReviewers")
        self.others.setWordWrap(True)
        self.others.setAccessibleName("Other reviewers' decisions on this item")
        self.others.hide()
        self.status = QLabel()
        self.status.setObjectName("reviewerName")
        self.status.setStyleSheet("padding: 0 6px; border-right: 1px solid palette(mid);")
        self.status.setToolTip("Decisions made in this window are recorded under this name (Settings → Team). It is a name, not a login.")
        self._show_name()
        self._renew = QTimer(self)
        self._renew.setInterval(RENEW_MS)
        self._renew.timeout.connect(self._renew_lease)

    @property
    def team_mode(self) -> bool:
        return self.look.team_mode(self.reviewer)

    def _show_name(self) -> None:
        self.status.setText(f"reviewing as {self.reviewer}")

    def set_reviewer(self, name: str) -> bool:
        """Decide as ``name`` from now on; True when that is a change."""
        if name == self.reviewer:
            return False
        store = self._store
        if store is not None:
            self._bg.run(self.keeper.drop, store, lane=LANE, what="releasing the review lease")
        self.reviewer = name
        self._show_name()
        self.refresh()
        return True

    # ------------------------------------------------------------------ the open store
    def use(self, store: Store | None, reader: Store | None = None) -> None:
        """Follow ``store`` from now on (None: it is about to close; the lease is released first)."""
        old = self._store
        self._renew.stop()
        if old is not None:
            self._bg.run(self.keeper.drop, old, lane=LANE, what="releasing the review lease").wait()
        if self._looking is not None:
            self._looking.cancel()
            self._looking.wait()
        self._looking, self._look_again = None, False
        self._store, self._reader, self._rel = store, reader or store, None
        self._record = self._leases = None
        self.look = TeamLook()
        self.others.hide()
        if store is not None:
            self._look()

    def _look(self) -> None:
        store, reader = self._store, self._reader
        if reader is None:
            return
        if self._looking is not None:  # a batch writing every second: looks do not pile up
            self._look_again = True
            return
        me = self.reviewer
        self._looking = self._bg.run(look_at_team, reader, me, lane=LANE, what="reading the project's reviewers",
                                     done=lambda found: self._looked(store, me, found), failed=self._look_failed)

    def _look_failed(self, exc: BaseException) -> None:
        self._looking = None
        self._bg.fail("reading the project's reviewers", exc)

    def _looked(self, store: Store | None, me: str, found: TeamLook) -> None:
        self._looking = None
        if self._look_again:
            self._look_again = False
            self._look()
        if store is not self._store or me != self.reviewer:
            return
        self.look = found
        if self.team_mode and self._rel is not None:
            self._hold(self._rel)
        self.did_look.emit()

    def refresh(self) -> None:
        """Another process wrote to the store (or the reviewer changed): read everything again."""
        self._look()
        if self._rel is not None:
            self._read_others(self._rel)

    # ------------------------------------------------------------------ the item shown
    def show(self, rel: str) -> None:
        """``rel`` is on screen now: read who else holds it, and hold it in team mode. Its
        decisions come with its record (:meth:`took_record`)."""
        self._rel = rel
        self._read_others(rel)
        if self.team_mode:
            self._hold(rel)

    def took_record(self, rel: str, rec: ItemRecord | None) -> None:
        """The window read the record of the item shown (as this reviewer may see it)."""
        self._record = (rel, rec)
        self._draw_others()

    def _read_others(self, rel: str) -> None:
        store, reader, me = self._store, self._reader, self.reviewer
        if reader is None:
            return
        self._bg.run(read_looking, reader, rel, me, lane=LANE, what="reading who else holds the item",
                     done=lambda looking: self._others_read(store, rel, looking))

    def _others_read(self, store: Store | None, rel: str, looking: list[str]) -> None:
        if store is not self._store or rel != self._rel:
            return
        self._leases = (rel, looking)
        self._draw_others()

    def _draw_others(self) -> None:
        """The others' line, once both the record and the leases of the item shown are here."""
        rel = self._rel
        if rel is None or self._record is None or self._leases is None or self._record[0] != rel or self._leases[0] != rel:
            return
        rec, looking = self._record[1], self._leases[1]
        text = describe_others(rec, self.reviewer, self.team_mode, looking)
        self.others.setText(text)
        self.others.setVisible(bool(text))
        self.did_show_others.emit(rel)

    def _hold(self, rel: str) -> None:
        store = self._store
        if store is None or store.read_only:
            return
        self._bg.run(self.keeper.hold, store, rel, self.reviewer, lane=LANE, what="holding the item for review")
        self._renew.start()

    def _renew_lease(self) -> None:
        if self._store is not None:
            self._bg.run(self.keeper.renew, self._store, lane=LANE, what="renewing the review lease")

    # ------------------------------------------------------------------ next item for me
    def next_for_me(self, filters: Filters, sort: str, descending: bool, after: str | None,
                    done: Callable[[str | None], None]) -> None:
        """Ask the store for this reviewer's next item (leased for them); ``done(path)`` on the
        GUI thread, None when nothing is left for them."""
        store = self._store
        if store is None:
            return

        def arrived(path: str | None) -> None:
            if store is self._store:
                done(path)

        self._bg.run(self.keeper.next_for, store, self.reviewer, filters, sort, descending, after,
                     lane=LANE, what="finding the next item for you", done=arrived)
        self._renew.start()
