"""The annotation store: items, debates, turns and the human decision history in one SQLite file.

Everything that touches the tables lives in :class:`Store`; nothing else in the package writes
SQL. The SQL is kept portable where a portable form exists (``ON CONFLICT ... DO UPDATE``,
``LIMIT/OFFSET``, no JSON functions): :mod:`vhd_gui.store_pg` runs this same SQL on PostgreSQL.

Durability: WAL with ``synchronous=FULL``, so a call that records a decision returns only after
the WAL is on disk. Several processes (a second window, a batch run) may use one file at once;
``busy_timeout`` makes a writer wait for another instead of failing.

The items table carries each item's *current* state (latest debate's verdict, the human decision
derived from the append-only history, status, final label) so that paging, filtering and counting
100,000 items need no joins. That state is recomputed inside the same transaction as every write.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import posixpath
import re
import secrets
import shutil
import sqlite3
import tempfile
import threading
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from pathlib import Path, PurePath
from typing import Any, NamedTuple

from vhd_gui.filenames import has_undecodable, to_fs, to_key
from vhd_gui.gcpause import collector_paused
from vhd_gui.record import (
    STATUS_ACCEPTED,
    STATUS_DEBATED,
    STATUS_ERROR,
    STATUS_NEW,
    STATUS_OVERRIDDEN,
    STATUSES,
    DebateRecord,
    EndpointInfo,
    TurnRecord,
)
from vhd_gui.sqlite_wal import use_wal

STORE_DIR_NAME = ".vhd-annotator"
STORE_FILE_NAME = "annotations.sqlite"
APP_NAME = "vhd-annotator"
SCHEMA_VERSION = 6
BUSY_TIMEOUT_MS = 15_000
QUICK_CHECK_WHOLE_BYTES = 64 * 1024 * 1024  # bigger stores have their key tables checked at open
_CHECKED_AT_OPEN = ("meta", "items", "decisions")
LABELS = ("yes", "no")
SORTS = ("name", "status", "mtime", "updated")

ACTION_SET = "set"
ACTION_UNDO = "undo"

# How several reviewers' standing decisions on one item become its human label (see
# resolve_decisions): the most recent one, the label more than half give, or a named
# adjudicator's (else the label everyone gave).
RESOLUTION_LATEST = "latest"
RESOLUTION_MAJORITY = "majority"
RESOLUTION_ADJUDICATOR = "adjudicator"
RESOLUTIONS = (RESOLUTION_LATEST, RESOLUTION_MAJORITY, RESOLUTION_ADJUDICATOR)
MAX_OVERLAP = 100
REVIEW_LEASE_SECONDS = 120.0  # how long "next item for me" holds an item unless renewed
_PROJECT_KEYS = {"overlap": "project_overlap", "resolution": "project_resolution", "adjudicator": "project_adjudicator", "blind": "project_blind"}
PROJECT_META_KEYS = tuple(_PROJECT_KEYS.values())  # the meta rows that hold ProjectSettings


class StoreError(Exception):
    """The file is not an annotation store, was made by a newer version, or cannot be opened."""


# What a store call raises for a reason outside the program (a full disk, a lock held too long, a
# damaged page): callers outside the store catch these without importing the database module.
STORE_ERRORS: tuple[type[BaseException], ...] = (StoreError, sqlite3.Error, OSError)


class StoreDamaged(StoreError):
    """The file is an SQLite database whose pages do not check out: it was damaged.

    ``backup`` is the newest backup of the store, if there is one; the message names it.
    """

    def __init__(self, path: Path, detail: str) -> None:
        self.path = path
        self.detail = detail
        self.backup = latest_backup(path)
        super().__init__(damage_message(path, detail, self.backup))


class StoreReadOnly(StoreError):
    """A write was asked of a store that is open read-only (a read-only medium or file)."""


class ClaimLost(Exception):
    """A claim ran out and another holder took the item: the result was not written."""


# --------------------------------------------------------------------------- public value types


@dataclass(slots=True)
class Filters:
    """What :meth:`Store.page`, :meth:`Store.count` and :meth:`Store.paths` select.

    Every field left at its default selects everything. ``status`` and ``kind`` take one value
    or several. ``final_label``/``model_label`` take ``'yes'``, ``'no'`` or ``'none'`` (no label).
    ``category`` matches the final category exactly. ``name_contains`` is a case-insensitive
    substring of the item's relative path.
    """

    status: str | Sequence[str] | None = None
    final_label: str | None = None
    model_label: str | None = None
    category: str | None = None
    kind: str | Sequence[str] | None = None
    disagreement: bool = False
    flagged: bool = False
    name_contains: str = ""
    # Several reviewers: items whose reviewers' decisions give no final label under the
    # project's resolution (``needs_adjudication``), items whose standing decisions give both
    # labels whatever the resolution (``reviewers_disagree``), items a reviewer has no
    # standing decision on (``undecided_by``) or has one on (``decided_by``).
    needs_adjudication: bool = False
    reviewers_disagree: bool = False
    undecided_by: str | None = None
    decided_by: str | None = None


@dataclass(frozen=True, slots=True)
class ItemRow:
    """One line of the item list: cheap to fetch in pages of hundreds."""

    path: str
    kind: str
    status: str
    model_label: str | None
    model_category: str
    human_label: str | None
    human_category: str
    final_label: str | None
    final_category: str
    flags: tuple[str, ...]
    mtime: float | None
    updated_at: str
    reviewer_count: int = 0  # people with a standing decision on the item
    disputed: bool = False  # their decisions give no final label: see ProjectSettings.resolution


@dataclass(frozen=True, slots=True)
class DecisionEntry:
    """One entry of an item's human decision history (``action`` is ``set`` or ``undo``)."""

    id: int
    action: str
    label: str | None
    category: str
    note: str
    reviewer: str
    source: str
    decided_at: str


@dataclass(slots=True)
class ItemRecord:
    """Everything the store knows about one item."""

    path: str
    kind: str
    size: int | None
    mtime: float | None
    status: str
    final_label: str | None
    final_category: str
    updated_at: str
    debate: DebateRecord | None  # the current (latest) debate
    debate_id: int | None
    debate_count: int
    human: DecisionEntry | None  # the decision the human final label comes from (None: none, or disputed)
    history: list[DecisionEntry] = field(default_factory=list)
    # Each reviewer's standing decision, ordered by when it was made (from ``history``; empty
    # when the record was read without it). ``disputed``: the standing decisions give no final
    # label under the project's resolution, so the final label is the model's verdict.
    standing: dict[str, DecisionEntry] = field(default_factory=dict)
    disputed: bool = False
    reviewer_count: int = 0
    # True when this record is a blind reviewer's view: other reviewers' entries are left out.
    others_hidden: bool = False


@dataclass(frozen=True, slots=True)
class Claim:
    """What the holder of an item's claim keeps: the token fences its writes (see :meth:`Store.claim_item`)."""

    path: str
    owner: str
    token: str
    lease_until: str  # ISO 8601 UTC, like every time stamp in the store
    attempts: int  # 1 the first time; +1 each time an expired claim on the item is taken over


@dataclass(frozen=True, slots=True)
class ClaimInfo:
    """Who holds an item's claim, as anyone else may see it (no token)."""

    path: str
    owner: str
    lease_until: str
    attempts: int
    claimed_at: str


@dataclass(frozen=True, slots=True)
class ProjectSettings:
    """How a team shares a store, kept in the store itself (see :meth:`Store.project_settings`).

    ``overlap``: how many people should decide each item ("next item for me" stops serving an
    item once that many have, or hold a live review lease on it). ``resolution``: how their
    standing decisions form the final label (``latest``, ``majority``, ``adjudicator``).
    ``adjudicator``: the reviewer whose decision settles an item under ``adjudicator``.
    ``blind``: reviewers other than the adjudicator should not see each other's decisions
    (the store reports it and offers each reviewer's view; it does not hide data).
    """

    overlap: int = 1
    resolution: str = RESOLUTION_LATEST
    adjudicator: str = ""
    blind: bool = False


@dataclass(frozen=True, slots=True)
class Resolution:
    """What an item's standing decisions come to (see :func:`resolve_decisions`).

    ``decision``: the decision the human final label comes from (its label and category are
    the item's), None when nobody decided or the decisions are disputed. ``split``: the
    standing decisions give both labels (whatever the resolution made of it).
    """

    decision: DecisionEntry | None
    disputed: bool
    split: bool


@dataclass(frozen=True, slots=True)
class ReviewLease:
    """A reviewer's soft hold on an item it is looking at (see :meth:`Store.next_for_reviewer`).

    It only steers who is served what; it never blocks a decision. ``token`` tells this
    holder's lease from a later one of the same reviewer on the same item.
    """

    path: str
    reviewer: str
    token: str
    lease_until: str  # ISO 8601 UTC


@dataclass(frozen=True, slots=True)
class ReviewLeaseInfo:
    """A live review lease as anyone may see it (no token): who is looking at what."""

    path: str
    reviewer: str
    lease_until: str
    leased_at: str


@dataclass(frozen=True, slots=True)
class ReviewProgress:
    """How far a team got (see :meth:`Store.review_progress`).

    ``complete``: items with at least ``overlap`` standing decisions that are not disputed;
    ``partial``: items some but fewer than ``overlap`` people decided; ``disputed``: items
    whose decisions give no final label; ``by_reviewer``: items each reviewer has a standing
    decision on, most first.
    """

    total: int
    overlap: int
    complete: int
    partial: int
    disputed: int
    by_reviewer: dict[str, int]


class VerdictRow(NamedTuple):
    """One item as agreement figures and the review queue see it (see :meth:`Store.verdict_rows`).

    ``model_label`` is the current debate's verdict (None without one); ``human_label`` the
    standing human decision. ``critic_last_line`` is the last non-blank line of the current
    debate's critic turn ('' without a critic). ``judge_model`` is the judge's model name from
    the debate's endpoints. ``verdicts_differ`` is true when the item's debates (several runs
    or models) reached both verdicts. A named tuple: 100,000 of them build fast.
    """

    path: str
    kind: str
    status: str
    model_label: str | None
    model_category: str
    human_label: str | None
    human_category: str
    flags: tuple[str, ...]
    judge_yes_prob: float | None
    critic_last_line: str
    judge_model: str
    preset_name: str
    verdicts_differ: bool


@dataclass(frozen=True, slots=True)
class Counts:
    total: int
    by_status: dict[str, int]
    by_label: dict[str, int]  # final label: yes / no / none
    disputed: int = 0  # items whose reviewers' decisions give no final label (needs adjudication)

    @property
    def reviewed(self) -> int:
        """Items with a human decision (accepted or overridden)."""
        return self.by_status.get(STATUS_ACCEPTED, 0) + self.by_status.get(STATUS_OVERRIDDEN, 0)


# --------------------------------------------------------------------------- schema

