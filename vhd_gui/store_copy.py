"""``vhd-annotator store copy SRC DST``: a whole store from one backend to the other (or to a
new store of the same kind), every row of every table, ids and order kept.

The source is read in one snapshot (nothing written meanwhile is half copied); the destination
takes everything in one transaction (a copy that fails leaves it as it was). A destination that
already holds items is refused before anything is written: copying merges nothing.

Kept: every item with its summary, every debate with its turns, every human decision with its
whole history (undo entries too), with their ids, so histories replay in the same order; the
store's settings in ``meta``. Not copied: ``claims`` (leases on items being debated right now,
which belong to the processes holding them, not to the data), and the meta entries that
describe one store file (schema version, project folder, the store a copy was made from).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from vhd_gui.store import _MIGRATIONS, Store, StoreError

NOT_COPIED = ("claims", "review_leases")  # leases, not data
_META_OF_THE_FILE = ("schema_version", "root", "copy_of")
CHUNK = 5000


@dataclass
class CopyReport:
    source: str
    dest: str
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows copied
    skipped: dict[str, int] = field(default_factory=dict)  # table -> rows left behind (claims)


def store_tables() -> list[str]:
    """Every table of the store, parents before children (the order the migrations make them)."""
    return [m.group(1).lower() for script in _MIGRATIONS for m in re.finditer(r"CREATE TABLE (\w+) \(", script)]


def _rows(store: Store, table: str, columns: list[str]) -> Iterator[list[tuple[Any, ...]]]:
    """A table's rows in chunks: by id where it has one (its order), else all at once."""
    names = ", ".join(columns)
    if "id" in columns:
        last = None
        while True:
            params: list[Any] = [last] if last is not None else []
            where = "WHERE id > ? " if last is not None else ""
            chunk = store._conn.execute(f"SELECT {names} FROM {table} {where}ORDER BY id LIMIT ?", (*params, CHUNK)).fetchall()
            if not chunk:
                return
            yield chunk
            last = chunk[-1][columns.index("id")]
    else:
        rows = store._conn.execute(f"SELECT {names} FROM {table} ORDER BY 1").fetchall()
        if rows:
            yield rows


def copy_store(src: Store, dst: Store) -> CopyReport:
    """Copy everything ``src`` holds into ``dst`` (see the module's docstring); returns what was copied.

    Raises StoreError, having written nothing, when ``dst`` already holds items or anything else.
    """
    if src.schema_version != dst.schema_version:
        raise StoreError(f"{src.location} has schema {src.schema_version} and {dst.location} {dst.schema_version}; open both with this version first")
    report = CopyReport(src.location, dst.location)
    tables = store_tables()
    with dst.transaction():
        held = {t: dst._conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables if t != "meta"}
        if any(held.values()):
            what = ", ".join(f"{n} {t}" for t, n in held.items() if n)
            raise StoreError(f"{dst.location} already holds {what}: copy into a new, empty store (nothing was written)")
        with src.read_snapshot():
            for table in tables:
                src_cols = src.table_columns(table)
                if table in NOT_COPIED:
                    report.skipped[table] = int(src._conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
                    continue
                columns = [c for c in src_cols if c in set(dst.table_columns(table))]
                marks = ", ".join("?" * len(columns))
                if table == "meta":
                    sql = (
                        f"INSERT INTO meta ({', '.join(columns)}) VALUES ({marks})"
                        " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
                    )
                else:
                    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
                count = 0
                for chunk in _rows(src, table, columns):
                    if table == "meta":
                        chunk = [r for r in chunk if r[columns.index("key")] not in _META_OF_THE_FILE]
                    dst._conn.executemany(sql, chunk)
                    count += len(chunk)
                report.rows[table] = count
        dst._after_bulk_copy()
    return report
