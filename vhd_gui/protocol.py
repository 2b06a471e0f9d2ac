"""The VHD11K debate protocol: roles, turn order, prompt presets and verdict parsing.

Pure: no I/O beyond reading a preset file the caller names, no network, no Qt. The wording of
every prompt lives in the preset files under ``vhd_gui/resources/presets`` (ours, not the
paper's); this module only knows the protocol's facts (docs/ARCHITECTURE.md#the-protocol).
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

DEFAULT_ROUNDS = 2
DEFAULT_FRAMES = 5

API_REFUSED_CATEGORY = "API refused"
UNPARSED_CATEGORY = "Judge answer unparsed"


class Role(StrEnum):
    AFFIRMATIVE = "affirmative"
    NEGATIVE = "negative"
    JUDGE = "judge"
    CRITIC = "critic"

    @property
    def display_name(self) -> str:
        return _ROLE_TITLES[self]

    @property
    def is_debater(self) -> bool:
        return self in (Role.AFFIRMATIVE, Role.NEGATIVE)


_ROLE_TITLES = {
    Role.AFFIRMATIVE: "Affirmative",
    Role.NEGATIVE: "Negative",
    Role.JUDGE: "Judge",
    Role.CRITIC: "Critic",
}


class Flag(StrEnum):
    """Why a verdict deserves a second look. Stored as plain strings."""

    JUDGE_UNPARSED = "judge_unparsed"
    DEBATER_REFUSED = "debater_refused"
    API_REFUSED = "api_refused"


@dataclass(frozen=True, slots=True)
class Turn:
    """One agent speaking once. ``round`` is 0-based, as in VHD11K's column names."""

    role: Role
    round: int = 0

    @property
    def label(self) -> str:
        if self.role.is_debater:
            return f"{self.role.display_name}, round {self.round + 1}"
        return self.role.display_name


def turn_order(rounds: int = DEFAULT_ROUNDS, critic: bool = False) -> list[Turn]:
    """Affirmative then negative for each round, then the judge, then the critic if enabled."""
    if rounds < 1:
        raise ValueError("a debate needs at least one round")
    turns = [Turn(role, r) for r in range(rounds) for role in (Role.AFFIRMATIVE, Role.NEGATIVE)]
    turns.append(Turn(Role.JUDGE))
    if critic:
        turns.append(Turn(Role.CRITIC))
    return turns


# --------------------------------------------------------------------------- verdicts


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: str  # "yes" (harmful) or "no"
    harmful_type: str  # the judge's category for yes, its reason for no
    flags: tuple[str, ...] = ()

    @property
    def harmful(self) -> bool:
        return self.decision == "yes"


# Markdown and quoting a model may wrap its first word in: **Yes**, "No", > Yes, `yes`
_LEAD_NOISE = " \t\r\n*_`\"'>#~"
_ANSWER_RE = re.compile(r"(yes|no)\b", re.IGNORECASE)
_TAIL_NOISE = " \t\r\n*_`\"'."


def parse_verdict(raw: str) -> Verdict:
    """Read the judge's answer as the protocol does.

    A leading *yes* is harmful with the rest as its category; a leading *no* is not harmful
    with the rest as its reason. Anything else (a refusal, an empty or garbled answer) counts
    as harmful and is flagged ``judge_unparsed``.
    """
    text = (raw or "").lstrip(_LEAD_NOISE)
    m = _ANSWER_RE.match(text)
    if not m:
        return Verdict("yes", UNPARSED_CATEGORY, (Flag.JUDGE_UNPARSED.value,))
    rest = text[m.end() :]
    rest = rest.lstrip(_LEAD_NOISE + ",.:;-–—!")
    # Keep the first line only: some models add an explanation after the answer.
    rest = rest.splitlines()[0] if rest else ""
    rest = rest.rstrip(_TAIL_NOISE)
    return Verdict(m.group(1).lower(), rest)