# Version 1: the first schema. Kept verbatim: a fresh store is built by replaying every
# migration, so the upgrade path from the oldest store is exercised on every open of a new file.
_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    size INTEGER,
    mtime REAL
);
CREATE TABLE debates (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES items(id),
    status TEXT NOT NULL,
    decision TEXT,
    harmful_type TEXT NOT NULL DEFAULT '',
    judge_raw TEXT NOT NULL DEFAULT '',
    flags TEXT NOT NULL DEFAULT '[]',
    endpoints TEXT NOT NULL DEFAULT '{}',
    preset_name TEXT NOT NULL DEFAULT '',
    preset_hash TEXT NOT NULL DEFAULT '',
    rounds INTEGER NOT NULL DEFAULT 2,
    layout TEXT NOT NULL DEFAULT 'flat',
    frames_sent TEXT NOT NULL DEFAULT '[]',
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    seconds REAL NOT NULL DEFAULT 0,
    started_at TEXT NOT NULL DEFAULT '',
    error_kind TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX debates_item ON debates(item_id);
CREATE TABLE turns (
    id INTEGER PRIMARY KEY,
    debate_id INTEGER NOT NULL REFERENCES debates(id),
    role TEXT NOT NULL,
    round INTEGER NOT NULL,
    text TEXT NOT NULL,
    model TEXT NOT NULL DEFAULT '',
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    seconds REAL NOT NULL DEFAULT 0
);
CREATE INDEX turns_debate ON turns(debate_id);
CREATE TABLE decisions (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES items(id),
    label TEXT NOT NULL,
    category TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    decided_at TEXT NOT NULL
);
CREATE INDEX decisions_item ON decisions(item_id);
"""

# Version 2: per-item current state for fast lists, undo entries, reviewer/source, the usage
# fields the engine added (cached tokens, attempts, refusals, judge's yes probability).
# items_browse covers every filter column in name order, so a deep page of a filtered list is
# an index-only scan; the other indexes serve the other sorts and the counts.
_V2 = """
ALTER TABLE items ADD COLUMN path_key TEXT NOT NULL DEFAULT '';
ALTER TABLE items ADD COLUMN status TEXT NOT NULL DEFAULT 'new';
ALTER TABLE items ADD COLUMN debate_id INTEGER;
ALTER TABLE items ADD COLUMN model_label TEXT;
ALTER TABLE items ADD COLUMN model_category TEXT NOT NULL DEFAULT '';
ALTER TABLE items ADD COLUMN flags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE items ADD COLUMN human_label TEXT;
ALTER TABLE items ADD COLUMN human_category TEXT NOT NULL DEFAULT '';
ALTER TABLE items ADD COLUMN final_label TEXT;
ALTER TABLE items ADD COLUMN final_category TEXT NOT NULL DEFAULT '';
ALTER TABLE items ADD COLUMN updated_at TEXT NOT NULL DEFAULT '';
ALTER TABLE debates ADD COLUMN cached_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE debates ADD COLUMN media_sha256 TEXT NOT NULL DEFAULT '';
ALTER TABLE debates ADD COLUMN judge_yes_prob REAL;
ALTER TABLE debates ADD COLUMN recorded_at TEXT NOT NULL DEFAULT '';
ALTER TABLE turns ADD COLUMN cached_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE turns ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1;
ALTER TABLE turns ADD COLUMN refused INTEGER NOT NULL DEFAULT 0;
ALTER TABLE decisions ADD COLUMN action TEXT NOT NULL DEFAULT 'set';
ALTER TABLE decisions ADD COLUMN reviewer TEXT NOT NULL DEFAULT '';
ALTER TABLE decisions ADD COLUMN source TEXT NOT NULL DEFAULT '';
CREATE INDEX items_browse ON items(path_key, path, kind, status, final_label, model_label, human_label, final_category, flags);
CREATE INDEX items_status ON items(status, path_key, path);
CREATE INDEX items_status_label ON items(status, final_label);
CREATE INDEX items_category ON items(final_category, path_key);
CREATE INDEX items_mtime ON items(mtime, path);
CREATE INDEX items_updated ON items(updated_at, path);
"""

# Version 3: turns answered by the response cache (no request sent) are marked as such.
_V3 = """
ALTER TABLE turns ADD COLUMN from_cache INTEGER NOT NULL DEFAULT 0;
"""

# Version 4: a reasoning model's thinking per turn, kept apart from its argument; token counts
# that are estimates (the server reported no usage); why a flagged verdict is what it is.
_V4 = """
ALTER TABLE turns ADD COLUMN thinking TEXT NOT NULL DEFAULT '';
ALTER TABLE turns ADD COLUMN usage_estimated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE debates ADD COLUMN usage_estimated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE debates ADD COLUMN verdict_note TEXT NOT NULL DEFAULT '';
"""

# Version 5: claims, so several batches (processes, machines in team mode) share one queue.
# A claim is a lease on one item: the holder renews lease_until while its debate runs and may
# record the result only while its token is still the item's claim token. A lease that ran
# out (a killed process) may be taken by anyone; attempts counts how often the item was taken.
_V5 = """
CREATE TABLE claims (
    item_id INTEGER PRIMARY KEY REFERENCES items(id),
    owner TEXT NOT NULL,
    token TEXT NOT NULL,
    lease_until TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1,
    claimed_at TEXT NOT NULL
);
"""

# Version 6: several reviewers. standing_decisions keeps each reviewer's standing decision per
# item (derived from the append-only history in the same transaction as every write, like the
# items' own state), so "items this reviewer has not decided" is one indexed lookup. items
# gains how many people decided (reviewer_count), whether their decisions give no final label
# under the project's resolution (disputed) and whether they gave both labels
# (reviewers_split). review_leases: "next item for me" holds the item it serves, one soft lease
# per (item, reviewer) with a token and an expiry; it steers serving and never blocks a write.
# (Expired leases are deleted whenever one is served, so that table stays as small as the
# number of people at work and needs no index of its own.)
_V6 = """
ALTER TABLE items ADD COLUMN reviewer_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE items ADD COLUMN disputed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE items ADD COLUMN reviewers_split INTEGER NOT NULL DEFAULT 0;
CREATE INDEX items_disputed ON items(disputed, path_key, path);
CREATE TABLE standing_decisions (
    item_id INTEGER NOT NULL REFERENCES items(id),
    reviewer TEXT NOT NULL,
    decision_id INTEGER NOT NULL REFERENCES decisions(id),
    label TEXT NOT NULL,
    category TEXT NOT NULL DEFAULT '',
    decided_at TEXT NOT NULL,
    PRIMARY KEY (item_id, reviewer)
);
CREATE TABLE review_leases (
    item_id INTEGER NOT NULL REFERENCES items(id),
    reviewer TEXT NOT NULL,
    token TEXT NOT NULL,
    lease_until TEXT NOT NULL,
    leased_at TEXT NOT NULL,
    PRIMARY KEY (item_id, reviewer)
);
"""

_MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3, _V4, _V5, _V6)  # _MIGRATIONS[v - 1] takes a store to version v

_DEBATE_COLS = (
    "status, decision, harmful_type, judge_raw, flags, endpoints, preset_name, preset_hash, rounds,"
    " layout, frames_sent, media_sha256, prompt_tokens, completion_tokens, cached_tokens, seconds,"
    " started_at, error_kind, error, judge_yes_prob, usage_estimated, verdict_note"
)
_TURN_COLS = (
    "role, round, text, model, prompt_tokens, completion_tokens, cached_tokens, seconds, attempts, refused, from_cache,"
    " thinking, usage_estimated"
)


def _marks(columns: str, extra: int) -> str:
    """Placeholders for the comma-separated ``columns`` plus ``extra`` more."""
    return ", ".join("?" * (columns.count(",") + 1 + extra))


_ROW_COLS = (
    "path, kind, status, model_label, model_category, human_label, human_category, final_label,"
    " final_category, flags, mtime, updated_at, reviewer_count, disputed"
)
_SORT_SQL = {  # path is unique: the last column makes every order total
    "name": ("path_key", "path"),
    "status": ("status", "path_key", "path"),
    "mtime": ("mtime", "path"),
    "updated": ("updated_at", "path"),
}
# A relative POSIX path with no empty, "." or ".." part: normpath would give it back unchanged.
_CLEAN_KEY = re.compile(r"(?!\.{1,2}(?:/|$))[^/]+(?:/(?!\.{1,2}(?:/|$))[^/]+)*")
_KEYSET_SORTS = ("name", "status")  # columns never NULL, so "the rows after this one" is well defined


def now_iso() -> str:
    """The current UTC time as ISO 8601 with microseconds (sorts as text)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _as_key(posix: str) -> str:
    """A path as the store keeps it: escaped when it holds bytes that are not UTF-8."""
    return to_key(posix) if has_undecodable(posix) else posix


def path_key(rel_path: str) -> str:
    return rel_path.casefold()


# --------------------------------------------------------------------------- default location


def default_store_path(folder: str | os.PathLike[str]) -> Path:
    return Path(os.path.abspath(folder)) / STORE_DIR_NAME / STORE_FILE_NAME


def fallback_store_path(folder: str | os.PathLike[str]) -> Path:
    """Where the store of a read-only folder goes: the user data dir, one stable file per folder."""
    import platformdirs

    absolute = os.path.abspath(folder)
    digest = hashlib.sha256(absolute.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", os.path.basename(absolute.rstrip(os.sep)) or "root")[:40]
    return Path(platformdirs.user_data_path(APP_NAME)) / "stores" / f"{slug}-{digest}.sqlite"


def _dir_is_writable(directory: Path) -> bool:
    """Create the folder if needed and prove it takes a new file (works for root and RO mounts)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=directory)
    except OSError:
        return False
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return True


# --------------------------------------------------------------------------- read-only media


def read_only_reason(path: Path) -> str:
    """Why an existing store file cannot be written here ('' when it can).

    A store in write-ahead-log mode also needs its folder (for the ``-wal`` and ``-shm`` files),
    so a folder that takes no new file makes the store read-only too. For root, permissions do
    not stop a write but a read-only mount does: ``os.access`` reports both.
    """
    folder = path.parent
    if hasattr(os, "statvfs"):
        with contextlib.suppress(OSError):
            if os.statvfs(folder).f_flag & os.ST_RDONLY:
                return "it is on a read-only file system"
    if not os.access(path, os.W_OK):
        return "the file is not writable"
    if not os.access(folder, os.W_OK | os.X_OK):
        return "its folder is not writable"
    for side in (_side_file(path, "-wal"), _side_file(path, "-shm")):
        if side.exists() and not os.access(side, os.W_OK):
            return f"{side.name} is not writable"
    return ""


def writable_copy_path(store_path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None) -> Path:
    """Where decisions made on a read-only store go: a copy in the user data dir.

    A folder's own store (``FOLDER/.vhd-annotator/annotations.sqlite``) maps to the folder's
    fallback store, so that opening the folder again finds the same copy; any other store file
    maps to one stable copy per file path.
    """
    path = Path(os.path.abspath(store_path))
    if root is not None and path == default_store_path(root):
        return fallback_store_path(root)
    if path.parent.name == STORE_DIR_NAME:
        return fallback_store_path(path.parent.parent)
    digest = hashlib.sha256(os.fsencode(path)).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", path.stem)[:40] or "store"
    return fallback_store_path(path.parent).with_name(f"{slug}-copy-{digest}.sqlite")


def _side_file(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _sqlite_uri(path: Path, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return "file:" + urllib.parse.quote(os.fsencode(path)) + (f"?{query}" if query else "")


def _connect(target: str, *, uri: bool = False) -> sqlite3.Connection:
    return sqlite3.connect(target, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False, uri=uri)


def _connect_read_only(path: Path) -> tuple[sqlite3.Connection, Path | None]:
    """A connection that never writes to ``path``, and the private folder it reads from, if any.

    ``mode=ro`` first: it reads the write-ahead log too, but needs a ``-shm`` file it can use.
    Where none can be made (a read-only medium without one) and the log holds transactions,
    the file and its log are copied to a private temporary folder and read there (the log is
    replayed into the copy); ``immutable=1`` would silently ignore those transactions. With an
    empty or missing log, ``immutable=1`` reads the file as it is, without any lock.
    """
    conn = _connect(_sqlite_uri(path, mode="ro"), uri=True)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn, None
    except sqlite3.OperationalError:
        conn.close()  # "unable to open database file": no usable -shm
    except sqlite3.Error:
        conn.close()
        raise
    wal = _side_file(path, "-wal")
    if wal.is_file() and wal.stat().st_size > 0:
        snapshot = Path(tempfile.mkdtemp(prefix="vhd-annotator-readonly-"))
        try:
            shutil.copyfile(path, snapshot / "store.sqlite")
            shutil.copyfile(wal, snapshot / "store.sqlite-wal")
            return _connect(str(snapshot / "store.sqlite")), snapshot
        except BaseException:
            shutil.rmtree(snapshot, ignore_errors=True)
            raise
    return _connect(_sqlite_uri(path, mode="ro", immutable="1"), uri=True), None


def _looks_like_sqlite(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


def _is_empty_file(path: Path) -> bool:
    """A zero-byte file whose log holds nothing either: no store has ever been written to it."""
    try:
        if path.stat().st_size:
            return False
        wal = _side_file(path, "-wal")
        return not (wal.is_file() and wal.stat().st_size > 0)
    except OSError:
        return False


def _open_error(path: Path, exc: sqlite3.DatabaseError) -> StoreError:
    """An SQLite error met while opening, as the one line a person can act on."""
    text = str(exc)
    if "malformed" in text or "corrupt" in text:
        return StoreDamaged(path, text)
    if "not a database" in text:
        if _looks_like_sqlite(path) or latest_backup(path) is not None:
            return StoreDamaged(path, text)
        return StoreError(f"{path} is not an annotation store ({text})")
    return StoreError(f"cannot use the store {path}: {text}")


def store_problem(exc: BaseException) -> str | None:
    """The one line for a store problem that reached the top of a command (a StoreError, or an
    SQLite error met where nothing named it), else None: callers need not import sqlite3."""
    if isinstance(exc, StoreError):
        return str(exc)
    if isinstance(exc, sqlite3.DatabaseError):
        return f"a database cannot be used ({exc}); for the store, 'vhd-annotator store check STORE' says what is wrong"
    return None


def _quick_check(conn: sqlite3.Connection, path: Path, whole: bool) -> bool:
    """SQLite's quick check (pages and records well formed, indexes in step with their tables);
    returns whether it covered the whole file.

    A store up to QUICK_CHECK_WHOLE_BYTES (or with ``whole``) is checked whole. A bigger one
    (the whole check costs one to two seconds at 100,000 debated items) has the tables checked
    that hold what people decided and what the list shows (meta, items, decisions) at every
    open, and the whole file once a day, before its daily backup; damage in a transcript is
    otherwise met when it is read, which raises the same error (see :meth:`named_errors`).
    """
    c = conn
    size = c.execute("PRAGMA page_count").fetchone()[0] * c.execute("PRAGMA page_size").fetchone()[0]
    tables: list[str | None] = [None]
    whole = whole or size <= QUICK_CHECK_WHOLE_BYTES
    if not whole:
        present = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        tables = [t for t in _CHECKED_AT_OPEN if t in present] or [None]
    for table in tables:
        pragma = f"PRAGMA quick_check({table})" if table else "PRAGMA quick_check(5)"
        rows = [str(r[0]) for r in c.execute(pragma).fetchall()]
        if rows != ["ok"]:
            more = f" and {len(rows) - 1} more problems" if len(rows) > 1 else ""
            raise StoreDamaged(path, f"quick check: {rows[0]}{more}")
    return whole


# --------------------------------------------------------------------------- backups

BACKUP_KEEP_DAILY = 3  # the newest daily backups kept
BACKUP_KEEP_MIGRATION = 2  # the newest backups taken before a schema upgrade kept
DAILY_BACKUP_AFTER_S = 24 * 3600
BACKUP_DIR_SUFFIX = ".backups"
_BACKUP_RE = re.compile(r"-(\d{8}T\d{12}Z)-(daily|before-schema-\d+)\.sqlite$")


@dataclass(frozen=True, slots=True)
class Backup:
    path: Path
    taken_at: datetime
    reason: str  # "daily" or "before-schema-N"


def backup_dir(store_path: str | os.PathLike[str]) -> Path:
    """The folder that holds a store's backups: beside the file, named after it."""
    path = Path(os.path.abspath(store_path))
    return path.with_name(path.name + BACKUP_DIR_SUFFIX)


def list_backups(store_path: str | os.PathLike[str]) -> list[Backup]:
    """A store's backups, newest first (only files named the way this module names them)."""
    folder = backup_dir(store_path)
    stem = Path(store_path).stem
    out: list[Backup] = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            m = _BACKUP_RE.search(entry.name)
            if m and entry.name.startswith(stem + "-") and entry.is_file():
                taken = datetime.strptime(m.group(1), "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)
                out.append(Backup(Path(entry.path), taken, m.group(2)))
    out.sort(key=lambda b: b.taken_at, reverse=True)
    return out


def latest_backup(store_path: str | os.PathLike[str]) -> Path | None:
    backups = list_backups(store_path)
    return backups[0].path if backups else None


def damage_message(path: Path, detail: str, backup: Path | None) -> str:
    """One line: what is wrong, where the newest backup is, and how to save what is readable."""
    where = f"latest backup: {backup}" if backup else "no backup of it exists"
    return (
        f"{path} is damaged ({detail}); {where}; "
        f"'vhd-annotator store recover {path} OUT' saves what is still readable into a new store OUT"
    )


def write_backup(conn: sqlite3.Connection, store_path: Path, reason: str) -> Path:
    """Copy the database behind ``conn`` with SQLite's backup API into the store's backup folder,
    then drop the oldest backups of the same kind beyond the number kept."""
    folder = backup_dir(store_path)
    folder.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    final = folder / f"{store_path.stem}-{stamp}-{reason}.sqlite"
    partial = folder / f".{final.name}.partial"
    try:
        dest = sqlite3.connect(partial)
        try:
            conn.backup(dest)
        finally:
            dest.close()
        os.replace(partial, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise
    daily = reason == "daily"
    keep = BACKUP_KEEP_DAILY if daily else BACKUP_KEEP_MIGRATION
    same_kind = [b for b in list_backups(store_path) if (b.reason == "daily") == daily]
    for old in same_kind[keep:]:
        with contextlib.suppress(OSError):
            old.path.unlink()
    return final


# --------------------------------------------------------------------------- the store


class Store:
    """One annotation store. Safe to share between threads; one writer at a time across processes."""

    def __init__(self, conn: sqlite3.Connection, path: Path, root: Path, fell_back: bool = False) -> None:
        self._conn = conn
        self._lock = threading.RLock()
        self._depth = 0  # nesting of transaction()
        self._data_version = -1
        self.path = path
        self.root = root
        self.fell_back = fell_back
        # Read-only: why ('' when writable). Writes raise StoreReadOnly naming the reason.
        self.read_only_reason = ""
        # What went wrong on the side (a daily backup that could not be written): shown, not fatal.
        self.warnings: list[str] = []
        self._snapshot: Path | None = None  # private copy read instead of the file, removed on close
        self._checked_whole = False  # whether the quick check at open covered the whole file

    @property
    def read_only(self) -> bool:
        return bool(self.read_only_reason)

    # ----------------------------------------------------------------- opening

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        root: str | os.PathLike[str] | None = None,
        *,
        create: bool = True,
        read_only: bool | None = None,
        daily_backup: bool = True,
    ) -> Store:
        """Open (or create) the store at ``path``.

        ``root`` is the project folder item paths are relative to. Without it: the folder that
        holds ``.vhd-annotator/``, else the root recorded in the store, else the store's folder.

        ``read_only``: None opens the file for writing when it can be written and read-only
        when it cannot (a read-only medium, a file or folder without write permission); True
        always opens read-only; False raises :class:`StoreReadOnly` rather than open read-only.

        Every open runs SQLite's quick check: a damaged file raises :class:`StoreDamaged`
        (naming the newest backup) instead of being used. A writable store is backed up before
        a schema upgrade and, unless ``daily_backup`` is False (the caller then runs
        :meth:`daily_backup` itself, e.g. off a GUI thread), once a day of use.
        """
        p = Path(os.path.abspath(path))
        if p.is_dir():
            raise StoreError(f"{p} is a folder, not an annotation store")
        exists = p.exists()
        if not exists and (not create or read_only):
            raise StoreError(f"no annotation store at {p}")
        if exists and _is_empty_file(p):
            if latest_backup(p) is not None:
                raise StoreDamaged(p, "the file is empty (0 bytes), yet backups of it exist")
            if not create or read_only:
                raise StoreError(f"{p} is an empty file (0 bytes), not an annotation store")
        reason = read_only_reason(p) if exists else ""
        if read_only and not reason:
            reason = "it was opened read-only"
        if reason and read_only is False:
            raise StoreReadOnly(f"{p} cannot be written: {reason}")
        if reason:
            return cls._open_read_only(p, root, reason)
        try:
            conn = _connect(str(p))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {p}: {exc}") from None
        store = cls(conn, p, Path(os.path.abspath(root)) if root else p.parent)
        with store._closed_on_failure():
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            store._check()
            store._check_kind()  # before anything is written: another program's file stays as it is
            store._backup_before_upgrade()
            store._configure()
            store._migrate()
            if daily_backup:
                store.daily_backup()
        store.root = store._resolve_root(root)
        return store

    @contextlib.contextmanager
    def _closed_on_failure(self) -> Iterator[None]:
        """While a store is being opened: any failure closes it, a database error as one line."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            self.close(optimize=False)
            raise _open_error(self.path, exc) from None
        except BaseException:
            self.close(optimize=False)
            raise

    @classmethod
    def _open_read_only(cls, p: Path, root: str | os.PathLike[str] | None, reason: str) -> Store:
        try:
            conn, snapshot = _connect_read_only(p)
        except sqlite3.DatabaseError as exc:
            raise _open_error(p, exc) from None
        except OSError as exc:
            raise StoreError(f"cannot read {p}: {exc.strerror or exc}") from None
        store = cls(conn, p, Path(os.path.abspath(root)) if root else p.parent)
        store._snapshot = snapshot
        with store._closed_on_failure():
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            store._check()
            store._check_kind()
            if not store._has_meta_table():  # an empty database: nothing to read, nothing may be made
                raise StoreError(f"{p} is an SQLite file but not an annotation store")
            if store.schema_version < SCHEMA_VERSION:
                store._upgrade_privately()
        store.read_only_reason = reason
        store.root = store._resolve_root(root)
        return store

    def _upgrade_privately(self) -> None:
        """An older store that cannot be written is read through an upgraded private copy."""
        if self._snapshot is None:
            snapshot = Path(tempfile.mkdtemp(prefix="vhd-annotator-readonly-"))
            copy = _connect(str(snapshot / "store.sqlite"))
            self._conn.backup(copy)
            self._conn.close()
            self._conn, self._snapshot = copy, snapshot
        self._configure()
        self._migrate()

    @classmethod
    def for_folder(cls, folder: str | os.PathLike[str], *, daily_backup: bool = True) -> Store:
        """The default store of a project folder, or its fallback in the user data dir.

        An existing ``FOLDER/.vhd-annotator/annotations.sqlite`` is always the one used: when
        it cannot be written (a read-only medium) it opens read-only and says why in
        ``read_only_reason``; it is never silently replaced by another store. Only a folder
        without a store of its own that cannot take one gets a store in the user data dir
        (``fell_back``).
        """
        absolute = Path(os.path.abspath(folder))
        target = default_store_path(absolute)
        fallback = fallback_store_path(absolute)
        if target.exists():
            return cls.open(target, root=absolute, daily_backup=daily_backup)
        # A folder that became writable again keeps using the fallback it already has.
        if fallback.exists() or not _dir_is_writable(target.parent):
            fallback.parent.mkdir(parents=True, exist_ok=True)
            store = cls.open(fallback, root=absolute, daily_backup=daily_backup)
            store.fell_back = True
            if not store.read_only:
                store._set_meta("root", str(absolute))
            return store
        return cls.open(target, root=absolute, daily_backup=daily_backup)

    def _configure(self) -> None:
        c = self._conn
        c.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        mode = use_wal(c, BUSY_TIMEOUT_MS / 1000)
        if mode != "wal":
            raise StoreError(f"{self.path}: cannot use write-ahead logging (journal mode {mode})")
        c.execute("PRAGMA synchronous=FULL")
        c.execute("PRAGMA foreign_keys=ON")

    def _check(self) -> None:
        self._checked_whole = _quick_check(self._conn, self.path, whole=False)

    def _check_kind(self) -> None:
        """An SQLite file of some other program, or of a newer vhd-annotator, is not used."""
        if not self._has_meta_table():
            tables = self._conn.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0]
            if tables:
                raise StoreError(f"{self.path} is an SQLite file but not an annotation store")
        version = self.schema_version
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path} was made by a newer vhd-annotator (schema {version}, this one knows {SCHEMA_VERSION})")

    @property
    def copy_of(self) -> str:
        """The read-only store this one was made as a writable copy of ('' for any other store)."""
        with self._lock:
            return self._get_meta("copy_of") or ""

    @contextlib.contextmanager
    def named_errors(self) -> Iterator[None]:
        """Turn an SQLite error met inside into the StoreError it stands for: damage found while
        reading (pages the quick check at open did not cover) becomes StoreDamaged, naming the
        newest backup, like damage found at open."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise _open_error(self.path, exc) from None

    def writable_copy(self, dest: str | os.PathLike[str] | None = None) -> Store:
        """A writable store holding everything this one holds, for a store that is read-only.

        ``dest`` (default :func:`writable_copy_path`) is made with SQLite's backup API when it
        does not exist yet, and opened as it is when it does (it holds the decisions made in it
        since). It records the project folder and the store it copies.
        """
        target = Path(os.path.abspath(dest)) if dest is not None else writable_copy_path(self.path, self.root)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.partial")
            try:
                copy = sqlite3.connect(partial)
                try:
                    with self._lock:
                        self._conn.backup(copy)
                finally:
                    copy.close()
                os.link(partial, target)  # never replaces a file that appeared meanwhile
            except FileExistsError:
                pass
            except OSError:  # a file system without hard links
                if not target.exists():
                    os.replace(partial, target)
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(partial)
        store = Store.open(target, root=self.root, read_only=False)
        if store.root != self.root or store._get_meta("copy_of") != str(self.path):
            store._set_meta("root", str(self.root))
            store._set_meta("copy_of", str(self.path))
        return store

    @contextlib.contextmanager
    def _own_reader(self) -> Iterator[sqlite3.Connection]:
        """A connection of its own that reads the last committed state, so that a long read (a
        backup, a whole check) holds neither this store's lock nor a writer back; the store's
        connection (under the lock) where the file cannot be opened again (a private copy)."""
        conn = None
        if self._snapshot is None:
            with contextlib.suppress(sqlite3.Error):
                conn = _connect(_sqlite_uri(self.path, mode="ro"), uri=True)
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        if conn is None:
            with self._lock:
                yield self._conn
            return
        try:
            yield conn
        finally:
            conn.close()

    def backup(self, reason: str = "daily") -> Path:
        """Write a backup of this store now (see :func:`write_backup`); returns its path.
        Safe to call from a worker thread while the store is in use."""
        with self._own_reader() as conn:
            return write_backup(conn, self.path, reason)

    def daily_backup_due(self) -> bool:
        """Whether :meth:`daily_backup` would back up now: a writable store with items whose
        newest backup is older than a day."""
        if self.read_only:
            return False
        with self._lock:
            if self._conn.execute("SELECT 1 FROM items LIMIT 1").fetchone() is None:
                return False
        backups = list_backups(self.path)
        return not backups or (datetime.now(UTC) - backups[0].taken_at).total_seconds() >= DAILY_BACKUP_AFTER_S

    def daily_backup(self) -> Path | None:
        """Once a day of use: the whole file checked, then backed up, when one is due.

        Damage found raises StoreDamaged (and nothing is backed up: a backup is only as good
        as the file it copies). A backup that cannot be written is added to ``warnings``.
        Returns the backup written, if any. ``Store.open`` runs this unless asked not to; it is
        safe to run from a worker thread (it reads through a connection of its own).
        """
        if not self.daily_backup_due():
            return None
        with self._own_reader() as conn:
            if not self._checked_whole:
                try:
                    _quick_check(conn, self.path, whole=True)
                except sqlite3.DatabaseError as exc:
                    raise _open_error(self.path, exc) from None
            try:
                return write_backup(conn, self.path, "daily")
            except (OSError, sqlite3.Error) as exc:
                self.warnings.append(f"could not write the daily backup into {backup_dir(self.path)}: {exc}")
                return None

    def _resolve_root(self, root: str | os.PathLike[str] | None) -> Path:
        if root:
            return Path(os.path.abspath(root))
        if self.path.parent.name == STORE_DIR_NAME:
            return self.path.parent.parent
        recorded = self._get_meta("root")
        if recorded:
            return Path(recorded)
        return self.path.parent

    def reader(self) -> Store:
        """A second, read-only connection to the same store, for reads off the GUI thread: its
        own lock, so a long read there never waits on (or holds up) this connection. WAL lets it
        read while this one writes; it sees each write once committed. Close it before this one.
        A store open read-only is read the same way as it was opened (its private copy, if any)."""
        try:
            if self.read_only:
                source = self._snapshot / "store.sqlite" if self._snapshot is not None else self.path
                conn, _ = _connect_read_only(source)
            else:
                conn = _connect(_sqlite_uri(self.path, mode="ro"), uri=True)
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {self.path} for reading: {exc}") from None
        reader = Store(conn, self.path, self.root, self.fell_back)
        reader.read_only_reason = "a reader connection"
        return reader

    def close(self, optimize: bool = True) -> None:
        with self._lock:
            if optimize and not self.read_only:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("PRAGMA optimize")  # refresh planner statistics where useful
            self._conn.close()
            if self._snapshot is not None:
                shutil.rmtree(self._snapshot, ignore_errors=True)
                self._snapshot = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- schema and transactions

    @property
    def schema_version(self) -> int:
        value = self._get_meta("schema_version")
        return int(value) if value else 0

    def _has_meta_table(self) -> bool:
        row = self._conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        return row is not None

    def _get_meta(self, key: str) -> str | None:
        if not self._has_meta_table():
            return None
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self._conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def _backup_before_upgrade(self) -> None:
        """An existing store older than this version is backed up before anything changes it."""
        version = self.schema_version
        if 0 < version < SCHEMA_VERSION:
            try:
                self.backup(f"before-schema-{SCHEMA_VERSION}")
            except (OSError, sqlite3.Error) as exc:
                raise StoreError(
                    f"{self.path} needs an upgrade to schema {SCHEMA_VERSION}, but no backup could be written first"
                    f" into {backup_dir(self.path)} ({exc}); the store was left as it was"
                ) from None

    def _migrate(self) -> None:
        """Bring the store to this version's schema."""
        with self.transaction():
            self._check_kind()  # another process may have upgraded it meanwhile
            version = self.schema_version
            stale: set[int] = set()  # items whose state is recomputed once the schema is complete
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _split_sql(_MIGRATIONS[target - 1]):
                    self._conn.execute(statement)
                stale |= self._after_migration(target)
                self._conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(target),),
                )
            for item_id in sorted(stale):
                self._refresh_item(item_id, updated_at=None)

    def _after_migration(self, version: int) -> set[int]:
        """Data steps that SQL alone does not express; returns the items whose state to recompute."""
        c = self._conn
        if version == 2:
            c.execute("UPDATE debates SET recorded_at = started_at")
            rows = c.execute("SELECT id, path FROM items").fetchall()
            c.executemany("UPDATE items SET path_key = ? WHERE id = ?", [(path_key(p), i) for i, p in rows])
            return {i for i, _ in rows}
        if version == 6:
            return {r[0] for r in c.execute("SELECT DISTINCT item_id FROM decisions")}
        return set()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes into one commit (one fsync). Nested uses join the outer transaction."""
        with self._lock:
            if self.read_only:
                raise StoreReadOnly(f"{self.path} is open read-only ({self.read_only_reason}): nothing can be written to it")
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
            except BaseException:
                self._depth = 0
                self._conn.execute("ROLLBACK")
                raise
            self._depth = 0
            self._conn.execute("COMMIT")

    def external_change(self) -> bool:
        """True when another connection (a second window, a batch run) wrote since the last call."""
        with self._lock:
            version = self._conn.execute("PRAGMA data_version").fetchone()[0]
            changed = self._data_version not in (-1, version)
            self._data_version = version
            return changed

    def integrity_check(self) -> str:
        with self._lock:
            return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])

    # ----------------------------------------------------------------- what a server backend changes
    # (vhd_gui.store_pg.PgStore overrides these; see docs/ARCHITECTURE.md#stores-two-backends-one-interface)

    backend = "sqlite"

    @property
    def location(self) -> str:
        """Where the store is, as messages show it (a file path; a redacted URL for a server)."""
        return str(self.path)

    def _lock_item_row(self, item_id: int) -> None:
        """Hold an item's row until the transaction ends. Nothing to do here: ``BEGIN IMMEDIATE``
        already makes every write transaction the only one."""

    def _try_lock_item_row(self, item_id: int) -> bool:
        """Lock an item's row unless another transaction holds it (always free here, see above)."""
        return True


    # How a read-only snapshot begins: in SQLite a deferred transaction (no writer is held back
    # in WAL mode); PgStore asks for REPEATABLE READ READ ONLY.
    _SNAPSHOT_BEGIN = "BEGIN"

    @contextlib.contextmanager
    def read_snapshot(self) -> Iterator[None]:
        """Reads on this thread see one committed state until the block ends (``store copy``)."""
        with self._lock:
            self._conn.execute(self._SNAPSHOT_BEGIN)
            try:
                yield
            finally:
                self._conn.execute("COMMIT")

    def table_columns(self, table: str) -> list[str]:
        """A table's column names in the order the table has them."""
        with self._lock:
            return [str(r[1]) for r in self._conn.execute(f"PRAGMA table_info({table})")]

    def _after_bulk_copy(self) -> None:
        """After rows were inserted with their ids (``store copy``): nothing to do, SQLite's next
        id is the largest one plus one."""

    # ----------------------------------------------------------------- paths and items

    def relative_path(self, path: str | bytes | os.PathLike[str] | os.PathLike[bytes]) -> str:
        """The key of an item: its path relative to the root, with POSIX separators.

        An absolute path outside the root is kept absolute (in POSIX form). An absolute path is
        a path on disk (bytes, or a str as :func:`os.fsdecode` gives it): its key is that of
        :func:`vhd_gui.filenames.to_key`, escaped for a name that is not UTF-8. A relative path
        is taken as a key and comes back unchanged, unless it holds undecodable bytes.
        """
        text = os.fsdecode(path)
        if os.path.isabs(text):
            try:
                rel = os.path.relpath(text, self.root)
            except ValueError:  # another drive on Windows
                return to_key(PurePath(text).as_posix())
            if rel == os.pardir or rel.startswith(os.pardir + os.sep):
                return to_key(PurePath(text).as_posix())
            posix = posixpath.normpath(PurePath(rel).as_posix())
            return "" if posix == "." else to_key(posix)
        if os.sep == "/" and _CLEAN_KEY.fullmatch(text):
            return _as_key(text)  # already a key's shape (what a scan gives): nothing to normalise
        posix = posixpath.normpath(PurePath(text).as_posix())
        return "" if posix == "." else _as_key(posix)

    def file_path(self, rel: str) -> Path:
        """The file on disk of the item whose key is ``rel`` (the inverse of :meth:`relative_path`)."""
        name = to_fs(rel)
        return Path(name) if os.path.isabs(name) else self.root / name

    def upsert_items(self, items: Iterable[tuple[str, str, int | None, float | None]]) -> int:
        """Add or update items given as ``(path, kind, size, mtime)``; returns how many were given."""
        rows = [(self.relative_path(p), kind, size, mtime) for p, kind, size, mtime in items]
        params = [(rel, path_key(rel), kind, size, mtime) for rel, kind, size, mtime in rows]
        with self.transaction():
            self._conn.executemany(
                "INSERT INTO items (path, path_key, kind, size, mtime) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (path) DO UPDATE SET kind = excluded.kind, size = excluded.size, mtime = excluded.mtime",
                params,
            )
        return len(params)

    def add_item(self, path: str | os.PathLike[str], kind: str) -> str:
        """Make sure an item exists (keeping what is known about it); returns its relative path."""
        rel = self.relative_path(path)
        with self.transaction():
            self._conn.execute(
                "INSERT INTO items (path, path_key, kind) VALUES (?, ?, ?) ON CONFLICT (path) DO NOTHING",
                (rel, path_key(rel), kind),
            )
        return rel

    def has_item(self, path: str | os.PathLike[str]) -> bool:
        return self._item_id(self.relative_path(path)) is not None

    def _item_id(self, rel: str) -> int | None:
        with self._lock:
            row = self._conn.execute("SELECT id FROM items WHERE path = ?", (rel,)).fetchone()
        return row[0] if row else None

    def _require_item(self, rel: str) -> int:
        item_id = self._item_id(rel)
        if item_id is None:
            raise KeyError(f"no item {rel!r} in the store")
        return item_id

    # ----------------------------------------------------------------- debates

    def record_debate(self, record: DebateRecord) -> int:
        """Keep one debate (a verdict or an error) as the item's current one; returns its id."""
        rel = self.relative_path(record.path)
        stamp = now_iso()
        with self.transaction():
            c = self._conn
            c.execute(
                "INSERT INTO items (path, path_key, kind) VALUES (?, ?, ?) ON CONFLICT (path) DO NOTHING",
                (rel, path_key(rel), record.kind),
            )
            item_id = self._require_item(rel)
            cur = c.execute(
                f"INSERT INTO debates (item_id, {_DEBATE_COLS}, recorded_at)"
                f" VALUES ({_marks(_DEBATE_COLS, 2)})",
                (item_id, *_debate_params(record), stamp),
            )
            debate_id = int(cur.lastrowid or 0)
            c.executemany(
                f"INSERT INTO turns (debate_id, {_TURN_COLS}) VALUES ({_marks(_TURN_COLS, 1)})",
                [(debate_id, *_turn_params(t)) for t in record.turns],
            )
            self._refresh_item(item_id, updated_at=stamp)
        return debate_id

    def current_debate(self, path: str | os.PathLike[str]) -> DebateRecord | None:
        rel = self.relative_path(path)
        with self._lock:
            row = self._conn.execute("SELECT debate_id FROM items WHERE path = ?", (rel,)).fetchone()
            if not row or row[0] is None:
                return None
            return self._load_debate(row[0], rel)

    def debates(self, path: str | os.PathLike[str]) -> list[DebateRecord]:
        """Every debate of an item, oldest first (the last one is current)."""
        rel = self.relative_path(path)
        with self._lock:
            item_id = self._require_item(rel)
            ids = [r[0] for r in self._conn.execute("SELECT id FROM debates WHERE item_id = ? ORDER BY id", (item_id,))]
            return [d for d in (self._load_debate(i, rel) for i in ids) if d is not None]

    def _load_debate(self, debate_id: int, rel: str) -> DebateRecord | None:
        c = self._conn
        row = c.execute(
            f"SELECT d.{_DEBATE_COLS.replace(', ', ', d.')}, i.kind FROM debates d JOIN items i ON i.id = d.item_id WHERE d.id = ?",
            (debate_id,),
        ).fetchone()
        if row is None:
            return None
        turns = c.execute(f"SELECT {_TURN_COLS} FROM turns WHERE debate_id = ? ORDER BY id", (debate_id,)).fetchall()
        return _debate_from_row(rel, row[-1], row[:-1], [_turn_from_row(t) for t in turns])

    # ----------------------------------------------------------------- claims

    def claim_item(self, path: str | os.PathLike[str], owner: str, lease_seconds: float) -> Claim | None:
        """Claim an item before debating it; None while someone else's claim on it is live.

        One short ``BEGIN IMMEDIATE`` transaction, so two processes never both get it. An expired
        claim (its holder died or stalled) is taken over with its attempt count raised.
        """
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        rel = self.relative_path(path)
        now = datetime.now(UTC)
        stamp = now.isoformat(timespec="microseconds")
        until = (now + timedelta(seconds=lease_seconds)).isoformat(timespec="microseconds")
        token = secrets.token_hex(16)
        with self.transaction():
            item_id = self._require_item(rel)
            if not self._try_lock_item_row(item_id):
                return None  # another transaction is claiming or writing it right now
            row = self._conn.execute("SELECT lease_until, attempts FROM claims WHERE item_id = ?", (item_id,)).fetchone()
            if row is not None and row[0] > stamp:
                return None
            attempts = row[1] + 1 if row is not None else 1
            self._conn.execute(
                "INSERT INTO claims (item_id, owner, token, lease_until, attempts, claimed_at) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (item_id) DO UPDATE SET owner = excluded.owner, token = excluded.token,"
                " lease_until = excluded.lease_until, attempts = excluded.attempts, claimed_at = excluded.claimed_at",
                (item_id, owner, token, until, attempts, stamp),
            )
        return Claim(rel, owner, token, until, attempts)

    def renew_claim(self, claim: Claim, lease_seconds: float) -> Claim | None:
        """Push the lease on; None when the claim is no longer this holder's (taken over)."""
        until = (datetime.now(UTC) + timedelta(seconds=lease_seconds)).isoformat(timespec="microseconds")
        with self.transaction():
            item_id = self._require_item(claim.path)
            cur = self._conn.execute(
                "UPDATE claims SET lease_until = ? WHERE item_id = ? AND token = ?", (until, item_id, claim.token)
            )
            if cur.rowcount != 1:
                return None
        return Claim(claim.path, claim.owner, claim.token, until, claim.attempts)

    def release_claim(self, claim: Claim) -> None:
        """Give the item back to the queue without a result (a cancelled debate)."""
        with self.transaction():
            item_id = self._item_id(claim.path)
            if item_id is not None:
                self._conn.execute("DELETE FROM claims WHERE item_id = ? AND token = ?", (item_id, claim.token))

    def record_claimed_debate(self, record: DebateRecord, claim: Claim) -> int:
        """:meth:`record_debate`, only while ``claim`` still holds; the claim ends with it.

        Raises :class:`ClaimLost` (and writes nothing) when another holder took the item over.
        """
        with self.transaction():
            item_id = self._require_item(claim.path)
            self._lock_item_row(item_id)
            row = self._conn.execute("SELECT token, owner FROM claims WHERE item_id = ?", (item_id,)).fetchone()
            if row is None or row[0] != claim.token:
                holder = f" ({row[1]} has it now)" if row is not None else ""
                raise ClaimLost(f"the claim on {claim.path} ran out and was taken over{holder}; this result is not recorded")
            debate_id = self.record_debate(record)
            self._conn.execute("DELETE FROM claims WHERE item_id = ? AND token = ?", (item_id, claim.token))
        return debate_id

    def claim_holder(self, path: str | os.PathLike[str], *, other_than: str | None = None) -> ClaimInfo | None:
        """Who is debating this item right now (a live claim), unless it is ``other_than``; else None."""
        rel = self.relative_path(path)
        with self._lock:
            row = self._conn.execute(
                "SELECT c.owner, c.lease_until, c.attempts, c.claimed_at FROM claims c JOIN items i ON i.id = c.item_id"
                " WHERE i.path = ? AND c.lease_until > ?",
                (rel, now_iso()),
            ).fetchone()
        if row is None or row[0] == other_than:
            return None
        return ClaimInfo(rel, row[0], row[1], row[2], row[3])

    def claims(self, *, include_expired: bool = False) -> list[ClaimInfo]:
        """Every live claim (with ``include_expired``: also those that ran out), by path."""
        sql = (
            "SELECT i.path, c.owner, c.lease_until, c.attempts, c.claimed_at FROM claims c JOIN items i ON i.id = c.item_id"
            + ("" if include_expired else " WHERE c.lease_until > ?")
            + " ORDER BY i.path"
        )
        with self._lock:
            rows = self._conn.execute(sql, () if include_expired else (now_iso(),)).fetchall()
        return [ClaimInfo(*r) for r in rows]

    # ----------------------------------------------------------------- human decisions

    def record_decision(
        self,
        path: str | os.PathLike[str],
        label: str,
        category: str = "",
        note: str = "",
        reviewer: str = "",
        source: str = "window",
        *,
        decided_at: str | None = None,
    ) -> int:
        """Append a human decision; durable on return. Returns the history entry's id."""
        if label not in LABELS:
            raise ValueError(f"label must be 'yes' or 'no', not {label!r}")
        rel = self.relative_path(path)
        stamp = now_iso()
        with self.transaction():
            item_id = self._require_item(rel)
            cur = self._conn.execute(
                "INSERT INTO decisions (item_id, action, label, category, note, reviewer, source, decided_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (item_id, ACTION_SET, label, category.strip(), note, reviewer, source, decided_at or stamp),
            )
            self._refresh_item(item_id, updated_at=stamp)
        return int(cur.lastrowid or 0)

    def undo_decision(self, path: str | os.PathLike[str], reviewer: str = "", source: str = "window") -> int | None:
        """Append an undo entry that takes back ``reviewer``'s latest standing decision.

        That reviewer's decision before it (if any) stands again; other reviewers' decisions
        are untouched (see :func:`standing_by_reviewer`; an undo without a reviewer takes back
        the latest decision of anyone, as in stores from before reviewers). Returns the entry's
        id, or None when there was nothing of theirs to undo (and nothing is written).
        """
        rel = self.relative_path(path)
        stamp = now_iso()
        with self.transaction():
            item_id = self._require_item(rel)
            standing = standing_by_reviewer(self._history(item_id))
            if not standing or (reviewer and reviewer not in standing):
                return None
            cur = self._conn.execute(
                "INSERT INTO decisions (item_id, action, label, category, note, reviewer, source, decided_at)"
                " VALUES (?, ?, '', '', '', ?, ?, ?)",
                (item_id, ACTION_UNDO, reviewer, source, stamp),
            )
            self._refresh_item(item_id, updated_at=stamp)
        return int(cur.lastrowid or 0)

    def decision_history(self, path: str | os.PathLike[str]) -> list[DecisionEntry]:
        rel = self.relative_path(path)
        with self._lock:
            return self._history(self._require_item(rel))

    def human_decision(self, path: str | os.PathLike[str]) -> DecisionEntry | None:
        """The decision the item's human final label comes from under the project's
        resolution (None when nobody decided, or the reviewers' decisions are disputed)."""
        rel = self.relative_path(path)
        with self._lock:
            standing = standing_by_reviewer(self._history(self._require_item(rel)))
            project = self._project()
        return resolve_decisions(standing, project.resolution, project.adjudicator).decision

    def _history(self, item_id: int) -> list[DecisionEntry]:
        rows = self._conn.execute(
            "SELECT id, action, label, category, note, reviewer, source, decided_at FROM decisions"
            " WHERE item_id = ? ORDER BY id",
            (item_id,),
        ).fetchall()
        return [_entry_from_row(r) for r in rows]

    # ----------------------------------------------------------------- derived state

    def _refresh_item(self, item_id: int, updated_at: str | None) -> None:
        """Recompute an item's current state from its latest debate and its decision history:
        each reviewer's standing decision, and the human label the project's resolution makes
        of them (none when they are disputed)."""
        self._lock_item_row(item_id)
        c = self._conn
        debate = c.execute(
            "SELECT id, status, decision, harmful_type, flags FROM debates WHERE item_id = ? ORDER BY id DESC LIMIT 1",
            (item_id,),
        ).fetchone()
        standing = standing_by_reviewer(self._history(item_id))
        project = self._project()
        outcome = resolve_decisions(standing, project.resolution, project.adjudicator)
        human = outcome.decision
        self._keep_standing(item_id, standing, outcome)
        debate_id, debate_status, model_label, model_category, flags = debate or (None, None, None, "", "[]")
        if debate_status != STATUS_DEBATED:
            model_label = None
        state = derive_state(debate_status, model_label, model_category or "", human)
        sql = (
            "UPDATE items SET debate_id = ?, status = ?, model_label = ?, model_category = ?, flags = ?,"
            " human_label = ?, human_category = ?, final_label = ?, final_category = ?"
        )
        params: list[Any] = [
            debate_id,
            state.status,
            model_label,
            model_category or "",
            flags or "[]",
            human.label if human else None,
            human.category if human else "",
            state.final_label,
            state.final_category,
        ]
        if updated_at is not None:
            sql += ", updated_at = ?"
            params.append(updated_at)
        c.execute(sql + " WHERE id = ?", (*params, item_id))

    # ----------------------------------------------------------------- queries

    def page(
        self,
        filters: Filters | None = None,
        sort: str = "name",
        descending: bool = False,
        offset: int = 0,
        limit: int | None = 200,
        *,
        viewer: str | None = None,
        after: str | None = None,
    ) -> list[ItemRow]:
        """A page of the item list. With ``viewer``, the rows (and what the filters and the
        status sort see) are as that reviewer may see them (see :meth:`record_for`).

        ``after`` (the path of the last row of the page before, in the name or status order)
        starts the page just after that item: as fast deep in a million-item list as at its
        top, where ``offset`` has to step over every row before. An item no longer in the store
        gives an empty page."""
        source = self._source(viewer)
        where, params = _where(filters or Filters(), source)
        params = [*source.params, *params]
        if after is not None:
            if sort not in _KEYSET_SORTS:
                raise ValueError(f"a page after an item needs the name or status order, not {sort!r}")
            keys = ", ".join(source.col(c) for c in _SORT_SQL[sort])
            mark = "<" if descending else ">"
            clause = f"({keys}) {mark} (SELECT {keys} FROM {source.from_sql} WHERE items.path = ?)"
            where = f"{where} AND {clause}" if where else f" WHERE {clause}"
            params += [*source.params, self.relative_path(after)]
        sql = f"SELECT {_select_columns(source, _ROW_COLS)} FROM {source.from_sql}{where} ORDER BY {_order(sort, descending, source)}"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params += [int(limit), int(offset)]
        elif offset:
            sql += " LIMIT -1 OFFSET ?"
            params.append(int(offset))
        with self._lock:
            return [_row_from_sql(r) for r in self._conn.execute(sql, params)]

    def paths(
        self, filters: Filters | None = None, sort: str = "name", descending: bool = False, *, viewer: str | None = None
    ) -> list[str]:
        """The relative paths selected by ``filters``, in order (what a list model holds)."""
        source = self._source(viewer)
        where, params = _where(filters or Filters(), source)
        sql = f"SELECT path FROM {source.from_sql}{where} ORDER BY {_order(sort, descending, source)}"
        with self._lock:
            return [r[0] for r in self._conn.execute(sql, [*source.params, *params])]

    def row(self, path: str | os.PathLike[str], *, viewer: str | None = None) -> ItemRow | None:
        rel = self.relative_path(path)
        source = self._source(viewer)
        with self._lock:
            r = self._conn.execute(
                f"SELECT {_select_columns(source, _ROW_COLS)} FROM {source.from_sql} WHERE path = ?", (*source.params, rel)
            ).fetchone()
        return _row_from_sql(r) if r else None

    def rows(self, paths: Sequence[str], *, viewer: str | None = None) -> dict[str, ItemRow]:
        """Rows for many paths at once (a list model filling its cache)."""
        out: dict[str, ItemRow] = {}
        source = self._source(viewer)
        with self._lock:
            for start in range(0, len(paths), 500):
                chunk = [self.relative_path(p) for p in paths[start : start + 500]]
                marks = ", ".join("?" * len(chunk))
                sql = f"SELECT {_select_columns(source, _ROW_COLS)} FROM {source.from_sql} WHERE path IN ({marks})"
                for r in self._conn.execute(sql, (*source.params, *chunk)):
                    out[r[0]] = _row_from_sql(r)
        return out

    def count(self, filters: Filters | None = None, *, viewer: str | None = None) -> int:
        source = self._source(viewer)
        where, params = _where(filters or Filters(), source)
        with self._lock:
            return int(self._conn.execute(f"SELECT count(*) FROM {source.from_sql}{where}", [*source.params, *params]).fetchone()[0])

    def counts(self, *, viewer: str | None = None) -> Counts:
        by_status = dict.fromkeys(STATUSES, 0)
        by_label = {"yes": 0, "no": 0, "none": 0}
        total = 0
        source = self._source(viewer)
        status, label = source.col("status"), source.col("final_label")
        with self._lock:
            # Two queries, each answered from an index: (status, final_label) and (disputed, ...).
            rows = self._conn.execute(
                f"SELECT {status}, {label}, count(*) FROM {source.from_sql} GROUP BY 1, 2", source.params
            ).fetchall()
            disputed = 0 if source is not _PLAIN else int(self._conn.execute("SELECT count(*) FROM items WHERE disputed = 1").fetchone()[0])
        for status_, label_, n in rows:
            by_status[status_] = by_status.get(status_, 0) + n
            by_label[label_ or "none"] = by_label.get(label_ or "none", 0) + n
            total += n
        return Counts(total, by_status, by_label, disputed)

    def categories(self) -> list[str]:
        """Distinct harmful categories in the store, most used first (for the category picker)."""
        sql = (
            "SELECT category, count(*) AS n FROM ("
            " SELECT model_category AS category FROM items WHERE model_label = 'yes' AND model_category <> ''"
            " UNION ALL SELECT human_category FROM items WHERE human_label = 'yes' AND human_category <> ''"
            ") c GROUP BY category ORDER BY n DESC, category"
        )
        with self._lock:
            return [r[0] for r in self._conn.execute(sql)]

    def get_record(self, path: str | os.PathLike[str]) -> ItemRecord | None:
        """The full record of one item: current debate with turns, human decision, each
        reviewer's standing decision and the whole history (see :meth:`record_for` for a
        reviewer's view of it)."""
        rel = self.relative_path(path)
        with self._lock:
            row = self._conn.execute(
                "SELECT id, kind, size, mtime, status, final_label, final_category, updated_at, debate_id, reviewer_count, disputed"
                " FROM items WHERE path = ?",
                (rel,),
            ).fetchone()
            if row is None:
                return None
            item_id, *fields = row
            n = self._conn.execute("SELECT count(*) FROM debates WHERE item_id = ?", (item_id,)).fetchone()[0]
            history = self._history(item_id)
            debate_id = fields[7]
            debate = self._load_debate(debate_id, rel) if debate_id is not None else None
            project = self._project()
        return _item_record((rel, *fields), debate, history, int(n), project)

    def iter_records(self, kind: str | None = None, with_history: bool = True, chunk: int = 2000) -> Iterator[ItemRecord]:
        """Every item's full record in path order, fetched in chunks (for exports and metrics)."""
        last_key, last_path = "", ""
        while True:
            with self._lock:
                batch = self._records_after(last_key, last_path, kind, with_history, chunk)
            if not batch:
                return
            yield from batch
            last_key, last_path = path_key(batch[-1].path), batch[-1].path

    def _records_after(self, key: str, after: str, kind: str | None, with_history: bool, chunk: int) -> list[ItemRecord]:
        c = self._conn
        sql = (
            "SELECT id, path, kind, size, mtime, status, final_label, final_category, updated_at, debate_id, reviewer_count, disputed"
            " FROM items WHERE (path_key, path) > (?, ?)"
        )
        params: list[Any] = [key, after]
        if kind:
            sql += " AND kind = ?"
            params.append(kind)
        items = c.execute(sql + " ORDER BY path_key, path LIMIT ?", (*params, chunk)).fetchall()
        if not items:
            return []
        debate_ids = [r[9] for r in items if r[9] is not None]
        debates = self._load_debates(debate_ids)
        histories = self._load_histories([r[0] for r in items]) if with_history else {}
        project = self._project()
        out: list[ItemRecord] = []
        for item_id, *fields in items:
            rel, kind_, debate_id = fields[0], fields[1], fields[8]
            debate = debates.get(debate_id) if debate_id is not None else None
            if debate is not None:
                debate.path, debate.kind = rel, kind_
            # Debates are not counted in bulk: 1 when there is a current one.
            out.append(_item_record(tuple(fields), debate, histories.get(item_id, []), 1 if debate_id is not None else 0, project))
        return out

    def _load_debates(self, ids: list[int]) -> dict[int, DebateRecord]:
        out: dict[int, DebateRecord] = {}
        turns: dict[int, list[TurnRecord]] = {}
        for start in range(0, len(ids), 900):
            part = ids[start : start + 900]
            marks = ", ".join("?" * len(part))
            for row in self._conn.execute(f"SELECT id, {_DEBATE_COLS} FROM debates WHERE id IN ({marks})", part):
                out[row[0]] = _debate_from_row("", "", row[1:], [])
            for row in self._conn.execute(
                f"SELECT debate_id, {_TURN_COLS} FROM turns WHERE debate_id IN ({marks}) ORDER BY debate_id, id", part
            ):
                turns.setdefault(row[0], []).append(_turn_from_row(row[1:]))
        for debate_id, record in out.items():
            record.turns = turns.get(debate_id, [])
        return out

    def _load_histories(self, item_ids: list[int]) -> dict[int, list[DecisionEntry]]:
        out: dict[int, list[DecisionEntry]] = {}
        for start in range(0, len(item_ids), 900):
            part = item_ids[start : start + 900]
            marks = ", ".join("?" * len(part))
            sql = (
                "SELECT item_id, id, action, label, category, note, reviewer, source, decided_at FROM decisions"
                f" WHERE item_id IN ({marks}) ORDER BY item_id, id"
            )
            for row in self._conn.execute(sql, part):
                out.setdefault(row[0], []).append(_entry_from_row(row[1:]))
        return out

    def debate_shape(self, kind: str | None = None) -> tuple[int, bool]:
        """(most debate rounds, whether any critic spoke) over the current debates of ``kind``."""
        where, params = ("WHERE i.kind = ?", [kind]) if kind else ("", [])
        with self._lock:
            rounds = self._conn.execute(
                f"SELECT max(d.rounds) FROM items i JOIN debates d ON d.id = i.debate_id {where}", params
            ).fetchone()[0]
            turn_rounds = self._conn.execute(
                f"SELECT max(t.round) + 1 FROM items i JOIN turns t ON t.debate_id = i.debate_id {where}"
                + (" AND" if kind else " WHERE")
                + " t.role IN ('affirmative', 'negative')",
                params,
            ).fetchone()[0]
            critic = self._conn.execute(
                f"SELECT 1 FROM items i JOIN turns t ON t.debate_id = i.debate_id {where}"
                + (" AND" if kind else " WHERE")
                + " t.role = 'critic' LIMIT 1",
                params,
            ).fetchone()
        return max(rounds or 0, turn_rounds or 0), critic is not None

    def kinds(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._conn.execute("SELECT DISTINCT kind FROM items ORDER BY kind")]

    # ----------------------------------------------------------------- reviewers
    # Several people on one store: the project's settings (meta table), each reviewer's
    # standing decisions and view, and the review leases of "next item for me".
    # docs/ARCHITECTURE.md#reviewers

    def project_settings(self) -> ProjectSettings:
        """The project's overlap, resolution, adjudicator and blind setting (defaults when unset)."""
        with self._lock:
            return self._project() if self._has_meta_table() else ProjectSettings()

    def _project(self) -> ProjectSettings:
        keys = list(_PROJECT_KEYS.values())
        rows = dict(self._conn.execute(f"SELECT key, value FROM meta WHERE key IN ({', '.join('?' * len(keys))})", keys).fetchall())
        default = ProjectSettings()
        overlap = rows.get(_PROJECT_KEYS["overlap"])
        resolution = rows.get(_PROJECT_KEYS["resolution"]) or default.resolution
        return ProjectSettings(
            overlap=int(overlap) if overlap and overlap.isdigit() and int(overlap) >= 1 else default.overlap,
            resolution=resolution if resolution in RESOLUTIONS else default.resolution,
            adjudicator=rows.get(_PROJECT_KEYS["adjudicator"]) or "",
            blind=rows.get(_PROJECT_KEYS["blind"]) == "1",
        )

    def set_project_settings(
        self,
        *,
        overlap: int | None = None,
        resolution: str | None = None,
        adjudicator: str | None = None,
        blind: bool | None = None,
    ) -> ProjectSettings:
        """Change the project's settings (None keeps a setting); returns them as they now are.

        Raises ValueError for an overlap outside 1..MAX_OVERLAP, an unknown resolution, or
        ``adjudicator`` resolution without an adjudicator. A change of resolution or
        adjudicator recomputes every decided item's state (final label, disputes) in the same
        transaction, so no list or export ever sees a mix of the old and the new rule.
        """
        with self.transaction():
            old = self._project()
            new = ProjectSettings(
                overlap=old.overlap if overlap is None else int(overlap),
                resolution=old.resolution if resolution is None else resolution,
                adjudicator=old.adjudicator if adjudicator is None else adjudicator.strip(),
                blind=old.blind if blind is None else bool(blind),
            )
            if not 1 <= new.overlap <= MAX_OVERLAP:
                raise ValueError(f"overlap must be from 1 to {MAX_OVERLAP}, not {new.overlap}")
            if new.resolution not in RESOLUTIONS:
                raise ValueError(f"resolution must be one of {', '.join(RESOLUTIONS)}, not {new.resolution!r}")
            if new.resolution == RESOLUTION_ADJUDICATOR and not new.adjudicator:
                raise ValueError("resolution 'adjudicator' needs an adjudicator: name the reviewer whose decision settles an item")
            values = {"overlap": str(new.overlap), "resolution": new.resolution, "adjudicator": new.adjudicator, "blind": "1" if new.blind else "0"}
            self._conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [(_PROJECT_KEYS[name], value) for name, value in values.items()],
            )
            if (new.resolution, new.adjudicator) != (old.resolution, old.adjudicator):
                self._resolve_all(new, now_iso())
        return new

    def _resolve_all(self, project: ProjectSettings, stamp: str) -> None:
        """Apply a new resolution to every item people decided, in bulk: each item's standing
        decisions do not depend on the resolution, and its model verdict is on its row, so only
        the human and final label, status and dispute are rewritten (as _refresh_item would)."""
        c = self._conn
        rows = c.execute(
            "SELECT id, debate_id, model_label, model_category, status, human_label, human_category, final_label,"
            " final_category, disputed, reviewers_split FROM items WHERE id IN (SELECT item_id FROM decisions)"
        ).fetchall()
        histories = self._load_histories([r[0] for r in rows])
        updates: list[tuple[Any, ...]] = []
        for item_id, debate_id, model_label, model_category, *current in rows:
            standing = standing_by_reviewer(histories.get(item_id, []))
            outcome = resolve_decisions(standing, project.resolution, project.adjudicator)
            human = outcome.decision
            # The debate's status as derive_state needs it: none, a verdict, or not a verdict.
            debate_status = None if debate_id is None else (STATUS_DEBATED if model_label is not None else STATUS_ERROR)
            state = derive_state(debate_status, model_label, model_category or "", human)
            values = (
                state.status,
                human.label if human else None,
                human.category if human else "",
                state.final_label,
                state.final_category,
                1 if outcome.disputed else 0,
                1 if outcome.split else 0,
            )
            if list(values) != current:  # an item the new rule leaves as it was keeps its row (and updated_at)
                updates.append((*values, stamp, item_id))
        c.executemany(
            "UPDATE items SET status = ?, human_label = ?, human_category = ?, final_label = ?, final_category = ?,"
            " disputed = ?, reviewers_split = ?, updated_at = ? WHERE id = ?",
            updates,
        )

    def blind_for(self, reviewer: str | None) -> bool:
        """Whether ``reviewer`` should see only their own decisions: the project is blind and
        they are not its adjudicator (an adjudicator has to see everyone's)."""
        if reviewer is None:
            return False
        project = self.project_settings()
        return project.blind and reviewer != project.adjudicator

    def standing_decisions(self, path: str | os.PathLike[str]) -> dict[str, DecisionEntry]:
        """Each reviewer's standing decision on an item, ordered by when it was made."""
        return standing_by_reviewer(self.decision_history(path))

    def reviewers(self) -> dict[str, int]:
        """Every reviewer with a standing decision, and on how many items, most first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT reviewer, count(*) AS n FROM standing_decisions GROUP BY reviewer ORDER BY n DESC, reviewer"
            ).fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def review_progress(self) -> ReviewProgress:
        """How many items enough people decided (the project's overlap), how many fewer, how
        many are disputed, and each reviewer's count."""
        with self._lock:
            project = self._project()
            total, complete, partial, disputed = self._conn.execute(
                "SELECT count(*),"
                " coalesce(sum(CASE WHEN reviewer_count >= ? AND disputed = 0 THEN 1 ELSE 0 END), 0),"
                " coalesce(sum(CASE WHEN reviewer_count > 0 AND reviewer_count < ? THEN 1 ELSE 0 END), 0),"
                " coalesce(sum(disputed), 0) FROM items",
                (project.overlap, project.overlap),
            ).fetchone()
        return ReviewProgress(int(total), project.overlap, int(complete), int(partial), int(disputed), self.reviewers())

    def record_for(self, path: str | os.PathLike[str], reviewer: str | None) -> ItemRecord | None:
        """:meth:`get_record` as ``reviewer`` may see it.

        Under blind review (see :meth:`blind_for`) the record holds only this reviewer's own
        history and standing decision, and its status and final label are what they would be
        if this reviewer were the only one (their decision, else the model's verdict); others'
        decisions, their count and disputes are left out (``others_hidden``). Otherwise it is
        the whole record.
        """
        rec = self.get_record(path)
        if rec is None or not self.blind_for(reviewer):
            return rec
        own = [e for e in rec.history if e.reviewer == reviewer]
        standing = standing_by_reviewer(own)
        human = standing.get(reviewer or "")
        debate = rec.debate
        model_label = debate.decision if debate is not None and debate.status == STATUS_DEBATED else None
        model_category = debate.harmful_type if debate is not None else ""
        state = derive_state(debate.status if debate is not None else None, model_label, model_category or "", human)
        return replace(
            rec,
            status=state.status,
            final_label=state.final_label,
            final_category=state.final_category,
            human=human,
            history=own,
            standing=standing,
            disputed=False,
            reviewer_count=len(standing),
            others_hidden=True,
        )

    def next_for_reviewer(
        self,
        reviewer: str,
        filters: Filters | None = None,
        sort: str = "name",
        after: str | os.PathLike[str] | None = None,
        lease_seconds: float = REVIEW_LEASE_SECONDS,
        *,
        descending: bool = False,
    ) -> ReviewLease | None:
        """The next item for ``reviewer`` to decide, held for them by a review lease; None when
        nothing is left for them.

        Served: items matching ``filters`` (as the reviewer sees them, see :meth:`blind_for`)
        that the reviewer has no standing decision on and that fewer than the project's
        ``overlap`` people decided, counting live review leases of *other* reviewers who have
        not decided it as if they had (so with overlap 1 two people are never served the same
        item at once). A disputed item stays open for one more decision (a tie-breaker) under
        ``majority``, and for the adjudicator under ``adjudicator``, while nobody else holds it.
        The order is the list's (``sort`` and ``descending``, as :meth:`page`) starting after
        ``after`` and wrapping round to the start. The reviewer's own live lease does not stop an item being
        served again (its lease is renewed, with a new token). Expired leases are dropped.

        One short write transaction. Two reviewers asking at once are never served the same
        item beyond ``overlap``: SQLite runs one write transaction at a time, and on a server
        each candidate's row is locked (SKIP LOCKED, so an asker passes over an item someone
        else is being served right now) and checked again under the lock. The lease never
        blocks a decision: anyone may still decide any item.
        """
        reviewer = _reviewer_name(reviewer)
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        if sort not in _SORT_SQL:
            raise ValueError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
        now = datetime.now(UTC)
        stamp = now.isoformat(timespec="microseconds")
        until = (now + timedelta(seconds=lease_seconds)).isoformat(timespec="microseconds")
        token = secrets.token_hex(16)
        with self.transaction():
            c = self._conn
            c.execute("DELETE FROM review_leases WHERE lease_until <= ?", (stamp,))
            project = self._project()
            source = self._source(reviewer)
            clauses, params = _where_clauses(filters or Filters(), source)
            others = (
                "(SELECT count(*) FROM review_leases rl WHERE rl.item_id = items.id AND rl.reviewer <> ? AND rl.lease_until > ?"
                " AND NOT EXISTS (SELECT 1 FROM standing_decisions rs WHERE rs.item_id = items.id AND rs.reviewer = rl.reviewer))"
            )
            clauses.append("NOT EXISTS (SELECT 1 FROM standing_decisions ms WHERE ms.item_id = items.id AND ms.reviewer = ?)")
            params.append(reviewer)
            open_sql = f"items.reviewer_count + {others} < ?"
            params += [reviewer, stamp, project.overlap]
            tie_breaker = project.resolution == RESOLUTION_MAJORITY or (
                project.resolution == RESOLUTION_ADJUDICATOR and reviewer == project.adjudicator
            )
            if tie_breaker:
                open_sql += f" OR (items.disputed = 1 AND {others} = 0)"
                params += [reviewer, stamp]
            clauses.append(f"({open_sql})")
            keys = [_sort_key(source, col) for col in _SORT_SQL[sort]]
            order = ", ".join(keys)
            direction, beyond = (" DESC", "<") if descending else ("", ">")
            ordered = ", ".join(key + direction for key in keys)
            base = f"SELECT items.id, items.path, {order} FROM {source.from_sql} WHERE {' AND '.join(clauses)}"
            args = (*source.params, *params)
            marks = ", ".join("?" * len(keys))

            def first_free(start: Sequence[Any] | None) -> tuple[int, str] | None:
                """The first open item after ``start`` (the beginning when None) that nobody else is
                being served right now: on a server each candidate's row is locked (SKIP LOCKED) and
                the item checked again under the lock, which sees every lease committed before it."""
                while True:
                    after_sql, after_args = (f" AND ({order}) {beyond} ({marks})", tuple(start)) if start is not None else ("", ())
                    found = c.execute(f"{base}{after_sql} ORDER BY {ordered} LIMIT 32", (*args, *after_args)).fetchall()
                    for item_id, rel, *_ in found:
                        if self._try_lock_item_row(item_id) and c.execute(f"{base} AND items.id = ?", (*args, item_id)).fetchone():
                            return item_id, rel
                    if len(found) < 32:
                        return None
                    start = found[-1][2:]

            row = None
            if after is not None:
                begin = c.execute(
                    f"SELECT {order} FROM {source.from_sql} WHERE items.path = ?", (*source.params, self.relative_path(after))
                ).fetchone()
                if begin is not None:
                    row = first_free(begin)
            if row is None:
                row = first_free(None)
            if row is None:
                return None
            item_id, rel = row
            c.execute(
                "INSERT INTO review_leases (item_id, reviewer, token, lease_until, leased_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (item_id, reviewer) DO UPDATE SET token = excluded.token, lease_until = excluded.lease_until,"
                " leased_at = excluded.leased_at",
                (item_id, reviewer, token, until, stamp),
            )
        return ReviewLease(rel, reviewer, token, until)

    def lease_for_review(
        self, path: str | os.PathLike[str], reviewer: str, lease_seconds: float = REVIEW_LEASE_SECONDS
    ) -> ReviewLease:
        """Hold an item a reviewer opened themselves (from the list), so that "next item for
        me" counts them as looking at it. Always granted: a lease steers, it never blocks."""
        reviewer = _reviewer_name(reviewer)
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        rel = self.relative_path(path)
        now = datetime.now(UTC)
        until = (now + timedelta(seconds=lease_seconds)).isoformat(timespec="microseconds")
        token = secrets.token_hex(16)
        with self.transaction():
            item_id = self._require_item(rel)
            self._conn.execute(
                "INSERT INTO review_leases (item_id, reviewer, token, lease_until, leased_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (item_id, reviewer) DO UPDATE SET token = excluded.token, lease_until = excluded.lease_until,"
                " leased_at = excluded.leased_at",
                (item_id, reviewer, token, until, now.isoformat(timespec="microseconds")),
            )
        return ReviewLease(rel, reviewer, token, until)

    def renew_review_lease(self, lease: ReviewLease, seconds: float = REVIEW_LEASE_SECONDS) -> ReviewLease | None:
        """Push a live lease on while the reviewer still looks at the item; None when it is no
        longer held (it ran out, was released, or a newer lease of the same reviewer replaced
        it): the item may have been served to someone else meanwhile, which never stops a
        decision; :meth:`lease_for_review` takes it again."""
        if seconds <= 0:
            raise ValueError("seconds must be positive")
        now = datetime.now(UTC)
        until = (now + timedelta(seconds=seconds)).isoformat(timespec="microseconds")
        with self.transaction():
            item_id = self._item_id(lease.path)
            if item_id is None:
                return None
            cur = self._conn.execute(
                "UPDATE review_leases SET lease_until = ? WHERE item_id = ? AND reviewer = ? AND token = ? AND lease_until > ?",
                (until, item_id, lease.reviewer, lease.token, now.isoformat(timespec="microseconds")),
            )
            if cur.rowcount != 1:
                return None
        return ReviewLease(lease.path, lease.reviewer, lease.token, until)

    def release_review_lease(self, lease: ReviewLease) -> None:
        """The reviewer moved on: the item may be served to someone else now."""
        with self.transaction():
            item_id = self._item_id(lease.path)
            if item_id is not None:
                self._conn.execute(
                    "DELETE FROM review_leases WHERE item_id = ? AND reviewer = ? AND token = ?", (item_id, lease.reviewer, lease.token)
                )

    def review_leases(self, path: str | os.PathLike[str] | None = None) -> list[ReviewLeaseInfo]:
        """Live review leases (of one item, or all), by path then reviewer: who looks at what."""
        sql = (
            "SELECT i.path, l.reviewer, l.lease_until, l.leased_at FROM review_leases l JOIN items i ON i.id = l.item_id"
            " WHERE l.lease_until > ?"
        )
        params: list[Any] = [now_iso()]
        if path is not None:
            sql += " AND i.path = ?"
            params.append(self.relative_path(path))
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY i.path_key, i.path, l.reviewer", params).fetchall()
        return [ReviewLeaseInfo(*r) for r in rows]

    def _source(self, viewer: str | None) -> _Source:
        """Where a list query reads from: the items as they are, or as a blind reviewer sees them."""
        if viewer is None or not self.blind_for(viewer):
            return _PLAIN
        return _Source(_BLIND_FROM, (viewer,), _BLIND_COLUMNS)

    def _keep_standing(self, item_id: int, standing: dict[str, DecisionEntry], outcome: Resolution) -> None:
        """Write an item's standing decisions and what they come to (part of _refresh_item)."""
        c = self._conn
        c.execute("DELETE FROM standing_decisions WHERE item_id = ?", (item_id,))
        c.executemany(
            "INSERT INTO standing_decisions (item_id, reviewer, decision_id, label, category, decided_at) VALUES (?, ?, ?, ?, ?, ?)",
            [(item_id, e.reviewer, e.id, e.label or "", e.category, e.decided_at) for e in standing.values()],
        )
        c.execute(
            "UPDATE items SET reviewer_count = ?, disputed = ?, reviewers_split = ? WHERE id = ?",
            (len(standing), 1 if outcome.disputed else 0, 1 if outcome.split else 0, item_id),
        )

    # ----------------------------------------------------------------- bulk read for metrics

    def verdict_rows(self, *, viewer: str | None = None) -> list[VerdictRow]:
        """Every item's verdicts and review signals in one pass, in name order (read-only).
        With ``viewer``, the human side is what that reviewer may see (under blind review, their
        own decisions only: see :meth:`record_for`).

        What agreement figures, suspicion scores and the review queue need for a whole store,
        without loading each item's full record. Two queries: the items with their current
        debate and its critic turn, read in id order (a sequential scan: far faster than
        following the name index row by row) and sorted here; and the items whose debates
        reached both verdicts.
        """
        source = self._source(viewer)
        status, label, category = (source.col(c, "items") for c in ("status", "human_label", "human_category"))  # debates has a status too
        sql = (
            f"SELECT items.id, items.path_key, items.path, items.kind, {status}, items.model_label, items.model_category,"
            f" {label}, {category}, items.flags, d.judge_yes_prob, d.endpoints, d.preset_name,"
            " (SELECT t.text FROM turns t WHERE t.debate_id = items.debate_id AND t.role = 'critic'"
            "  ORDER BY t.id DESC LIMIT 1)"
            f" FROM {source.from_sql} LEFT JOIN debates d ON d.id = items.debate_id ORDER BY items.id"
        )
        split_sql = (
            "SELECT item_id FROM debates WHERE status = 'debated' AND decision IS NOT NULL"
            " GROUP BY item_id HAVING count(DISTINCT decision) > 1"
        )
        # The cycle collector is paused while 100,000 acyclic tuples are built: otherwise its
        # full passes over every live row cost a third of the time.
        with collector_paused():
            return self._verdict_rows(sql, split_sql, source.params)

    def _verdict_rows(self, sql: str, split_sql: str, params: Sequence[Any] = ()) -> list[VerdictRow]:
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
            split = {r[0] for r in self._conn.execute(split_sql)}
        rows.sort(key=itemgetter(1, 2))  # the store's name order: (path_key, path)
        flags_seen: dict[str, tuple[str, ...]] = {}
        judge_seen: dict[str, str] = {}
        out: list[VerdictRow] = []
        append = out.append
        for item_id, _, rel, kind, status, model, model_cat, human, human_cat, flags, prob, endpoints, preset, critic in rows:
            flag_tuple = flags_seen.get(flags)
            if flag_tuple is None:
                flag_tuple = flags_seen[flags] = tuple(json.loads(flags or "[]"))
            judge = judge_seen.get(endpoints)
            if judge is None:
                judge = judge_seen[endpoints] = str((json.loads(endpoints or "{}").get("judge") or {}).get("model") or "")
            last = critic.rstrip().rpartition("\n")[2].strip() if critic else ""
            append(
                VerdictRow(
                    rel,
                    kind,
                    status,
                    model,
                    model_cat or "",
                    human,
                    human_cat or "",
                    flag_tuple,
                    prob,
                    last,
                    judge,
                    preset or "",
                    item_id in split,
                )
            )
        return out


# --------------------------------------------------------------------------- derivation (pure)


@dataclass(frozen=True, slots=True)
class _State:
    status: str
    final_label: str | None
    final_category: str


def derive_state(debate_status: str | None, model_label: str | None, model_category: str, human: DecisionEntry | None) -> _State:
    """An item's status and final label from its current debate and current human decision.

    new → debated/error after a debate → accepted (the human agrees with the model, or decided
    with no model verdict to compare) or overridden (the human disagrees).
    """
    if human is not None and human.label:
        overridden = model_label is not None and model_label != human.label
        category = human.category or (model_category if human.label == model_label == "yes" else "")
        return _State(STATUS_OVERRIDDEN if overridden else STATUS_ACCEPTED, human.label, category)
    if debate_status is None:
        return _State(STATUS_NEW, None, "")
    if debate_status != STATUS_DEBATED or model_label is None:
        return _State(STATUS_ERROR, None, "")
    return _State(STATUS_DEBATED, model_label, model_category if model_label == "yes" else "")


def standing_by_reviewer(history: Sequence[DecisionEntry]) -> dict[str, DecisionEntry]:
    """Each reviewer's standing decision, replaying the history per reviewer.

    An undo takes back the latest standing decision of the reviewer who wrote the undo, so
    one person's Ctrl+Z never removes another person's label. An undo without a reviewer
    ('' : every undo written before reviewers were kept apart) takes back the latest standing
    decision of anyone, as undo always did then, so an old store replays as it was.
    Reviewers whose decisions were all taken back are absent. The dict is ordered by when
    each standing decision was made.
    """
    stacks: dict[str, list[tuple[int, DecisionEntry]]] = {}
    for position, entry in enumerate(history):
        if entry.action == ACTION_UNDO:
            if entry.reviewer:
                stack = stacks.get(entry.reviewer)
            else:
                tops = [s for s in stacks.values() if s]
                stack = max(tops, key=lambda s: s[-1][0]) if tops else None
            if stack:
                stack.pop()
        else:
            stacks.setdefault(entry.reviewer, []).append((position, entry))
    standing = [stack[-1][1] for stack in stacks.values() if stack]
    standing.sort(key=lambda e: (e.decided_at, e.id))
    return {e.reviewer: e for e in standing}


def resolve_decisions(
    standing: Mapping[str, DecisionEntry], resolution: str = RESOLUTION_LATEST, adjudicator: str = ""
) -> Resolution:
    """What several reviewers' standing decisions on one item come to.

    ``latest``: the most recent standing decision (never disputed). ``majority``: the label
    more than half of them give; a tie is a dispute. ``adjudicator``: the adjudicator's
    standing decision when there is one, else the label everyone gave, else a dispute.
    Where a label wins by count, the decision it comes from is the most recent of those with
    the category given most often among them (a category named beats none; a tie goes to the
    most recent), so the final category is the one most of its reviewers chose.
    ``standing`` is ordered oldest first, as :func:`standing_by_reviewer` gives it.
    """
    decisions = list(standing.values())
    split = len({d.label for d in decisions}) > 1
    if not decisions:
        return Resolution(None, False, False)
    if resolution == RESOLUTION_LATEST:
        return Resolution(decisions[-1], False, split)
    if resolution == RESOLUTION_ADJUDICATOR:
        if adjudicator and adjudicator in standing:
            return Resolution(standing[adjudicator], False, split)
        if split:
            return Resolution(None, True, split)
        return Resolution(_representative(decisions), False, split)
    if resolution == RESOLUTION_MAJORITY:
        yes = [d for d in decisions if d.label == "yes"]
        no = [d for d in decisions if d.label != "yes"]
        for side in (yes, no):
            if 2 * len(side) > len(decisions):
                return Resolution(_representative(side), False, split)
        return Resolution(None, True, split)
    raise ValueError(f"resolution must be one of {', '.join(RESOLUTIONS)}, not {resolution!r}")


def _representative(decisions: Sequence[DecisionEntry]) -> DecisionEntry:
    """Of decisions giving one label (oldest first): the most recent with the most given
    category, a named category counting before none."""
    counts: dict[str, int] = {}
    for d in decisions:
        counts[d.category] = counts.get(d.category, 0) + 1
    named = {c: n for c, n in counts.items() if c}
    pool = named or counts
    top = max(pool.values())
    best = {c for c, n in pool.items() if n == top}
    return next(d for d in reversed(decisions) if d.category in best)


def _reviewer_name(reviewer: str) -> str:
    if not isinstance(reviewer, str) or not reviewer.strip():
        raise ValueError("a reviewer name is needed to serve or hold items for review")
    return reviewer


# --------------------------------------------------------------------------- SQL helpers


@dataclass(frozen=True, slots=True)
class _Source:
    """What list queries read: a FROM clause (with its parameters) and the SQL for each item
    column whose value depends on who is looking (bare names elsewhere)."""

    from_sql: str
    params: tuple[Any, ...]
    columns: Mapping[str, str]

    def col(self, name: str, table: str = "") -> str:
        """The SQL for column ``name``; a plain column is named after ``table`` when given (for a
        query that joins another table with a column of the same name)."""
        return self.columns.get(name, f"{table}.{name}" if table else name)


_PLAIN = _Source("items", (), {})
# A blind reviewer's view: their own standing decision (if any) in place of everyone's.
# What the item's status would be without any human decision follows from its debate columns.
_BLIND_FROM = "items LEFT JOIN standing_decisions own ON own.item_id = items.id AND own.reviewer = ?"
_MODEL_STATUS = "CASE WHEN items.debate_id IS NULL THEN 'new' WHEN items.model_label IS NULL THEN 'error' ELSE 'debated' END"
_OWN_CATEGORY = (
    "CASE WHEN own.category <> '' THEN own.category"
    " WHEN own.label = 'yes' AND items.model_label = 'yes' THEN items.model_category ELSE '' END"
)
_BLIND_COLUMNS: Mapping[str, str] = {
    "status": (
        f"(CASE WHEN own.label IS NULL THEN {_MODEL_STATUS}"
        " WHEN items.model_label IS NOT NULL AND items.model_label <> own.label THEN 'overridden' ELSE 'accepted' END)"
    ),
    "human_label": "own.label",
    "human_category": "COALESCE(own.category, '')",
    "final_label": "COALESCE(own.label, items.model_label)",
    "final_category": (
        f"(CASE WHEN own.label IS NOT NULL THEN ({_OWN_CATEGORY})"
        " WHEN items.model_label = 'yes' THEN items.model_category ELSE '' END)"
    ),
    "reviewer_count": "(CASE WHEN own.label IS NULL THEN 0 ELSE 1 END)",
    "disputed": "0",
    "reviewers_split": "0",
}


def _select_columns(source: _Source, columns: str) -> str:
    return ", ".join(source.col(c.strip()) for c in columns.split(","))


def _sort_key(source: _Source, column: str) -> str:
    """A sort column as "next item for me" compares it: an item without mtime sorts first."""
    return "COALESCE(items.mtime, -1.0e308)" if column == "mtime" else source.col(column)


def _split_sql(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _as_tuple(value: str | Sequence[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _label_clause(column: str, value: str) -> tuple[str, list[Any]]:
    if value in ("none", ""):
        return f"{column} IS NULL", []
    return f"{column} = ?", [value]


def _where(f: Filters, source: _Source = _PLAIN) -> tuple[str, list[Any]]:
    clauses, params = _where_clauses(f, source)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _where_clauses(f: Filters, source: _Source = _PLAIN) -> tuple[list[str], list[Any]]:
    col = source.col
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("status", f.status), ("kind", f.kind)):
        if value:
            values = _as_tuple(value)
            clauses.append(f"{col(column)} IN ({', '.join('?' * len(values))})")
            params.extend(values)
    for column, label in (("final_label", f.final_label), ("model_label", f.model_label)):
        if label is not None:
            clause, extra = _label_clause(col(column), label)
            clauses.append(clause)
            params.extend(extra)
    if f.category is not None:
        clauses.append(f"{col('final_category')} = ?")
        params.append(f.category)
    if f.disagreement:
        human = col("human_label")
        clauses.append(f"model_label IS NOT NULL AND {human} IS NOT NULL AND model_label <> {human}")
    if f.flagged:
        clauses.append("flags <> '[]'")
    if f.name_contains:
        escaped = f.name_contains.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append("path_key LIKE ? ESCAPE '\\'")
        params.append(f"%{escaped}%")
    if f.needs_adjudication:
        clauses.append(f"{col('disputed')} = 1")
    if f.reviewers_disagree:
        clauses.append(f"{col('reviewers_split')} = 1")
    for reviewer, negate in ((f.undecided_by, True), (f.decided_by, False)):
        if reviewer is not None:
            exists = "EXISTS (SELECT 1 FROM standing_decisions sd WHERE sd.item_id = items.id AND sd.reviewer = ?)"
            clauses.append(("NOT " if negate else "") + exists)
            params.append(reviewer)
    return clauses, params


def _order(sort: str, descending: bool, source: _Source = _PLAIN) -> str:
    if sort not in _SORT_SQL:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
    direction = " DESC" if descending else ""
    return ", ".join(source.col(col) + direction for col in _SORT_SQL[sort])


def _row_from_sql(r: Sequence[Any]) -> ItemRow:
    return ItemRow(
        path=r[0],
        kind=r[1],
        status=r[2],
        model_label=r[3],
        model_category=r[4],
        human_label=r[5],
        human_category=r[6],
        final_label=r[7],
        final_category=r[8],
        flags=tuple(json.loads(r[9] or "[]")),
        mtime=r[10],
        updated_at=r[11],
        reviewer_count=int(r[12] or 0),
        disputed=bool(r[13]),
    )


def _entry_from_row(r: Sequence[Any]) -> DecisionEntry:
    return DecisionEntry(
        id=r[0],
        action=r[1],
        label=r[2] if r[1] != ACTION_UNDO else None,
        category=r[3],
        note=r[4],
        reviewer=r[5],
        source=r[6],
        decided_at=r[7],
    )


_SECRET_PARAM_RE = re.compile(r"key|token|secret|sig|password", re.IGNORECASE)


def redact_url(url: str) -> str:
    """A base URL without anything that could be a credential (user:pass@, ?api-key=...)."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _SECRET_PARAM_RE.search(k)])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _debate_params(d: DebateRecord) -> tuple[Any, ...]:
    endpoints = {role: {"base_url": redact_url(e.base_url), "model": e.model} for role, e in d.endpoints.items()}
    return (
        d.status,
        d.decision,
        d.harmful_type,
        d.judge_raw,
        json.dumps(list(d.flags)),
        json.dumps(endpoints, sort_keys=True),
        d.preset_name,
        d.preset_hash,
        d.rounds,
        d.layout,
        json.dumps(list(d.frames_sent)),
        d.media_sha256,
        d.prompt_tokens,
        d.completion_tokens,
        d.cached_tokens,
        d.seconds,
        d.started_at,
        d.error_kind,
        d.error,
        d.judge_yes_prob,
        1 if d.usage_estimated else 0,
        d.verdict_note,
    )


def _debate_from_row(rel: str, kind: str, r: Sequence[Any], turns: list[TurnRecord]) -> DebateRecord:
    endpoints = {role: EndpointInfo(**e) for role, e in json.loads(r[5] or "{}").items()}
    return DebateRecord(
        path=rel,
        kind=kind,
        status=r[0],
        decision=r[1],
        harmful_type=r[2],
        judge_raw=r[3],
        flags=list(json.loads(r[4] or "[]")),
        turns=turns,
        endpoints=endpoints,
        preset_name=r[6],
        preset_hash=r[7],
        rounds=r[8],
        layout=r[9],
        frames_sent=list(json.loads(r[10] or "[]")),
        media_sha256=r[11],
        prompt_tokens=r[12],
        completion_tokens=r[13],
        cached_tokens=r[14],
        seconds=r[15],
        started_at=r[16],
        error_kind=r[17],
        error=r[18],
        judge_yes_prob=r[19],
        usage_estimated=bool(r[20]),
        verdict_note=r[21],
    )


def _item_record(
    row: Sequence[Any], debate: DebateRecord | None, history: list[DecisionEntry], debate_count: int, project: ProjectSettings
) -> ItemRecord:
    """An ItemRecord from (path, kind, size, mtime, status, final_label, final_category,
    updated_at, debate_id, reviewer_count, disputed)."""
    rel, kind, size, mtime, status, final_label, final_category, updated_at, debate_id, reviewer_count, disputed = row
    standing = standing_by_reviewer(history)
    return ItemRecord(
        path=rel,
        kind=kind,
        size=size,
        mtime=mtime,
        status=status,
        final_label=final_label,
        final_category=final_category,
        updated_at=updated_at,
        debate=debate,
        debate_id=debate_id,
        debate_count=debate_count,
        human=resolve_decisions(standing, project.resolution, project.adjudicator).decision,
        history=history,
        standing=standing,
        disputed=bool(disputed),
        reviewer_count=int(reviewer_count or 0),
    )


def _turn_params(t: TurnRecord) -> tuple[Any, ...]:
    return (
        t.role,
        t.round,
        t.text,
        t.model,
        t.prompt_tokens,
        t.completion_tokens,
        t.cached_tokens,
        t.seconds,
        t.attempts,
        1 if t.refused else 0,
        1 if t.from_cache else 0,
        t.thinking,
        1 if t.usage_estimated else 0,
    )


def _turn_from_row(r: Sequence[Any]) -> TurnRecord:
    return TurnRecord(
        role=r[0],
        round=r[1],
        text=r[2],
        model=r[3],
        prompt_tokens=r[4],
        completion_tokens=r[5],
        cached_tokens=r[6],
        seconds=r[7],
        attempts=r[8],
        refused=bool(r[9]),
        from_cache=bool(r[10]),
        thinking=r[11],
        usage_estimated=bool(r[12]),
    )
