"""The record of one debate (docs/ARCHITECTURE.md#records): what the engine produces, the store keeps and the
exports write. Plain dataclasses, no I/O, no Qt.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Item / debate status values
STATUS_NEW = "new"
STATUS_DEBATED = "debated"
STATUS_ACCEPTED = "accepted"
STATUS_OVERRIDDEN = "overridden"
STATUS_ERROR = "error"
STATUSES = (STATUS_NEW, STATUS_DEBATED, STATUS_ACCEPTED, STATUS_OVERRIDDEN, STATUS_ERROR)


@dataclass(slots=True)
class TurnRecord:
    role: str  # affirmative | negative | judge | critic
    round: int  # 0-based for debaters, 0 for judge and critic
    text: str
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens the provider served from its prefix cache
    seconds: float = 0.0
    attempts: int = 1
    refused: bool = False  # a debater that refused the task
    from_cache: bool = False  # answered by the response cache: no request was sent
    thinking: str = ""  # a reasoning model's thinking; never part of text, the transcript or the verdict
    usage_estimated: bool = False  # the server reported no usage: token counts are our estimate


@dataclass(slots=True)
class EndpointInfo:
    """Which server and model one role used. Never holds a key."""

    base_url: str
    model: str


@dataclass(slots=True)
class DebateRecord:
    path: str  # as given (the store makes it relative to the project folder)
    kind: str  # image | video
    status: str  # debated | error
    decision: str | None = None  # yes | no; None when status is error
    harmful_type: str = ""
    judge_raw: str = ""
    flags: list[str] = field(default_factory=list)
    turns: list[TurnRecord] = field(default_factory=list)
    endpoints: dict[str, EndpointInfo] = field(default_factory=dict)  # per role
    preset_name: str = ""
    preset_hash: str = ""
    rounds: int = 2
    layout: str = "flat"
    frames_sent: list[int] = field(default_factory=list)  # frame indices of a video, in order
    media_sha256: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    seconds: float = 0.0
    started_at: str = ""  # ISO 8601, UTC
    error_kind: str = ""  # for status error: config | media | api | timeout | cancelled | internal
    error: str = ""
    judge_yes_prob: float | None = None  # P(first token is yes) when the server gave logprobs
    usage_estimated: bool = False  # some turn's token counts are estimates (its server reported none)
    verdict_note: str = ""  # why a flagged verdict is what it is (e.g. the judge's words were not Yes/No)

    def argument(self, role: str, round_: int) -> str | None:
        for t in self.turns:
            if t.role == role and t.round == round_:
                return t.text
        return None

    @property
    def critic(self) -> str | None:
        return self.argument("critic", 0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DebateRecord:
        d = dict(data)
        turn_fields = set(TurnRecord.__dataclass_fields__)
        d["turns"] = [TurnRecord(**{k: v for k, v in t.items() if k in turn_fields}) for t in d.get("turns", [])]
        d["endpoints"] = {k: EndpointInfo(**v) for k, v in (d.get("endpoints") or {}).items()}
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})
