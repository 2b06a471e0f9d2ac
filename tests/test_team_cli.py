"""Team mode through the real command line: every command that takes a store works on a
PostgreSQL database, the settings file names the default store, and batch workers on separate
"machines" (processes with their own home and media folders) share one queue on one database."""

from __future__ import annotations

import collections
import csv
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from test_batch import _image_of, judge_by_colour, make_folder

from vhd_gui.cli import main
from vhd_gui.config import settings_path
from vhd_gui.store_api import open_store

from fakeserver import FakeServer
from helpers import TEST_KEY

REPO = Path(__file__).resolve().parents[1]


def _csv(path: Path) -> Path:
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["imagePath", "decision", "harmfulType", "affirmativeDebater_argument_0", "negativeDebater_argument_0"])
    w.writerows([["a.png", "yes", "gore", "x", "y"], ["b.png", "no", "fine", "None", "z"]])
    path.write_text(buf.getvalue(), encoding="utf-8", newline="")
    return path


def test_every_store_command_takes_a_postgresql_url(tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    src = _csv(tmp_path / "ann.csv")
    assert main(["import", str(src), "--store", pg_url, "--root", str(tmp_path)]) == 0
    assert "into postgresql://" in capsys.readouterr().out
    out = tmp_path / "out.jsonl"
    assert main(["export", "--store", pg_url, "--format", "jsonl"]) == 2
    assert "on a server, so the export has no folder beside it: give -o FILE" in capsys.readouterr().err
    assert main(["export", "--store", pg_url, "--format", "jsonl", "-o", str(out)]) == 0
    assert len(out.read_text().splitlines()) == 2
    capsys.readouterr()
    assert main(["metrics", "--store", pg_url, "--json"]) == 0
    assert '"store": "postgresql://' in capsys.readouterr().out
    assert main(["store", "check", pg_url]) == 0
    said = capsys.readouterr().out
    assert "sound" in said and "2 items" in said and "2 debates" in said
    assert main(["store", "recover", pg_url, str(tmp_path / "r.sqlite")]) == 2
    assert "SQLite only" in capsys.readouterr().err
    assert not (tmp_path / "r.sqlite").exists()


def test_the_settings_file_names_the_default_store(tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--format", "jsonl", "-o", str(tmp_path / "x.jsonl")]) == 2
    assert "no store: give --store" in capsys.readouterr().err
    settings_path().parent.mkdir(parents=True, exist_ok=True)
    settings_path().write_text(f'store = "{pg_url}"\n\n[debate]\nrounds = 2\n')
    assert main(["import", str(_csv(tmp_path / "ann.csv")), "--root", str(tmp_path)]) == 0
    with open_store(pg_url, root=tmp_path) as s:
        assert s.count() == 2


def _worker_env(home: Path) -> dict[str, str]:
    """Another machine: its own home, settings, cache and data folders."""
    env = {**os.environ, "VHD_KEY": TEST_KEY, "HOME": str(home), "PYTHONPATH": str(REPO)}
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        (home / var.lower()).mkdir(parents=True, exist_ok=True)
        env[var] = str(home / var.lower())
    return env


def _batch(folder: Path, url: str, base_url: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "vhd_gui", "batch", str(folder), "--store", url, "--no-cache", "--base-url", base_url,
            "--model", "fake-vlm", "--api-key-env", "VHD_KEY", *extra]


def _two_machines(tmp_path: Path, n: int) -> tuple[dict[str, str], list[Path]]:
    truth = make_folder(tmp_path / "machine1" / "media", n)
    shutil.copytree(tmp_path / "machine1" / "media", tmp_path / "machine2" / "media")  # the same dataset, elsewhere
    return truth, [tmp_path / "machine1", tmp_path / "machine2"]


def test_two_workers_on_two_machines_share_one_database_and_pay_once(tmp_path: Path, pg_url: str) -> None:
    truth, machines = _two_machines(tmp_path, 24)
    with FakeServer(api_key=TEST_KEY, answers={"judge": judge_by_colour}, token_delay=0.01) as srv:
        children = [
            subprocess.Popen(_batch(m / "media", pg_url, srv.base_url, "--concurrency", "2"), env=_worker_env(m / "home"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for m in machines
        ]
        outs = [c.communicate(timeout=600)[1] for c in children]
        assert [c.returncode for c in children] == [0, 0], outs
        requests = list(srv.requests)
    per_item = collections.Counter(_image_of(b) for b in requests)
    assert len(per_item) == 24 and set(per_item.values()) == {5}  # every item asked for once, by one worker
    assert all("store: postgresql://" in o for o in outs), outs
    with open_store(pg_url, root=machines[0] / "media") as st:
        for rel, decision in truth.items():
            assert [d.decision for d in st.debates(rel)] == [decision], rel
        assert st.claims(include_expired=True) == []
    done = [int(re.search(r"^done (\d+) ·", o, re.M).group(1)) for o in outs]  # type: ignore[union-attr]
    assert sum(done) == 24 and all(done), outs  # both did a share


def test_a_killed_worker_s_items_come_back_after_its_lease(tmp_path: Path, pg_url: str) -> None:
    truth, machines = _two_machines(tmp_path, 12)
    with FakeServer(api_key=TEST_KEY, answers={"judge": judge_by_colour}, token_delay=0.02) as srv:
        child = subprocess.Popen(_batch(machines[0] / "media", pg_url, srv.base_url, "--concurrency", "3", "--claim-lease", "2"),
                                 env=_worker_env(machines[0] / "home"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        held: list[Any] = []
        deadline = time.monotonic() + 120
        with open_store(pg_url, root=tmp_path) as st:
            while time.monotonic() < deadline and not held and child.poll() is None:
                if st.has_item("sub0/item000.png") and st.counts().by_status.get("debated", 0) >= 2:
                    held = st.claims()
                time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert held, "the worker never held a claim while it ran"
        with open_store(pg_url, root=tmp_path) as st:
            orphaned = st.claims(include_expired=True)
            assert orphaned and all(f"pid {child.pid}" in c.owner for c in orphaned)
            done_before = {p for p in truth if st.debates(p)}
            while st.claims():  # live leases keep the items from everybody else until they run out
                time.sleep(0.1)
        before = srv.stats.requests
        srv.token_delay = 0.001  # the rerun only has to finish the rest: no need to stream slowly
        rerun = subprocess.run(_batch(machines[1] / "media", pg_url, srv.base_url), env=_worker_env(machines[1] / "home"),
                               capture_output=True, text=True, timeout=600)
        assert rerun.returncode == 0, rerun.stderr
        assert srv.stats.requests - before == 5 * (12 - len(done_before))  # only what the killed worker left
    with open_store(pg_url, root=tmp_path) as st:
        for rel, decision in truth.items():
            assert [d.decision for d in st.debates(rel)] == [decision], rel
        assert st.claims(include_expired=True) == []
        retaken = [c for c in orphaned if c.path not in done_before]
        assert retaken  # the killed worker's claimed items were debated by the other machine


# --------------------------------------------------------------------------- store copy


def _fill(store_path: Path) -> None:
    """A store with what a real one holds: debates with turns, an error, decisions with undo, a
    live claim, names that sort differently by case."""
    from vhd_gui.record import DebateRecord, TurnRecord

    with open_store(store_path) as s:
        s.upsert_items([("B.png", "image", 10, 1_767_225_600.5), ("a.png", "image", 20, 2.25), ("v/clip.mp4", "video", 3000, 3.0)])
        for rel, decision in (("a.png", "yes"), ("B.png", "no"), ("a.png", "no")):
            s.record_debate(DebateRecord(path=rel, kind="image", status="debated", decision=decision, harmful_type="gore" if decision == "yes" else "",
                                         turns=[TurnRecord("affirmative", 0, "50% sure ?"), TurnRecord("judge", 0, f"{decision}.")], seconds=1.5))
        s.record_debate(DebateRecord(path="v/clip.mp4", kind="video", status="error", error_kind="api", error="HTTP 502"))
        s.record_decision("a.png", "yes", category="gore", reviewer="ann")
        s.record_decision("a.png", "no", reviewer="bob", note="a painting")
        s.undo_decision("a.png", reviewer="bob")
        s.record_decision("B.png", "yes", category="spam", reviewer="ann")
        assert s.claim_item("v/clip.mp4", "a worker", lease_seconds=600) is not None


def _everything(target: str | Path, root: Path) -> tuple[Any, ...]:
    with open_store(target, root=root, create=False) as s:
        records = [(r.path, r.kind, r.size, r.mtime, r.status, r.final_label, r.final_category, r.updated_at, r.debate_id,
                    r.debate.to_dict() if r.debate else None, [(e.id, e.action, e.label, e.category, e.note, e.reviewer, e.decided_at) for e in r.history])
                   for r in s.iter_records()]
        debates = {r[0]: [d.to_dict() for d in s.debates(r[0])] for r in records}
        return records, debates, s.paths(sort="name"), s.counts()


def test_store_copy_round_trip_sqlite_to_postgresql_and_back_keeps_everything(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    first = tmp_path / "first.sqlite"
    _fill(first)
    assert main(["store", "copy", str(first), pg_url]) == 0
    said = capsys.readouterr().out
    assert "items      3 rows" in said and "debates    4 rows" in said and "turns      6 rows" in said and "decisions  4 rows" in said
    assert "claims     not copied (1 rows)" in said
    back = tmp_path / "back.sqlite"
    assert main(["store", "copy", pg_url, str(back)]) == 0
    capsys.readouterr()
    original = _everything(first, tmp_path)
    assert _everything(pg_url, tmp_path) == original
    assert _everything(back, tmp_path) == original
    with open_store(pg_url, root=tmp_path) as s:  # ids go on after the copied ones
        assert s.record_decision("B.png", "no") == 5 and s.claims(include_expired=True) == []


def test_store_copy_refuses_a_destination_that_holds_items_and_writes_nothing(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    first = tmp_path / "first.sqlite"
    _fill(first)
    with open_store(pg_url, root=tmp_path) as s:
        s.add_item("mine.png", "image")
    assert main(["store", "copy", str(first), pg_url]) == 2
    assert "already holds 1 items" in capsys.readouterr().err
    with open_store(pg_url, root=tmp_path) as s:
        assert s.paths() == ["mine.png"]
    assert main(["store", "copy", pg_url, str(first)]) == 2  # and the other way
    assert "already holds 3 items" in capsys.readouterr().err
    assert main(["store", "copy", str(tmp_path / "missing.sqlite"), str(tmp_path / "new.sqlite")]) == 2
    assert not (tmp_path / "new.sqlite").exists()


# --------------------------------------------------------------------------- credentials


def _secret_db(pg_server: Any) -> tuple[str, str]:
    """A database secret_user owns; its URL without and with the password."""
    from pgserver import SECRET_PASSWORD, SECRET_USER

    name = pg_server.new_database(owner=SECRET_USER).rsplit("/", 1)[1]
    plain = f"postgresql://{SECRET_USER}@127.0.0.1:{pg_server.port}/{name}"
    from urllib.parse import quote

    with_password = f"postgresql://{SECRET_USER}:{quote(SECRET_PASSWORD, safe='')}@127.0.0.1:{pg_server.port}/{name}"
    return plain, with_password


def test_credentials_come_from_libpq_and_a_password_is_never_shown_or_kept(
    tmp_path: Path, pg_server: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    from vhd_gui.config import ConfigError, Settings, load_settings, save_settings
    from vhd_gui.store import StoreError

    from pgserver import SECRET_PASSWORD

    caplog.set_level("DEBUG")
    plain, with_password = _secret_db(pg_server)
    quoted = with_password.split(":", 2)[2].split("@", 1)[0]
    secrets_ = (SECRET_PASSWORD, quoted)
    src = _csv(tmp_path / "ann.csv")
    # No password anywhere: refused by the server, said in one line.
    monkeypatch.delenv("PGPASSWORD", raising=False)
    assert main(["import", str(src), "--store", plain, "--root", str(tmp_path)]) == 2
    assert "cannot connect to postgresql://secret_user@127.0.0.1" in capsys.readouterr().err
    # PGPASSWORD, then ~/.pgpass (libpq reads them; the URL stays without a password).
    monkeypatch.setenv("PGPASSWORD", SECRET_PASSWORD)
    assert main(["import", str(src), "--store", plain, "--root", str(tmp_path)]) == 0
    monkeypatch.delenv("PGPASSWORD")
    pgpass = tmp_path / "pgpass"
    escaped = SECRET_PASSWORD.replace("\\", "\\\\").replace(":", "\\:")  # the file's own escapes
    pgpass.write_text(f"127.0.0.1:{pg_server.port}:*:secret_user:{escaped}\n")
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    assert main(["metrics", "--store", plain]) == 0
    # A service file names the whole connection: the URL is just postgresql://.
    services = tmp_path / "services.conf"
    services.write_text(f"[team]\nhost=127.0.0.1\nport={pg_server.port}\ndbname={plain.rsplit('/', 1)[1]}\nuser=secret_user\n")
    monkeypatch.setenv("PGSERVICEFILE", str(services))
    monkeypatch.setenv("PGSERVICE", "team")
    assert main(["store", "check", "postgresql://"]) == 0
    assert "2 items" in capsys.readouterr().out
    monkeypatch.delenv("PGSERVICE")
    # TLS options go to libpq as they are: this test server has no TLS, and libpq says so.
    assert main(["metrics", "--store", plain + "?sslmode=require"]) == 2
    assert "SSL" in capsys.readouterr().err
    monkeypatch.delenv("PGPASSFILE")
    # A password in the URL works (with a warning) but is never printed, logged or stored.
    assert main(["export", "--store", with_password, "--format", "jsonl", "-o", str(tmp_path / "x.jsonl")]) == 0
    out = capsys.readouterr()
    assert "warning: the store URL holds a password" in out.err
    bad = with_password.replace(quoted, "wrong")
    assert main(["metrics", "--store", bad]) == 2
    out2 = capsys.readouterr()
    assert "password authentication failed" in out2.err and "wrong" not in out2.err
    with pytest.raises(StoreError) as caught:
        open_store(with_password.replace("/t", "/nodb_t"), root=tmp_path)
    with open_store(with_password, root=tmp_path) as s:
        said = [s.location, str(s.path), repr(caught.value), str(caught.value)]
        stored = s._conn.execute("SELECT string_agg(value, ' ') FROM meta").fetchone()[0]
    for text in [out.out, out.err, out2.out, caplog.text, stored, *said]:
        assert not any(secret in text for secret in secrets_), text
    # The settings file never takes it: refused when saved and when read.
    with pytest.raises(ConfigError, match="pgpass"):
        save_settings(Settings(store=with_password))
    settings_path().parent.mkdir(parents=True, exist_ok=True)
    settings_path().write_text(f'store = "{with_password}"\n')
    with pytest.raises(ConfigError, match="PGPASSWORD"):
        load_settings()
    assert main(["export", "--format", "jsonl", "-o", str(tmp_path / "y.jsonl")]) == 2
    assert SECRET_PASSWORD not in capsys.readouterr().err
    save_settings(Settings(store=plain))
    assert load_settings().store == plain
