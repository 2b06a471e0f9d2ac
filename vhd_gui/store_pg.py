"""The annotation store on a PostgreSQL server: the same tables and the same SQL as the SQLite
store, for teams (several windows and batch workers, on several machines, on one database).

:class:`PgStore` inherits every query and every write from :class:`vhd_gui.store.Store`; what
differs is here, and nowhere else imports psycopg:

- **The dialect** is translated once per statement by :class:`_Connection`, which offers the
  store the small part of the sqlite3 API it uses (``execute`` → rows, ``rowcount``,
  ``lastrowid``; ``executemany``): ``?`` placeholders become ``%s`` (a literal ``%`` is
  doubled), ``LIMIT -1`` becomes ``LIMIT ALL``, an ``INSERT`` into a table with an ``id`` key
  gets ``RETURNING id`` (that is ``lastrowid``), and the migrations' DDL gets PostgreSQL's types:
  ``INTEGER PRIMARY KEY`` an identity ``BIGINT``, ``INTEGER`` ``BIGINT`` (tokens and sizes grow),
  ``REAL`` ``DOUBLE PRECISION`` (``REAL`` is single precision there: a file's mtime would lose
  its seconds) and every ``TEXT`` column ``COLLATE "C"``, so that names, time stamps and
  categories compare and sort byte by byte as in SQLite and Python.
- **Connections** come from a psycopg_pool pool. A thread takes one for a read (the store's
  ``_lock`` is a per-thread binding here, not a lock) or a transaction, and nested uses join
  it, so a batch's threads and the window's reader never wait on one another's reads.
- **Concurrency**: SQLite's single writer (``BEGIN IMMEDIATE``) is what kept an item's summary
  and its claim consistent. Here the item's row is locked instead: ``SELECT ... FOR UPDATE``
  before the summary is recomputed and before a claimed result is written, ``FOR UPDATE SKIP
  LOCKED`` when an item is claimed (locked: someone else is claiming it right now).
- **Migrations** run in one transaction under an advisory lock: two processes opening an old
  store upgrade it once, and a failed upgrade leaves it as it was (DDL is transactional).
- **Other writers**: every write transaction sends a ``NOTIFY`` naming its store object; a
  connection of its own ``LISTEN``s, so :meth:`PgStore.external_change` is true after another
  connection's commit, without a query.
- **Credentials** are libpq's business: ``PGPASSWORD``, ``~/.pgpass``, ``PGSERVICE``, ``sslmode``
  and the other ``PG*`` variables pass through. A URL is only ever shown redacted.

What belongs to a file and not to a server (backups beside the file, SQLite's page checks,
read-only media and their writable copies, ``store recover``) says so in one line.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import secrets
import threading
import urllib.parse
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import psycopg
import psycopg.errors
from psycopg_pool import ConnectionPool, PoolTimeout

from vhd_gui.store import _MIGRATIONS, SCHEMA_VERSION, Store, StoreError, StoreReadOnly, redact_url

NOTIFY_CHANNEL = "vhd_annotator_store"
POOL_MAX = 8  # connections per store object: a batch's threads, the window's reads
CONNECT_TIMEOUT_S = 10
_MIGRATION_LOCK = 0x76686461  # pg_advisory_xact_lock key: one schema upgrade at a time


def url_password(url: str) -> bool:
    """Whether the URL carries a password (user:pass@host or ?password=...)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return False
    if parts.password:
        return True
    return any(k.lower() == "password" for k, _ in urllib.parse.parse_qsl(parts.query, keep_blank_values=True))


