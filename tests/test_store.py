"""The annotation store on real SQLite files: decisions, derived status, queries, durability,
two processes, the read-only fallback and the migration from schema 1, stores on read-only
mounts, damaged files and backups."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from vhd_gui import store as store_module
from vhd_gui.record import DebateRecord, EndpointInfo, TurnRecord
from vhd_gui.store import (
    SCHEMA_VERSION,
    STORE_DIR_NAME,
    Filters,
    Store,
    StoreDamaged,
    StoreError,
    StoreReadOnly,
    backup_dir,
    fallback_store_path,
    list_backups,
    writable_copy_path,
)
from vhd_gui.store_api import open_store

from helpers import read_only_bind_mount

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[1]


def debate(path: str, decision: str | None = "yes", category: str = "violence", **kw: object) -> DebateRecord:
    record = DebateRecord(
        path=path,
        kind=kw.pop("kind", "image"),  # type: ignore[arg-type]
        status="debated" if decision else "error",
        decision=decision,
        harmful_type=category if decision else "",
        judge_raw=f"{(decision or '').capitalize()}, {category}.",
        turns=[
            TurnRecord("affirmative", 0, "It shows a weapon.", model="m1", prompt_tokens=10),
            TurnRecord("negative", 0, "It is a toy, \"clearly\".\nSecond line.", model="m2"),
            TurnRecord("affirmative", 1, "Still a weapon."),
            TurnRecord("negative", 1, "Still a toy."),
            TurnRecord("judge", 0, f"{decision}, {category}.", cached_tokens=5, refused=False),
        ],
        endpoints={"judge": EndpointInfo("http://localhost:8000/v1", "qwen-vl")},
        preset_name="vhd11k-image",
        preset_hash="0123456789abcdef",
        frames_sent=[0, 5],
        prompt_tokens=100,
        completion_tokens=20,
        cached_tokens=50,
        seconds=3.25,
        started_at="2025-01-01T00:00:00+00:00",
        judge_yes_prob=0.75,
    )
    for key, value in kw.items():
        setattr(record, key, value)
    return record


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """A store with three items, once per backend: the folder's own SQLite file, then a
    PostgreSQL database (same code above the dialect adapter)."""
    if request.param == "sqlite":
        s = Store.for_folder(tmp_path)
    else:
        s = open_store(request.getfixturevalue("pg_url"), root=tmp_path)
    s.upsert_items([("a/one.png", "image", 1, 10.0), ("b/two.mp4", "video", 2, 20.0), ("c/three.jpg", "image", 3, 30.0)])
    yield s
    s.close()


# --------------------------------------------------------------------------- basics


def test_default_path_and_pragmas(tmp_path: Path) -> None:
    with Store.for_folder(tmp_path) as s:
        assert s.path == tmp_path / STORE_DIR_NAME / "annotations.sqlite"
        assert s.root == tmp_path
        assert not s.fell_back
        assert s.schema_version == SCHEMA_VERSION
        # the store's own connection: durable commits and a wait for other writers
        assert s._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert s._conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    conn = sqlite3.connect(tmp_path / STORE_DIR_NAME / "annotations.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def _open_together(tmp_path: Path, opener: Callable[[Path], Any], rounds: int) -> list[BaseException]:
    """``opener`` run by four threads at once on one new file, ``rounds`` times; the errors met."""
    errors: list[BaseException] = []
    for n in range(rounds):
        target = tmp_path / f"round{n}" / "new.sqlite"
        target.parent.mkdir()
        start = threading.Barrier(4)

        def one(target: Path = target, start: threading.Barrier = start) -> None:
            start.wait()
            try:
                opener(target).close()
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

        threads = [threading.Thread(target=one) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return errors


def test_stores_opened_at_the_same_moment_by_several_programs_all_open(tmp_path: Path) -> None:
    # Two batches started together both make the folder's store: switching a new file to
    # write-ahead logging skips SQLite's busy wait, so one of them used to stop at once with
    # "database is locked".
    assert _open_together(tmp_path, lambda p: Store.open(p, daily_backup=False), rounds=60) == []


def test_response_caches_opened_at_the_same_moment_all_open(tmp_path: Path) -> None:
    from vhd_gui.cache import ResponseCache

    assert _open_together(tmp_path, ResponseCache, rounds=30) == []


def test_record_debate_round_trips_the_whole_record(store: Store) -> None:
    original = debate(str(store.root / "a" / "one.png"))  # an absolute path becomes relative
    debate_id = store.record_debate(original)
    got = store.get_record("a/one.png")
    assert got is not None and got.debate is not None
    assert got.debate_id == debate_id
    expected = debate("a/one.png")
    assert got.debate.to_dict() == expected.to_dict()
    assert got.status == "debated" and got.final_label == "yes" and got.final_category == "violence"
    assert "key" not in repr(got.debate.endpoints).lower()


def test_latest_debate_is_current_and_errors_are_kept(store: Store) -> None:
    store.record_debate(debate("a/one.png", "no", "a cat"))
    store.record_debate(debate("a/one.png", None, error_kind="api", error="HTTP 500"))
    rec = store.get_record("a/one.png")
    assert rec is not None and rec.debate is not None
    assert rec.debate_count == 2 and rec.status == "error" and rec.final_label is None
    assert rec.debate.error_kind == "api" and rec.debate.error == "HTTP 500"
    assert [d.status for d in store.debates("a/one.png")] == ["debated", "error"]


def test_decisions_are_append_only_and_undo_restores(store: Store) -> None:
    store.record_debate(debate("a/one.png", "yes", "gore"))
    store.record_decision("a/one.png", "yes", reviewer="ann")
    assert store.row("a/one.png").status == "accepted"  # type: ignore[union-attr]
    store.record_decision("a/one.png", "no", note="a painting", reviewer="bob")
    row = store.row("a/one.png")
    assert row is not None and row.status == "overridden" and row.final_label == "no" and row.human_label == "no"
    assert store.undo_decision("a/one.png") is not None
    row = store.row("a/one.png")
    assert row is not None and row.status == "accepted" and row.human_label == "yes"
    assert store.undo_decision("a/one.png") is not None
    row = store.row("a/one.png")
    assert row is not None and row.status == "debated" and row.human_label is None and row.final_label == "yes"
    assert store.undo_decision("a/one.png") is None  # nothing left to undo, nothing written
    history = store.decision_history("a/one.png")
    assert [(e.action, e.label) for e in history] == [("set", "yes"), ("set", "no"), ("undo", None), ("undo", None)]
    assert history[1].note == "a painting" and history[1].reviewer == "bob" and history[0].source == "window"


def test_decision_rules(store: Store) -> None:
    with pytest.raises(ValueError):
        store.record_decision("a/one.png", "maybe")
    with pytest.raises(KeyError):
        store.record_decision("nowhere.png", "yes")
    store.record_decision("c/three.jpg", "yes", category="drugs")  # no debate: the human decides alone
    row = store.row("c/three.jpg")
    assert row is not None and row.status == "accepted" and row.final_category == "drugs"
    # a later debate re-derives the status against the standing human decision
    store.record_debate(debate("c/three.jpg", "no", "nothing"))
    assert store.row("c/three.jpg").status == "overridden"  # type: ignore[union-attr]


def test_page_filters_sorts_and_counts(store: Store) -> None:
    store.upsert_items((f"bulk/item_{i:03}.png", "image", i, float(i)) for i in range(50))
    store.record_debate(debate("a/one.png", "yes", "violence"))
    store.record_debate(debate("b/two.mp4", "no", "fine", kind="video"))
    store.record_debate(debate("c/three.jpg", "yes", "drugs", flags=["judge_unparsed"]))
    store.record_decision("c/three.jpg", "no")
    store.record_decision("a/one.png", "yes")

    assert store.count() == 53
    assert [r.path for r in store.page(Filters(status="debated"))] == ["b/two.mp4"]
    assert [r.path for r in store.page(Filters(disagreement=True))] == ["c/three.jpg"]
    assert [r.path for r in store.page(Filters(final_label="yes"))] == ["a/one.png"]
    assert [r.path for r in store.page(Filters(model_label="yes"))] == ["a/one.png", "c/three.jpg"]
    assert [r.path for r in store.page(Filters(kind="video"))] == ["b/two.mp4"]
    assert [r.path for r in store.page(Filters(category="violence"))] == ["a/one.png"]
    assert [r.path for r in store.page(Filters(flagged=True))] == ["c/three.jpg"]
    assert store.page(Filters(flagged=True))[0].flags == ("judge_unparsed",)
    assert store.count(Filters(name_contains="ITEM_04")) == 10
    assert store.count(Filters(name_contains="%")) == 0  # LIKE wildcards are literal
    assert store.count(Filters(final_label="none")) == 50
    assert store.count(Filters(status=["accepted", "overridden"])) == 2

    page = store.page(Filters(name_contains="bulk/"), sort="mtime", descending=True, offset=5, limit=3)
    assert [r.path for r in page] == ["bulk/item_044.png", "bulk/item_043.png", "bulk/item_042.png"]
    assert store.paths(Filters(status="new"))[:2] == ["bulk/item_000.png", "bulk/item_001.png"]
    updated = store.paths(sort="updated", descending=True)
    assert updated[:2] == ["a/one.png", "c/three.jpg"]
    assert store.paths(sort="status")[0] == "a/one.png"  # accepted sorts first
    with pytest.raises(ValueError):
        store.page(sort="colour")

    # Page after page by the last row's path walks the same list as offsets, in every order kept.
    for sort, descending, filters in (("name", False, None), ("name", True, Filters(name_contains="item_0")), ("status", False, None),
                                      ("status", True, Filters(kind="image"))):
        whole = store.paths(filters, sort=sort, descending=descending)
        walked: list[str] = []
        last = None
        while True:
            rows = store.page(filters, sort=sort, descending=descending, limit=7, after=last)
            if not rows:
                break
            walked += [r.path for r in rows]
            last = rows[-1].path
        assert walked == whole, (sort, descending)
    assert store.page(after="no/such.png") == []
    with pytest.raises(ValueError):
        store.page(sort="mtime", after="a/one.png")

    counts = store.counts()
    assert counts.total == 53 and counts.reviewed == 2
    assert counts.by_status == {"new": 50, "debated": 1, "accepted": 1, "overridden": 1, "error": 0}
    assert counts.by_label == {"yes": 1, "no": 2, "none": 50}
    assert store.categories() == ["drugs", "violence"]  # equal use: by name
    assert set(store.rows(["a/one.png", "b/two.mp4"])) == {"a/one.png", "b/two.mp4"}


def test_upsert_items_updates_in_place_and_normalizes(store: Store) -> None:
    store.upsert_items([("./a/one.png", "image", 99, 1.5), (str(store.root / "d" / "new.png"), "image", 1, 1.0)])
    row = store.get_record("a/one.png")
    assert row is not None and row.size == 99 and row.mtime == 1.5
    assert store.has_item("d/new.png")
    assert store.count() == 4


def test_iter_records_pages_through_everything(store: Store) -> None:
    store.upsert_items((f"x/{i:04}.png", "image", 0, 0.0) for i in range(25))
    store.record_debate(debate("x/0003.png"))
    store.record_decision("x/0004.png", "no")
    records = list(store.iter_records(chunk=7))
    assert len(records) == 28
    assert [r.path for r in records] == sorted(r.path for r in records)
    by_path = {r.path: r for r in records}
    assert by_path["x/0003.png"].debate is not None and len(by_path["x/0003.png"].debate.turns) == 5
    assert by_path["x/0004.png"].human is not None
    assert [r.path for r in store.iter_records(kind="video")] == ["b/two.mp4"]


def test_not_a_store_and_newer_schema(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError):
        Store.open(junk)
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not an annotation store"):
        Store.open(other)
    newer = tmp_path / "newer.sqlite"
    Store.open(newer).close()
    conn = sqlite3.connect(newer)
    conn.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        Store.open(newer)
    with pytest.raises(StoreError):
        Store.open(tmp_path / "absent.sqlite", create=False)


# --------------------------------------------------------------------------- read-only folder


def test_read_only_folder_falls_back_to_user_data_dir(tmp_path: Path) -> None:
    """A folder where ``.vhd-annotator`` cannot be created (here: a regular file holds that name,
    which blocks even root) gets its store in the user data dir, under a stable name."""
    folder = tmp_path / "media"
    folder.mkdir()
    (folder / STORE_DIR_NAME).write_text("not a folder")
    with Store.for_folder(folder) as s:
        assert s.fell_back
        assert s.path == fallback_store_path(folder)
        assert str(s.path).startswith(os.environ["XDG_DATA_HOME"])
        assert s.root == folder
        s.upsert_items([(str(folder / "x.png"), "image", 1, 1.0)])
        s.record_decision("x.png", "yes")
    # reopening by folder finds the same fallback store, and so does opening the file itself
    with Store.for_folder(folder) as again:
        assert again.path == fallback_store_path(folder) and again.count() == 1
    with Store.open(fallback_store_path(folder)) as direct:
        assert direct.root == folder


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes through chmod: run as nobody below")
def test_chmod_read_only_folder_falls_back(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with Store.for_folder(folder) as s:
            assert s.fell_back
    finally:
        folder.chmod(0o755)


# --------------------------------------------------------------------------- migration


def test_migrates_a_schema_1_store(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    (folder / STORE_DIR_NAME).mkdir(parents=True)
    target = folder / STORE_DIR_NAME / "annotations.sqlite"
    shutil.copyfile(DATA / "store_v1.sqlite", target)
    with Store.open(target) as s:
        assert s.root == folder
        _check_migrated_v1(s)
    with Store.open(target) as again:  # a second open does not migrate twice
        assert again.schema_version == SCHEMA_VERSION and again.count() == 4


def _v1_in_postgresql(url: str) -> None:
    """The schema-1 store of tests/data, rows and all, in an empty PostgreSQL database."""
    import psycopg

    from vhd_gui.store import _V1, _split_sql
    from vhd_gui.store_pg import translate

    src = sqlite3.connect(DATA / "store_v1.sqlite")
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in _split_sql(_V1):
            conn.execute(translate(statement)[0])  # type: ignore[arg-type]
        for table in ("meta", "items", "debates", "turns", "decisions"):
            cols = [r[1] for r in src.execute(f"PRAGMA table_info({table})")]
            rows = src.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall()
            with conn.cursor() as cur:
                cur.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})", rows)  # type: ignore[arg-type]
            if "id" in cols:
                conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")  # type: ignore[arg-type]
    src.close()


def test_migrates_a_schema_1_store_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    _v1_in_postgresql(pg_url)
    with open_store(pg_url, root=tmp_path, create=False) as s:
        assert s.root == tmp_path
        _check_migrated_v1(s)
    with open_store(pg_url, root=tmp_path, create=False) as again:
        assert again.schema_version == SCHEMA_VERSION and again.count() == 4


def _check_migrated_v1(s: Store) -> None:
    """What every store of tests/data/store_v1.sqlite holds once upgraded, and takes afterwards."""
    assert s.schema_version == SCHEMA_VERSION
    assert s.integrity_check() == "ok"
    counts = s.counts()
    assert counts.total == 4
    assert counts.by_status == {"new": 1, "debated": 0, "accepted": 1, "overridden": 1, "error": 1}
    kitten = s.get_record("cats/kitten.jpg")
    assert kitten is not None and kitten.debate is not None and kitten.human is not None
    assert kitten.status == "accepted" and kitten.human.note == "agree" and kitten.human.action == "set"
    assert kitten.debate.turns[1].text == 'It is a "cute" kitten,\nnothing else.'
    assert kitten.debate.endpoints["judge"].model == "qwen"
    assert kitten.debate.cached_tokens == 0 and kitten.debate.turns[0].attempts == 1
    fight = s.get_record("clips/fight.mp4")
    assert fight is not None and fight.status == "overridden" and fight.debate.frames_sent == [0, 10, 20, 30, 40]  # type: ignore[union-attr]
    assert s.paths(Filters(name_contains="KITTEN")) == ["cats/kitten.jpg"]
    # the migrated store takes new writes
    s.record_decision("cats/kitten.jpg", "yes", category="animal abuse")
    assert s.undo_decision("cats/kitten.jpg") is not None
    assert s.row("cats/kitten.jpg").human_label == "no"  # type: ignore[union-attr]


# --------------------------------------------------------------------------- processes


def _child(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.mark.slow
def test_sigkill_loses_no_acknowledged_decision(store_target: str, tmp_path: Path) -> None:
    with open_store(store_target, root=tmp_path) as s:
        s.upsert_items((f"img_{i}.png", "image", 1, 1.0) for i in range(20))
    code = f"""
        import itertools, sys
        from vhd_gui.store_api import open_store
        s = open_store({store_target!r}, root={str(tmp_path)!r})
        for n in itertools.count():
            entry = s.record_decision(f"img_{{n % 20}}.png", "yes" if n % 3 else "no", note=str(n))
            print(entry, n, flush=True)
    """
    child = subprocess.Popen(_child(code), stdout=subprocess.PIPE, text=True, env=_env())
    assert child.stdout is not None
    reported: list[tuple[int, int]] = []
    for line in child.stdout:
        entry, n = map(int, line.split())
        reported.append((entry, n))
        if len(reported) >= 150:
            break
    child.send_signal(signal.SIGKILL)
    reported += [tuple(map(int, line.split())) for line in child.stdout if line.strip()]  # type: ignore[misc]
    child.wait()
    assert child.returncode == -signal.SIGKILL

    with open_store(store_target, root=tmp_path) as s:
        assert s.integrity_check() == "ok"
        stored = dict(s._conn.execute("SELECT id, note FROM decisions").fetchall())
        missing = [(e, n) for e, n in reported if stored.get(e) != str(n)]
        assert not missing, f"{len(missing)} acknowledged decisions lost"
        last_entry, last_n = reported[-1]
        history = s.decision_history(f"img_{last_n % 20}.png")
        assert any(e.id == last_entry for e in history)


@pytest.mark.slow
def test_reader_and_writer_in_two_processes(store_target: str, tmp_path: Path) -> None:
    with open_store(store_target, root=tmp_path) as s:
        s.upsert_items((f"img_{i}.png", "image", 1, 1.0) for i in range(300))
    writer_code = f"""
        from vhd_gui.store_api import open_store
        s = open_store({store_target!r}, root={str(tmp_path)!r})
        for i in range(300):
            s.record_decision(f"img_{{i}}.png", "yes")
        print("done", flush=True)
    """
    writer = subprocess.Popen(_child(writer_code), stdout=subprocess.PIPE, text=True, env=_env())
    seen: list[int] = []
    with open_store(store_target, root=tmp_path) as reader:
        while writer.poll() is None:
            counts = reader.counts()  # never blocked or failed by the writer
            assert counts.total == 300
            seen.append(counts.reviewed)
            reader.page(Filters(status="accepted"), limit=50)
        out, _ = writer.communicate()
        assert writer.returncode == 0 and out.strip() == "done"
        assert reader.counts().reviewed == 300
        assert reader.external_change() is False  # the first call only primes the version
        assert seen == sorted(seen)  # a reader only ever sees committed progress
        # and the reader can write too, while another process is done
        reader.record_decision("img_0.png", "no")
        assert reader.row("img_0.png").status == "accepted"  # type: ignore[union-attr]


def test_external_change_notices_another_connection(tmp_path: Path) -> None:
    with Store.for_folder(tmp_path) as one, Store.open(one.path) as two:
        one.upsert_items([("x.png", "image", 1, 1.0)])
        assert two.external_change() is False  # primes
        one.record_decision("x.png", "yes")
        assert two.external_change() is True
        assert two.external_change() is False


def test_a_folder_keeps_its_fallback_once_writable_again(tmp_path: Path) -> None:
    folder = tmp_path / "media"
    folder.mkdir()
    blocker = folder / STORE_DIR_NAME
    blocker.write_text("in the way")
    with Store.for_folder(folder) as s:
        s.upsert_items([("x.png", "image", 1, 1.0)])
    blocker.unlink()
    with Store.for_folder(folder) as s:
        assert s.fell_back and s.count() == 1


def test_endpoint_urls_never_keep_credentials(store: Store) -> None:
    record = debate("a/one.png")
    record.endpoints = {
        "judge": EndpointInfo("https://user:sk-secret@example.test/v1?api-version=2024&api-key=sk-secret", "gpt-4o"),
        "negative": EndpointInfo("http://localhost:8000/v1", "qwen"),
    }
    store.record_debate(record)
    got = store.current_debate("a/one.png")
    assert got is not None
    assert got.endpoints["judge"].base_url == "https://example.test/v1?api-version=2024"
    assert got.endpoints["negative"].base_url == "http://localhost:8000/v1"
    if store.backend == "sqlite":
        raw = store.path.read_bytes() + Path(str(store.path) + "-wal").read_bytes()
        assert b"sk-secret" not in raw
    else:
        rows = store._conn.execute("SELECT endpoints FROM debates").fetchall()
        assert rows and all("sk-secret" not in r[0] for r in rows)


# --------------------------------------------------------------------------- read-only media


def _project_with_store(folder: Path, items: int = 30) -> Path:
    """A project folder whose store holds ``items`` debated items and a few human decisions."""
    with Store.for_folder(folder) as s:
        for i in range(items):
            s.record_debate(debate(f"img_{i:03}.png", "yes" if i % 3 else "no"))
        for i in range(0, items, 5):
            s.record_decision(f"img_{i:03}.png", "no", note=f"n{i}")
        return s.path


def test_store_on_a_read_only_mount_opens_read_only_and_reads_everything(tmp_path: Path) -> None:
    _project_with_store(tmp_path / "src")
    with read_only_bind_mount(tmp_path / "src", tmp_path / "mnt") as mnt:
        with Store.for_folder(mnt) as s:
            assert s.read_only and "read-only file system" in s.read_only_reason
            assert not s.fell_back and s.path == mnt / STORE_DIR_NAME / "annotations.sqlite"
            assert s.count() == 30 and s.counts().reviewed == 6
            assert s.decision_history("img_005.png")[0].note == "n5"
            with pytest.raises(StoreReadOnly, match="read-only"):
                s.record_decision("img_001.png", "yes")
            assert s.human_decision("img_001.png") is None
        # never an empty store elsewhere in its place
        assert not fallback_store_path(mnt).exists()
        with pytest.raises(StoreReadOnly):
            Store.open(mnt / STORE_DIR_NAME / "annotations.sqlite", read_only=False)


def _killed_writer(path: Path, start: int, count: int) -> None:
    """A process that records decisions with checkpoints off and is then killed: what it wrote
    is only in the -wal file."""
    code = f"""
        import os, signal
        from vhd_gui.store import Store
        s = Store.open({str(path)!r})
        s._conn.execute("PRAGMA wal_autocheckpoint=0")
        for i in range({start}, {start + count}):
            s.record_decision(f"img_{{i:03}}.png", "yes", note="from the log")
        os.kill(os.getpid(), signal.SIGKILL)
    """
    proc = subprocess.run(_child(code), env=_env())
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("shm", [True, False], ids=["with-shm", "without-shm"])
def test_a_log_with_data_on_a_read_only_mount_is_read(tmp_path: Path, shm: bool) -> None:
    path = _project_with_store(tmp_path / "src")
    _killed_writer(path, 1, 4)  # img_001..img_004 decided only in the log
    wal = Path(str(path) + "-wal")
    assert wal.stat().st_size > 0
    if not shm:
        Path(str(path) + "-shm").unlink()
    with read_only_bind_mount(tmp_path / "src", tmp_path / "mnt") as mnt:
        ro_path = mnt / STORE_DIR_NAME / "annotations.sqlite"
        # what ignoring the log would have shown: the test's case is real
        raw = sqlite3.connect(f"file:{ro_path}?immutable=1", uri=True)
        assert raw.execute("SELECT count(*) FROM decisions WHERE note = 'from the log'").fetchone()[0] == 0
        raw.close()
        with Store.open(ro_path, create=False) as s:
            assert s.read_only
            assert [s.human_decision(f"img_{i:03}.png").note for i in range(1, 5)] == ["from the log"] * 4  # type: ignore[union-attr]
            assert s.counts().reviewed == 10
        assert sorted(p.name for p in ro_path.parent.iterdir() if p.is_file()) == sorted(
            ["annotations.sqlite", "annotations.sqlite-wal"] + (["annotations.sqlite-shm"] if shm else [])
        )


def test_an_old_store_on_a_read_only_mount_is_read_through_an_upgraded_copy(tmp_path: Path) -> None:
    folder = tmp_path / "src"
    (folder / STORE_DIR_NAME).mkdir(parents=True)
    original = folder / STORE_DIR_NAME / "annotations.sqlite"
    shutil.copyfile(DATA / "store_v1.sqlite", original)
    before = original.read_bytes()
    with read_only_bind_mount(folder, tmp_path / "mnt") as mnt:
        with Store.for_folder(mnt) as s:
            assert s.read_only and s.schema_version == SCHEMA_VERSION
            assert s.counts().by_status["overridden"] == 1
            assert s.paths(Filters(name_contains="KITTEN")) == ["cats/kitten.jpg"]
    assert original.read_bytes() == before


def test_a_writable_copy_takes_the_decisions_of_a_read_only_store(tmp_path: Path) -> None:
    _project_with_store(tmp_path / "src")
    with read_only_bind_mount(tmp_path / "src", tmp_path / "mnt") as mnt:
        with Store.for_folder(mnt) as ro:
            assert writable_copy_path(ro.path, mnt) == fallback_store_path(mnt)
            with ro.writable_copy() as copy:
                assert copy.path == fallback_store_path(mnt) and not copy.read_only and copy.root == mnt
                assert copy.count() == 30 and copy.counts().reviewed == 6
                copy.record_decision("img_001.png", "no", note="on the copy")
        with Store.for_folder(mnt) as ro, ro.writable_copy() as again:  # found again, not made afresh
            assert again.human_decision("img_001.png").note == "on the copy"  # type: ignore[union-attr]
            assert ro.human_decision("img_001.png") is None
        with Store.open(fallback_store_path(mnt)) as direct:  # opened by file, it knows its folder
            assert direct.root == mnt


def test_a_read_only_file_for_another_user_opens_read_only(tmp_path: Path) -> None:
    """chmod where it applies: root writes through permissions, so the reader is 'nobody'."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("needs root to run the reader as another user")
    base = Path(tempfile.mkdtemp(prefix="vhd-chmod-"))
    try:
        base.chmod(0o755)
        path = _project_with_store(base / "proj")
        for p in (path, path.parent, path.parent.parent):
            p.chmod(0o444 if p.is_file() else 0o555)
        code = f"""
            from vhd_gui.store import Store, StoreReadOnly
            s = Store.open({str(path)!r}, create=False)
            try:
                s.record_decision("img_001.png", "yes")
            except StoreReadOnly:
                print("refused", s.read_only_reason, s.count(), s.counts().reviewed)
        """
        proc = _as_nobody(code, base)
        assert proc.stdout.split() == ["refused", "the", "file", "is", "not", "writable", "30", "6"]
    finally:
        for p in base.rglob("*"):
            p.chmod(0o755 if p.is_dir() else 0o644)
        shutil.rmtree(base)


