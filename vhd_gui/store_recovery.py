"""Checking a store thoroughly, and saving what is readable of a damaged one into a new store.

``check_store`` runs SQLite's full integrity check on a store without writing to it (no
upgrade, no backup, no log replayed into the file). ``recover_store`` copies every row it can
still read into a new store and says what it could not.

Two ways of reading a damaged file:

- ``sqlite3-cli``: the ``.recover`` command of the ``sqlite3`` program (SQLite 3.29 or newer,
  built with the ``sqlite_dbpage`` table). It reads every page it can, including pages no
  longer reachable from the damaged tree, and is the better salvage: it is used when it works
  here (tried on a small file first). Python's ``sqlite3`` module has no binding for it.
- ``rows``: without that program, each table is read in rowid windows; a window that fails
  is read one rowid at a time, and the rows that cannot be read are counted.

Either way the rows are copied by column name into a store made by this version, rows whose
parent row was lost are dropped and counted, and every item's current state is recomputed
from what survived. The store never deletes rows, so each table's ids run from 1 without
gaps: a gap in the recovered ids is a row that was lost.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from vhd_gui.store import (
    PROJECT_META_KEYS,
    SCHEMA_VERSION,
    STORE_DIR_NAME,
    Backup,
    Store,
    StoreDamaged,
    StoreError,
    _connect_read_only,
    _open_error,
    list_backups,
    path_key,
)

METHOD_CLI = "sqlite3-cli"
METHOD_ROWS = "rows"
METHODS = ("auto", METHOD_CLI, METHOD_ROWS)
# Parent tables first: a row is kept only when its parent was kept.
TABLES = ("items", "debates", "turns", "decisions")
_PARENT = {"debates": ("item_id", "items"), "turns": ("debate_id", "debates"), "decisions": ("item_id", "items")}
_WINDOW = 500  # rowids read at once before falling back to one at a time
_GIVE_UP_AFTER = 10_000  # consecutive unreadable or absent rowids past the last row seen


# --------------------------------------------------------------------------- check


@dataclass
class Health:
    """What ``store check`` found."""

    path: Path
    problems: list[str]  # empty when the integrity check said ok
    schema_version: int
    rows: dict[str, int]  # table -> rows counted (a table that could not be counted is absent)
    backups: list[Backup]

    @property
    def sound(self) -> bool:
        return not self.problems


def check_store(path: str | os.PathLike[str], max_problems: int = 20) -> Health:
    """SQLite's full integrity check on the store at ``path``, which is left untouched.

    Raises StoreError when the file is not a store this version can read (not SQLite, not an
    annotation store, made by a newer version, empty), with the newest backup named when the
    file looks like a damaged store.
    """
    p = Path(os.path.abspath(path))
    if not p.is_file():
        raise StoreError(f"no annotation store at {p}")
    if p.stat().st_size == 0:
        raise StoreError(f"{p} is an empty file (0 bytes), not an annotation store")
    with _reading(p) as conn:
        try:
            problems = [str(r[0]) for r in conn.execute(f"PRAGMA integrity_check({int(max_problems)})")]
        except sqlite3.DatabaseError as exc:
            error = _open_error(p, exc)
            if not isinstance(error, StoreDamaged):
                raise error from None
            problems = [f"the check itself stopped: {exc}"]
        if problems == ["ok"]:
            problems = []
        version = _schema_version(conn, p)
        rows: dict[str, int] = {}
        for table in TABLES:
            with contextlib.suppress(sqlite3.Error):
                rows[table] = int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    return Health(p, problems, version, rows, list_backups(p))


@contextlib.contextmanager
def _reading(p: Path) -> Iterator[sqlite3.Connection]:
    try:
        conn, snapshot = _connect_read_only(p)
    except sqlite3.DatabaseError as exc:
        raise _open_error(p, exc) from None
    try:
        yield conn
    finally:
        conn.close()
        if snapshot is not None:
            shutil.rmtree(snapshot, ignore_errors=True)


def _schema_version(conn: sqlite3.Connection, p: Path) -> int:
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.OperationalError:
        raise StoreError(f"{p} is an SQLite file but not an annotation store") from None
    except sqlite3.DatabaseError:
        return 0  # the meta table itself is damaged: the integrity problems say so
    version = int(row[0]) if row and str(row[0]).isdigit() else 0
    if version > SCHEMA_VERSION:
        raise StoreError(f"{p} was made by a newer vhd-annotator (schema {version}, this one knows {SCHEMA_VERSION})")
    return version


# --------------------------------------------------------------------------- recover


@dataclass
class TableRecovery:
    table: str
    copied: int = 0
    highest_id: int = 0  # the highest id seen in the damaged store (0: none readable)
    unreadable: int = 0  # rowids that raised an error when read one at a time
    orphans: int = 0  # rows dropped because their parent row was lost

    @property
    def missing(self) -> int:
        """Rows known to be lost: ids up to the highest one seen that did not come back (a lower
        bound: rows past the highest readable id leave no trace)."""
        return max(self.highest_id - self.copied, self.unreadable + self.orphans)


@dataclass
class Recovery:
    source: Path
    out: Path
    method: str
    tables: dict[str, TableRecovery] = field(default_factory=dict)
    unplaced: int = 0  # rows SQLite found in pages whose table it could not tell (lost_and_found)

    @property
    def complete(self) -> bool:
        return not self.unplaced and not any(t.missing for t in self.tables.values())


def sqlite3_cli() -> str | None:
    """The ``sqlite3`` program when its ``.recover`` works here, else None.

    Having the command is not enough: ``.recover`` reads pages through the ``sqlite_dbpage``
    table, which a program linked to a library built without it lacks (Debian 12's ``sqlite3``
    3.40.1 is such a build: it fails with "SQL logic error"). So it is tried on a small file.
    """
    exe = shutil.which("sqlite3")
    if exe is None:
        return None
    with tempfile.TemporaryDirectory(prefix="vhd-annotator-probe-") as tmp:
        probe = Path(tmp) / "probe.sqlite"
        with contextlib.closing(sqlite3.connect(probe)) as conn:
            conn.execute("CREATE TABLE t (x)")
            conn.execute("INSERT INTO t VALUES (42)")
            conn.commit()
        try:
            out = subprocess.run([exe, "-readonly", str(probe), ".recover"], capture_output=True, text=True, timeout=60, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
    return exe if out.returncode == 0 and "42" in out.stdout else None


def recover_store(source: str | os.PathLike[str], out: str | os.PathLike[str], method: str = "auto") -> Recovery:
    """Copy what is readable of the store at ``source`` into a new store at ``out``.

    ``source`` is only read. ``out`` must not exist; it appears only once complete. Raises
    StoreError when there is nothing to recover from (not a store, made by a newer version)
    or when ``out`` cannot be written.
    """
    src = Path(os.path.abspath(source))
    dest = Path(os.path.abspath(out))
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}")
    if not src.is_file():
        raise StoreError(f"no annotation store at {src}")
    if dest.exists() or dest == src:
        raise StoreError(f"{dest} already exists: give the name of a new file")
    if not dest.parent.is_dir():
        raise StoreError(f"folder {dest.parent} does not exist")
    cli = sqlite3_cli() if method in ("auto", METHOD_CLI) else None
    if method == METHOD_CLI and cli is None:
        raise StoreError("no sqlite3 program whose .recover works here (it needs SQLite 3.29 or newer built with sqlite_dbpage)")
    work = Path(tempfile.mkdtemp(prefix=".vhd-annotator-recover-", dir=dest.parent))
    try:
        partial = work / "recovered.sqlite"
        if cli is not None:
            report = Recovery(src, dest, METHOD_CLI)
            dump = work / "dump.sqlite"
            _run_recover(cli, src, dump)
            with contextlib.closing(sqlite3.connect(dump)) as conn:
                report.unplaced = _count_lost_and_found(conn)
                _salvage(conn, src, partial, report)
        else:
            report = Recovery(src, dest, METHOD_ROWS)
            with _reading(src) as conn:
                _salvage(conn, src, partial, report)
        _publish(partial, dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return report


def _run_recover(cli: str, src: Path, dump: Path) -> None:
    """``sqlite3 -readonly SRC .recover | sqlite3 DUMP``: SQLite's own salvage, page by page."""
    reader = subprocess.Popen([cli, "-readonly", str(src), ".recover"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        writer = subprocess.run([cli, "-bail", str(dump)], stdin=reader.stdout, capture_output=True, check=False)
    finally:
        assert reader.stdout is not None
        reader.stdout.close()
        reader_err = reader.stderr.read() if reader.stderr is not None else b""
        reader.wait()
    if reader.returncode != 0 or writer.returncode != 0:
        why = (reader_err or writer.stderr).decode("utf-8", "replace").strip().splitlines()
        raise StoreError(f"sqlite3 .recover failed on {src}: {why[-1] if why else 'exit ' + str(reader.returncode or writer.returncode)}")


def _count_lost_and_found(conn: sqlite3.Connection) -> int:
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'lost_and_found%'")]
    return sum(int(conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]) for n in names)


def _salvage(conn: sqlite3.Connection, src: Path, partial: Path, report: Recovery) -> None:
    """Copy the readable rows of ``conn`` (the damaged store, or SQLite's recovered dump) into a
    new store at ``partial``, by column name, and recompute each item's current state."""
    meta = _read_meta(conn)
    version = int(meta.get("schema_version", "0")) if meta.get("schema_version", "").isdigit() else 0
    if version > SCHEMA_VERSION:
        raise StoreError(f"{src} was made by a newer vhd-annotator (schema {version}); recover it with that version")
    present = {r[0] for r in _safe_rows(conn, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not present & set(TABLES):
        raise StoreError(f"{src} is not an annotation store: nothing readable in it looks like one")
    out = Store.open(partial)
    try:
        oc = out._conn
        kept: dict[str, set[int]] = {}
        with out.transaction():
            for table in TABLES:
                stats = report.tables[table] = TableRecovery(table)
                if table not in present:
                    continue
                ours = [r[1] for r in oc.execute(f"PRAGMA table_info({table})")]
                theirs = {r[1] for r in _safe_rows(conn, f"PRAGMA table_info({table})")}
                columns = [c for c in ours if c in theirs and c != "id"]
                parent = _PARENT.get(table)
                link = columns.index(parent[0]) if parent and parent[0] in columns else None
                ids: set[int] = set()
                marks = ", ".join("?" * (len(columns) + 1))
                insert = f"INSERT INTO {table} (id, {', '.join(columns)}) VALUES ({marks})"
                for rowid, values in _read_table(conn, table, columns, stats):
                    if parent and link is not None and values[link] not in kept[parent[1]]:
                        stats.orphans += 1
                        continue
                    try:
                        oc.execute(insert, (rowid, *values))
                    except sqlite3.IntegrityError:  # a salvaged row with a value this schema refuses
                        stats.unreadable += 1
                        continue
                    ids.add(rowid)
                stats.copied = len(ids)
                kept[table] = ids
            _finish(out, meta, src)
    finally:
        out.close()


def _read_meta(conn: sqlite3.Connection) -> dict[str, str]:
    return {str(k): str(v) for k, v in _safe_rows(conn, "SELECT key, value FROM meta")}


def _safe_rows(conn: sqlite3.Connection, sql: str) -> list[tuple[object, ...]]:
    try:
        return list(conn.execute(sql).fetchall())
    except sqlite3.DatabaseError:
        return []


def _read_table(
    conn: sqlite3.Connection, table: str, columns: list[str], stats: TableRecovery
) -> Iterator[tuple[int, tuple[object, ...]]]:
    """Every readable row of ``table`` as (rowid, values), in rowid order."""
    cols = ", ".join(columns) if columns else "NULL"
    window_sql = f"SELECT rowid, {cols} FROM {table} WHERE rowid > ? AND rowid <= ? ORDER BY rowid"
    one_sql = f"SELECT rowid, {cols} FROM {table} WHERE rowid = ?"
    top = _highest_rowid(conn, table)
    last_seen = 0
    start = 0
    while True:
        bound = top if top is not None else last_seen + _GIVE_UP_AFTER
        if start >= bound:
            break
        end = min(start + _WINDOW, bound)
        try:
            rows = conn.execute(window_sql, (start, end)).fetchall()
        except sqlite3.DatabaseError:
            rows = []
            for rowid in range(start + 1, end + 1):
                try:
                    row = conn.execute(one_sql, (rowid,)).fetchone()
                except sqlite3.DatabaseError:
                    stats.unreadable += 1
                    continue
                if row is not None:
                    rows.append(row)
        for row in rows:
            last_seen = max(last_seen, int(row[0]))
            yield int(row[0]), tuple(row[1:]) if columns else ()
        start = end
    stats.highest_id = max(top or 0, last_seen)


def _highest_rowid(conn: sqlite3.Connection, table: str) -> int | None:
    try:
        value = conn.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0]
    except sqlite3.DatabaseError:
        return None
    return int(value) if value is not None else 0


def _finish(out: Store, meta: dict[str, str], src: Path) -> None:
    """Names keyed, item states recomputed from what survived, the project folder recorded."""
    oc = out._conn
    rows = oc.execute("SELECT id, path FROM items").fetchall()
    oc.executemany("UPDATE items SET path_key = ? WHERE id = ?", [(path_key(p), i) for i, p in rows])
    oc.execute("UPDATE debates SET recorded_at = started_at WHERE recorded_at = ''")  # rows from a schema 1 store
    # The team's settings first: they decide what each item's reviewers' decisions come to.
    oc.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [(key, meta[key]) for key in PROJECT_META_KEYS if key in meta],
    )
    for item_id, _ in rows:
        out._refresh_item(item_id, updated_at=None)
    if src.parent.name == STORE_DIR_NAME:
        root = str(src.parent.parent)
    else:
        root = meta.get("root") or str(src.parent)
    oc.execute(
        "INSERT INTO meta (key, value) VALUES ('root', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", (root,)
    )


def _publish(partial: Path, dest: Path) -> None:
    """Put the finished store at ``dest`` without ever replacing a file that appeared there."""
    try:
        os.link(partial, dest)
    except FileExistsError:
        raise StoreError(f"{dest} already exists: give the name of a new file") from None
    except OSError:
        if dest.exists():
            raise StoreError(f"{dest} already exists: give the name of a new file") from None
        shutil.copyfile(partial, dest)
