"""`vhd-annotator import` / `export` / `store` through the real entry point: output lines and exit
codes, in process and as real subprocesses (read-only mounts, damaged stores, recovery)."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from vhd_gui.cli import main
from vhd_gui.record import DebateRecord, TurnRecord
from vhd_gui.store import STORE_DIR_NAME, Store, fallback_store_path
from vhd_gui.store_recovery import sqlite3_cli

from fakeserver import FakeServer
from helpers import TEST_KEY_ENV, read_only_bind_mount, write_image

HEADER = "imagePath,decision,harmfulType,affirmativeDebater_argument_0,negativeDebater_argument_0\r\n"


def make_csv(path: Path, rows: list[list[str]], header: str = HEADER) -> Path:
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    path.write_text(header + buf.getvalue(), encoding="utf-8", newline="")
    return path


def test_import_then_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make_csv(tmp_path / "ann.csv", [["a.png", "yes", "gore", "x", "y"], ["b.png", "no", "fine", "None", "z"]])
    store = tmp_path / "project" / STORE_DIR_NAME / "annotations.sqlite"
    (tmp_path / "project").mkdir()
    assert main(["import", str(src), "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert "2 added" in out and "0 malformed" in out
    assert main(["import", str(src), "--store", str(store)]) == 0
    assert "2 skipped" in capsys.readouterr().out

    target = tmp_path / "out.csv"
    assert main(["export", "--store", str(store), "--format", "vhd11k-csv", "-o", str(target)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"wrote {target} (2 rows, images)"]
    assert target.read_text(encoding="utf-8").splitlines()[0] == HEADER.strip()

    assert main(["export", "--store", str(store), "--format", "jsonl"]) == 0
    assert (store.parent / "annotations.jsonl").is_file()


def test_mixed_kinds_say_two_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store_path = tmp_path / "s.sqlite"
    with Store.open(store_path) as s:
        s.record_debate(DebateRecord(path="a.png", kind="image", status="debated", decision="yes", harmful_type="x"))
        s.record_debate(DebateRecord(path="b.mp4", kind="video", status="debated", decision="no", harmful_type="y"))
    assert main(["export", "--store", str(store_path), "--format", "vhd11k-json", "-o", str(tmp_path / "x.json")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "2 files" in out[0]
    assert out[1:] == [f"wrote {tmp_path / 'x_images.json'} (1 rows, images)", f"wrote {tmp_path / 'x_videos.json'} (1 rows, videos)"]


def test_malformed_rows_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make_csv(tmp_path / "ann.csv", [["a.png", "yes", "gore", "x", "y"], ["b.png", "maybe", "?", "x", "y"]])
    assert main(["import", str(src), "--store", str(tmp_path / "s.sqlite")]) == 1
    captured = capsys.readouterr()
    assert "1 added" in captured.out and "1 malformed" in captured.out
    assert "line 3 b.png" in captured.err


def test_human_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make_csv(tmp_path / "ann.csv", [["a.png", "yes", "gore", "x", "y"]])
    store_path = tmp_path / "s.sqlite"
    assert main(["import", str(src), "--store", str(store_path), "--as", "human", "--reviewer", "ann"]) == 0
    assert "human decisions" in capsys.readouterr().out
    with Store.open(store_path) as s:
        entry = s.human_decision("a.png")
        assert entry is not None and entry.reviewer == "ann" and entry.source == "import"


@pytest.mark.parametrize(
    "argv_tail, reason",
    [
        (["import", "{tmp}/missing.csv", "--store", "{tmp}/s.sqlite"], "no such file"),
        (["import", "{tmp}/ann.csv", "--store", "{tmp}/junk.sqlite"], "not an annotation store"),
        (["import", "{tmp}/ann.csv", "--store", "{tmp}/nodir/s.sqlite"], "does not exist"),
        (["import", "{tmp}/notvhd.csv", "--store", "{tmp}/s.sqlite"], "imagePath"),
        (["import", "{tmp}/ann.csv", "--store", "{tmp}/s.sqlite", "--reviewer", "x"], "--as human"),
        (["export", "--store", "{tmp}/absent.sqlite", "--format", "jsonl"], "no annotation store"),
        (["export", "--store", "{tmp}/junk.sqlite", "--format", "jsonl"], "not an annotation store"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv_tail: list[str], reason: str
) -> None:
    make_csv(tmp_path / "ann.csv", [["a.png", "yes", "gore", "x", "y"]])
    (tmp_path / "notvhd.csv").write_text("name,label\na,b\n")
    (tmp_path / "junk.sqlite").write_bytes(b"junk" * 1000)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv_tail]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and reason in err[0]


# --------------------------------------------------------------------------- real subprocesses:
# read-only media, damaged stores, `store check` and `store recover`

REPO = Path(__file__).resolve().parents[1]


def cli(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "vhd_gui", *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout)


def one_line_exit_2(out: subprocess.CompletedProcess[str], *words: str) -> str:
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def server_args(srv: FakeServer) -> list[str]:
    return ["--base-url", srv.base_url, "--model", "fake-vlm", "--api-key-env", TEST_KEY_ENV, "--no-cache"]


def store_with_items(path: Path, n: int = 300) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with Store.open(path) as s:
        for i in range(n):
            s.record_debate(
                DebateRecord(
                    path=f"img_{i:04}.png",
                    kind="image",
                    status="debated",
                    decision="yes" if i % 3 else "no",
                    harmful_type="violence",
                    turns=[TurnRecord("affirmative", 0, f"argument {i} " * 20), TurnRecord("judge", 0, "Yes, violence.")],
                )
            )
        for i in range(0, n, 4):
            s.record_decision(f"img_{i:04}.png", "no", note=f"person {i}")
    return path


def damage(path: Path, table: str) -> None:
    """Overwrite one leaf page in the middle of ``table`` with bytes that are no page at all."""
    conn = sqlite3.connect(path)
    pages = [r[0] for r in conn.execute("SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno", (table,))]
    conn.close()
    assert len(pages) >= 3, pages
    with open(path, "r+b") as f:
        f.seek((pages[len(pages) // 2] - 1) * 4096)
        f.write(b"\xde\xad" * 2048)


def test_read_only_mount_metrics_export_and_batch(tmp_path: Path, server: FakeServer) -> None:
    src = tmp_path / "src"
    for i in range(3):
        write_image(src / f"p{i}.png", (64, 48), (40 * i, 90, 90))
    first = cli("batch", src, "--limit", "2", *server_args(server))
    assert first.returncode == 0, first.stderr
    own = src / STORE_DIR_NAME / "annotations.sqlite"
    before = own.read_bytes()
    with read_only_bind_mount(src, tmp_path / "mnt") as mnt:
        ro_store = mnt / STORE_DIR_NAME / "annotations.sqlite"
        out = cli("metrics", "--store", ro_store, "--json")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["items"] == 3 and json.loads(out.stdout)["with_model_verdict"] == 2
        target = tmp_path / "out.jsonl"
        out = cli("export", "--store", ro_store, "--format", "jsonl", "-o", target)
        assert out.returncode == 0, out.stderr
        assert len(target.read_text().splitlines()) == 3
        one_line_exit_2(cli("export", "--store", ro_store, "--format", "jsonl"), "read-only", "-o FILE")
        csv_file = make_csv(tmp_path / "ann.csv", [["p2.png", "yes", "gore", "x", "y"]])
        one_line_exit_2(cli("import", csv_file, "--store", ro_store), "cannot be written", "read-only file system")
        check = cli("store", "check", ro_store)
        assert check.returncode == 0 and "sound" in check.stdout and "3 items" in check.stdout

        requests = server.stats.requests
        line = one_line_exit_2(cli("batch", mnt, *server_args(server)), "read-only", "--store")
        copy = Path(line.split("--store ")[1].split(" (")[0])
        assert copy == fallback_store_path(mnt) and not copy.exists()
        one_line_exit_2(cli("batch", mnt, "--store", ro_store, *server_args(server)), "read-only")
        assert server.stats.requests == requests  # nothing was debated, nothing paid

        # the --store it names starts as a copy: the two debated items are not paid again
        out = cli("batch", mnt, "--store", copy, *server_args(server))
        assert out.returncode == 0, out.stderr
        assert "starts as a copy of the read-only store" in out.stderr and "2 already done or decided" in out.stderr
        assert server.stats.requests - requests == 5
        with Store.open(copy) as s:
            assert s.counts().by_status["debated"] == 3 and s.root == mnt
    assert own.read_bytes() == before


def test_a_damaged_store_is_one_line_and_exit_2_from_every_command(tmp_path: Path, server: FakeServer) -> None:
    folder = tmp_path / "proj"
    write_image(folder / "p0.png", (64, 48))
    path = store_with_items(folder / STORE_DIR_NAME / "annotations.sqlite")
    with Store.open(path) as s:
        backup = s.backup()
    damage(path, "items")
    csv_file = make_csv(tmp_path / "ann.csv", [["p0.png", "yes", "gore", "x", "y"]])
    for argv in (
        ["metrics", "--store", path],
        ["export", "--store", path, "--format", "jsonl", "-o", tmp_path / "x.jsonl"],
        ["import", csv_file, "--store", path],
        ["batch", folder, *server_args(server)],
        ["batch", folder, "--store", path, *server_args(server)],
    ):
        one_line_exit_2(cli(*argv), "is damaged", f"latest backup: {backup}", "store recover")
    assert server.stats.requests == 0
    assert not (tmp_path / "x.jsonl").exists()
    assert not fallback_store_path(folder).exists()

    out = cli("store", "check", path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stdout.count("problem: ") >= 1 and f"newest {backup}" in out.stdout
    assert len(out.stderr.strip().splitlines()) == 1 and "is damaged" in out.stderr


def test_damage_met_while_reading_is_one_line_too(tmp_path: Path) -> None:
    """Transcript pages of a big store are checked when read: metrics and export meet them."""
    path = store_with_items(tmp_path / "s.sqlite")
    with Store.open(path) as s:
        backup = s.backup()  # today's backup is taken: no whole check at the next open
    damage(path, "turns")
    code = (
        "import sys; from vhd_gui import store; store.QUICK_CHECK_WHOLE_BYTES = 0; "
        "from vhd_gui.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for argv in (["export", "--store", str(path), "--format", "jsonl", "-o", str(tmp_path / "x.jsonl")],):
        out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env, timeout=300)
        one_line_exit_2(out, "is damaged", f"latest backup: {backup}")


@pytest.mark.parametrize("method", ["sqlite3-cli", "rows"])
def test_recover_saves_what_is_readable_and_says_what_was_lost(tmp_path: Path, method: str) -> None:
    if method == "sqlite3-cli" and sqlite3_cli() is None:
        pytest.skip("no sqlite3 program whose .recover works here (Debian 12's is built without sqlite_dbpage)")
    folder = tmp_path / "proj"
    path = store_with_items(folder / STORE_DIR_NAME / "annotations.sqlite")
    damage(path, "items")
    damaged_bytes = path.read_bytes()
    out_path = tmp_path / "recovered.sqlite"
    out = cli("store", "recover", path, out_path, "--method", method)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    items_line = next(line for line in out.stdout.splitlines() if line.strip().startswith("items"))
    copied = int(items_line.split()[1])
    assert 0 < copied < 300 and f"at least {300 - copied} lost" in items_line
    assert path.read_bytes() == damaged_bytes  # the damaged file is left as it was
    with Store.open(out_path) as s:
        assert s.integrity_check() == "ok" and s.count() == copied and s.root == folder
        # every surviving item keeps its debate and its person's decision, states recomputed
        for row in s.page(limit=None):
            n = int(row.path[4:8])
            assert row.model_label == ("yes" if n % 3 else "no")
            if n % 4 == 0:
                assert row.human_label == "no" and s.human_decision(row.path).note == f"person {n}"  # type: ignore[union-attr]
            else:
                assert row.human_label is None
        assert s.counts().reviewed == sum(1 for p in s.paths() if int(p[4:8]) % 4 == 0)
    check = cli("store", "check", out_path)
    assert check.returncode == 0 and "sound" in check.stdout


def test_recover_of_a_sound_store_loses_nothing_and_never_replaces_a_file(tmp_path: Path) -> None:
    path = store_with_items(tmp_path / "s.sqlite", n=40)
    out_path = tmp_path / "copy.sqlite"
    out = cli("store", "recover", path, out_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "nothing was lost" in out.stdout
    with Store.open(path) as a, Store.open(out_path) as b:
        assert [r for r in a.verdict_rows()] == [r for r in b.verdict_rows()]
        assert a.decision_history("img_0004.png") == b.decision_history("img_0004.png")
    out_path.write_text("mine")
    one_line_exit_2(cli("store", "recover", path, out_path), "already exists")
    assert out_path.read_text() == "mine"
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no work files left behind


def test_store_check_of_a_sound_store_and_files_that_are_no_store(tmp_path: Path) -> None:
    path = store_with_items(tmp_path / "s.sqlite", n=10)
    out = cli("store", "check", path)
    assert out.returncode == 0, out.stderr
    assert "sound" in out.stdout and "10 items" in out.stdout and "backups: none yet" in out.stdout

    empty = tmp_path / "empty.sqlite"
    empty.touch()
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    newer = tmp_path / "newer.sqlite"
    shutil.copyfile(path, newer)
    conn = sqlite3.connect(newer)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    for target, words in ((empty, "empty file"), (other, "not an annotation store"), (newer, "newer vhd-annotator")):
        for argv in (["metrics", "--store", target], ["export", "--store", target, "--format", "jsonl", "-o", tmp_path / "x"],
                     ["store", "check", target], ["store", "recover", target, tmp_path / "r.sqlite"]):
            if target == empty and argv[:2] == ["store", "recover"]:
                one_line_exit_2(cli(*argv), "not an annotation store", "nothing readable")
            else:
                one_line_exit_2(cli(*argv), words)
    assert empty.stat().st_size == 0 and not (tmp_path / "r.sqlite").exists()


def test_recover_of_a_schema_1_store_gives_a_current_store(tmp_path: Path) -> None:
    source = tmp_path / "old.sqlite"
    shutil.copyfile(Path(__file__).parent / "data" / "store_v1.sqlite", source)
    out = cli("store", "recover", source, tmp_path / "new.sqlite", "--method", "rows")
    assert out.returncode == 0, out.stdout + out.stderr
    with Store.open(tmp_path / "new.sqlite") as s, Store.open(source) as upgraded:
        assert s.schema_version == upgraded.schema_version
        assert s.verdict_rows() == upgraded.verdict_rows()
        assert s.get_record("cats/kitten.jpg").debate.turns == upgraded.get_record("cats/kitten.jpg").debate.turns  # type: ignore[union-attr]


def test_human_import_records_the_settings_reviewer_else_the_system_user(tmp_path: Path) -> None:
    """Real subprocesses: no --reviewer takes the settings file's name, else $LOGNAME's."""
    src = make_csv(tmp_path / "ann.csv", [["a.png", "yes", "gore", "x", "y"]])
    env = {**os.environ, "PYTHONPATH": str(REPO), "LOGNAME": "sysuser"}
    config = Path(env["XDG_CONFIG_HOME"]) / "vhd-annotator"

    def run(store: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "vhd_gui", "import", str(src), "--store", str(store), "--as", "human", *extra]
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)

    done = run(tmp_path / "one.sqlite")
    assert done.returncode == 0, done.stderr
    assert "human decisions of sysuser" in done.stdout
    config.mkdir(parents=True, exist_ok=True)
    (config / "settings.toml").write_text('reviewer = "Ana Li"\n', encoding="utf-8")
    assert run(tmp_path / "two.sqlite").returncode == 0
    bad = run(tmp_path / "three.sqlite", "--reviewer", " ")
    assert bad.returncode == 2 and "--reviewer: a reviewer name cannot be blank" in bad.stderr
    assert not (tmp_path / "three.sqlite").exists()
    for name, who in (("one.sqlite", "sysuser"), ("two.sqlite", "Ana Li")):
        with Store.open(tmp_path / name) as s:
            entry = s.human_decision("a.png")
            assert entry is not None and entry.reviewer == who


def test_store_project_shows_and_changes_the_team_settings(tmp_path: Path) -> None:
    store_path = tmp_path / "s.sqlite"
    with Store.open(store_path) as s:
        s.upsert_items([("a.png", "image", 1, 1.0), ("b.png", "image", 1, 1.0)])
        s.record_decision("a.png", "yes", reviewer="ana")
        s.record_decision("a.png", "no", reviewer="bo")
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "vhd_gui", "store", "project", str(store_path), *argv], env=env, capture_output=True, text=True, timeout=120)

    shown = run()
    assert shown.returncode == 0, shown.stderr
    assert "resolution   latest" in shown.stdout and "0 disputed" in shown.stdout and "reviewers: ana 1, bo 1" in shown.stdout
    changed = run("--overlap", "2", "--resolution", "majority", "--blind")
    assert changed.returncode == 0, changed.stderr
    assert "changed: overlap 1 -> 2; resolution latest -> majority; blind no -> yes" in changed.stdout
    assert "0 of 2 items decided by 2 people, 0 by fewer, 1 disputed" in changed.stdout
    as_json = json.loads(run("--json").stdout)
    assert (as_json["overlap"], as_json["resolution"], as_json["blind"], as_json["disputed"]) == (2, "majority", True, 1)
    refused = run("--resolution", "adjudicator")
    assert refused.returncode == 2 and "needs an adjudicator" in refused.stderr and refused.stderr.count("\n") == 1
    assert run("--overlap", "0").returncode == 2
    adjudicated = run("--resolution", "adjudicator", "--adjudicator", "bo", "--no-blind")
    assert adjudicated.returncode == 0 and "0 disputed" in adjudicated.stdout
    with Store.open(store_path) as s:
        assert s.row("a.png").final_label == "no"  # type: ignore[union-attr]


def test_recover_keeps_the_team_settings_and_every_reviewers_decision(tmp_path: Path) -> None:
    path = tmp_path / "team.sqlite"
    with Store.open(path) as s:
        s.upsert_items([("a.png", "image", 1, 1.0)])
        s.set_project_settings(overlap=3, resolution="majority", blind=True)
        for name, label in (("ana", "no"), ("bo", "no"), ("cy", "yes")):  # the latest says yes, the majority no
            s.record_decision("a.png", label, reviewer=name)
        settings = s.project_settings()
    out = cli("store", "recover", path, tmp_path / "copy.sqlite")
    assert out.returncode == 0, out.stdout + out.stderr
    with Store.open(tmp_path / "copy.sqlite") as b:
        assert b.project_settings() == settings
        row = b.row("a.png")
        assert row is not None and (row.final_label, row.reviewer_count, row.disputed) == ("no", 3, False)
