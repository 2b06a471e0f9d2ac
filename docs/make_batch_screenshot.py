"""Regenerate docs/batch.png: the batch panel of the running app, mid-run (offscreen).

Fourteen generated photos and a video, the fake OpenAI-compatible server from the tests
answering slowly enough to catch the run half-way, one item failing with a server error.
Run: ``QT_QPA_PLATFORM=offscreen python docs/make_batch_screenshot.py``.
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

SIZES = [(1600, 1200), (1200, 1600), (1920, 1080), (1024, 1024), (1280, 720), (900, 1200), (800, 600)]


def make_media(folder: Path) -> None:
    from helpers import write_video
    from mediagen import save_photo

    for i in range(14):
        w, h = SIZES[i % len(SIZES)]
        save_photo(folder / f"photo_{i + 1:02d}.jpg", w, h, seed=i)
    write_video(folder / "street_clip.avi", frames=40, size=(320, 240))


async def scenario(out: Path) -> None:
    from PySide6.QtCore import QSettings

    from vhd_gui.cache import ResponseCache
    from vhd_gui.ui._main_window import MainWindow

    from fakeserver import FakeServer, Fault
    from helpers import TEST_KEY_ENV, settings_for

    os.environ[TEST_KEY_ENV] = "test-key"
    with tempfile.TemporaryDirectory() as tmp, FakeServer(token_delay=0.03) as server:
        folder = Path(tmp) / "holiday photos"
        folder.mkdir()
        make_media(folder)
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tmp)
        cache = ResponseCache(Path(tmp) / "responses.sqlite")
        window = MainWindow(
            settings_for(server.base_url, attempts=1),
            QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat),
            cache=cache,
        )
        window.resize(1440, 900)
        window.show()
        done = asyncio.Event()
        window.did_finish_scan.connect(lambda _n: done.set())
        window.open_path(folder)
        await asyncio.wait_for(done.wait(), 30)
        window.decide("no", "")  # the person labels the first item meanwhile
        window.show_batch()
        panel = window.batch_panel
        panel.concurrency.setValue(3)
        server.inject(Fault("500"), role="judge")  # the first judge request fails: one failure to show
        panel.start()
        while panel.is_running and (panel.progress is None or panel.progress.finished < 7):
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.6)  # the rate and ETA tick, thumbnails arrive
        window.grab().save(str(out))
        panel.cancel()
        await panel.wait()
        window.close()
        await asyncio.sleep(0.2)
        cache.close()


def main() -> int:
    import qasync
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("vhd-annotator-docs")
    app.setQuitOnLastWindowClosed(False)  # as the app does: the loop outlives the window's close
    out = ROOT / "docs" / "batch.png"
    qasync.run(scenario(out))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
