"""The annotation store: items, debates, turns and the human decision history in one SQLite file.

Everything that touches the tables lives in :class:`Store`; nothing else in the package writes
SQL. The SQL is kept portable where a portable form exists (``ON CONFLICT ... DO UPDATE``,
``LIMIT/OFFSET``, no JSON functions) so a PostgreSQL backend can replace this class later.

Durability: WAL with ``synchronous=FULL``, so a call that records a decision returns only after
the WAL is on disk. Several processes (a second window, a batch run) may use one file at once;
``busy_timeout`` makes a writer wait for another instead of failing.

The items table carries each item's *current* state (latest debate's verdict, the human decision
derived from the append-only history, status, final label) so that paging, filtering and counting
100,000 items need no joins. That state is recomputed inside the same transaction as every write.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import posixpath
import re
import sqlite3
import tempfile
import threading
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path, PurePath
from typing import Any, NamedTuple

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

STORE_DIR_NAME = ".vhd-annotator"
STORE_FILE_NAME = "annotations.sqlite"
APP_NAME = "vhd-annotator"
SCHEMA_VERSION = 3
BUSY_TIMEOUT_MS = 15_000
LABELS = ("yes", "no")
SORTS = ("name", "status", "mtime", "updated")

ACTION_SET = "set"
ACTION_UNDO = "undo"


class StoreError(Exception):
    """The file is not an annotation store, was made by a newer version, or cannot be opened."""


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
    human: DecisionEntry | None  # the current human decision, derived from history
    history: list[DecisionEntry] = field(default_factory=list)


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

_MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3)  # _MIGRATIONS[v - 1] takes a store to version v

_DEBATE_COLS = (
    "status, decision, harmful_type, judge_raw, flags, endpoints, preset_name, preset_hash, rounds,"
    " layout, frames_sent, media_sha256, prompt_tokens, completion_tokens, cached_tokens, seconds,"
    " started_at, error_kind, error, judge_yes_prob"
)
_TURN_COLS = "role, round, text, model, prompt_tokens, completion_tokens, cached_tokens, seconds, attempts, refused, from_cache"
_ROW_COLS = (
    "path, kind, status, model_label, model_category, human_label, human_category, final_label,"
    " final_category, flags, mtime, updated_at"
)
_SORT_SQL = {  # path is unique: the last column makes every order total
    "name": ("path_key", "path"),
    "status": ("status", "path_key", "path"),
    "mtime": ("mtime", "path"),
    "updated": ("updated_at", "path"),
}


def now_iso() -> str:
    """The current UTC time as ISO 8601 with microseconds (sorts as text)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


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

    # ----------------------------------------------------------------- opening

    @classmethod
    def open(cls, path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None, *, create: bool = True) -> Store:
        """Open (or create) the store at ``path``.

        ``root`` is the project folder item paths are relative to. Without it: the folder that
        holds ``.vhd-annotator/``, else the root recorded in the store, else the store's folder.
        """
        p = Path(os.path.abspath(path))
        if not create and not p.is_file():
            raise StoreError(f"no annotation store at {p}")
        if p.is_dir():
            raise StoreError(f"{p} is a folder, not an annotation store")
        try:
            conn = sqlite3.connect(str(p), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {p}: {exc}") from None
        store = cls(conn, p, Path(os.path.abspath(root)) if root else p.parent)
        try:
            store._configure()
            store._migrate()
        except sqlite3.DatabaseError as exc:
            conn.close()
            if "not a database" in str(exc):
                raise StoreError(f"{p} is not an annotation store ({exc})") from None
            raise StoreError(f"cannot use the store {p}: {exc}") from None
        except StoreError:
            conn.close()
            raise
        store.root = store._resolve_root(root)
        return store

    @classmethod
    def for_folder(cls, folder: str | os.PathLike[str]) -> Store:
        """The default store of a project folder, or its fallback in the user data dir."""
        absolute = Path(os.path.abspath(folder))
        target = default_store_path(absolute)
        fallback = fallback_store_path(absolute)
        fell_back = False
        # A folder that became writable again keeps using the fallback it already has.
        usable = not (fallback.exists() and not target.exists())
        usable = usable and _dir_is_writable(target.parent) and (not target.exists() or os.access(target, os.W_OK))
        if not usable:
            target = fallback
            target.parent.mkdir(parents=True, exist_ok=True)
            fell_back = True
        store = cls.open(target, root=absolute)
        store.fell_back = fell_back
        if fell_back:
            store._set_meta("root", str(absolute))
        return store

    def _configure(self) -> None:
        c = self._conn
        c.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        mode = c.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"{self.path}: cannot use write-ahead logging (journal mode {mode})")
        c.execute("PRAGMA synchronous=FULL")
        c.execute("PRAGMA foreign_keys=ON")

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
        read while this one writes; it sees each write once committed. Close it before this one."""
        uri = "file:" + urllib.parse.quote(str(self.path)) + "?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {self.path} for reading: {exc}") from None
        return Store(conn, self.path, self.root, self.fell_back)

    def close(self) -> None:
        with self._lock:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("PRAGMA optimize")  # refresh planner statistics where useful
            self._conn.close()

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

    def _migrate(self) -> None:
        with self.transaction():
            if not self._has_meta_table():
                tables = self._conn.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0]
                if tables:
                    raise StoreError(f"{self.path} is an SQLite file but not an annotation store")
            version = self.schema_version
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} was made by a newer vhd-annotator (schema {version}, this one knows {SCHEMA_VERSION})"
                )
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _split_sql(_MIGRATIONS[target - 1]):
                    self._conn.execute(statement)
                self._after_migration(target)
                self._conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(target),),
                )

    def _after_migration(self, version: int) -> None:
        """Data steps that SQL alone does not express."""
        if version == 2:
            c = self._conn
            c.execute("UPDATE debates SET recorded_at = started_at")
            rows = c.execute("SELECT id, path FROM items").fetchall()
            c.executemany("UPDATE items SET path_key = ? WHERE id = ?", [(path_key(p), i) for i, p in rows])
            for item_id, _ in rows:
                self._refresh_item(item_id, updated_at=None)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes into one commit (one fsync). Nested uses join the outer transaction."""
        with self._lock:
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

    # ----------------------------------------------------------------- paths and items

    def relative_path(self, path: str | os.PathLike[str]) -> str:
        """The key of an item: its path relative to the root, with POSIX separators.

        An absolute path outside the root is kept absolute (in POSIX form).
        """
        text = os.fspath(path)
        if os.path.isabs(text):
            try:
                rel = os.path.relpath(text, self.root)
            except ValueError:  # another drive on Windows
                return PurePath(text).as_posix()
            if rel == os.pardir or rel.startswith(os.pardir + os.sep):
                return PurePath(text).as_posix()
            text = rel
        posix = posixpath.normpath(PurePath(text).as_posix())
        return "" if posix == "." else posix

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
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (item_id, *_debate_params(record), stamp),
            )
            debate_id = int(cur.lastrowid or 0)
            c.executemany(
                f"INSERT INTO turns (debate_id, {_TURN_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        """Append an undo entry that takes back the latest standing decision.

        The decision before it (if any) becomes current again. Returns the entry's id, or None
        when there was nothing to undo (and nothing is written).
        """
        rel = self.relative_path(path)
        stamp = now_iso()
        with self.transaction():
            item_id = self._require_item(rel)
            if _current_human(self._history(item_id)) is None:
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
        return _current_human(self.decision_history(path))

    def _history(self, item_id: int) -> list[DecisionEntry]:
        rows = self._conn.execute(
            "SELECT id, action, label, category, note, reviewer, source, decided_at FROM decisions"
            " WHERE item_id = ? ORDER BY id",
            (item_id,),
        ).fetchall()
        return [_entry_from_row(r) for r in rows]

    # ----------------------------------------------------------------- derived state

    def _refresh_item(self, item_id: int, updated_at: str | None) -> None:
        """Recompute an item's current state from its latest debate and its decision history."""
        c = self._conn
        debate = c.execute(
            "SELECT id, status, decision, harmful_type, flags FROM debates WHERE item_id = ? ORDER BY id DESC LIMIT 1",
            (item_id,),
        ).fetchone()
        human = _current_human(self._history(item_id))
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
        self, filters: Filters | None = None, sort: str = "name", descending: bool = False, offset: int = 0, limit: int | None = 200
    ) -> list[ItemRow]:
        where, params = _where(filters or Filters())
        sql = f"SELECT {_ROW_COLS} FROM items{where} ORDER BY {_order(sort, descending)}"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params += [int(limit), int(offset)]
        elif offset:
            sql += " LIMIT -1 OFFSET ?"
            params.append(int(offset))
        with self._lock:
            return [_row_from_sql(r) for r in self._conn.execute(sql, params)]

    def paths(self, filters: Filters | None = None, sort: str = "name", descending: bool = False) -> list[str]:
        """The relative paths selected by ``filters``, in order (what a list model holds)."""
        where, params = _where(filters or Filters())
        sql = f"SELECT path FROM items{where} ORDER BY {_order(sort, descending)}"
        with self._lock:
            return [r[0] for r in self._conn.execute(sql, params)]

    def row(self, path: str | os.PathLike[str]) -> ItemRow | None:
        rel = self.relative_path(path)
        with self._lock:
            r = self._conn.execute(f"SELECT {_ROW_COLS} FROM items WHERE path = ?", (rel,)).fetchone()
        return _row_from_sql(r) if r else None

    def rows(self, paths: Sequence[str]) -> dict[str, ItemRow]:
        """Rows for many paths at once (a list model filling its cache)."""
        out: dict[str, ItemRow] = {}
        with self._lock:
            for start in range(0, len(paths), 500):
                chunk = [self.relative_path(p) for p in paths[start : start + 500]]
                marks = ", ".join("?" * len(chunk))
                for r in self._conn.execute(f"SELECT {_ROW_COLS} FROM items WHERE path IN ({marks})", chunk):
                    out[r[0]] = _row_from_sql(r)
        return out

    def count(self, filters: Filters | None = None) -> int:
        where, params = _where(filters or Filters())
        with self._lock:
            return int(self._conn.execute(f"SELECT count(*) FROM items{where}", params).fetchone()[0])

    def counts(self) -> Counts:
        by_status = dict.fromkeys(STATUSES, 0)
        by_label = {"yes": 0, "no": 0, "none": 0}
        total = 0
        with self._lock:
            rows = self._conn.execute("SELECT status, final_label, count(*) FROM items GROUP BY status, final_label").fetchall()
        for status, label, n in rows:
            by_status[status] = by_status.get(status, 0) + n
            by_label[label or "none"] = by_label.get(label or "none", 0) + n
            total += n
        return Counts(total, by_status, by_label)

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
        """The full record of one item: current debate with turns, human decision and history."""
        rel = self.relative_path(path)
        with self._lock:
            row = self._conn.execute(
                "SELECT id, kind, size, mtime, status, final_label, final_category, updated_at, debate_id FROM items WHERE path = ?",
                (rel,),
            ).fetchone()
            if row is None:
                return None
            item_id, kind, size, mtime, status, final_label, final_category, updated_at, debate_id = row
            n = self._conn.execute("SELECT count(*) FROM debates WHERE item_id = ?", (item_id,)).fetchone()[0]
            history = self._history(item_id)
            debate = self._load_debate(debate_id, rel) if debate_id is not None else None
        return _item_record((rel, kind, size, mtime, status, final_label, final_category, updated_at, debate_id), debate, history, int(n))

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
            "SELECT id, path, kind, size, mtime, status, final_label, final_category, updated_at, debate_id FROM items"
            " WHERE (path_key, path) > (?, ?)"
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
        out: list[ItemRecord] = []
        for item_id, *fields in items:
            rel, kind_, debate_id = fields[0], fields[1], fields[8]
            debate = debates.get(debate_id) if debate_id is not None else None
            if debate is not None:
                debate.path, debate.kind = rel, kind_
            # Debates are not counted in bulk: 1 when there is a current one.
            out.append(_item_record(tuple(fields), debate, histories.get(item_id, []), 1 if debate_id is not None else 0))
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

    # ----------------------------------------------------------------- bulk read for metrics

    def verdict_rows(self) -> list[VerdictRow]:
        """Every item's verdicts and review signals in one pass, in name order (read-only).

        What agreement figures, suspicion scores and the review queue need for a whole store,
        without loading each item's full record. Two queries: the items with their current
        debate and its critic turn, read in id order (a sequential scan: far faster than
        following the name index row by row) and sorted here; and the items whose debates
        reached both verdicts.
        """
        sql = (
            "SELECT i.id, i.path_key, i.path, i.kind, i.status, i.model_label, i.model_category,"
            " i.human_label, i.human_category, i.flags, d.judge_yes_prob, d.endpoints, d.preset_name,"
            " (SELECT t.text FROM turns t WHERE t.debate_id = i.debate_id AND t.role = 'critic'"
            "  ORDER BY t.id DESC LIMIT 1)"
            " FROM items i LEFT JOIN debates d ON d.id = i.debate_id ORDER BY i.id"
        )
        split_sql = (
            "SELECT item_id FROM debates WHERE status = 'debated' AND decision IS NOT NULL"
            " GROUP BY item_id HAVING count(DISTINCT decision) > 1"
        )
        # The cycle collector is paused while 100,000 acyclic tuples are built: otherwise its
        # full passes over every live row cost a third of the time.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return self._verdict_rows(sql, split_sql)
        finally:
            if was_enabled:
                gc.enable()

    def _verdict_rows(self, sql: str, split_sql: str) -> list[VerdictRow]:
        with self._lock:
            rows = self._conn.execute(sql).fetchall()
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


