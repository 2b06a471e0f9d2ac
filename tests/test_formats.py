"""VHD11K CSV/JSON and JSONL import/export on real stores and files."""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest

from vhd_gui.formats import (
    IMPORT_PRESET,
    FormatError,
    decode_bytes,
    export_store,
    import_file,
    name_variants,
    open_output,
)
from vhd_gui.record import DebateRecord, TurnRecord
from vhd_gui.store import Store

HEADER = [
    "imagePath",
    "decision",
    "harmfulType",
    "affirmativeDebater_argument_0",
    "affirmativeDebater_argument_1",
    "negativeDebater_argument_0",
    "negativeDebater_argument_1",
]

TRICKY_ROWS = [
    ["images/café_noir.png", "yes", "Violence", 'He says "stop",\nthen fires.', "None", "Résumé: nothing, really", "None"],
    ["images/dog.png", "no", "not harmful", "Sharp teeth.", "Still sharp.", "A dog, 'happy'.", "Just a dog;\r\nno harm."],
    ["images/refused.png", "yes", "API refuse to answer", "None", "None", "None", "None"],
    ["images/err.png", "error", "error", "None", "None", "None", "None"],
    ["images/ümlaut ñ.png", "no", "a quiet street", "", "x", "y", "z"],
]


def write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8") -> Path:
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\r\n").writerows([header, *rows])
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    folder = tmp_path / "project"
    folder.mkdir()
    s = Store.for_folder(folder)
    yield s
    s.close()


def _encodable(row: list[str], encoding: str) -> bool:
    try:
        "".join(row).encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


def as_dicts(rows: list[list[str]], header: list[str] = HEADER) -> list[dict[str, str]]:
    return [dict(zip(header, r, strict=False)) for r in rows]


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1", "utf-8-sig"])
def test_vhd11k_csv_round_trip(store: Store, tmp_path: Path, encoding: str) -> None:
    rows = [r for r in TRICKY_ROWS if _encodable(r, encoding)]
    assert len(rows) == len(TRICKY_ROWS)  # every tricky row survives Latin-1 too
    src = write_csv(tmp_path / "in.csv", HEADER, rows, encoding)
    report = import_file(store, src)
    assert (report.added, report.updated, report.skipped, report.malformed) == (len(rows), 0, 0, [])
    out = tmp_path / "out.csv"
    written = export_store(store, "vhd11k-csv", out)
    assert [f.path for f in written] == [out]
    assert list(read_csv(out)[0]) == HEADER
    assert sorted(read_csv(out), key=lambda r: r["imagePath"]) == sorted(as_dicts(rows), key=lambda r: r["imagePath"])


def test_latin1_bytes_are_decoded(tmp_path: Path) -> None:
    text, encoding = decode_bytes("café".encode("latin-1"))
    assert text == "café" and encoding in ("cp1252", "latin-1")
    assert decode_bytes("café".encode()) == ("café", "utf-8")
    assert decode_bytes(b"\xef\xbb\xbfok") == ("ok", "utf-8")
    assert decode_bytes(b"\x81\x8d") == ("\x81\x8d", "latin-1")  # bytes cp1252 leaves undefined


def test_vhd11k_json_round_trip_with_video_and_critic(store: Store, tmp_path: Path) -> None:
    header = ["videoPath", *HEADER[1:], "critic"]
    entries = as_dicts([r + ["The judge missed the knife."] for r in TRICKY_ROWS[:2]], header)
    entries.append(dict(zip(header, ["clips/日本語 clip.mp4", "yes", "gore", "a", "b", "c", "d", "None"], strict=False)))
    entries[1]["negativeDebater_argument_1"] = None  # JSON null means a missing turn too
    src = tmp_path / "in.json"
    src.write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    report = import_file(store, src)
    assert report.format == "vhd11k-json" and report.added == 3
    rec = store.get_record("clips/日本語 clip.mp4")
    assert rec is not None and rec.kind == "video" and rec.debate is not None
    assert rec.debate.preset_name == IMPORT_PRESET and rec.debate.critic is None
    out = tmp_path / "out.json"
    export_store(store, "vhd11k-json", out)
    back = json.loads(out.read_text(encoding="utf-8"))
    entries[1]["negativeDebater_argument_1"] = "None"
    assert sorted(back, key=lambda r: r["videoPath"]) == sorted(entries, key=lambda r: r["videoPath"])
    assert list(back[0]) == header