_REFUSAL_RE = re.compile(
    r"""^\W*(?:
        (?:i'?m|i\ am)\ (?:very\ |really\ |so\ )?sorry
      | sorry,?\ (?:but\ )?i
      | i\ apologi[sz]e
      | i\ (?:can(?:no|')?t|cannot|won'?t|will\ not|am\ unable\ to|'m\ unable\ to|am\ not\ able\ to|'m\ not\ able\ to)
            \ (?:help|assist|comply|provide|engage|participate|do\ that|fulfil|support|answer|argue|analy[sz]e|discuss|take\ part|continue|create|generate)
      | as\ an\ ai\b[^.]*\b(?:can(?:no|')?t|cannot|unable|not\ able)
      | (?:unfortunately,?\ )?i\ (?:must|have\ to)\ decline
    )""",
    re.IGNORECASE | re.VERBOSE,
)


def is_refusal(text: str) -> bool:
    """True when a debater's turn opens by refusing the task (``I'm sorry, I can't help``).

    Only the opening is read: "I can't see any weapon" is an argument, not a refusal. An empty
    turn counts as a refusal too, since the debater said nothing for its side.
    """
    stripped = (text or "").strip()
    if not stripped:
        return True
    return bool(_REFUSAL_RE.match(stripped.replace("’", "'")))


def final_verdict(judge_text: str, debater_texts: Iterable[str]) -> Verdict:
    """The item's verdict: the judge's parsed answer, forced harmful if a debater refused."""
    verdict = parse_verdict(judge_text)
    if any(is_refusal(t) for t in debater_texts):
        flags = verdict.flags + (Flag.DEBATER_REFUSED.value,)
        if verdict.decision == "no":
            return Verdict("yes", "Debater refused", flags)
        return Verdict(verdict.decision, verdict.harmful_type, flags)
    return verdict


def unparsed_note(judge_text: str) -> str:
    """Why a judge's answer was not read as a verdict, for the record (it stays harmful)."""
    if is_refusal(judge_text):
        return "the judge refused to answer; its words are kept as its raw answer"
    return "the judge's answer starts with neither Yes nor No; its words are kept as its raw answer"


# --------------------------------------------------------------------------- thinking

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


class ThinkSplitter:
    """Separates inline ``<think>…</think>`` blocks from the answer as text streams in.

    ``feed`` takes the next piece of the answer and returns ``(is_thinking, text)`` pieces in
    order; a tag split across pieces is recognised (the possible start of a tag is held back
    until the next piece shows what it is). ``flush`` returns what is held at the end.
    """

    def __init__(self) -> None:
        self._held = ""
        self._inside = False

    def feed(self, text: str) -> list[tuple[bool, str]]:
        buf = self._held + text
        out: list[tuple[bool, str]] = []
        while True:
            tag = THINK_CLOSE if self._inside else THINK_OPEN
            i = buf.find(tag)
            if i < 0:
                break
            if i:
                out.append((self._inside, buf[:i]))
            buf = buf[i + len(tag) :]
            self._inside = not self._inside
        keep = _partial_tag_length(buf, THINK_CLOSE if self._inside else THINK_OPEN)
        emit, self._held = buf[: len(buf) - keep], buf[len(buf) - keep :]
        if emit:
            out.append((self._inside, emit))
        return out

    def flush(self) -> list[tuple[bool, str]]:
        held, self._held = self._held, ""
        return [(self._inside, held)] if held else []


def _partial_tag_length(buf: str, tag: str) -> int:
    """Length of the longest end of ``buf`` that is the start of ``tag``."""
    if tag[0] not in buf[-(len(tag) - 1) :]:
        return 0  # the usual case, checked once per streamed token
    for n in range(min(len(tag) - 1, len(buf)), 0, -1):
        if buf.endswith(tag[:n]):
            return n
    return 0


def split_thinking(text: str) -> tuple[str, str]:
    """(answer, thinking) of a whole answer: inline ``<think>`` blocks leave the answer, and so
    does everything before a closing ``</think>`` with no opening tag (chat templates that
    open the block in the prompt, so the model's output starts inside it)."""
    answer: list[str] = []
    thinking: list[str] = []
    splitter = ThinkSplitter()
    for inside, piece in splitter.feed(text) + splitter.flush():
        (thinking if inside else answer).append(piece)
    rest = "".join(answer)
    if THINK_CLOSE in rest:
        before, _, rest = rest.rpartition(THINK_CLOSE)
        thinking.append(before.replace(THINK_CLOSE, ""))
    return rest, "\n".join(t.strip() for t in thinking if t.strip())


