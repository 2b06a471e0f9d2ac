"""One real X11 window (xcb under Xvfb), so a system library missing on a fresh machine shows
up in CI instead of on a user's desk. Runs in a subprocess: the rest of the suite is offscreen."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.gui, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import asyncio, os, sys
os.environ["QT_API"] = "pyside6"
from PySide6.QtWidgets import QApplication
app = QApplication(sys.argv[:1])
assert app.platformName() == "xcb", app.platformName()
import qasync
from vhd_gui.config import Settings
from vhd_gui.ui._main_window import MainWindow
loop = qasync.QEventLoop(app)
asyncio.set_event_loop(loop)
w = MainWindow(Settings())
w.show()
painted = []
w.did_first_paint.connect(lambda: painted.append(1))
async def main():
    for _ in range(300):
        await asyncio.sleep(0.01)
        if painted:
            break
    assert painted, "the window never painted"
    assert w.isVisible() and w.windowHandle() is not None
    w.close()
with loop:
    loop.run_until_complete(main())
print("real-window-ok")
"""


def test_the_window_opens_on_a_real_x_server(tmp_path: Path) -> None:
    xvfb_run = shutil.which("xvfb-run")
    if xvfb_run is None:
        if os.environ.get("CI"):
            pytest.fail("xvfb-run is missing: install the xvfb package (see .ci/run)")
        pytest.skip("xvfb-run is not installed (it is required when CI is set)")
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    env["QT_QPA_PLATFORM"] = "xcb"
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    env["XDG_RUNTIME_DIR"] = str(tmp_path / "runtime")
    (tmp_path / "runtime").mkdir(mode=0o700)
    proc = subprocess.run(
        [xvfb_run, "-a", "-s", "-screen 0 1600x1000x24", sys.executable, "-c", SCRIPT],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert "real-window-ok" in proc.stdout