def _current_human(history: Sequence[DecisionEntry]) -> DecisionEntry | None:
    """Replay the history: a decision stands until an undo takes it back."""
    standing: list[DecisionEntry] = []
    for entry in history:
        if entry.action == ACTION_UNDO:
            if standing:
                standing.pop()
        else:
            standing.append(entry)
    return standing[-1] if standing else None


# --------------------------------------------------------------------------- SQL helpers


def _split_sql(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _as_tuple(value: str | Sequence[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _label_clause(column: str, value: str) -> tuple[str, list[Any]]:
    if value in ("none", ""):
        return f"{column} IS NULL", []
    return f"{column} = ?", [value]


def _where(f: Filters) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("status", f.status), ("kind", f.kind)):
        if value:
            values = _as_tuple(value)
            clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
            params.extend(values)
    for column, label in (("final_label", f.final_label), ("model_label", f.model_label)):
        if label is not None:
            clause, extra = _label_clause(column, label)
            clauses.append(clause)
            params.extend(extra)
    if f.category is not None:
        clauses.append("final_category = ?")
        params.append(f.category)
    if f.disagreement:
        clauses.append("model_label IS NOT NULL AND human_label IS NOT NULL AND model_label <> human_label")
    if f.flagged:
        clauses.append("flags <> '[]'")
    if f.name_contains:
        escaped = f.name_contains.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append("path_key LIKE ? ESCAPE '\\'")
        params.append(f"%{escaped}%")
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _order(sort: str, descending: bool) -> str:
    if sort not in _SORT_SQL:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
    direction = " DESC" if descending else ""
    return ", ".join(col + direction for col in _SORT_SQL[sort])


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
    )


def _item_record(row: Sequence[Any], debate: DebateRecord | None, history: list[DecisionEntry], debate_count: int) -> ItemRecord:
    """An ItemRecord from (path, kind, size, mtime, status, final_label, final_category, updated_at, debate_id)."""
    rel, kind, size, mtime, status, final_label, final_category, updated_at, debate_id = row
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
        human=_current_human(history),
        history=history,
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
    )