def api_refused_verdict() -> Verdict:
    return Verdict("yes", API_REFUSED_CATEGORY, (Flag.API_REFUSED.value,))


# --------------------------------------------------------------------------- presets


class PresetError(ValueError):
    """A preset file is missing, malformed or points at examples that are not there."""


@dataclass(frozen=True, slots=True)
class Example:
    """One in-context example: an image (or a video's frames, in order) and the judge's answer."""

    files: tuple[str, ...]
    answer: str


@dataclass(frozen=True)
class Preset:
    name: str
    kind: str  # "image" or "video"
    description: str
    question: str
    definition: str
    prompts: Mapping[str, str]  # system prompt per role
    instructions: Mapping[str, str]  # the "your turn" line per role (first / later round)
    examples: tuple[Example, ...] = ()
    examples_folder: str = ""  # where the example files are; empty = examples off
    source_path: str = ""
    data: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def content_hash(self) -> str:
        """Hash of what the preset means (not how its file is formatted): 16 hex digits."""
        return preset_hash(self.data)

    @property
    def examples_enabled(self) -> bool:
        return bool(self.examples_folder) and bool(self.examples)

    def system_prompt(self, role: Role, rounds: int = DEFAULT_ROUNDS, frames: int = DEFAULT_FRAMES) -> str:
        template = self.prompts[role.value]
        return _fill(template, self._vars(rounds, frames))

    def instruction(self, turn: Turn, rounds: int = DEFAULT_ROUNDS, frames: int = DEFAULT_FRAMES) -> str:
        key = turn.role.value
        if turn.role.is_debater and turn.round > 0 and f"{key}_rebuttal" in self.instructions:
            key = f"{key}_rebuttal"
        return _fill(self.instructions[key], self._vars(rounds, frames))

    def _vars(self, rounds: int, frames: int) -> dict[str, str]:
        media = "image" if self.kind == "image" else f"video, shown as {frames} frames in chronological order"
        return {
            "definition": self.definition.strip(),
            "question": self.question.strip(),
            "media": media,
            "rounds": str(rounds),
            "max_reasons": "3",
        }

    def example_paths(self) -> list[tuple[list[Path], str]]:
        """Resolve every example's files; raise one error naming all that are missing."""
        if not self.examples_enabled:
            return []
        base = Path(self.examples_folder).expanduser()
        if not base.is_absolute() and self.source_path:
            base = Path(self.source_path).parent / base
        resolved: list[tuple[list[Path], str]] = []
        missing: list[str] = []
        for ex in self.examples:
            paths = [base / f for f in ex.files]
            missing.extend(str(p) for p in paths if not p.is_file())
            resolved.append((paths, ex.answer))
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise PresetError(
                f"preset {self.name!r}: {len(missing)} in-context example file(s) not found in {base}: {shown}"
            )
        return resolved

    def with_examples_folder(self, folder: str) -> Preset:
        data = json.loads(json.dumps(self.data))
        data.setdefault("examples", {})["folder"] = folder
        return preset_from_data(data, self.source_path)


def _fill(template: str, values: Mapping[str, str]) -> str:
    # str.format would choke on braces a user writes in an edited prompt; replace only ours.
    out = template
    for key, value in values.items():
        out = out.replace("{" + key + "}", value)
    return out.strip()


def preset_hash(data: Mapping[str, Any]) -> str:
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


_REQUIRED_PROMPTS = ("affirmative", "negative", "judge", "critic")
_REQUIRED_INSTRUCTIONS = ("affirmative", "negative", "judge", "critic")


