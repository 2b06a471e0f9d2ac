"""Import and export of annotation files (docs/ARCHITECTURE.md#records).

Import: the VHD11K annotation files as published (CSV in UTF-8, Latin-1/cp1252 or UTF-16/32
with or without a byte-order mark, or the same rows as JSON; ``imagePath`` or ``videoPath``;
``None`` for a turn that did not happen; the "API refuse to answer" rows) and our own JSONL.
Rows are matched to media by file name, including names an extractor wrote as CP437 mojibake of
UTF-8. Import is idempotent and never replaces a human decision. Nothing in a file raises past
:func:`import_file` except :class:`FormatError` for a file that cannot be read at all; a bad row
(broken quoting, a cell over :data:`MAX_FIELD_CHARS`, a path that climbs out of the project
folder, a JSONL line nested too deeply) is a :class:`RowProblem` with its line and a reason.

Export: ``vhd11k-csv`` / ``vhd11k-json`` with exactly the VHD11K columns (``decision`` is the final
label), ``jsonl`` with every item's whole record, and ``hf-metadata`` (``metadata.jsonl`` for a
Hugging Face imagefolder). Every export is written by :func:`open_output`: ``-`` is standard
output, a regular file is replaced atomically (keeping its mode), a symlink's target is the file
written, and a FIFO or a device is written through, never replaced.

Paths in exports are the store's keys: a file name that is not valid UTF-8 is written in the
escaped form of :mod:`vhd_gui.filenames` (each undecodable byte as ``\\xhh``, the name's
backslashes doubled), and an import reads that form back to the same file.

No Qt, no SQL: everything goes through :class:`vhd_gui.store.Store`.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import posixpath
import re
import stat
import sys
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePath
from typing import Any, TextIO

from vhd_gui.filenames import is_escaped, to_key
from vhd_gui.record import STATUS_DEBATED, STATUS_ERROR, DebateRecord, TurnRecord
from vhd_gui.store import STATUSES, DecisionEntry, Filters, ItemRecord, Store, standing_by_reviewer

IMPORT_PRESET = "vhd11k-import"
EXPORT_FORMATS = ("vhd11k-csv", "vhd11k-json", "jsonl", "hf-metadata")
IMPORT_FORMATS = ("vhd11k-csv", "vhd11k-json", "jsonl")
NONE_TEXT = "None"  # how VHD11K writes a turn that did not happen
DEFAULT_ROUNDS = 2

PATH_COLUMNS = {"imagePath": "image", "videoPath": "video"}
PATH_COLUMN_OF = {"image": "imagePath", "video": "videoPath"}
_ARG_RE = re.compile(r"^(affirmative|negative)Debater_argument_(\d+)$")
_API_REFUSED_RE = re.compile(r"\bAPI\s+refuse", re.IGNORECASE)


class FormatError(ValueError):
    """A file cannot be read at all (unknown format, no path column, not JSON...)."""


# --------------------------------------------------------------------------- reports


@dataclass(slots=True)
class RowProblem:
    line: int  # 1-based line (CSV/JSONL) or entry number (JSON) in the file
    path: str
    reason: str


@dataclass(slots=True)
class ImportReport:
    file: str
    format: str
    encoding: str
    rows: int = 0
    added: int = 0
    updated: int = 0
    skipped: int = 0
    unmatched: int = 0  # rows whose media was not found by name (kept under the file's path)
    malformed: list[RowProblem] = field(default_factory=list)
    conflicts: list[RowProblem] = field(default_factory=list)  # human decisions left untouched

    def summary(self) -> str:
        parts = [
            f"{self.rows} rows",
            f"{self.added} added",
            f"{self.updated} updated",
            f"{self.skipped} skipped",
            f"{len(self.malformed)} malformed",
        ]
        if self.conflicts:
            parts.append(f"{len(self.conflicts)} conflicting human decisions kept")
        if self.unmatched:
            parts.append(f"{self.unmatched} without media on disk")
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class ExportedFile:
    path: Path
    rows: int
    kind: str  # image | video | all


# --------------------------------------------------------------------------- reading files


_BOMS = (  # longest first: the UTF-32-LE mark begins with the UTF-16-LE one
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def _wide_encoding(data: bytes) -> str | None:
    """UTF-16/32 without a byte-order mark, told by where the zero bytes of ASCII text fall.

    The header of an annotation file is ASCII, so in UTF-32-LE every character reads
    ``X 0 0 0``, in UTF-16-BE ``0 X``, and so on. Only the first 64 characters are looked at.
    """
    head = data[:256]
    if b"\x00" not in head:
        return None
    for width, names in ((4, ("utf-32-le", "utf-32-be")), (2, ("utf-16-le", "utf-16-be"))):
        units = [head[i : i + width] for i in range(0, len(head) - len(head) % width, width)]
        if not units:
            continue
        for name, zero_at in ((names[0], slice(1, width)), (names[1], slice(0, width - 1))):
            if sum(1 for u in units if u[zero_at] == b"\x00" * (width - 1)) >= 0.9 * len(units):
                return name
    return None


def decode_bytes(data: bytes) -> tuple[str, str]:
    """The text of an annotation file and the encoding it was read with.

    UTF-8, UTF-16 or UTF-32 with a byte-order mark; UTF-16/32 without one (see
    :func:`_wide_encoding`); else UTF-8, else Windows-1252, else Latin-1 (which never fails).
    Raises FormatError for a file that says it is UTF-16/32 but does not decode as such, and
    for zero bytes in what is no UTF-16/32 text (a binary file).
    """
    for bom, name in _BOMS:
        if data.startswith(bom):
            return _decode_strictly(data[len(bom) :], name, "with a byte-order mark"), name
    wide = _wide_encoding(data)
    if wide is not None:
        return _decode_strictly(data, wide, "by its zero bytes"), wide
    if b"\x00" in data:
        at = data.index(b"\x00")
        raise FormatError(f"zero byte at offset {at} in what is not UTF-16/32 text: not a text file")
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), "latin-1"


def _decode_strictly(data: bytes, encoding: str, how: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise FormatError(f"looks like {encoding} ({how}) but byte {exc.start} does not decode: {exc.reason}") from None


def detect_format(path: Path, text: str) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "vhd11k-csv"
    if suffix == ".jsonl":
        return "jsonl"
    if suffix == ".json":
        return "vhd11k-json"
    head = text.lstrip()[:1]
    if head == "[":
        return "vhd11k-json"
    if head == "{":
        first = text.lstrip().splitlines()[0]
        try:
            json.loads(first)
            return "jsonl"
        except (ValueError, RecursionError):
            return "vhd11k-json"
    if any(col in text.splitlines()[0] if text else "" for col in PATH_COLUMNS):
        return "vhd11k-csv"
    raise FormatError(f"{path}: cannot tell the format (expected .csv, .json or .jsonl)")


MAX_FIELD_CHARS = 1_000_000  # a longer cell is a malformed row (VHD11K's longest arguments are ~3,000)
MAX_BROKEN_RECORDS = 1_000  # quoting errors before the rest of a file is given up on


def _csv_rows(text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(first line, row)`` per record; a record the csv module refuses becomes a row with a
    ``__problem__`` and reading goes on at the line after its first line, so one stray quote
    never swallows the rows after it."""
    if csv.field_size_limit() <= len(text):  # the whole file is in memory already: any cell may be long
        csv.field_size_limit(len(text) + 1)
    lines = io.StringIO(text, newline="").readlines()
    records = _csv_records(lines)
    try:
        first_line, header_or_problem = next(records)
    except StopIteration:
        raise FormatError("the file is empty") from None
    if isinstance(header_or_problem, str):
        raise FormatError(f"line {first_line}: the header cannot be read: {header_or_problem}")
    header = [h.strip() for h in header_or_problem]
    _check_header(header)
    for line, fields in records:
        if isinstance(fields, str):
            yield line, {"__problem__": fields}
            continue
        if not fields or all(not f.strip() for f in fields):
            continue
        row: dict[str, Any] = dict(zip(header, fields, strict=False))
        if len(fields) != len(header):
            row["__problem__"] = f"{len(fields)} fields where the header has {len(header)}"
        yield line, row


