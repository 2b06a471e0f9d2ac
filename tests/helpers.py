"""Small helpers shared by the core tests (no Qt)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image

from vhd_gui.config import Settings

TEST_KEY_ENV = "VHD_TEST_KEY"
# The key every test server expects; tests also check that it never reaches a file or an output.
TEST_KEY = "sk-test-secret-0123456789abcdefghij"


def settings_for(base_url: str, *, model: str = "fake-vlm", **debate: object) -> Settings:
    """Settings that point every role at one test server; the key comes from $VHD_TEST_KEY."""
    s = Settings()
    for ep in s.endpoints.values():
        ep.base_url = base_url
        ep.model = model
        ep.api_key_env = TEST_KEY_ENV
    for key, value in debate.items():
        setattr(s, key, value)
    return s


def eventually(check: Callable[[], object], within: float = 30.0) -> bool:
    """Whether ``check`` comes true before ``within`` seconds pass (asked every 10 ms)."""
    end = time.monotonic() + within
    while not check():
        if time.monotonic() > end:
            return False
        time.sleep(0.01)
    return True


def write_image(path: Path, size: tuple[int, int] = (640, 480), color: tuple[int, int, int] = (180, 40, 40)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


def write_video(path: Path, frames: int = 30, size: tuple[int, int] = (160, 120), fps: float = 10.0) -> Path:
    """An MJPG AVI whose frame i is filled with gray level 8*i (readable back per frame)."""
    import cv2
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened(), "OpenCV cannot write MJPG here"
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), (8 * i) % 256, dtype=np.uint8))
    writer.release()
    return path


async def settled_tasks(rounds: int = 50) -> set[object]:
    """The tasks other than the caller's once cleanup has had a moment (an async generator
    dropped mid-stream is closed by a task the loop schedules); empty when nothing is left."""
    import asyncio

    others: set[object] = set()
    for _ in range(rounds):
        others = {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}
        if not others:
            break
        await asyncio.sleep(0.01)
    return others


@contextlib.contextmanager
def read_only_bind_mount(source: Path, at: Path) -> Iterator[Path]:
    """``source`` seen read-only at ``at``: a real read-only bind mount (needs root; the test is
    skipped, with the reason, on a machine that does not allow it). Unmounted afterwards."""
    import pytest

    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("a read-only bind mount needs root")
    at.mkdir(parents=True, exist_ok=True)
    bind = subprocess.run(["mount", "--bind", str(source), str(at)], capture_output=True, text=True)
    if bind.returncode:
        pytest.skip(f"this machine does not allow a bind mount: {bind.stderr.strip()}")
    try:
        ro = subprocess.run(["mount", "-o", "remount,ro,bind", str(at)], capture_output=True, text=True)
        if ro.returncode:
            pytest.skip(f"this machine does not allow a read-only remount: {ro.stderr.strip()}")
        yield at
    finally:
        # A worker thread (a thumbnail, the folder scan) may still hold a file for a moment.
        for _ in range(100):
            if subprocess.run(["umount", str(at)], capture_output=True).returncode == 0:
                break
            time.sleep(0.05)
        else:
            subprocess.run(["umount", "--lazy", str(at)], check=True)


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str = "2m") -> Iterator[Path]:
    """A real, small file system (tmpfs) mounted at ``where``; skips when mounting is not allowed."""
    where.mkdir(parents=True, exist_ok=True)
    if not shutil.which("mount"):
        pytest.skip("no mount command here")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (root and CAP_SYS_ADMIN needed): {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill_disk(folder: Path, leave: int) -> Path:
    """Take all but ``leave`` bytes of the file system that holds ``folder``."""
    filler = folder / "filler.bin"
    free = shutil.disk_usage(folder).free
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, free - leave))
    assert shutil.disk_usage(folder).free <= leave
    return filler