def test_import_is_idempotent_and_reports_updates(store: Store, tmp_path: Path) -> None:
    src = write_csv(tmp_path / "in.csv", HEADER, TRICKY_ROWS)
    import_file(store, src)
    again = import_file(store, src)
    assert (again.added, again.updated, again.skipped) == (0, 0, len(TRICKY_ROWS))
    changed = [list(r) for r in TRICKY_ROWS]
    changed[1][1], changed[1][2] = "yes", "animal abuse"
    third = import_file(store, write_csv(tmp_path / "changed.csv", HEADER, changed))
    assert (third.added, third.updated, third.skipped) == (0, 1, len(TRICKY_ROWS) - 1)
    assert store.get_record("images/dog.png").debate_count == 2  # type: ignore[union-attr]


def test_imported_rows_become_debates(store: Store, tmp_path: Path) -> None:
    import_file(store, write_csv(tmp_path / "in.csv", HEADER, TRICKY_ROWS))
    refused = store.get_record("images/refused.png")
    assert refused is not None and refused.debate is not None
    assert refused.final_label == "yes" and refused.debate.flags == ["api_refused"] and refused.debate.turns == []
    err = store.get_record("images/err.png")
    assert err is not None and err.status == "error" and err.debate.error_kind == "api"  # type: ignore[union-attr]
    cafe = store.get_record("images/café_noir.png")
    assert cafe is not None and cafe.debate is not None
    assert [(t.role, t.round) for t in cafe.debate.turns] == [("affirmative", 0), ("negative", 0)]
    assert cafe.debate.argument("affirmative", 0) == 'He says "stop",\nthen fires.'


def test_import_never_replaces_a_human_decision(store: Store, tmp_path: Path) -> None:
    src = write_csv(tmp_path / "in.csv", HEADER, TRICKY_ROWS)
    import_file(store, src)
    store.record_decision("images/dog.png", "yes", category="animal abuse", reviewer="ann")
    changed = [list(r) for r in TRICKY_ROWS]
    changed[1][6] = "new argument"
    import_file(store, write_csv(tmp_path / "changed.csv", HEADER, changed))
    rec = store.get_record("images/dog.png")
    assert rec is not None and rec.human is not None and rec.human.label == "yes" and rec.status == "overridden"
    # and the export's decision is the human's
    export_store(store, "vhd11k-csv", tmp_path / "out.csv")
    dog = next(r for r in read_csv(tmp_path / "out.csv") if r["imagePath"] == "images/dog.png")
    assert (dog["decision"], dog["harmfulType"]) == ("yes", "animal abuse")


def test_import_as_human_records_history_and_reports_conflicts(store: Store, tmp_path: Path) -> None:
    src = write_csv(tmp_path / "in.csv", HEADER, TRICKY_ROWS)
    report = import_file(store, src, as_human=True, reviewer="ann")
    assert report.added == 4 and [p.reason for p in report.malformed] == ["a human decision must be yes or no"]
    entry = store.human_decision("images/dog.png")
    assert entry is not None and (entry.label, entry.reviewer, entry.source) == ("no", "ann", "import")
    assert import_file(store, src, as_human=True, reviewer="ann").skipped == 4
    changed = [list(r) for r in TRICKY_ROWS]
    changed[1][1] = "yes"
    conflict = import_file(store, write_csv(tmp_path / "c.csv", HEADER, changed), as_human=True, reviewer="ann")
    assert [p.path for p in conflict.conflicts] == ["images/dog.png"]  # ann's own decision is never replaced
    assert store.human_decision("images/dog.png").label == "no"  # type: ignore[union-attr]
    assert len(store.decision_history("images/dog.png")) == 1
    # another reviewer's file is kept beside ann's decisions, not against them
    second = import_file(store, write_csv(tmp_path / "c.csv", HEADER, changed), as_human=True, reviewer="bob")
    assert (second.added, second.conflicts) == (4, [])
    assert {r: e.label for r, e in store.standing_decisions("images/dog.png").items()} == {"ann": "no", "bob": "yes"}


