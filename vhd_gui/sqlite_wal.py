"""Write-ahead logging for the project's SQLite files (the annotation store, the response cache)."""

from __future__ import annotations

import sqlite3
import time


def use_wal(conn: sqlite3.Connection, wait_s: float) -> str:
    """Put the database in write-ahead-log mode; returns the journal mode it is in after.

    Switching a file to WAL needs it to itself for a moment, and SQLite takes that lock without
    calling the busy handler: two processes opening a new file at once (two batches started
    together) would see "database is locked" at once whatever the busy timeout. So a file
    already in WAL is left as it is, and a switch that meets another connection is tried again
    for up to ``wait_s`` seconds, as a busy timeout would.
    """
    deadline = time.monotonic() + wait_s
    pause = 0.005
    while True:
        try:
            mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
            if mode == "wal":
                return mode
            return str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower()
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)
