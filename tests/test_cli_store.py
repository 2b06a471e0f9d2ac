"""`vhd-annotator import` / `export` through the real entry point: output lines and exit codes."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from vhd_gui.cli import main
from vhd_gui.record import DebateRecord
from vhd_gui.store import STORE_DIR_NAME, Store

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