def _csv_records(lines: list[str]) -> Iterator[tuple[int, list[str] | str]]:
    """``(first line, fields)`` per CSV record, or ``(first line, reason)`` for one that breaks
    the quoting rules; after such a record, reading starts again on its second line."""
    start = 0  # index in ``lines`` where the current reader began
    broken = 0
    while start < len(lines):
        reader = csv.reader((lines[i] for i in range(start, len(lines))), strict=True)
        consumed = 0
        try:
            for fields in reader:
                first = start + consumed + 1
                consumed = reader.line_num
                yield first, fields
            return
        except csv.Error as exc:
            first = start + consumed + 1
            broken += 1
            if broken >= MAX_BROKEN_RECORDS:
                yield first, f"{broken} records break the CSV quoting: lines {first} to {len(lines)} were not read"
                return
            yield first, _quote_problem(str(exc), first, start + reader.line_num)
            start = first  # the next reader begins on the line after this record's first line


def _quote_problem(message: str, first: int, last: int) -> str:
    if "unexpected end of data" in message:
        return f"a quote opened on this line is never closed (it would run to the end of the file, line {last})"
    if "expected after" in message and last == first:
        return "text follows a closing quote: the quoting of this row is broken"
    if "expected after" in message:
        return f"a quote opened on this line does not close where the row ends (the quoted text runs on to line {last})"
    return f"unreadable CSV record ({message})"