def test_malformed_rows_are_reported_with_reasons(store: Store, tmp_path: Path) -> None:
    rows = [
        ["a.png", "yes", "violence", "x", "y", "z", "w"],
        ["b.png", "perhaps", "?", "x", "y", "z", "w"],
        ["", "no", "empty path", "x", "y", "z", "w"],
        ["c.png", "no", "short row"],
    ]
    report = import_file(store, write_csv(tmp_path / "bad.csv", HEADER, rows))
    assert report.added == 1
    reasons = {p.line: p.reason for p in report.malformed}
    assert set(reasons) == {3, 4, 5}
    assert "perhaps" in reasons[3] and "imagePath" in reasons[4] and "fields" in reasons[5]


def test_unreadable_files_raise_format_error(store: Store, tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("name,label\na,b\n")
    with pytest.raises(FormatError, match="imagePath"):
        import_file(store, tmp_path / "x.csv")
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(FormatError):
        import_file(store, tmp_path / "x.json")
    with pytest.raises(FormatError):
        import_file(store, tmp_path / "missing.csv")


# --------------------------------------------------------------------------- matching media by name


def test_rows_match_media_by_name_including_cp437_mojibake(store: Store, tmp_path: Path) -> None:
    root = store.root
    (root / "vids").mkdir()
    mangled = "日本語 clip.mp4".encode().decode("cp437")
    (root / "vids" / mangled).write_bytes(b"v")
    (root / "imgs" / "deep").mkdir(parents=True)
    (root / "imgs" / "deep" / "cat.png").write_bytes(b"i")
    (root / "a").mkdir()
    (root / "b").mkdir()
    (root / "a" / "twin.png").write_bytes(b"1")
    (root / "b" / "twin.png").write_bytes(b"2")
    header = ["videoPath", *HEADER[1:]]
    write_csv(tmp_path / "v.csv", header, [["日本語 clip.mp4", "yes", "gore", "a", "b", "c", "d"]])
    report = import_file(store, tmp_path / "v.csv")
    assert report.added == 1 and report.unmatched == 0
    assert store.paths() == [f"vids/{mangled}"]
    rows = [
        ["/home/someone/VHD11K/harmful_images/cat.png", "no", "a cat", "a", "b", "c", "d"],
        ["C:\\data\\b\\twin.png", "no", "second twin", "a", "b", "c", "d"],
        ["twin.png", "no", "which twin?", "a", "b", "c", "d"],
        ["nowhere/ghost.png", "no", "no file", "a", "b", "c", "d"],
    ]
    report = import_file(store, write_csv(tmp_path / "i.csv", HEADER, rows))
    assert report.added == 3 and report.unmatched == 1
    assert [p.line for p in report.malformed] == [4] and "several" in report.malformed[0].reason
    assert store.has_item("imgs/deep/cat.png") and store.has_item("b/twin.png") and store.has_item("nowhere/ghost.png")
    assert store.get_record("imgs/deep/cat.png").size == 1  # type: ignore[union-attr]


def test_name_variants() -> None:
    name = "ü.mp4"
    mangled = name.encode("utf-8").decode("cp437")
    assert mangled in name_variants(name)
    assert name in name_variants(mangled)


# --------------------------------------------------------------------------- exports


def _engine_record(path: str, kind: str = "image", critic: bool = False, rounds: int = 2) -> DebateRecord:
    turns = [TurnRecord(role, r, f"{role} {r}") for r in range(rounds) for role in ("affirmative", "negative")]
    turns.append(TurnRecord("judge", 0, "Yes, violence."))
    if critic:
        turns.append(TurnRecord("critic", 0, "The judge may be wrong."))
    return DebateRecord(path=path, kind=kind, status="debated", decision="yes", harmful_type="violence", turns=turns, rounds=rounds)


def test_mixed_store_exports_two_vhd11k_files(store: Store, tmp_path: Path) -> None:
    store.record_debate(_engine_record("a.png", critic=True, rounds=3))
    store.record_debate(_engine_record("b.mp4", kind="video"))
    store.upsert_items([("new.png", "image", 1, 1.0)])  # no decision yet: not exported
    written = export_store(store, "vhd11k-csv", tmp_path / "x.csv")
    assert [(f.path.name, f.rows, f.kind) for f in written] == [("x_images.csv", 1, "image"), ("x_videos.csv", 1, "video")]
    images = read_csv(tmp_path / "x_images.csv")
    assert list(images[0]) == [
        "imagePath",
        "decision",
        "harmfulType",
        *(f"affirmativeDebater_argument_{i}" for i in range(3)),
        *(f"negativeDebater_argument_{i}" for i in range(3)),
        "critic",
    ]
    assert images[0]["critic"] == "The judge may be wrong." and images[0]["negativeDebater_argument_2"] == "negative 2"
    videos = read_csv(tmp_path / "x_videos.csv")
    assert "critic" not in videos[0] and videos[0]["videoPath"] == "b.mp4"


def test_jsonl_round_trip_keeps_debates_and_history(store: Store, tmp_path: Path) -> None:
    store.record_debate(_engine_record("a.png", critic=True))
    store.record_decision("a.png", "no", note="a film still", reviewer="ann")
    store.record_decision("a.png", "yes", category="gore", reviewer="bob")
    store.undo_decision("a.png", reviewer="bob")
    store.upsert_items([("plain.png", "image", 5, 5.0)])
    out = tmp_path / "all.jsonl"
    assert export_store(store, "jsonl", out)[0].rows == 2
    other_folder = tmp_path / "other"
    other_folder.mkdir()
    with Store.for_folder(other_folder) as other:
        first = import_file(other, out)
        assert (first.added, first.skipped) == (1, 1)  # the bare item has nothing to import
        assert import_file(other, out).skipped == 2
        rec = other.get_record("a.png")
        assert rec is not None and rec.human is not None and rec.human.label == "no" and rec.human.note == "a film still"
        assert [e.action for e in rec.history] == ["set", "set", "undo"]
        assert rec.debate is not None and rec.debate.to_dict() == store.get_record("a.png").debate.to_dict()  # type: ignore[union-attr]


def test_jsonl_accepts_a_bare_debate_record(store: Store, tmp_path: Path) -> None:
    src = tmp_path / "one.jsonl"
    src.write_text(json.dumps(_engine_record("x/y.png").to_dict()) + "\n\nnot json\n", encoding="utf-8")
    report = import_file(store, src)
    assert report.added == 1 and len(report.malformed) == 1 and report.malformed[0].line == 3
    assert store.get_record("x/y.png").debate.judge_raw == ""  # type: ignore[union-attr]


def test_hf_metadata_lists_final_labels(store: Store, tmp_path: Path) -> None:
    store.record_debate(_engine_record("a.png"))
    store.record_debate(_engine_record("b.png"))
    store.record_decision("b.png", "no")
    store.upsert_items([("c.png", "image", 1, 1.0)])
    out = tmp_path / "metadata.jsonl"
    export_store(store, "hf-metadata", out)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["file_name"], r["label"], r["label_source"], r["category"]) for r in rows] == [
        ("a.png", "yes", "model", "violence"),
        ("b.png", "no", "human", ""),
    ]


