"""The window's own annotation file goes through the export writer: a symlink stays a symlink,
the file's mode is kept, and a device is never replaced (its write error is said, not hidden)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from conftest import key, opened, select, wait_until
from PySide6.QtCore import Qt

pytestmark = [pytest.mark.gui, pytest.mark.asyncio(loop_scope="session")]


async def test_annotation_file_through_a_symlink_keeps_link_and_mode(make_window: Any, media_folder: Path, qtbot: Any, tmp_path: Path) -> None:
    real = tmp_path / "shared" / "labels.json"
    real.parent.mkdir()
    real.write_text("[]\n")
    real.chmod(0o640)
    link = tmp_path / "labels-link.json"
    link.symlink_to(real)
    w = await opened(make_window, media_folder)
    w.ui_prefs["export_path"] = str(link)
    written: list[str] = []
    w.did_write_annotations.connect(written.append)
    select(w, "b_beach.png")
    key(qtbot, w, Qt.Key.Key_N)
    await wait_until(lambda: written, what="the annotation file")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert [(r["imagePath"], r["decision"]) for r in json.loads(real.read_text())] == [("b_beach.png", "no")]
    assert sorted(p.name for p in real.parent.iterdir()) == ["labels.json"]


async def test_annotation_file_on_a_full_device_is_an_error_and_the_device_stays(make_window: Any, media_folder: Path, qtbot: Any, tmp_path: Path) -> None:
    full = tmp_path / "full"
    try:
        os.mknod(full, 0o666 | stat.S_IFCHR, os.stat("/dev/full").st_rdev)
        full.open("w").close()
    except PermissionError:
        pytest.skip("a device node needs root (CAP_MKNOD) and a folder mounted without nodev")
    w = await opened(make_window, media_folder)
    w.ui_prefs["export_path"] = str(full)
    select(w, "b_beach.png")
    key(qtbot, w, Qt.Key.Key_N)
    await wait_until(lambda: "Could not write the annotation file" in w.statusBar().currentMessage(), what="the error")
    assert "No space left on device" in w.statusBar().currentMessage()
    assert stat.S_ISCHR(full.lstat().st_mode) and full.stat().st_rdev == os.stat("/dev/full").st_rdev
    assert w.store.get_record("b_beach.png").final_label == "no"  # the decision itself is kept
    w.ui_prefs["export_path"] = ""  # so that closing the window writes where it may