def _json_rows(text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise FormatError(f"not valid JSON: {exc}") from None
    except RecursionError:
        raise FormatError("the JSON is nested too deeply to read (hundreds of levels of [ or {)") from None
    if isinstance(data, dict):
        entries: list[Any] = []
        for key, value in data.items():  # {path: row} layout
            if isinstance(value, dict):
                value = dict(value)
                if not any(c in value for c in PATH_COLUMNS):
                    value["imagePath"] = key
            entries.append(value)
        data = entries
    if not isinstance(data, list):
        raise FormatError("the JSON must hold a list of rows")
    columns = {k for entry in data if isinstance(entry, dict) for k in entry}
    _check_header(sorted(columns))
    for number, entry in enumerate(data, start=1):
        if not isinstance(entry, dict):
            yield number, {"__problem__": "entry is not an object"}
        else:
            yield number, entry


def _check_header(columns: Sequence[str]) -> None:
    if not any(c in PATH_COLUMNS for c in columns):
        raise FormatError("no imagePath or videoPath column: not a VHD11K annotation file")
    if "decision" not in columns:
        raise FormatError("no decision column: not a VHD11K annotation file")


# --------------------------------------------------------------------------- parsing VHD11K rows


@dataclass(slots=True)
class VhdRow:
    line: int
    path: str
    kind: str
    decision: str  # yes | no | error
    harmful_type: str
    turns: list[TurnRecord]
    rounds: int
    critic: bool


def _text(value: Any) -> str | None:
    """A cell's text; None for a turn that did not happen."""
    if value is None:
        return None
    text = str(value)
    return None if text.strip() == NONE_TEXT else text


_SCALARS = (str, int, float, bool, type(None))


def parse_vhd_row(line: int, row: dict[str, Any]) -> VhdRow | RowProblem:
    path_cols = [c for c in PATH_COLUMNS if isinstance(row.get(c), _SCALARS) and str(row.get(c) or "").strip()]
    raw_path = str(row.get(path_cols[0]) or "").strip() if path_cols else ""
    if "__problem__" in row:
        return RowProblem(line, raw_path, row["__problem__"])
    for column, value in row.items():
        if not isinstance(value, _SCALARS):
            return RowProblem(line, raw_path, f"{column} holds a JSON {type(value).__name__}, not text")
        if isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
            return RowProblem(line, raw_path[:200], f"{column} has {len(value):,} characters, over the limit of {MAX_FIELD_CHARS:,}")
    if len(path_cols) != 1:
        return RowProblem(line, raw_path, "needs exactly one of imagePath or videoPath")
    decision = str(row.get("decision") or "").strip().lower()
    if decision not in ("yes", "no", "error"):
        return RowProblem(line, raw_path, f"decision must be yes, no or error, not {row.get('decision')!r}")
    rounds = 0
    turns: list[TurnRecord] = []
    for column in sorted(row, key=_arg_sort_key):
        m = _ARG_RE.match(str(column))
        if not m:
            continue
        round_ = int(m.group(2))
        rounds = max(rounds, round_ + 1)
        text = _text(row[column])
        if text is not None:
            turns.append(TurnRecord(role=m.group(1), round=round_, text=text))
    has_critic = "critic" in row
    critic = _text(row.get("critic")) if has_critic else None
    if critic is not None:
        turns.append(TurnRecord(role="critic", round=0, text=critic))
    return VhdRow(
        line=line,
        path=raw_path,
        kind=PATH_COLUMNS[path_cols[0]],
        decision=decision,
        harmful_type=str(row.get("harmfulType") or "").strip(),
        turns=turns,
        rounds=rounds or DEFAULT_ROUNDS,
        critic=has_critic,
    )


def _arg_sort_key(column: Any) -> tuple[int, int]:
    m = _ARG_RE.match(str(column))
    if not m:
        return (9, 0)
    return (int(m.group(2)), 0 if m.group(1) == "affirmative" else 1)


def debate_from_vhd_row(row: VhdRow, rel_path: str) -> DebateRecord:
    """A VHD11K row as a debate the window can show (no models: preset ``vhd11k-import``)."""
    record = DebateRecord(path=rel_path, kind=row.kind, status=STATUS_DEBATED, preset_name=IMPORT_PRESET, rounds=row.rounds)
    record.turns = list(row.turns)
    if row.decision == "error":
        record.status = STATUS_ERROR
        record.error_kind = "api"
        record.error = row.harmful_type or "error"
        return record
    record.decision = row.decision
    record.harmful_type = row.harmful_type
    if _API_REFUSED_RE.search(row.harmful_type):
        record.flags = ["api_refused"]
    return record


# --------------------------------------------------------------------------- matching to media


def name_variants(name: str) -> list[str]:
    """A file name as written, as CP437 mojibake of its UTF-8 bytes, and un-mojibaked."""
    variants = [name]
    with contextlib.suppress(UnicodeError):
        variants.append(name.encode("utf-8").decode("cp437"))
    with contextlib.suppress(UnicodeError):
        variants.append(name.encode("cp437").decode("utf-8"))
    out: list[str] = []
    for v in variants:
        key = unicodedata.normalize("NFC", v)
        if key not in out:
            out.append(key)
    return out


def _slashed(raw: str) -> str:
    """A row path with POSIX separators: a backslash separates too (a Windows path), except in
    our own escaped keys (a name that is not UTF-8), where backslashes belong to the name."""
    return raw if is_escaped(raw) else raw.replace("\\", "/")


def _posix_parts(raw: str) -> list[str]:
    return [p for p in _slashed(raw).split("/") if p not in ("", ".")]


class MediaIndex:
    """Finds the item a file's row names: by exact relative path, else by file name."""

    def __init__(self, store: Store, scan_disk: bool = True) -> None:
        self._store = store
        self._by_name: dict[str, list[str]] = {}
        self._on_disk: dict[str, tuple[int, float]] = {}
        for rel in store.paths():
            self._add(rel)
        if scan_disk and store.root.is_dir():
            self._scan(store.root)

    MAX_SCANNED = 500_000  # a store whose folder is, say, a home directory: stop looking there

    def _add(self, rel: str) -> None:
        key = unicodedata.normalize("NFC", posixpath.basename(rel))
        bucket = self._by_name.setdefault(key, [])
        if rel not in bucket:
            bucket.append(rel)

    def _scan(self, root: Path) -> None:
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            if len(self._on_disk) > self.MAX_SCANNED:
                return
            for name in files:
                if name.startswith("."):
                    continue
                full = os.path.join(folder, name)
                rel = to_key(PurePath(os.path.relpath(full, root)).as_posix())  # as the scan names it
                with contextlib.suppress(OSError):
                    st = os.stat(full)
                    self._on_disk[rel] = (st.st_size, st.st_mtime)
                self._add(rel)

    def disk_info(self, rel: str) -> tuple[int, float] | None:
        return self._on_disk.get(rel)

    def match(self, raw: str) -> tuple[str | None, list[str]]:
        """(the item's relative path or None, candidates when the name is ambiguous).

        A path that leaves the folder (absolute elsewhere, or climbing out with ``..``) is
        only ever matched by file name to a file inside it.
        """
        parts = _posix_parts(raw)
        if not parts:
            return None, []
        joined = self._store.relative_path(raw) if os.path.isabs(raw) else posixpath.normpath("/".join(parts))
        if not leaves_folder(joined) and (self._store.has_item(joined) or joined in self._on_disk):
            return joined, []
        candidates: list[str] = []
        for variant in name_variants(parts[-1]):
            candidates.extend(c for c in self._by_name.get(variant, []) if c not in candidates and not leaves_folder(c))
        if len(candidates) <= 1:
            return (candidates[0] if candidates else None), []
        best = _longest_suffix_matches(parts, candidates)
        return (best[0], []) if len(best) == 1 else (None, best)


def _is_absolute(raw: str) -> bool:
    """Absolute on any system: POSIX, a Windows drive, or a UNC share."""
    text = _slashed(raw)
    return text.startswith("/") or bool(re.match(r"^[A-Za-z]:/", text))


def climbs_out(raw: str) -> bool:
    """True for a relative row path that climbs above the project folder with ``..``."""
    if _is_absolute(raw):
        return False
    normal = posixpath.normpath(_slashed(raw))
    return normal == ".." or normal.startswith("../")


def leaves_folder(rel: str) -> bool:
    """True for an item path that is not inside the project folder."""
    return _is_absolute(rel) or climbs_out(rel)


def _longest_suffix_matches(parts: list[str], candidates: list[str]) -> list[str]:
    def shared(candidate: str) -> int:
        cparts = candidate.split("/")
        n = 0
        while n < min(len(parts), len(cparts)) and unicodedata.normalize("NFC", cparts[-1 - n]) in name_variants(parts[-1 - n]):
            n += 1
        return n

    scores = {c: shared(c) for c in candidates}
    top = max(scores.values())
    return [c for c, s in scores.items() if s == top]


# --------------------------------------------------------------------------- import


def import_file(
    store: Store, file: str | os.PathLike[str], as_human: bool = False, reviewer: str = "", scan_disk: bool = True
) -> ImportReport:
    """Import an annotation file into ``store``; see the module docstring for the rules."""
    path = Path(file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FormatError(f"cannot read {path}: {exc.strerror or exc}") from None
    text, encoding = decode_bytes(data)
    fmt = detect_format(path, text)
    report = ImportReport(file=str(path), format=fmt, encoding=encoding)
    index = MediaIndex(store, scan_disk=scan_disk)
    with store.transaction():
        if fmt == "jsonl":
            _import_jsonl(store, text, index, report, as_human, reviewer)
        else:
            rows = _csv_rows(text) if fmt == "vhd11k-csv" else _json_rows(text)
            for line, row in rows:
                report.rows += 1
                parsed = parse_vhd_row(line, row)
                if isinstance(parsed, RowProblem):
                    report.malformed.append(parsed)
                    continue
                rel = _resolve(store, index, parsed.path, parsed.kind, line, report)
                if rel is None:
                    continue
                if as_human:
                    _import_human(store, rel, parsed, reviewer, report)
                else:
                    _tally(report, _import_debate(store, debate_from_vhd_row(parsed, rel)))
    return report


def _resolve(store: Store, index: MediaIndex, raw: str, kind: str, line: int, report: ImportReport) -> str | None:
    rel, ambiguous = index.match(raw)
    if ambiguous:
        shown = ", ".join(ambiguous[:3])
        report.malformed.append(RowProblem(line, raw, f"file name matches several files ({shown})"))
        return None
    if rel is None:
        if climbs_out(raw):
            reason = "the path climbs out of the project folder (..) and no file of that name is in it"
            report.malformed.append(RowProblem(line, raw, reason))
            return None
        # Another machine's absolute path (VHD11K publishes them so) becomes the file's name here.
        parts = _posix_parts(raw)
        rel = posixpath.normpath("/".join(parts))
        if _is_absolute(raw):
            inside = store.relative_path(raw) if os.path.isabs(raw) else ""
            rel = inside if inside and not leaves_folder(inside) else parts[-1]
        report.unmatched += 1
    info = index.disk_info(rel)
    if info is not None and not store.has_item(rel):
        store.upsert_items([(rel, kind, info[0], info[1])])
    else:
        store.add_item(rel, kind)
    return rel


def _tally(report: ImportReport, outcome: str) -> None:
    if outcome == "added":
        report.added += 1
    elif outcome == "updated":
        report.updated += 1
    else:
        report.skipped += 1


def _debate_key(d: DebateRecord) -> tuple[Any, ...]:
    turns = tuple((t.role, t.round, t.text) for t in d.turns)
    return (d.status, d.decision, d.harmful_type, tuple(d.flags), d.error, d.rounds, d.preset_name, turns)


def _import_debate(store: Store, record: DebateRecord) -> str:
    current = store.current_debate(record.path)
    if current is not None and current.to_dict() | {"path": ""} == record.to_dict() | {"path": ""}:
        return "skipped"
    if current is not None and _debate_key(current) == _debate_key(record) and record.preset_name == IMPORT_PRESET:
        return "skipped"
    store.record_debate(record)
    return "added" if current is None else "updated"


def _import_human(store: Store, rel: str, row: VhdRow, reviewer: str, report: ImportReport) -> None:
    if row.decision not in ("yes", "no"):
        report.malformed.append(RowProblem(row.line, row.path, "a human decision must be yes or no"))
        return
    _tally_human(store, rel, row.decision, row.harmful_type, reviewer, row.line, report)


def _tally_human(
    store: Store, rel: str, label: str, category: str, reviewer: str, line: int, report: ImportReport, note: str = ""
) -> None:
    current = store.standing_decisions(rel).get(reviewer)  # this reviewer's own: others' decisions are kept apart
    if current is not None:
        if current.label == label and current.category == category:
            report.skipped += 1
        else:
            reason = f"store has {current.label!r} ({current.category or 'no category'}), file says {label!r}"
            report.conflicts.append(RowProblem(line, rel, reason))
        return
    store.record_decision(rel, label, category=category, note=note, reviewer=reviewer, source="import")
    report.added += 1


def _import_jsonl(store: Store, text: str, index: MediaIndex, report: ImportReport, as_human: bool, reviewer: str) -> None:
    # Lines end at \n only: JSON text may hold U+2028 and the other breaks str.splitlines knows.
    for line, raw_line in enumerate(text.split("\n"), start=1):
        if not raw_line.strip():
            continue
        report.rows += 1
        try:
            obj = json.loads(raw_line)
        except json.JSONDecodeError as exc:
            report.malformed.append(RowProblem(line, "", f"not JSON: {exc.msg}"))
            continue
        except ValueError as exc:
            report.malformed.append(RowProblem(line, "", f"not JSON: {exc}"))
            continue
        except RecursionError:
            report.malformed.append(RowProblem(line, "", "not JSON we can read: nested too deeply"))
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("path"), str) or not obj["path"].strip():
            report.malformed.append(RowProblem(line, "", "a line needs an object with a 'path'"))
            continue
        try:
            _import_jsonl_record(store, index, obj, line, report, as_human, reviewer)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            report.malformed.append(RowProblem(line, obj["path"], f"bad record: {exc}"))
        except RecursionError:
            report.malformed.append(RowProblem(line, obj["path"], "bad record: nested too deeply"))


def _import_jsonl_record(
    store: Store, index: MediaIndex, obj: dict[str, Any], line: int, report: ImportReport, as_human: bool, reviewer: str
) -> None:
    bare = "turns" in obj and "status" in obj  # a DebateRecord as `debate --json` prints it
    debate_data = obj if bare else obj.get("debate")
    kind = str(obj.get("kind") or (debate_data or {}).get("kind") or "image")
    rel = _resolve(store, index, obj["path"], kind, line, report)
    if rel is None:
        return
    if as_human:
        label = obj.get("final_label") or (debate_data or {}).get("decision")
        if label not in ("yes", "no"):
            report.malformed.append(RowProblem(line, rel, "no yes/no label to record as a human decision"))
            return
        category = str(obj.get("final_category") or (debate_data or {}).get("harmful_type") or "")
        _tally_human(store, rel, label, category, reviewer, line, report)
        return
    outcomes: list[str] = []
    if debate_data:
        record = DebateRecord.from_dict(debate_data)
        record.path, record.kind = rel, kind
        outcomes.append(_import_debate(store, record))
    history = [] if bare else obj.get("history") or []
    if history:
        outcomes.append(_import_history(store, rel, history, line, report))
    if "added" in outcomes:
        report.added += 1
    elif "updated" in outcomes:
        report.updated += 1
    elif "conflict" not in outcomes:
        report.skipped += 1


def _import_history(store: Store, rel: str, history: list[dict[str, Any]], line: int, report: ImportReport) -> str:
    """Replay a file's decision history into an item that has none; never touch an existing one."""
    existing = store.decision_history(rel)
    entries = [_entry_from_json(e) for e in history]
    if existing:
        if [_entry_key(e) for e in existing] == [_entry_key(e) for e in entries]:
            return "skipped"
        mine, theirs = store.human_decision(rel), _current(entries)
        if mine is not None and theirs is not None and (mine.label, mine.category) == (theirs.label, theirs.category):
            return "skipped"
        if theirs is None:
            return "skipped"
        who = f"{mine.label!r}" if mine else "an undone decision"
        report.conflicts.append(RowProblem(line, rel, f"store has {who}, file says {theirs.label!r}"))
        return "conflict"
    for e in entries:
        if e.action == "undo":
            store.undo_decision(rel, reviewer=e.reviewer, source=e.source or "import")
        elif e.label in ("yes", "no"):
            store.record_decision(
                rel, e.label, e.category, e.note, e.reviewer, e.source or "import", decided_at=e.decided_at or None
            )
    return "added"


def _entry_from_json(e: dict[str, Any]) -> DecisionEntry:
    return DecisionEntry(
        id=0,
        action=str(e.get("action") or "set"),
        label=e.get("label"),
        category=str(e.get("category") or ""),
        note=str(e.get("note") or ""),
        reviewer=str(e.get("reviewer") or ""),
        source=str(e.get("source") or ""),
        decided_at=str(e.get("decided_at") or ""),
    )


def _entry_key(e: DecisionEntry) -> tuple[str, str | None, str, str]:
    return (e.action, e.label, e.category, e.decided_at)


def _current(entries: list[DecisionEntry]) -> DecisionEntry | None:
    """The most recent standing decision of a file's history, replayed as the store replays it."""
    standing = standing_by_reviewer(entries)
    return next(reversed(standing.values())) if standing else None


# --------------------------------------------------------------------------- writing outputs

STDOUT = "-"  # as an output name: standard output


class ExportError(FormatError):
    """An export that is refused before anything is written (a one-line reason)."""


def is_stdout(target: str | os.PathLike[str]) -> bool:
    return os.fspath(target) == STDOUT


@contextlib.contextmanager
def open_output(target: str | os.PathLike[str]) -> Iterator[TextIO]:
    """Open ``target`` for writing UTF-8 text; every export goes through here.

    - ``-`` is standard output.
    - A symlink is followed (a chain too): what is written is the file it points to.
    - A regular file (or a name that does not exist yet) is written atomically: a temporary
      file beside the real target, flushed to disk, then renamed over it, so the file appears
      whole or not at all. An existing file keeps its permission bits (and owner, where the
      process may set it); a new one gets 0666 less the umask, as any program's new file.
    - Anything else that exists (a FIFO, a character or block device) is written through,
      never replaced: the reader of a FIFO gets the data, ``/dev/null`` stays a device.
    - A folder, a socket, or a file you may not write (a rename could replace it) is refused. Any write error (a full disk, ``/dev/full``, a closed pipe) is an
      OSError from this context manager, never a silent success.
    """
    if is_stdout(target):
        with _stdout_text() as fh:
            yield fh
        return
    real = Path(os.path.realpath(target))
    try:
        st: os.stat_result | None = os.stat(real)
    except FileNotFoundError:
        st = None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "is a folder; give a file name", os.fspath(target))
    if st is not None and stat.S_ISSOCK(st.st_mode):
        raise OSError(errno.ENXIO, "is a socket, which cannot be written as a file", os.fspath(target))
    if st is not None and not stat.S_ISREG(st.st_mode):
        with _write_through(real) as fh:
            yield fh
    else:
        if st is not None and not os.access(real, os.W_OK):  # as a shell's > would, respect it
            raise PermissionError(errno.EACCES, "permission denied: the file is read-only to you", os.fspath(target))
        with _atomic_replace(real, st) as fh:
            yield fh