def test_atomic_writer_leaves_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with open_output(target) as fh:
            fh.write("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_absolute_row_path_inside_the_folder(store: Store, tmp_path: Path) -> None:
    (store.root / "sub").mkdir()
    (store.root / "sub" / "x.png").write_bytes(b"x")
    row = [str(store.root / "sub" / "x.png"), "no", "fine", "a", "b", "c", "d"]
    report = import_file(store, write_csv(tmp_path / "abs.csv", HEADER, [row]))
    assert report.added == 1 and report.unmatched == 0 and store.paths() == ["sub/x.png"]


# --------------------------------------------------------------------------- where exports write


def export_cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "vhd_gui", "export", *args], capture_output=True, timeout=300)


@pytest.fixture
def labelled(store: Store) -> Store:
    store.record_debate(_engine_record("a.png"))
    store.record_debate(_engine_record("b.png"))
    store.record_decision("b.png", "no")
    return store


def test_dash_writes_the_export_to_standard_output(labelled: Store, tmp_path: Path) -> None:
    out = export_cli("--store", str(labelled.path), "--format", "jsonl", "-o", "-")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.decode("utf-8").splitlines()]
    assert [r["path"] for r in rows] == ["a.png", "b.png"]
    assert out.stderr.decode().strip() == "wrote standard output (2 rows)"
    assert not (tmp_path / "-").exists() and not (Path.cwd() / "-").exists()


