"""Regenerate docs/screenshot.png from the running app (offscreen).

A folder of generated images and a video, the fake OpenAI-compatible server from the tests,
one finished debate, safe view on. Run: ``QT_QPA_PLATFORM=offscreen python docs/make_screenshot.py``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_API", "pyside6")


def make_media(folder: Path) -> None:
    from helpers import write_video
    from mediagen import save_photo

    for i, (w, h) in enumerate([(1600, 1200), (1200, 1600), (1920, 1080), (1024, 1024), (1280, 720), (900, 1200)]):
        save_photo(folder / f"photo_{i + 1:02d}.jpg", w, h, seed=i)
    write_video(folder / "street_clip.avi", frames=40, size=(320, 240))


async def scenario(out: Path) -> None:
    from PySide6.QtCore import QSettings

    from fakeserver import FakeServer
    from helpers import TEST_KEY_ENV, settings_for
    from vhd_gui.cache import ResponseCache
    from vhd_gui.ui._main_window import MainWindow

    os.environ[TEST_KEY_ENV] = "test-key"
    thinking = {"judge": "A knife, but on a cutting board next to vegetables: a kitchen, not a threat."}
    with tempfile.TemporaryDirectory() as tmp, FakeServer(token_delay=0.002, reasoning=thinking) as server:
        folder = Path(tmp) / "holiday photos"
        folder.mkdir()
        make_media(folder)
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tmp)
        cache = ResponseCache(Path(tmp) / "responses.sqlite")  # not the user's: every run sends its requests
        window = MainWindow(settings_for(server.base_url), QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat), cache=cache)
        window.resize(1440, 900)
        window.show()
        window.open_path(folder)
        done = asyncio.Event()
        window.did_finish_scan.connect(lambda _n: done.set())
        await asyncio.wait_for(done.wait(), 30)
        window.step(2)
        await asyncio.sleep(0.3)
        recorded = asyncio.Event()
        window.did_record_debate.connect(lambda _p: recorded.set())
        window.run_debate()
        await asyncio.wait_for(recorded.wait(), 60)
        window.step(-2)
        window.decide("no", "")  # one decision so the counter and a badge show
        await asyncio.sleep(0.2)
        window.step(1)
        for _ in range(40):  # thumbnails and the picture arrive from worker threads
            await asyncio.sleep(0.05)
        window.grab().save(str(out))
        window.close()
        await asyncio.sleep(0.2)  # the window lets go of its HTTP clients
        cache.close()


def main() -> int:
    from PySide6.QtWidgets import QApplication

    import qasync

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("vhd-annotator-docs")
    app.setQuitOnLastWindowClosed(False)  # as the app does: the loop outlives the window's close
    out = ROOT / "docs" / "screenshot.png"
    qasync.run(scenario(out))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
