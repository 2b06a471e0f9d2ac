"""Two windows on two "machines" (each its own copy of the media folder) sharing one store on a
real PostgreSQL server, with a command-line batch worker beside them: each sees the other's
decisions and the worker's verdicts without a restart, and nothing shows the password."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import select, wait_until

from vhd_gui.store_api import open_store

from fakeserver import FakeServer

pytestmark = [pytest.mark.gui, pytest.mark.asyncio(loop_scope="session")]


async def _open_on_server(make_window: Any, url: str, media: Path) -> Any:
    w = make_window()
    scanned: list[int] = []
    w.did_finish_scan.connect(scanned.append)
    w.open_path(url, root=media)
    await wait_until(lambda: scanned, what="the scan of " + str(media))
    await wait_until(lambda: w.current is not None, what="a current item")
    return w


async def test_two_windows_and_a_batch_worker_share_one_postgresql_store(
    make_window: Any, media_folder: Path, tmp_path: Path, pg_url: str, server: FakeServer
) -> None:
    other_machine = tmp_path / "elsewhere" / "media"
    shutil.copytree(media_folder, other_machine)
    w1 = await _open_on_server(make_window, pg_url, media_folder)
    w2 = await _open_on_server(make_window, pg_url, other_machine)
    assert w1.store.backend == w2.store.backend == "postgresql"
    assert sorted(w1.model.paths) == sorted(w2.model.paths) == ["a_knife.jpg", "b_beach.png", "d_clip.avi", "sub/c_street.jpg"]
    assert "postgresql://" in w1.status_store.text()

    # A decision in the first window shows up in the second one's list.
    select(w1, "a_knife.jpg")
    w1.decide("yes", "weapons", rel="a_knife.jpg")
    await wait_until(lambda: getattr(w2.model.cached_row("a_knife.jpg"), "human_label", None) == "yes",
                     timeout=10, what="the first window's decision in the second window")

    # A third person, through the store API, decides the item the second window shows.
    select(w2, "b_beach.png")
    await wait_until(lambda: w2.current == "b_beach.png", what="the beach in the second window")
    with open_store(pg_url, root=tmp_path) as third:
        third.record_decision("b_beach.png", "no", reviewer="cy", source="import")
    await wait_until(lambda: getattr(w2.model.cached_row("b_beach.png"), "human_label", None) == "no",
                     timeout=10, what="the third person's decision in the second window")
    assert w2.current == "b_beach.png"

    # A batch worker on a third folder: its verdicts appear in both windows.
    env = dict(os.environ)  # the test server's key is in $VHD_TEST_KEY
    cmd = [sys.executable, "-m", "vhd_gui", "batch", str(other_machine), "--store", pg_url, "--no-cache",
           "--base-url", server.base_url, "--model", "fake-vlm", "--api-key-env", "VHD_TEST_KEY"]
    done = await asyncio.get_running_loop().run_in_executor(None, lambda: subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300))
    assert done.returncode == 0, done.stderr
    for w in (w1, w2):
        for rel in ("sub/c_street.jpg", "d_clip.avi"):
            await wait_until(lambda w=w, rel=rel: getattr(w.model.cached_row(rel), "model_label", None) is not None,
                             timeout=15, what=f"the worker's verdict on {rel}")