def test_dash_refuses_images_and_videos_together(labelled: Store) -> None:
    labelled.record_debate(_engine_record("c.mp4", kind="video"))
    out = export_cli("--store", str(labelled.path), "--format", "vhd11k-csv", "-o", "-")
    assert out.returncode == 2 and out.stdout == b""
    assert b"separate vhd11k-csv files" in out.stderr and len(out.stderr.splitlines()) == 1


def test_a_symlink_is_followed_and_its_target_replaced(labelled: Store, tmp_path: Path) -> None:
    real = tmp_path / "data" / "real.jsonl"
    real.parent.mkdir()
    real.write_text("stale\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(real)
    chain = tmp_path / "chain.jsonl"
    chain.symlink_to(link)
    export_store(labelled, "jsonl", chain)
    assert chain.is_symlink() and link.is_symlink() and os.readlink(chain) == str(link)
    assert [json.loads(x)["path"] for x in real.read_text().splitlines()] == ["a.png", "b.png"]
    assert sorted(p.name for p in real.parent.iterdir()) == ["real.jsonl"]  # no temporary file left
    dangling = tmp_path / "dangling.jsonl"
    dangling.symlink_to(tmp_path / "data" / "new.jsonl")
    export_store(labelled, "jsonl", dangling)
    assert dangling.is_symlink() and (tmp_path / "data" / "new.jsonl").read_text().count("\n") == 2


def test_existing_mode_is_kept_and_a_new_file_follows_the_umask(labelled: Store, tmp_path: Path) -> None:
    kept = tmp_path / "kept.csv"
    kept.write_text("old")
    kept.chmod(0o640)
    export_store(labelled, "vhd11k-csv", kept)
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640 and kept.read_text().startswith("imagePath")
    if os.geteuid() == 0:  # only root may give a file away: then the owner is kept too
        os.chown(kept, 1234, 4321)
        export_store(labelled, "vhd11k-csv", kept)
        assert (kept.stat().st_uid, kept.stat().st_gid, stat.S_IMODE(kept.stat().st_mode)) == (1234, 4321, 0o640)
    old_umask = os.umask(0o027)
    try:
        export_store(labelled, "vhd11k-csv", tmp_path / "new.csv")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "new.csv").stat().st_mode) == 0o640  # 0666 less 027
    os.umask(0o002)
    try:
        export_store(labelled, "jsonl", tmp_path / "shared.jsonl")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "shared.jsonl").stat().st_mode) == 0o664


def test_a_fifo_is_written_through_to_its_reader(labelled: Store, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []

    def read() -> None:
        with open(fifo, "rb") as fh:
            received.append(fh.read())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        written = export_store(labelled, "hf-metadata", fifo)
    finally:
        reader.join(timeout=120)
    assert not reader.is_alive()
    assert stat.S_ISFIFO(fifo.lstat().st_mode)  # still a FIFO, not a file renamed over it
    rows = [json.loads(line) for line in received[0].decode("utf-8").splitlines()]
    assert [r["file_name"] for r in rows] == ["a.png", "b.png"] and written[0].rows == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["pipe", "project"])