def display_url(url: str) -> str:
    """The URL as every message shows it: no password, no secret query parameter."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "postgresql://(unreadable URL)"
    user = parts.username
    host = redact_url(url)
    if user:  # keep who connects (not a secret), drop the password
        scheme, rest = host.split("://", 1)
        host = f"{scheme}://{urllib.parse.quote(urllib.parse.unquote(user), safe='')}@{rest}"
    return host


class StoreServerError(StoreError):
    """The PostgreSQL server refused a connection or a statement (the message names the store)."""


# --------------------------------------------------------------------------- the dialect

# Tables whose key is an ``id INTEGER PRIMARY KEY``: an INSERT into one returns its id. Read from
# the migrations themselves, so a table a later schema adds is known without a list to keep.
_ID_TABLES = frozenset(
    m.group(1).lower() for script in _MIGRATIONS for m in re.finditer(r"CREATE TABLE (\w+) \(\s*id INTEGER PRIMARY KEY", script)
)

_INSERT_RE = re.compile(r"^\s*INSERT\s+INTO\s+(\w+)", re.IGNORECASE)
_DDL_RE = re.compile(r"^\s*(CREATE\s+TABLE|ALTER\s+TABLE)", re.IGNORECASE)


def _pg_ddl(sql: str) -> str:
    """A migration statement in PostgreSQL's types (see the module's docstring)."""
    sql = re.sub(r"\b(\w+) INTEGER PRIMARY KEY\b(?!\s+REFERENCES)", r"\1 BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", sql)
    sql = re.sub(r"\bINTEGER\b", "BIGINT", sql)
    sql = re.sub(r"\bREAL\b", "DOUBLE PRECISION", sql)
    sql = re.sub(r"\bBLOB\b", "BYTEA", sql)
    sql = re.sub(r"\)\s*WITHOUT ROWID\s*$", ")", sql)
    return re.sub(r"\bTEXT\b", 'TEXT COLLATE "C"', sql)


@functools.lru_cache(maxsize=1024)
def translate(sql: str, *, returning: bool = True) -> tuple[str, bool]:
    """The store's SQLite statement as PostgreSQL runs it, and whether ``RETURNING id`` was added."""
    out: list[str] = []
    quote = ""
    for ch in sql:
        if quote:
            out.append("%%" if ch == "%" else ch)
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    text = re.sub(r"\bLIMIT -1\b", "LIMIT ALL", "".join(out))
    # SQLite spellings a new statement might use, where PostgreSQL's meaning is the same:
    text = re.sub(r"\bIFNULL\(", "COALESCE(", text, flags=re.IGNORECASE)
    if re.match(r"\s*INSERT\s+OR\s+IGNORE\s+INTO\b", text, re.IGNORECASE):
        text = re.sub(r"^\s*INSERT\s+OR\s+IGNORE\s+INTO\b", "INSERT INTO", text, flags=re.IGNORECASE) + " ON CONFLICT DO NOTHING"
    if _DDL_RE.match(text):
        text = _pg_ddl(text)
    added = False
    m = _INSERT_RE.match(text)
    if returning and m and m.group(1).lower() in _ID_TABLES and not re.search(r"\bRETURNING\b", text, re.IGNORECASE):
        text += " RETURNING id"
        added = True
    return text, added


class _Rows:
    """What a statement left: its rows (read at once, so the connection goes back to the pool
    right away), ``rowcount`` and, for an INSERT with an id, ``lastrowid``."""

    __slots__ = ("_at", "_rows", "lastrowid", "rowcount")

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int, lastrowid: int | None) -> None:
        self._rows = rows
        self._at = 0
        self.rowcount = rowcount
        self.lastrowid = lastrowid

    def fetchone(self) -> tuple[Any, ...] | None:
        if self._at >= len(self._rows):
            return None
        self._at += 1
        return self._rows[self._at - 1]

    def fetchall(self) -> list[tuple[Any, ...]]:
        rest = self._rows[self._at :]
        self._at = len(self._rows)
        return rest

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        while (row := self.fetchone()) is not None:
            yield row