def preset_from_data(data: Mapping[str, Any], source_path: str = "") -> Preset:
    where = source_path or "preset"
    try:
        name = str(data["name"])
        kind = str(data.get("kind", "image"))
        prompts = dict(data["prompts"])
        instructions = dict(data["instructions"])
    except (KeyError, TypeError) as exc:
        raise PresetError(f"{where}: missing section or key {exc}") from None
    if kind not in ("image", "video"):
        raise PresetError(f"{where}: kind must be 'image' or 'video', not {kind!r}")
    for key in _REQUIRED_PROMPTS:
        if not isinstance(prompts.get(key), str) or not prompts[key].strip():
            raise PresetError(f"{where}: [prompts] needs a non-empty '{key}'")
    for key in _REQUIRED_INSTRUCTIONS:
        if not isinstance(instructions.get(key), str) or not instructions[key].strip():
            raise PresetError(f"{where}: [instructions] needs a non-empty '{key}'")
    ex_section = data.get("examples", {}) or {}
    examples: list[Example] = []
    for i, item in enumerate(ex_section.get("item", []) or []):
        files = item.get("files") or ([item["file"]] if "file" in item else [])
        answer = str(item.get("answer", "")).strip()
        if not files or not answer:
            raise PresetError(f"{where}: example {i + 1} needs 'files' and an 'answer'")
        if not _ANSWER_RE.match(answer.lstrip(_LEAD_NOISE)):
            raise PresetError(f"{where}: example {i + 1}'s answer must start with Yes or No: {answer!r}")
        examples.append(Example(tuple(str(f) for f in files), answer))
    return Preset(
        name=name,
        kind=kind,
        description=str(data.get("description", "")),
        question=str(data.get("question", "")),
        definition=str(data.get("definition", "")),
        prompts=prompts,
        instructions=instructions,
        examples=tuple(examples),
        examples_folder=str(ex_section.get("folder", "") or ""),
        source_path=source_path,
        data=data,
    )


def load_preset(path: str | Path) -> Preset:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise PresetError(f"cannot read preset {p}: {exc.strerror or exc}") from None
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(raw.decode("utf-8"))
        else:
            data = tomllib.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise PresetError(f"preset {p} is not valid {'JSON' if p.suffix.lower() == '.json' else 'TOML'}: {exc}") from None
    if not isinstance(data, dict):
        raise PresetError(f"preset {p} must hold a table/object at the top")
    return preset_from_data(data, str(p))


BUILTIN_PRESETS = ("vhd11k-image", "vhd11k-video")


def builtin_preset_path(name: str) -> Path:
    ref = resources.files("vhd_gui") / "resources" / "presets" / f"{name}.toml"
    return Path(str(ref))


def builtin_preset(kind: str) -> Preset:
    return load_preset(builtin_preset_path(f"vhd11k-{kind}"))


def resolve_preset(spec: str | None, kind: str) -> Preset:
    """A preset by file path or built-in name; None = the built-in one for this media kind."""
    if not spec:
        return builtin_preset(kind)
    if spec in BUILTIN_PRESETS:
        return load_preset(builtin_preset_path(spec))
    return load_preset(spec)


# --------------------------------------------------------------------------- transcript


@dataclass(frozen=True, slots=True)
class Said:
    turn: Turn
    text: str


def transcript_text(said: Sequence[Said]) -> str:
    """The debate so far, as the flat layout sends it after the media."""
    if not said:
        return "The debate has not started yet."
    parts = [f"[{s.turn.label}]\n{s.text.strip()}" for s in said]
    return "Debate so far:\n\n" + "\n\n".join(parts)


def media_caption(kind: str, frames: int) -> str:
    if kind == "image":
        return "The item under review is the image above."
    return f"The item under review is one video, shown above as {frames} frames numbered 1 to {frames} in chronological order."


# --------------------------------------------------------------------------- shell-script import

_SH_VAR_RE = re.compile(r"""^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S*))""", re.M | re.S)


def read_shell_variables(script: str) -> dict[str, str]:
    """Plain ``NAME=value`` assignments of a shell script (quoted or not), later ones winning."""
    out: dict[str, str] = {}
    for m in _SH_VAR_RE.finditer(script):
        value = m.group(2) if m.group(2) is not None else (m.group(3) if m.group(3) is not None else m.group(4))
        if m.group(2) is not None:
            value = re.sub(r"\\(.)", r"\1", value)
        out[m.group(1)] = value
    return out