def _as_nobody(code: str, home: Path) -> subprocess.CompletedProcess[str]:
    """Run ``code`` as the user nobody (for whom permissions hold, unlike root), or skip."""
    import site

    env = _env() | {"HOME": str(home), "XDG_DATA_HOME": str(home / "data")}
    env["PYTHONPATH"] = os.pathsep.join([env["PYTHONPATH"], *site.getsitepackages()])
    # The test's Python may sit where nobody cannot go (a root-only pyenv); the store needs
    # only the standard library and platformdirs (pure Python, from this environment's
    # site-packages), so the system's Python of the same version will do.
    pythons = [sys.executable] + [p for p in (f"/usr/bin/python{sys.version_info[0]}.{sys.version_info[1]}",) if os.path.exists(p)]
    for python in pythons:
        try:
            proc = subprocess.run([python, *_child(code)[1:]], env=env, capture_output=True, text=True, user=65534, group=65534)
        except PermissionError:
            continue
        if proc.returncode and ("vhd_gui" not in proc.stderr or "ModuleNotFoundError" in proc.stderr):
            continue  # this Python cannot read the code or lacks a dependency
        assert proc.returncode == 0, proc.stderr
        return proc
    pytest.skip(f"the user nobody can run none of {pythons} with this code")


def test_chmod_read_only_folder_falls_back_for_another_user() -> None:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("needs root to run the code as another user")
    base = Path(tempfile.mkdtemp(prefix="vhd-chmod-"))
    try:
        (base / "data").mkdir()
        (base / "data").chmod(0o777)
        (base / "ro").mkdir()
        base.chmod(0o755)
        (base / "ro").chmod(0o555)
        code = f"""
            from vhd_gui.store import Store
            with Store.for_folder({str(base / "ro")!r}) as s:
                print(s.fell_back, s.read_only, str(s.path).startswith({str(base / "data")!r}))
        """
        assert _as_nobody(code, base).stdout.split() == ["True", "False", "True"]
    finally:
        shutil.rmtree(base)