def is_regular_target(target: str | os.PathLike[str]) -> bool:
    """True when ``target`` (after its symlinks) is a regular file or does not exist yet."""
    if is_stdout(target):
        return False
    try:
        return stat.S_ISREG(os.stat(os.path.realpath(target)).st_mode)
    except FileNotFoundError:
        return True


@contextlib.contextmanager
def _stdout_text() -> Iterator[TextIO]:
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # a text-only stream put in place of stdout
        yield sys.stdout
        sys.stdout.flush()
        return
    fh = io.TextIOWrapper(buffer, encoding="utf-8", newline="")
    try:
        yield fh
        fh.flush()
    finally:
        with contextlib.suppress(OSError, ValueError):
            fh.detach()  # leave sys.stdout's own buffer open


@contextlib.contextmanager
def _write_through(real: Path) -> Iterator[TextIO]:
    # No O_CREAT, no O_TRUNC: this opens what is there (a FIFO blocks until a reader comes).
    fd = os.open(real, os.O_WRONLY | getattr(os, "O_NOCTTY", 0))
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):  # replaced by a regular file since we looked
            raise FileExistsError(errno.EEXIST, "changed into a regular file while opening it", os.fspath(real))
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        yield fh
        fh.flush()


def _create_temp(directory: Path, name: str) -> tuple[int, Path]:
    """A new file beside the target, created with mode 0666 so that the umask applies."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = directory / f".{name}.{os.urandom(4).hex()}.tmp"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue


@contextlib.contextmanager
def _atomic_replace(real: Path, old: os.stat_result | None) -> Iterator[TextIO]:
    real.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(real.parent, real.name)
    try:
        if old is not None:
            if (old.st_uid, old.st_gid) != (os.geteuid(), os.getegid()):
                with contextlib.suppress(PermissionError):
                    os.fchown(fd, old.st_uid, old.st_gid)
            os.fchmod(fd, stat.S_IMODE(old.st_mode))  # after chown, which may clear set-id bits
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, real)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable (not possible on Windows)
        dir_fd = os.open(real.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


# --------------------------------------------------------------------------- export


def harmful_type_of(rec: ItemRecord) -> str:
    """The ``harmfulType`` VHD11K would write for the final label."""
    debate = rec.debate
    if rec.human is not None:
        if rec.human.category:
            return rec.human.category
        if debate is not None and debate.decision == rec.human.label:
            return debate.harmful_type
        return ""
    if debate is None:
        return ""
    if debate.status == STATUS_ERROR:
        return debate.error or "error"
    return debate.harmful_type


def decision_of(rec: ItemRecord) -> str | None:
    if rec.final_label:
        return rec.final_label
    if rec.debate is not None and rec.debate.status == STATUS_ERROR:
        return "error"
    return None


def vhd11k_columns(kind: str, rounds: int, critic: bool) -> list[str]:
    columns = [PATH_COLUMN_OF.get(kind, "imagePath"), "decision", "harmfulType"]
    columns += [f"affirmativeDebater_argument_{i}" for i in range(rounds)]
    columns += [f"negativeDebater_argument_{i}" for i in range(rounds)]
    if critic:
        columns.append("critic")
    return columns


def vhd11k_row(rec: ItemRecord, rounds: int, critic: bool) -> dict[str, str] | None:
    decision = decision_of(rec)
    if decision is None:
        return None
    row = {PATH_COLUMN_OF.get(rec.kind, "imagePath"): rec.path, "decision": decision, "harmfulType": harmful_type_of(rec)}
    debate = rec.debate
    for side in ("affirmative", "negative"):
        for i in range(rounds):
            text = debate.argument(side, i) if debate else None
            row[f"{side}Debater_argument_{i}"] = NONE_TEXT if text is None else text
    if critic:
        text = debate.critic if debate else None
        row["critic"] = NONE_TEXT if text is None else text
    return row


def export_targets(output: Path, kinds: Sequence[str]) -> dict[str, Path]:
    """One output per kind for the VHD11K formats: ``x.csv`` or ``x_images.csv`` + ``x_videos.csv``."""
    if len(kinds) <= 1:
        return {(kinds[0] if kinds else "image"): output}
    return {k: output.with_name(f"{output.stem}_{k}s{output.suffix}") for k in kinds}


def export_store(store: Store, fmt: str, output: str | os.PathLike[str]) -> list[ExportedFile]:
    """Write ``store`` in ``fmt`` to ``output`` (``-`` for standard output) through
    :func:`open_output`; returns the files written (two for a VHD11K export of images and videos).

    Raises ExportError for an export refused before writing, OSError for one that failed.
    """
    if fmt not in EXPORT_FORMATS:
        raise ExportError(f"unknown export format {fmt!r} (one of {', '.join(EXPORT_FORMATS)})")
    if not is_stdout(output) and os.path.realpath(output) == os.path.realpath(store.path):
        raise ExportError(f"{os.fspath(output)} is the annotation store itself; give another file name")
    out = Path(output)
    if is_stdout(out) and not is_stdout(output):  # "./-" names a file called "-"
        out = Path.cwd() / STDOUT
    if fmt in ("vhd11k-csv", "vhd11k-json"):
        kinds = [k for k in store.kinds() if _has_exportable(store, k)]
        if len(kinds) > 1 and not is_regular_target(output):
            where = "standard output" if is_stdout(output) else f"{out} (not a regular file)"
            raise ExportError(f"images and videos need separate {fmt} files, which cannot go to {where}; give -o a file name")
        return [_export_vhd11k(store, fmt, kind, path) for kind, path in export_targets(out, kinds).items()]
    if fmt == "jsonl":
        return [_export_jsonl(store, out)]
    return [_export_hf(store, out)]


def _has_exportable(store: Store, kind: str) -> bool:
    return store.count(Filters(kind=kind, status=[s for s in STATUSES if s != "new"])) > 0


def _export_vhd11k(store: Store, fmt: str, kind: str, path: Path) -> ExportedFile:
    rounds, critic = store.debate_shape(kind)
    rounds = rounds or DEFAULT_ROUNDS
    columns = vhd11k_columns(kind, rounds, critic)
    rows = (r for r in (vhd11k_row(rec, rounds, critic) for rec in store.iter_records(kind=kind)) if r is not None)
    count = 0
    with open_output(path) as fh:
        if fmt == "vhd11k-csv":
            writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\r\n")
            writer.writeheader()
            for row in rows:
                writer.writerow(row)
                count += 1
        else:
            fh.write("[")
            for row in rows:
                fh.write(("," if count else "") + "\n    " + json.dumps(row, ensure_ascii=False))
                count += 1
            fh.write("\n]\n")
    return ExportedFile(path, count, kind)


def record_to_json(rec: ItemRecord) -> dict[str, Any]:
    """The whole record of one item, as our JSONL carries it."""
    return {
        "path": rec.path,
        "kind": rec.kind,
        "size": rec.size,
        "mtime": rec.mtime,
        "status": rec.status,
        "final_label": rec.final_label,
        "final_category": rec.final_category,
        "updated_at": rec.updated_at,
        "debate": rec.debate.to_dict() if rec.debate else None,
        "human": _entry_json(rec.human) if rec.human else None,
        "disputed": rec.disputed,
        "history": [_entry_json(e) for e in rec.history],
    }


def _entry_json(e: DecisionEntry) -> dict[str, Any]:
    d = asdict(e)
    d.pop("id")
    return d


def _export_jsonl(store: Store, path: Path) -> ExportedFile:
    count = 0
    with open_output(path) as fh:
        for rec in store.iter_records():
            fh.write(json.dumps(record_to_json(rec), ensure_ascii=False) + "\n")
            count += 1
    return ExportedFile(path, count, "all")


def hf_row(rec: ItemRecord) -> dict[str, Any] | None:
    if rec.final_label is None:
        return None
    return {
        "file_name": rec.path,
        "label": rec.final_label,
        "harmful": rec.final_label == "yes",
        "category": harmful_type_of(rec) if rec.final_label == "yes" else "",
        "label_source": "human" if rec.human is not None else "model",
        "model_label": rec.debate.decision if rec.debate and rec.debate.status == STATUS_DEBATED else None,
        "kind": rec.kind,
    }


def _export_hf(store: Store, path: Path) -> ExportedFile:
    count = 0
    with open_output(path) as fh:
        for rec in store.iter_records():
            row = hf_row(rec)
            if row is not None:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                count += 1
    return ExportedFile(path, count, "all")


def default_export_path(store: Store, fmt: str) -> Path:
    """Next to the store: ``annotations-vhd11k.csv``, ``annotations.jsonl``, ``metadata.jsonl``..."""
    stem = store.path.stem
    names = {
        "vhd11k-csv": f"{stem}-vhd11k.csv",
        "vhd11k-json": f"{stem}-vhd11k.json",
        "jsonl": f"{stem}.jsonl",
        "hf-metadata": "metadata.jsonl",
    }
    return store.path.parent / names[fmt]


__all__ = [
    "EXPORT_FORMATS",
    "IMPORT_FORMATS",
    "IMPORT_PRESET",
    "ExportedFile",
    "FormatError",
    "ImportReport",
    "MediaIndex",
    "RowProblem",
    "ExportError",
    "STDOUT",
    "is_stdout",
    "open_output",
    "decode_bytes",
    "default_export_path",
    "detect_format",
    "export_store",
    "import_file",
    "name_variants",
    "record_to_json",
]