class _Sessions:
    """The store's ``_lock`` on PostgreSQL: binds a pooled connection to the calling thread for
    the outermost ``with`` and returns it to the pool when that ends (re-entrant per thread).
    Threads do not wait for each other here; each works on a connection of its own."""

    def __init__(self, pool: ConnectionPool[psycopg.Connection[Any]], location: str) -> None:
        self._pool = pool
        self._location = location
        self._local = threading.local()

    def current(self) -> psycopg.Connection[Any] | None:
        return cast("psycopg.Connection[Any] | None", getattr(self._local, "conn", None))

    def __enter__(self) -> psycopg.Connection[Any]:
        local = self._local
        depth = getattr(local, "depth", 0)
        if depth == 0:
            manager = self._pool.connection(timeout=60)
            try:
                local.conn = manager.__enter__()
            except PoolTimeout as exc:
                raise StoreServerError(f"no connection to {self._location} within a minute ({exc})") from None
            local.manager = manager
        local.depth = depth + 1
        return cast("psycopg.Connection[Any]", local.conn)

    def __exit__(self, *exc: Any) -> None:
        local = self._local
        local.depth -= 1
        if local.depth == 0:
            manager, local.manager, local.conn = local.manager, None, None
            manager.__exit__(*exc)


class _Connection:
    """The sqlite3-like face the store's SQL talks to (see the module's docstring)."""

    def __init__(self, sessions: _Sessions, location: str) -> None:
        self._sessions = sessions
        self._location = location

    def _error(self, exc: psycopg.Error) -> StoreError:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction | psycopg.errors.InsufficientPrivilege):
            return StoreReadOnly(f"{self._location} cannot be written: {detail}")
        return StoreServerError(f"the store {self._location}: {detail}")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Rows:
        text, returning = translate(sql)
        with self._sessions as conn:
            try:
                cur = conn.execute(cast(Any, text), list(params))  # always a list: %% is then read as %
                rows = cur.fetchall() if cur.description is not None else []
            except psycopg.Error as exc:
                raise self._error(exc) from exc
        lastrowid = None
        if returning:
            lastrowid = int(rows[0][0]) if rows else None
            rows = []
        return _Rows(rows, cur.rowcount, lastrowid)

    def executemany(self, sql: str, seq: Any) -> _Rows:
        text, _ = translate(sql, returning=False)
        params = [list(p) for p in seq]
        if not params:
            return _Rows([], 0, None)
        with self._sessions as conn:
            try:
                with conn.cursor() as cur:
                    cur.executemany(cast(Any, text), params)
                    count = cur.rowcount
            except psycopg.Error as exc:
                raise self._error(exc) from exc
        return _Rows([], count, None)


# --------------------------------------------------------------------------- the store


def _database_name(url: str) -> str:
    try:
        name = urllib.parse.unquote(urllib.parse.urlsplit(url).path.lstrip("/"))
    except ValueError:
        name = ""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or os.environ.get("PGDATABASE", "") or "postgresql"


