"""File names that are not valid UTF-8, on a real folder: the scan, the store, exports, imports
and a `vhd-annotator batch` subprocess against the test server."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vhd_gui.filenames import is_escaped, to_fs, to_key
from vhd_gui.formats import export_store, import_file
from vhd_gui.media import MediaError, prepare, scan, thumbnail_jpeg
from vhd_gui.record import DebateRecord
from vhd_gui.store import Store

from fakeserver import FakeServer
from helpers import TEST_KEY, write_image, write_video

LATIN1_CAFE = b"caf\xe9.png"  # café in Latin-1: not UTF-8
KEY_CAFE = "caf\\xe9.png"  # its key: ten characters, a backslash among them
RED, GREEN = (200, 30, 30), (30, 200, 30)


def _make(folder: Path, name: bytes, colour: tuple[int, int, int] = RED) -> bytes:
    """An image whose name is the given bytes (written through a plain name, then renamed)."""
    plain = folder / "tmp-plain.png"
    write_image(plain, (48, 32), colour)
    target = os.fsencode(folder) + b"/" + name
    os.makedirs(os.path.dirname(target), exist_ok=True)
    os.rename(plain, target)
    return target


@pytest.fixture
def odd_folder(tmp_path: Path) -> Path:
    """A folder whose names are not all UTF-8: red images are harmful, green ones are not."""
    folder = tmp_path / "media"
    folder.mkdir()
    _make(folder, LATIN1_CAFE, RED)
    _make(folder, b"\xff\xfe broken.png", GREEN)
    _make(folder, b"d\xe8r/inner.png", RED)  # a folder name that is not UTF-8
    _make(folder, b"back\\slash \xe9.png", GREEN)  # a backslash in a name that needs escaping
    _make(folder, b"plain.png", GREEN)
    _make(folder, b"caf\\xe9.png", RED)  # valid UTF-8 that looks like an escape: escaped too
    return folder


EXPECTED_KEYS = {
    KEY_CAFE: "yes",
    "\\xff\\xfe broken.png": "no",
    "d\\xe8r/inner.png": "yes",
    "back\\\\slash \\xe9.png": "no",
    "plain.png": "no",
    "caf\\\\xe9.png": "yes",
}


def test_keys_are_text_unique_and_give_the_bytes_back() -> None:
    names = [
        b"plain.png", b"caf\xe9.png", "café.png".encode(), b"a\\b.png", b"a\\\\b.png", b"caf\\xe9.png",
        b"caf\\\\xe9.png", b"\\\xe9", b"\xe9\\", b"x\\x80\x80", b"\\x7f.png", b"\\xE9.png",
    ]
    keys = [to_key(n) for n in names]
    assert len(set(keys)) == len(names)
    for name, key in zip(names, keys, strict=True):
        key.encode("utf-8")  # valid text: SQLite, CSV, JSON and terminals take it
        assert os.fsencode(to_fs(key)) == name
    assert keys[:4] == ["plain.png", KEY_CAFE, "café.png", "a\\b.png"]  # UTF-8 names are their own keys
    assert keys[5] == "caf\\\\xe9.png" and is_escaped(keys[5])  # a look-alike is escaped, not mistaken
    assert not is_escaped("a\\b.png") and not is_escaped("\\xE9.png") and not is_escaped("\\x7f.png")


def test_scan_lists_every_name_and_the_store_keeps_the_real_file(odd_folder: Path) -> None:
    found = list(scan(odd_folder))
    assert sorted(m.rel for m in found) == sorted(EXPECTED_KEYS)
    with Store.for_folder(odd_folder) as store:
        store.upsert_items((m.rel, m.kind, m.size, m.mtime) for m in found)
        assert sorted(store.paths()) == sorted(EXPECTED_KEYS)
        for m in found:
            assert store.file_path(m.rel) == m.path and m.path.is_file()
            assert store.relative_path(m.path) == m.rel  # the real path maps back to the key
            assert store.relative_path(os.fsencode(m.path)) == m.rel  # so do its bytes
            assert store.relative_path(m.rel) == m.rel  # and a key to itself
        cafe = store.file_path(KEY_CAFE)
        assert os.fsencode(cafe) == os.fsencode(odd_folder) + b"/" + LATIN1_CAFE
        prepared = prepare(cafe)
        assert prepared.kind == "image" and prepared.images
        assert thumbnail_jpeg(store.file_path("d\\xe8r/inner.png"), 64).startswith(b"\xff\xd8")


def test_a_video_with_such_a_name_is_sampled_and_an_error_names_it_readably(tmp_path: Path) -> None:
    plain = write_video(tmp_path / "clip.avi", frames=12)
    odd = os.fsencode(tmp_path) + b"/clip \xe9.avi"
    os.rename(plain, odd)
    prepared = prepare(os.fsdecode(odd), frames=3)
    assert prepared.kind == "video" and len(prepared.images) == 3
    assert thumbnail_jpeg(os.fsdecode(odd), 64).startswith(b"\xff\xd8")
    broken = os.fsencode(tmp_path) + b"/broken \xe9.png"
    Path(os.fsdecode(broken)).write_bytes(b"not a picture at all")
    with pytest.raises(MediaError) as failed:
        prepare(os.fsdecode(broken))
    str(failed.value).encode("utf-8")  # can be stored, printed and exported
    assert "broken \\xe9.png" in str(failed.value)


def test_exports_write_the_escaped_key_and_imports_find_the_item_again(odd_folder: Path, tmp_path: Path) -> None:
    with Store.for_folder(odd_folder) as store:
        store.upsert_items((m.rel, m.kind, m.size, m.mtime) for m in scan(odd_folder))
        for key, decision in EXPECTED_KEYS.items():
            store.record_debate(DebateRecord(path=key, kind="image", status="debated", decision=decision, harmful_type="t"))
        export_store(store, "vhd11k-csv", tmp_path / "out.csv")
        export_store(store, "jsonl", tmp_path / "out.jsonl")
        export_store(store, "hf-metadata", tmp_path / "metadata.jsonl")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out.csv").read_text(encoding="utf-8"))))
    assert {r["imagePath"]: r["decision"] for r in rows} == EXPECTED_KEYS
    hf = [json.loads(line) for line in (tmp_path / "metadata.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {r["file_name"] for r in hf} == set(EXPECTED_KEYS)
    # A new store on the same folder: the keys from the export name the same files.
    other = tmp_path / "other.sqlite"
    with Store.open(other, root=odd_folder) as fresh:
        report = import_file(fresh, tmp_path / "out.csv", as_human=True, reviewer="ann")
        assert (report.added, report.unmatched, report.malformed) == (len(EXPECTED_KEYS), 0, [])
        assert {p: fresh.human_decision(p).label for p in fresh.paths()} == EXPECTED_KEYS  # type: ignore[union-attr]
        assert fresh.get_record(KEY_CAFE).size == os.stat(fresh.file_path(KEY_CAFE)).st_size  # type: ignore[union-attr]


def _judge_by_colour(body: dict[str, object]) -> str:
    import base64

    from PIL import Image

    user = [m for m in body["messages"] if m["role"] == "user"][-1]  # type: ignore[attr-defined, index]
    urls = [p["image_url"]["url"] for p in user["content"] if p.get("type") == "image_url"]
    im = Image.open(io.BytesIO(base64.b64decode(urls[-1].split(",", 1)[1]))).convert("RGB").resize((1, 1))
    r, g, _ = im.getpixel((0, 0))
    return "Yes, bloody scene." if r > g else "No, green field."


def test_batch_and_export_subprocesses_over_a_folder_with_such_names(odd_folder: Path, tmp_path: Path) -> None:
    env = {**os.environ, "VHD_KEY": TEST_KEY}
    store_path = tmp_path / "s.sqlite"
    with FakeServer(api_key=TEST_KEY, answers={"judge": _judge_by_colour}) as srv:
        out = subprocess.run(
            [sys.executable, "-m", "vhd_gui", "batch", str(odd_folder), "--store", str(store_path), "--no-cache",
             "--base-url", srv.base_url, "--model", "fake-vlm", "--api-key-env", "VHD_KEY"],
            env=env, capture_output=True, text=True, timeout=600,
        )
    assert "Traceback" not in out.stderr, out.stderr
    assert out.returncode == 0, out.stderr
    assert f"done {len(EXPECTED_KEYS)} · skipped 0 · failed 0" in out.stderr
    with Store.open(store_path, root=odd_folder) as store:
        # each verdict is the colour of its own file: the real bytes were read, not a look-alike
        assert {p: store.row(p).model_label for p in store.paths()} == EXPECTED_KEYS  # type: ignore[union-attr]
    exported = subprocess.run(
        [sys.executable, "-m", "vhd_gui", "export", "--store", str(store_path), "--format", "vhd11k-json", "-o", "-"],
        capture_output=True, timeout=300,
    )
    assert exported.returncode == 0, exported.stderr
    assert {r["imagePath"]: r["decision"] for r in json.loads(exported.stdout.decode("utf-8"))} == EXPECTED_KEYS


def test_debate_of_one_such_file_prints_its_escaped_name(tmp_path: Path) -> None:
    odd = _make(tmp_path, LATIN1_CAFE, RED)
    env = {**os.environ, "VHD_KEY": TEST_KEY, "LC_ALL": "C.UTF-8"}
    with FakeServer(api_key=TEST_KEY, answers={"judge": _judge_by_colour}) as srv:
        out = subprocess.run(
            [sys.executable, "-m", "vhd_gui", "debate", os.fsdecode(odd), "--json", "--rounds", "1",
             "--base-url", srv.base_url, "--model", "fake-vlm", "--api-key-env", "VHD_KEY"],
            env=env, capture_output=True, timeout=300,
        )
    assert out.returncode == 0 and b"Traceback" not in out.stderr, out.stderr
    record = json.loads(out.stdout.decode("utf-8"))
    assert record["path"].endswith("/" + KEY_CAFE) and record["decision"] == "yes"