def _device_copy(folder: Path, name: str, source: str) -> Path:
    node = folder / name
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.stat(source).st_rdev)
    except PermissionError:
        pytest.skip("making a device node needs root (CAP_MKNOD)")
    return node


def test_a_device_node_is_written_through_and_kept(labelled: Store, tmp_path: Path) -> None:
    null = _device_copy(tmp_path, "null", "/dev/null")
    full = _device_copy(tmp_path, "full", "/dev/full")
    try:
        null.open("w").close()
    except PermissionError:
        pytest.skip(f"{tmp_path} is mounted nodev: device nodes there cannot be opened")
    assert export_store(labelled, "vhd11k-json", null)[0].rows == 2
    assert stat.S_ISCHR(null.lstat().st_mode) and null.stat().st_rdev == os.stat("/dev/null").st_rdev
    with pytest.raises(OSError) as failed:
        export_store(labelled, "vhd11k-json", full)
    assert failed.value.errno == errno.ENOSPC
    assert stat.S_ISCHR(full.lstat().st_mode) and full.stat().st_rdev == os.stat("/dev/full").st_rdev
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full", "null", "project"]
    out = export_cli("--store", str(labelled.path), "--format", "jsonl", "-o", str(full))
    assert out.returncode != 0 and out.stdout == b""
    assert out.stderr.decode().splitlines() == [f"vhd-annotator export: cannot write {full}: No space left on device"]


def test_dev_full_is_an_error_and_stays_a_device(labelled: Store) -> None:
    before = os.stat("/dev/full")
    assert stat.S_ISCHR(before.st_mode)
    out = export_cli("--store", str(labelled.path), "--format", "vhd11k-csv", "-o", "/dev/full")
    after = os.stat("/dev/full")
    assert stat.S_ISCHR(after.st_mode) and (after.st_rdev, after.st_ino) == (before.st_rdev, before.st_ino)
    assert out.returncode == 2 and out.stdout == b""
    assert out.stderr.decode().splitlines() == ["vhd-annotator export: cannot write /dev/full: No space left on device"]


def test_a_folder_a_socket_or_the_store_itself_is_refused(labelled: Store, tmp_path: Path) -> None:
    out = export_cli("--store", str(labelled.path), "--format", "jsonl", "-o", str(tmp_path))
    assert out.returncode == 2 and b"is a folder" in out.stderr and len(out.stderr.splitlines()) == 1
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(tmp_path / "sock"))
        out = export_cli("--store", str(labelled.path), "--format", "jsonl", "-o", str(tmp_path / "sock"))
    assert out.returncode == 2 and out.stderr.decode().endswith("is a socket, which cannot be written as a file\n")
    assert stat.S_ISSOCK((tmp_path / "sock").lstat().st_mode)
    size = labelled.path.stat().st_size
    out = export_cli("--store", str(labelled.path), "--format", "jsonl", "-o", str(labelled.path))
    assert out.returncode == 2 and b"is the annotation store itself" in out.stderr
    assert labelled.path.stat().st_size == size and labelled.get_record("a.png") is not None


# --------------------------------------------------------------------------- imports that cannot crash