class PgStore(Store):
    """An annotation store in a PostgreSQL database (see the module's docstring).

    ``url`` is a libpq URL (``postgresql://[user@]host[:port]/database[?sslmode=...]``);
    passwords belong in ``~/.pgpass`` or ``PGPASSWORD``, not in the URL. ``path`` is not a file
    here: it is ``ROOT/<database>``, where exports and reports go by default; ``location`` is
    the URL as messages show it.
    """

    backend = "postgresql"
    _SNAPSHOT_BEGIN = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"

    def __init__(self, url: str, pool: ConnectionPool[psycopg.Connection[Any]], root: Path, *, own_pool: bool = True) -> None:
        self.url = url
        self._location = display_url(url)
        self._pool = pool
        self._own_pool = own_pool
        sessions = _Sessions(pool, self._location)
        super().__init__(cast(Any, _Connection(sessions, self._location)), root / _database_name(url), root)
        self._sessions = sessions
        self._lock = cast(Any, sessions)
        self._tx = threading.local()  # this thread's transaction depth
        self._instance = secrets.token_hex(8)  # names this object's NOTIFYs, so its own writes are not "external"
        self._commit_sql = cast(
            Any,
            f"SELECT pg_notify('{NOTIFY_CHANNEL}', '{self._instance}') WHERE pg_current_xact_id_if_assigned() IS NOT NULL; COMMIT",
        )
        self._listener: psycopg.Connection[Any] | None = None
        self._listen_lock = threading.Lock()

    @property
    def location(self) -> str:
        return self._location

    # ----------------------------------------------------------------- opening

    @classmethod
    def open_url(
        cls,
        url: str,
        root: str | os.PathLike[str] | None = None,
        *,
        create: bool = True,
        read_only: bool | None = None,
    ) -> PgStore:
        """Open the store in the database ``url`` names (made there on first use with ``create``).

        The database itself must exist (``createdb NAME``); the store's tables are made in it.
        ``read_only`` True opens it so that nothing can be written (the server refuses writes);
        False or None open it for writing (the server's roles decide what may be written).
        """
        location = display_url(url)
        options = "-c default_transaction_read_only=on" if read_only else None
        pool = _make_pool(url, location, options)
        base_root = Path(os.path.abspath(root)) if root else Path.cwd()
        store = cls(url, pool, base_root)
        try:
            if read_only:
                store.read_only_reason = "it was opened read-only"
                store._check_opened(create=False)
            else:
                with store.transaction():  # under the migration lock: another opener may be making the tables
                    store._conn.execute(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
                    store._check_opened(create=create)
        except BaseException:
            store.close(optimize=False)
            raise
        store.root = store._resolve_root(root)
        store.path = store.root / _database_name(url)
        return store

    def _check_opened(self, *, create: bool) -> None:
        self._check_kind()
        if not self._has_meta_table() and not create:
            raise StoreError(f"no annotation store in {self._location} (the database holds no store tables)")
        if self.schema_version < SCHEMA_VERSION:
            if self.read_only:
                raise StoreError(
                    f"{self._location} holds schema {self.schema_version}; open it once for writing to upgrade it to {SCHEMA_VERSION}"
                )
            self._migrate()

    def _has_meta_table(self) -> bool:
        row = self._conn.execute("SELECT to_regclass('meta') IS NOT NULL").fetchone()
        return bool(row and row[0])

    def _check_kind(self) -> None:
        if not self._has_meta_table():
            n = self._conn.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()"
            ).fetchone()
            if n and n[0]:
                raise StoreError(f"{self._location} holds other tables but no annotation store; use an empty database")
        version = self.schema_version
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self._location} was made by a newer vhd-annotator (schema {version}, this one knows {SCHEMA_VERSION})")

    def _migrate(self) -> None:
        with self.transaction():
            self._conn.execute(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            super()._migrate()
        self._name_search_index()

    def _name_search_index(self) -> None:
        """A trigram index for "name contains" (``path_key LIKE '%...%'``), which a B-tree cannot
        serve: without it the filter reads every row (a quarter of a second at a million items).
        ``pg_trgm`` ships with PostgreSQL and is a trusted extension (the database's owner may
        add it); where it cannot be added the filter still works, only slower."""
        if self._conn.execute("SELECT 1 FROM pg_indexes WHERE tablename = 'items' AND indexname = 'items_name_trigrams'").fetchone():
            return
        try:
            with self.transaction():
                self._conn.execute(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
                self._conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
                self._conn.execute("CREATE INDEX IF NOT EXISTS items_name_trigrams ON items USING gin (path_key gin_trgm_ops)")
        except StoreError as exc:
            self.warnings.append(f"name search in {self._location} reads every item: no trigram index ({exc})")

    def _backup_before_upgrade(self) -> None:
        """Nothing to copy beside a server: a failed upgrade rolls back whole instead."""

    def _configure(self) -> None:
        """Nothing to set per connection: durability and waits are the server's settings."""

    def _check(self) -> None:
        """Pages are the server's to check (``amcheck``); the store checks what it reads."""

    def _resolve_root(self, root: str | os.PathLike[str] | None) -> Path:
        """The project folder: given, else the one recorded in the store, else the current folder.
        (Machines that share a database may keep the media in different folders: give ``root``.)"""
        if root:
            return Path(os.path.abspath(root))
        recorded = self._get_meta("root")
        return Path(recorded) if recorded else Path.cwd()

    @contextlib.contextmanager
    def named_errors(self) -> Iterator[None]:
        yield  # every server error already arrives as a StoreError that names the store

    def writable_copy(self, dest: str | os.PathLike[str] | None = None) -> Store:
        raise StoreError(f"{self._location} is on a server: a writable copy is for SQLite stores on read-only media")

    def backup(self, reason: str = "daily") -> Path:
        raise StoreError(f"{self._location} is on a server: back it up with pg_dump (file backups are for SQLite stores)")

    def daily_backup_due(self) -> bool:
        return False

    def daily_backup(self) -> Path | None:
        return None

    def integrity_check(self) -> str:
        """What can be checked from a client: every item's summary against its history."""
        return "ok" if not self.summary_mismatches() else "summary rows out of step with the history"

    def summary_mismatches(self, limit: int = 20) -> list[str]:
        """Items whose stored summary (status, final label) differs from the one their latest debate
        and decision history give; [] when all agree."""
        from vhd_gui.store import derive_state, resolve_decisions, standing_by_reviewer

        out: list[str] = []
        project = self.project_settings()
        with self._lock:
            rows = self._conn.execute(
                "SELECT i.id, i.path, i.status, i.final_label, d.status, d.decision, d.harmful_type FROM items i"
                " LEFT JOIN debates d ON d.id = i.debate_id ORDER BY i.id"
            ).fetchall()
            for item_id, rel, status, final, d_status, decision, category in rows:
                human = resolve_decisions(standing_by_reviewer(self._history(item_id)), project.resolution, project.adjudicator).decision
                model = decision if d_status == "debated" else None
                state = derive_state(d_status, model, category or "", human)
                if (state.status, state.final_label) != (status, final):
                    out.append(rel)
                    if len(out) >= limit:
                        break
        return out

    def table_columns(self, table: str) -> list[str]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?"
                " ORDER BY ordinal_position",
                (table,),
            ).fetchall()
        return [str(r[0]) for r in rows]

    def _after_bulk_copy(self) -> None:
        """Rows came in with their ids: each identity continues after the largest id."""
        for table in sorted(_ID_TABLES):
            self._conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), coalesce(max(id), 0) + 1, false) FROM {table}"
            )

    def table_counts(self) -> dict[str, int]:
        """Rows per table of the store (what ``store check`` prints)."""
        from vhd_gui.store_copy import store_tables

        with self._lock:
            return {t: int(self._conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in store_tables()}

    def reader(self) -> Store:
        """A second store object on its own small pool whose connections refuse writes."""
        pool = _make_pool(self.url, self._location, "-c default_transaction_read_only=on", max_size=4)
        reader = PgStore(self.url, pool, self.root)
        reader.path = self.path
        reader.read_only_reason = "a reader connection"
        return reader

    def close(self, optimize: bool = True) -> None:
        with self._listen_lock:
            if self._listener is not None:
                with contextlib.suppress(psycopg.Error):
                    self._listener.close()
                self._listener = None
        if self._own_pool:
            self._pool.close()

    # ----------------------------------------------------------------- transactions and row locks

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction on this thread's pooled connection; nested uses join it. The commit
        tells the other connections listening (see :meth:`external_change`)."""
        if self.read_only:
            raise StoreReadOnly(f"{self._location} is open read-only ({self.read_only_reason}): nothing can be written to it")
        with self._lock:
            depth = getattr(self._tx, "depth", 0)
            if depth:
                self._tx.depth = depth + 1
                try:
                    yield
                finally:
                    self._tx.depth -= 1
                return
            self._conn.execute("BEGIN")
            self._tx.depth = 1
            try:
                yield
            except BaseException:
                self._tx.depth = 0
                with contextlib.suppress(StoreError):
                    self._conn.execute("ROLLBACK")
                raise
            self._tx.depth = 0
            self._commit()

    def _commit(self) -> None:
        """COMMIT, telling the listeners first when the transaction wrote (it then has a
        transaction id). One round trip: two statements without parameters go as one simple query."""
        conn = self._sessions.current()
        assert conn is not None  # inside transaction(): this thread's connection is bound
        try:
            conn.execute(self._commit_sql)
        except psycopg.Error as exc:
            with contextlib.suppress(psycopg.Error):
                conn.execute("ROLLBACK")
            raise cast(_Connection, self._conn)._error(exc) from exc

    def _lock_item_row(self, item_id: int) -> None:
        """Hold the item's row until the transaction ends: its summary and its claim are then
        recomputed and checked by one transaction at a time (SQLite's one writer did that).

        ``NO KEY UPDATE`` (the lock an UPDATE of the row takes), not ``UPDATE``: a new decision's
        or debate's foreign key holds a ``KEY SHARE`` lock on the row, which ``FOR UPDATE`` would
        wait for, so two writers of one item would deadlock."""
        self._conn.execute("SELECT id FROM items WHERE id = ? FOR NO KEY UPDATE", (item_id,))

    def _try_lock_item_row(self, item_id: int) -> bool:
        """Lock the item's row unless another transaction holds it (someone is claiming it now)."""
        return self._conn.execute("SELECT id FROM items WHERE id = ? FOR NO KEY UPDATE SKIP LOCKED", (item_id,)).fetchone() is not None

    # ----------------------------------------------------------------- other writers

    def external_change(self) -> bool:
        """True when another connection (a window, a worker, on any machine) committed a write
        since the last call. The first call starts listening and takes the baseline."""
        with self._listen_lock:
            if self._listener is None:
                self._listener = self._connect_listener()
                return False
            changed = False
            try:
                for note in self._listener.notifies(timeout=0):
                    changed = changed or note.payload != self._instance
            except psycopg.Error as exc:
                with contextlib.suppress(psycopg.Error):
                    self._listener.close()
                self._listener = None  # listen again on the next call; meanwhile, say "changed"
                if isinstance(exc, psycopg.OperationalError):
                    return True
                raise StoreServerError(f"the store {self._location}: {exc}") from None
            return changed

    def _connect_listener(self) -> psycopg.Connection[Any]:
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
            conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        except psycopg.Error as exc:
            raise StoreServerError(f"cannot listen for changes to {self._location}: {exc}") from None
        return conn


def _make_pool(url: str, location: str, options: str | None, max_size: int = POOL_MAX) -> ConnectionPool[psycopg.Connection[Any]]:
    """A pool of autocommit connections, opened only after one connection succeeded (so a wrong
    host or password is one clear line, not a pool's timeout)."""
    kwargs: dict[str, Any] = {"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S}
    if options:
        kwargs["options"] = options
    try:
        psycopg.connect(url, **kwargs).close()
    except psycopg.Error as exc:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise StoreServerError(f"cannot connect to {location}: {_scrub(detail, url)}") from None
    pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
        url, min_size=1, max_size=max_size, kwargs=kwargs, open=False, name=f"vhd-annotator {location}"
    )
    try:
        pool.open(wait=True, timeout=CONNECT_TIMEOUT_S * 3)
    except PoolTimeout as exc:
        pool.close()
        raise StoreServerError(f"cannot connect to {location}: {_scrub(str(exc), url)}") from None
    return pool


def _scrub(text: str, url: str) -> str:
    """A message from libpq without the URL's password, should it quote it."""
    try:
        password = urllib.parse.urlsplit(url).password
    except ValueError:
        password = None
    return text.replace(password, "***") if password else text