# --------------------------------------------------------------------------- damage, backups


def _pages_of(path: Path, table: str) -> list[int]:
    conn = sqlite3.connect(path)
    pages = [r[0] for r in conn.execute("SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno", (table,))]
    conn.close()
    return pages


def _overwrite_pages(path: Path, pages: list[int], page_size: int = 4096) -> None:
    with open(path, "r+b") as f:
        for n in pages:
            f.seek((n - 1) * page_size)
            f.write(bytes(range(256)) * (page_size // 256))


def test_damage_in_the_middle_is_named_with_the_latest_backup(tmp_path: Path) -> None:
    folder = tmp_path / "proj"
    path = _project_with_store(folder, items=400)
    with Store.open(path) as s:
        backup = s.backup()
    items = _pages_of(path, "items")
    assert len(items) >= 3
    _overwrite_pages(path, items[len(items) // 2 : len(items) // 2 + 1])
    for opener in (lambda: Store.open(path), lambda: Store.for_folder(folder), lambda: Store.open(path, read_only=True)):
        with pytest.raises(StoreDamaged) as caught:
            opener()
        message = str(caught.value)
        assert "\n" not in message and "is damaged" in message
        assert f"latest backup: {backup}" in message and "vhd-annotator store recover" in message
        assert caught.value.backup == backup
    assert not fallback_store_path(folder).exists()  # no store started elsewhere


def test_damage_beyond_the_tables_checked_at_open_is_named_when_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A big store has only its key tables checked at open; a damaged transcript page is then
    met while reading, and named the same way."""
    path = _project_with_store(tmp_path / "proj", items=400)
    _overwrite_pages(path, _pages_of(path, "turns")[3:4])
    with pytest.raises(StoreDamaged):
        Store.open(path)  # small: the whole file is checked
    monkeypatch.setattr(store_module, "QUICK_CHECK_WHOLE_BYTES", 0)
    with pytest.raises(StoreDamaged):
        Store.open(path)  # big, but no backup today: the whole file is checked before the backup
    assert list_backups(path) == []  # and a damaged file is never backed up
    old = backup_dir(path) / f"annotations-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%fZ')}-daily.sqlite"
    old.parent.mkdir()
    old.write_bytes(b"")  # stands for today's backup
    with Store.open(path) as s:
        with pytest.raises(StoreDamaged, match="is damaged"), s.named_errors():
            list(s.iter_records())


def test_not_a_store_empty_file_and_newer_schema_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    with pytest.raises(StoreError, match="empty file"):
        Store.open(empty, create=False)
    with pytest.raises(StoreError, match="empty file"):
        Store.open(empty, read_only=True)
    assert empty.stat().st_size == 0
    with Store.open(empty) as s:  # asked to create: an empty file holds nothing to lose
        assert s.schema_version == SCHEMA_VERSION
    # an emptied store that has backups is damage, not a new store
    folder = tmp_path / "proj"
    path = _project_with_store(folder)
    with Store.open(path) as s:
        s.backup()
    path.write_bytes(b"")
    with pytest.raises(StoreDamaged, match="empty"):
        Store.for_folder(folder)
    assert path.stat().st_size == 0
    # another program's SQLite file is not touched (not even its journal mode)
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not an annotation store"):
        Store.open(other)
    conn = sqlite3.connect(other)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()


def test_backup_before_a_schema_upgrade_holds_the_old_store(tmp_path: Path) -> None:
    target = tmp_path / "project" / STORE_DIR_NAME / "annotations.sqlite"
    target.parent.mkdir(parents=True)
    shutil.copyfile(DATA / "store_v1.sqlite", target)
    with Store.open(target) as s:
        assert s.schema_version == SCHEMA_VERSION
    backups = list_backups(target)
    assert [b.reason for b in backups][-1] == f"before-schema-{SCHEMA_VERSION}"
    assert backups[0].path.parent == backup_dir(target) == target.with_name("annotations.sqlite.backups")
    old = sqlite3.connect(backups[-1].path)
    assert old.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "1"
    assert old.execute("SELECT count(*) FROM decisions").fetchone()[0] >= 2
    old.close()


def test_no_upgrade_without_a_backup(tmp_path: Path) -> None:
    target = tmp_path / "annotations.sqlite"
    shutil.copyfile(DATA / "store_v1.sqlite", target)
    backup_dir(target).write_text("a file where the backups would go")
    before = target.read_bytes()
    with pytest.raises(StoreError, match="no backup could be written"):
        Store.open(target)
    assert target.read_bytes() == before


def test_daily_backups_once_a_day_and_bounded(tmp_path: Path) -> None:
    path = _project_with_store(tmp_path / "proj", items=5)
    assert list_backups(path) == []  # a new, empty store needs none
    Store.open(path).close()
    first = list_backups(path)
    assert [b.reason for b in first] == ["daily"]
    Store.open(path).close()
    assert list_backups(path) == first  # not twice in a day
    # a day later: make the one backup look older
    old = first[0].path
    stamp = (datetime.now(UTC) - timedelta(days=2)).strftime("%Y%m%dT%H%M%S%fZ")
    old.rename(old.with_name(f"annotations-{stamp}-daily.sqlite"))
    Store.open(path).close()
    assert len(list_backups(path)) == 2
    with Store.open(path) as s:
        for _ in range(5):
            s.backup()
        s.backup(f"before-schema-{SCHEMA_VERSION}")
    kept = list_backups(path)
    assert sum(b.reason == "daily" for b in kept) == store_module.BACKUP_KEEP_DAILY
    assert sum(b.reason != "daily" for b in kept) == 1
    restored = sqlite3.connect(kept[0].path)
    assert restored.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert restored.execute("SELECT count(*) FROM items").fetchone()[0] == 5
    restored.close()


def test_the_daily_backup_can_run_beside_writes(tmp_path: Path) -> None:
    """Opened without it, the daily backup runs later from a worker thread, on a connection of
    its own, while the store keeps taking decisions."""
    import threading

    path = _project_with_store(tmp_path / "proj", items=200)
    with Store.open(path, daily_backup=False) as s:
        assert list_backups(path) == [] and s.daily_backup_due()
        written: list[Path | None] = []
        worker = threading.Thread(target=lambda: written.append(s.daily_backup()))
        worker.start()
        for i in range(50):
            s.record_decision(f"img_{i:03}.png", "yes", note="beside the backup")
        worker.join()
        assert written[0] is not None and list_backups(path)[0].path == written[0]
        assert not s.daily_backup_due() and s.daily_backup() is None
        assert s.counts().reviewed == 200 // 5 + 40  # every decision kept
    copy = sqlite3.connect(written[0])
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert 0 < copy.execute("SELECT count(*) FROM items").fetchone()[0] == 200
    copy.close()


def test_read_only_open_of_a_path_with_uri_characters_and_non_utf8_bytes(tmp_path: Path) -> None:
    """Read-only opens go through an SQLite URI: '#', '?', '%' and bytes that are not UTF-8 in
    the path must reach the right file."""
    folder = Path(os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9 #1?%20"))
    path = _project_with_store(folder, items=5)
    with Store.open(path, read_only=True) as s:
        assert s.read_only and s.count() == 5 and s.counts().reviewed == 1
        assert s.root == folder


def test_an_empty_sqlite_database_is_no_store_when_read_only(tmp_path: Path) -> None:
    path = tmp_path / "blank.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 7")  # a database with a header and no table
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not an annotation store"):
        Store.open(path, read_only=True)


def test_standing_by_reviewer_replays_each_reviewers_undo_on_their_own_decisions() -> None:
    from vhd_gui.store import ACTION_SET, ACTION_UNDO, DecisionEntry, standing_by_reviewer

    def entry(i: int, action: str, reviewer: str, label: str = "") -> DecisionEntry:
        return DecisionEntry(i, action, label, "", "", reviewer, "window", f"2026-01-01T00:00:0{i}")

    history = [
        entry(1, ACTION_SET, "ana", "yes"),
        entry(2, ACTION_SET, "bo", "no"),
        entry(3, ACTION_SET, "ana", "no"),
        entry(4, ACTION_UNDO, "bo"),  # bo takes back only his own "no"
        entry(5, ACTION_UNDO, "ana"),  # ana's "no" goes, her "yes" stands again
        entry(6, ACTION_SET, "cy", "yes"),
    ]
    standing = standing_by_reviewer(history)
    assert list(standing) == ["ana", "cy"]
    assert standing["ana"].label == "yes" and standing["ana"].id == 1
    assert standing["cy"].id == 6
    assert standing_by_reviewer(history[:4]) == {"ana": history[2]}
