"""Rebuild ``store_v1.sqlite``: a small store as schema version 1 wrote it.

Run from the repository root: ``python tests/data/make_store_v1.py``. The fixture is committed;
this script documents exactly what is in it.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from vhd_gui.store import _MIGRATIONS  # noqa: E402  (the v1 DDL, kept verbatim)

TARGET = Path(__file__).with_name("store_v1.sqlite")


def main() -> None:
    TARGET.unlink(missing_ok=True)
    conn = sqlite3.connect(TARGET)
    conn.executescript(_MIGRATIONS[0])
    conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")
    items = [
        (1, "cats/kitten.jpg", "image", 1200, 1700000000.0),
        (2, "clips/fight.mp4", "video", 90000, 1700000100.0),
        (3, "new/untouched.png", "image", 10, 1700000200.0),
        (4, "errors/broken.png", "image", 20, 1700000300.0),
    ]
    conn.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?)", items)
    debates = [
        (1, 1, "debated", "no", "a kitten on a sofa", "No, a kitten on a sofa.", "[]", '{"judge": {"base_url": "http://localhost:8000/v1", "model": "qwen"}}',
         "vhd11k-image", "abcd1234abcd1234", 2, "flat", "[]", 100, 20, 3.5, "2024-01-01T10:00:00+00:00", "", ""),
        (2, 2, "debated", "yes", "violence", "Yes, violence.", '["debater_refused"]', "{}",
         "vhd11k-video", "ffff0000ffff0000", 2, "flat", "[0, 10, 20, 30, 40]", 500, 80, 9.0, "2024-01-01T10:01:00+00:00", "", ""),
        (3, 4, "error", None, "", "", "[]", "{}", "vhd11k-image", "abcd1234abcd1234", 2, "flat", "[]", 0, 0, 1.0,
         "2024-01-01T10:02:00+00:00", "api", "HTTP 500 from server"),
    ]
    conn.executemany("INSERT INTO debates VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", debates)
    turns = [
        (1, 1, "affirmative", 0, "Claws could scratch.", "qwen", 10, 5, 1.0),
        (2, 1, "negative", 0, "It is a \"cute\" kitten,\nnothing else.", "qwen", 10, 5, 1.0),
        (3, 1, "judge", 0, "No, a kitten on a sofa.", "qwen", 10, 5, 1.0),
        (4, 2, "affirmative", 0, "Two people punch each other.", "gpt", 10, 5, 1.0),
        (5, 2, "negative", 0, "I'm sorry, I can't help with that.", "gpt", 10, 5, 1.0),
        (6, 2, "judge", 0, "Yes, violence.", "gpt", 10, 5, 1.0),
    ]
    conn.executemany("INSERT INTO turns VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", turns)
    decisions = [
        (1, 1, "no", "", "agree", "2024-01-02T09:00:00+00:00"),
        (2, 2, "no", "", "staged fight", "2024-01-02T09:01:00+00:00"),
    ]
    conn.executemany("INSERT INTO decisions VALUES (?, ?, ?, ?, ?, ?)", decisions)
    conn.commit()
    conn.execute("VACUUM")
    conn.close()
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