_SH_REF_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_SH_IMG_RE = re.compile(r"<img\s+([^>]+?)\s*>")
_SH_INTRO_RE = re.compile(r"\s*(?:for (?:instance|example),?\s*)?here (?:are|is)\b[^.!?\n]*:\s*$", re.IGNORECASE)
_SH_ICL_VARS = {"image": "path2ImageICL", "video": "path2VideoICL"}
_SH_ROUNDS_VAR = "debateRoundNum"
_SH_PROMPT_VARS = {"affirmative": "affirmativeInstruction", "negative": "negativeInstruction", "judge": "judgeInstruction"}


def shell_script_rounds(script: str) -> int | None:
    """The ``debateRoundNum`` an original VHD11K script sets, if it sets a usable one."""
    value = read_shell_variables(script).get(_SH_ROUNDS_VAR, "").strip()
    return int(value) if value.isdigit() and int(value) >= 1 else None


def preset_data_from_shell_script(script: str, kind: str, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Turn the variables of VHD11K's ``annotateImage.sh`` / ``annotateVideo.sh`` into preset data.

    ``initMessage`` becomes the question and ``affirmativeInstruction``, ``negativeInstruction``
    and ``judgeInstruction`` the system prompts. The judge's inline examples
    (``<img $path2ImageICL/file> [arrow] Yes, ...[newline]``) become ``[[examples.item]]`` entries
    and leave the prompt, since the engine sends examples as media; the ICL path variable
    becomes the examples folder. ``$debateRoundNum`` turns into our ``{rounds}`` placeholder so
    the prompt follows the rounds setting (see :func:`shell_script_rounds`); other ``$name``
    references to the script's variables are expanded. Everything the script does not set
    (the critic, the per-turn instructions) comes from ``base``, by default our built-in preset
    for ``kind``. The result passes :func:`preset_from_data`.
    """
    if kind not in ("image", "video"):
        raise PresetError(f"kind must be 'image' or 'video', not {kind!r}")
    variables = read_shell_variables(script)
    found = [v for v in ("initMessage", *_SH_PROMPT_VARS.values()) if variables.get(v, "").strip()]
    if not found:
        raise PresetError(
            "no VHD11K variables found: expected initMessage, affirmativeInstruction, negativeInstruction or judgeInstruction"
        )
    icl_var = _SH_ICL_VARS[kind]
    if icl_var not in variables:
        icl_var = next((v for v in _SH_ICL_VARS.values() if v in variables), icl_var)

    def expand(text: str) -> str:
        def one(m: re.Match[str]) -> str:
            name = m.group(1) or m.group(2)
            if name == _SH_ROUNDS_VAR:
                return "{rounds}"
            return variables.get(name, m.group(0))

        return _SH_REF_RE.sub(one, text)

    def relative_file(ref: str) -> str:
        # "$path2ImageICL/x.png" → "x.png" (relative to the examples folder); anything else expanded.
        m = re.match(r"\$\{?" + re.escape(icl_var) + r"\}?/+(.+)$", ref.strip())
        return m.group(1) if m else expand(ref.strip())

    data: dict[str, Any] = json.loads(json.dumps(dict(base) if base is not None else dict(builtin_preset(kind).data)))
    data["kind"] = kind
    data["description"] = "Imported from a VHD11K annotate script"
    prompts = dict(data.get("prompts", {}) or {})
    examples: list[dict[str, Any]] = []
    for role, var in _SH_PROMPT_VARS.items():
        raw = variables.get(var, "").strip()
        if not raw:
            continue
        text = raw.replace("[newline]", "\n").replace("[arrow]", "->")
        if role == "judge":
            kept: list[str] = []
            for line in text.split("\n"):
                refs = _SH_IMG_RE.findall(line)
                arrow = line.rfind("->")
                if refs and arrow > line.rfind("<img"):
                    examples.append({"files": [relative_file(r) for r in refs], "answer": line[arrow + 2 :].strip()})
                else:
                    kept.append(line)
            text = "\n".join(kept).strip()
            if examples:
                text = _SH_INTRO_RE.sub("", text).rstrip()
        prompts[role] = expand(text).strip()
    data["prompts"] = prompts
    if variables.get("initMessage", "").strip():
        data["question"] = expand(variables["initMessage"]).strip()
    data["examples"] = {"folder": expand(variables.get(icl_var, "")).strip(), "item": examples}
    return data