def import_cli(src: Path, store_path: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "vhd_gui", "import", str(src), "--store", str(store_path)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def _no_traceback(out: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in out.stderr, out.stderr


def test_a_field_over_128_kb_is_read_and_an_absurd_one_is_a_malformed_row(store: Store, tmp_path: Path) -> None:
    long_text = "word " * 40_000  # 200,000 characters: over the csv module's default 131,072
    rows = [
        ["long.png", "yes", "violence", long_text, "None", "x", "None"],
        ["huge.png", "no", "fine", "y" * 1_000_001, "None", "x", "None"],
        ["after.png", "no", "fine", "a", "b", "c", "d"],
    ]
    out = import_cli(write_csv(tmp_path / "big.csv", HEADER, rows), store.path)
    _no_traceback(out)
    assert out.returncode == 1 and "2 added" in out.stdout and "1 malformed" in out.stdout
    assert "line 3 huge.png: affirmativeDebater_argument_0 has 1,000,001 characters" in out.stderr
    rec = store.get_record("long.png")
    assert rec is not None and rec.debate is not None and rec.debate.argument("affirmative", 0) == long_text
    assert store.has_item("after.png") and not store.has_item("huge.png")


def test_deeply_nested_json_is_a_reason_not_a_traceback(store: Store, tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    out = import_cli(deep, store.path)
    _no_traceback(out)
    assert out.returncode == 2 and out.stderr.strip().endswith("the JSON is nested too deeply to read (hundreds of levels of [ or {)")
    assert len(out.stderr.splitlines()) == 1
    lines = tmp_path / "deep.jsonl"
    good = json.dumps(_engine_record("ok.png").to_dict())
    nested = '{"path": "n.png", "debate": ' + "[" * 100_000 + "]" * 100_000 + "}"
    odd = json.dumps({"path": "odd.png", "debate": ["not", "an", "object"]})
    lines.write_text("\n".join([nested, good, odd]) + "\n", encoding="utf-8")
    out = import_cli(lines, store.path)
    _no_traceback(out)
    assert out.returncode == 1 and "1 added" in out.stdout and "2 malformed" in out.stdout
    assert "line 1: not JSON we can read: nested too deeply" in out.stderr
    assert "line 3 odd.png: bad record" in out.stderr


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"])
def test_utf16_and_utf32_are_detected_with_or_without_bom(store: Store, tmp_path: Path, encoding: str) -> None:
    src = write_csv(tmp_path / "wide.csv", HEADER, TRICKY_ROWS, encoding)  # "utf-16"/"utf-32" write a BOM
    assert (src.read_bytes()[:2] in (b"\xff\xfe", b"\xfe\xff")) == (encoding in ("utf-16", "utf-32"))
    out = import_cli(src, store.path)
    _no_traceback(out)
    assert out.returncode == 0, out.stderr
    named = encoding if encoding[-3:] in ("-le", "-be") else f"{encoding}-le"  # Python writes little-endian here
    assert f"(vhd11k-csv, {named})" in out.stdout and f"{len(TRICKY_ROWS)} added" in out.stdout
    assert store.has_item("images/ümlaut ñ.png") and store.has_item("images/café_noir.png")


def test_broken_utf16_and_binary_files_are_one_line_each(store: Store, tmp_path: Path) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_bytes("imagePath,decision\na.png,yes\n".encode("utf-16-le") + b"\x00\xd8")  # a lone surrogate
    out = import_cli(broken, store.path)
    _no_traceback(out)
    assert out.returncode == 2 and "looks like utf-16-le (by its zero bytes) but byte" in out.stderr
    assert "imagePath column" not in out.stderr and len(out.stderr.splitlines()) == 1
    binary = tmp_path / "photo.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    out = import_cli(binary, store.path)
    _no_traceback(out)
    assert out.returncode == 2 and "not a text file" in out.stderr and len(out.stderr.splitlines()) == 1


def test_an_unterminated_quote_is_reported_by_line_and_the_rows_after_it_are_read(store: Store, tmp_path: Path) -> None:
    text = (
        ",".join(HEADER) + "\r\n"
        + 'a.png,yes,gore,"two\r\nlines",x,y,z\r\n'  # lines 2-3: a quoted field over two lines is fine
        + 'd.png,no,fine,"closed"then text,q,r,s\r\n'  # line 4
        + "c.png,no,fine,p,q,r,s\r\n"
        + 'b.png,no,fine,"never closed,x,y,z\r\n'  # line 6
        + "e.png,yes,gore,p,q,r,s\r\n"
    )
    src = tmp_path / "quotes.csv"
    src.write_text(text, encoding="utf-8", newline="")
    out = import_cli(src, store.path)
    _no_traceback(out)
    assert out.returncode == 1 and "3 added" in out.stdout and "2 malformed" in out.stdout
    problems = [line.strip() for line in out.stderr.splitlines()]
    assert problems == [
        "malformed: line 4: text follows a closing quote: the quoting of this row is broken",
        "malformed: line 6: a quote opened on this line is never closed (it would run to the end of the file, line 7)",
    ]
    assert store.paths() == ["a.png", "c.png", "e.png"]
    # a quote left open that a later row's quote closes: named on its own line, the rows between are read
    src.write_text(",".join(HEADER) + '\r\nf.png,no,"open,x,y,z,w\r\ng.png,no,fine,p,q,r,s\r\nh.png,no,"x",p,q,r,s\r\n', encoding="utf-8")
    out = import_cli(src, store.path)
    assert out.returncode == 1 and "2 added" in out.stdout
    assert out.stderr.strip() == "malformed: line 2: a quote opened on this line does not close where the row ends (the quoted text runs on to line 4)"
    assert store.has_item("g.png") and store.has_item("h.png") and not store.has_item("f.png")
    assert store.get_record("a.png").debate.argument("affirmative", 0) == "two\r\nlines"  # type: ignore[union-attr]


def test_paths_that_climb_out_of_the_folder_are_refused(store: Store, tmp_path: Path) -> None:
    (store.root / "inside").mkdir()
    write_image_bytes = b"not really an image, only a name to match"
    (store.root / "inside" / "cat.png").write_bytes(write_image_bytes)
    rows = [
        ["../../x.png", "yes", "gore", "a", "b", "c", "d"],
        ["sub/../../../etc/y.png", "yes", "gore", "a", "b", "c", "d"],
        ["..\\..\\win.png", "no", "fine", "a", "b", "c", "d"],
        ["../../elsewhere/cat.png", "no", "fine", "a", "b", "c", "d"],  # its name is a file inside: matched
        ["/somewhere/else/dog.png", "no", "fine", "a", "b", "c", "d"],  # another machine's path: its name
        [str(store.root / "inside" / "new.png"), "no", "fine", "a", "b", "c", "d"],
        ["ok/../fine.png", "no", "fine", "a", "b", "c", "d"],
    ]
    out = import_cli(write_csv(tmp_path / "escape.csv", HEADER, rows), store.path)
    _no_traceback(out)
    assert out.returncode == 1 and "4 added" in out.stdout and "3 malformed" in out.stdout
    assert [line.split(": ")[1] for line in out.stderr.splitlines()] == ["line 2 ../../x.png", "line 3 sub/../../../etc/y.png", "line 4 ..\\..\\win.png"]
    assert "climbs out of the project folder" in out.stderr
    assert sorted(store.paths()) == ["dog.png", "fine.png", "inside/cat.png", "inside/new.png"]


def _as_nobody(action: Any) -> int:
    """Run ``action()`` in a forked child that has dropped root for uid/gid 65534; its exit code."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 3
        try:
            os.setgid(65534)
            os.setuid(65534)
            code = action()
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_a_file_the_user_may_not_write_is_refused_not_replaced() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root, to write as another user")
    shared = Path(tempfile.mkdtemp(prefix="vhd-ro-", dir="/tmp"))  # tmp_path is private to root
    try:
        shared.chmod(0o777)  # the folder is writable: only the file's own mode protects it
        protected = shared / "final.csv"
        protected.write_text("keep me\n")
        protected.chmod(0o444)

        def write(target: Path) -> int:
            try:
                with open_output(target) as fh:
                    fh.write("new\n")
            except PermissionError as exc:
                return 10 if "read-only to you" in str(exc) else 11
            return 0

        assert _as_nobody(lambda: write(protected)) == 10
        assert protected.read_text() == "keep me\n" and stat.S_IMODE(protected.stat().st_mode) == 0o444
        assert _as_nobody(lambda: write(shared / "new.csv")) == 0  # a new file beside it is fine
        assert (shared / "new.csv").stat().st_uid == 65534 and (shared / "new.csv").read_text() == "new\n"
    finally:
        shutil.rmtree(shared)
