"""The folder walk a window uses: small folders in its own process, big ones in a helper."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vhd_gui.checks import self_command
from vhd_gui.scanning import BATCH, FIRST_BATCH, SCAN_HELPER_FLAG, FolderScan, MediaError, MediaFile, scan

from helpers import write_image


def big_folder(root: Path, n: int) -> Path:
    """``n`` pictures in nested folders (hard links of one small picture: quick to make)."""
    one = write_image(root.parent / f"{root.name}-one.png", (8, 8))
    for i in range(n):
        sub = root / f"set{i % 7}" / f"part{i // 500}"
        sub.mkdir(parents=True, exist_ok=True)
        os.link(one, sub / f"img_{i:05d}.png")
    (root / "set0" / "notes.txt").write_text("not media")
    write_image(root / ".hidden" / "x.png", (4, 4))
    return root


def walk(fs: FolderScan) -> list[list[MediaFile]]:
    batches = []
    while batch := fs.next_batch():
        batches.append(batch)
    return batches


def flat(batches: list[list[MediaFile]]) -> list[MediaFile]:
    return [m for b in batches for m in b]


def test_a_big_folder_is_walked_by_the_helper_and_comes_out_as_a_walk_here_would(tmp_path: Path) -> None:
    root = big_folder(tmp_path / "m", 1900)
    fs = FolderScan(root, self_command(), in_process=FIRST_BATCH + BATCH)
    batches = walk(fs)
    assert fs.fallback == "" and not fs.in_helper  # the helper finished
    assert [len(b) for b in batches[:3]] == [FIRST_BATCH, BATCH, BATCH]  # something to show at once, then batches
    assert sum(map(len, batches)) == 1900
    assert flat(batches) == list(scan(root))  # the same files, in the same order, each once
    assert flat(batches)[0].path == root / flat(batches)[0].rel


def test_a_small_folder_never_starts_the_helper(tmp_path: Path) -> None:
    root = big_folder(tmp_path / "m", 30)
    fs = FolderScan(root, [sys.executable, "-c", "raise SystemExit('the helper was started')"], in_process=30)
    assert flat(walk(fs)) == list(scan(root)) and fs.fallback == ""


@pytest.mark.parametrize("helper", ["dies", "cannot start"])
def test_a_helper_that_dies_or_cannot_start_leaves_the_walk_to_this_process(tmp_path: Path, helper: str) -> None:
    root = big_folder(tmp_path / "m", 900)
    if helper == "dies":
        # One real batch (some of it given already), then gone with a word on stderr.
        script = textwrap.dedent("""
            import json, sys
            from vhd_gui.scanning import scan
            files = [[m.fs_path, m.rel, m.kind, m.size, m.mtime] for m in scan(sys.argv[-1])]
            print(json.dumps({"found": files[150:400]}), flush=True)
            sys.exit("killed by the test")
        """)
        command = [sys.executable, "-c", script]
    else:
        command = [str(tmp_path / "no-such-program")]
    fs = FolderScan(root, command, in_process=FIRST_BATCH)
    found = flat(walk(fs))
    assert sorted(m.rel for m in found) == sorted(m.rel for m in scan(root))  # every file, once
    assert len(found) == len({m.rel for m in found})
    assert ("killed by the test" if helper == "dies" else "could not start") in fs.fallback


def test_closing_stops_the_helper(tmp_path: Path) -> None:
    root = big_folder(tmp_path / "m", 3000)
    fs = FolderScan(root, self_command(), in_process=FIRST_BATCH)
    while not fs.in_helper:
        assert fs.next_batch()
    helper = fs._helper
    assert helper is not None
    fs.close()
    assert fs.next_batch() == []
    assert helper.wait(timeout=30) is not None


def test_a_missing_folder_is_one_media_error(tmp_path: Path) -> None:
    fs = FolderScan(tmp_path / "gone", self_command())
    with pytest.raises(MediaError, match="gone"):
        fs.next_batch()
    out = subprocess.run([*self_command(), SCAN_HELPER_FLAG, str(tmp_path / "gone")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and out.stdout.strip() == '{"error": "folder not found"}'


def test_the_helper_s_lines_are_ascii_whatever_the_names(tmp_path: Path) -> None:
    root = tmp_path / "m"
    write_image(root / "été" / "ünï.png", (4, 4))
    write_image(Path(os.fsdecode(os.fsencode(str(root)) + b"/bad\xff.png")), (4, 4))
    out = subprocess.run([*self_command(), SCAN_HELPER_FLAG, str(root)], capture_output=True, timeout=60,
                         env={**os.environ, "LC_ALL": "C", "PYTHONIOENCODING": "ascii"})
    assert out.returncode == 0 and out.stdout.isascii()
    fs = FolderScan(root, self_command(), in_process=0)  # everything from the helper
    from_helper = flat(walk(fs))
    assert fs.fallback == "" and [(m.rel, m.path) for m in from_helper] == [(m.rel, m.path) for m in scan(root)]
