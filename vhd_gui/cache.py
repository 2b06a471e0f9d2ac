"""A response cache: repeating an identical turn sends no request (batch labelling).

One SQLite file (WAL) in the platformdirs cache folder by default. A key covers everything
that decides what a model is asked: server and model, sampling settings, the preset's
content hash, the exact system prompt, instruction and transcript, and the media's content
hash with the size it was sent at. No key is ever part of it, and API keys are never stored.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vhd_gui.sqlite_wal import use_wal

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    created REAL NOT NULL,
    hits INTEGER NOT NULL DEFAULT 0
)
"""
# Columns added since the first version (a cache file made by an older version is upgraded).
_ADDED_COLUMNS = {
    "format": "INTEGER NOT NULL DEFAULT 1",
    "thinking": "TEXT NOT NULL DEFAULT ''",
}
# Format 2: only answers checked complete (a finished stream, a non-empty argument), with the
# thinking kept apart. Older entries may hold an empty or cut answer, or inline thinking:
# they are ignored, never served.
CACHE_FORMAT = 2


@dataclass(frozen=True, slots=True)
class CachedResponse:
    text: str
    prompt_tokens: int
    completion_tokens: int
    thinking: str = ""


def servable(text: str) -> bool:
    """Whether a cached answer may stand in for a request: a non-empty argument."""
    return bool(text.strip())


def cache_key(parts: dict[str, Any]) -> str:
    """A stable hash of a request's meaning (sorted JSON, so dict order does not matter)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class CacheUnavailable(OSError):
    """The cache file cannot be opened or is not a cache: callers go on without a cache."""


class ResponseCache:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
            use_wal(self._conn, 10)  # two batches starting together both open a new cache
            self._conn.execute("PRAGMA synchronous=NORMAL")  # a lost cache entry only costs a request
            self._conn.execute(_SCHEMA)
            have = {row[1] for row in self._conn.execute("PRAGMA table_info(responses)")}
            for name, decl in _ADDED_COLUMNS.items():
                if name not in have:
                    try:
                        self._conn.execute(f"ALTER TABLE responses ADD COLUMN {name} {decl}")
                    except sqlite3.OperationalError:  # another process added it meanwhile
                        pass
        except sqlite3.Error as exc:
            raise CacheUnavailable(f"{self.path}: {exc}") from exc
        self.hits = 0
        self.misses = 0

    @classmethod
    def default(cls) -> ResponseCache:
        from vhd_gui.config import cache_dir

        return cls(cache_dir() / "responses.sqlite")

    def get(self, key: str) -> CachedResponse | None:
        """The cached answer for ``key``; None when there is none or it is one this version
        would not accept (an older format, an empty answer)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT text, prompt_tokens, completion_tokens, thinking, format FROM responses WHERE key = ?", (key,)
            ).fetchone()
            if row is None or row[4] < CACHE_FORMAT or not servable(row[0]):
                self.misses += 1
                return None
            self.hits += 1
            self._conn.execute("UPDATE responses SET hits = hits + 1 WHERE key = ?", (key,))
        return CachedResponse(row[0], row[1], row[2], row[3])

    def put(self, key: str, text: str, prompt_tokens: int, completion_tokens: int, *, thinking: str = "") -> None:
        """Keep a complete answer. An empty one is refused: it is a failure, never an answer."""
        if not servable(text):
            raise ValueError("an empty answer is not cached")
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO responses (key, text, prompt_tokens, completion_tokens, created, thinking, format)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, text, prompt_tokens, completion_tokens, time.time(), thinking, CACHE_FORMAT),
            )

    def entries(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def size_bytes(self) -> int:
        total = 0
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(self.path) + suffix)
            if p.exists():
                total += p.stat().st_size
        return total

    def clear(self) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM responses")
            self._conn.execute("VACUUM")

    def close(self) -> None:
        with self._lock:
            self._conn.close()
