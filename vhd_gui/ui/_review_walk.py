"""Where next/previous go: down the list, along the review queue (most suspicious first), or
along the drawn audit sample. Plain state, no widgets: the window asks it for the next item and
for the words of the status bar."""

from __future__ import annotations

from dataclasses import dataclass, field

WALK_QUEUE, WALK_AUDIT = "queue", "audit"


@dataclass
class ReviewWalk:
    mode: str = ""  # "", WALK_QUEUE or WALK_AUDIT
    paths: list[str] = field(default_factory=list)
    audit_paths: list[str] = field(default_factory=list)
    jump: bool = False  # go to the walk's first item when the fresh queue arrives

    def reset(self) -> None:
        self.mode, self.paths, self.audit_paths, self.jump = "", [], [], False

    def choose(self, mode: str, *, have_review: bool) -> tuple[str, str]:
        """Switch to ``mode`` (the mode already on turns it off). Returns the mode now on and a
        message for the status bar when the choice could not be honoured."""
        if mode and mode == self.mode:
            mode = ""
        message = ""
        if mode == WALK_AUDIT and not self.audit_paths:
            message, mode = "Draw an audit sample first (Review panel, Audit tab).", ""
        if mode and not have_review:
            message, mode = "Open a folder first.", ""
        self.mode = mode
        self.jump = mode == WALK_QUEUE
        self.paths = list(self.audit_paths) if mode == WALK_AUDIT else []
        return mode, message

    def queue_arrived(self, live: list[str], current: str | None) -> None:
        """The review queue as it is now. Behind the current item the walk stays as it was (A goes
        back to what you decided); ahead of it, the queue as it is now, most suspicious first."""
        behind = self.paths[: self.paths.index(current) + 1] if current in self.paths else []
        seen = set(behind)
        self.paths = behind + [p for p in live if p not in seen]

    def audit_drawn(self, paths: list[str]) -> None:
        self.audit_paths = list(paths)
        if self.mode == WALK_AUDIT:
            self.paths = list(paths)

    def step(self, current: str | None, delta: int) -> tuple[str | None, str]:
        """The item ``delta`` steps along the walk from ``current``, or None and why not."""
        what = "review queue" if self.mode == WALK_QUEUE else "audit sample"
        if not self.paths:
            return None, f"The {what} is empty."
        if current in self.paths:
            i = self.paths.index(current) + delta
            if not 0 <= i < len(self.paths):
                return None, f"End of the {what}."
            return self.paths[i], ""
        return self.paths[0], ""

    def status(self, current: str | None) -> str:
        """The status bar's words, "" when no walk is on."""
        if not self.mode:
            return ""
        what = "review queue" if self.mode == WALK_QUEUE else "audit sample"
        where = f"{self.paths.index(current) + 1} of {len(self.paths)}" if current in self.paths else f"{len(self.paths)} items"
        return f"walking the {what}: {where}"
