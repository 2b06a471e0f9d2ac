"""Regenerate docs/screenshot-team.png: the window of reviewer "cat" on a folder that ann and
bob decided under a two-people-per-item project; the item shown is disputed between them.

Run: ``QT_QPA_PLATFORM=offscreen python docs/make_team_screenshot.py`` (settings and data go
to a temporary home, so nothing of yours is read or written).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
HOME = Path(tempfile.mkdtemp(prefix="vhd-team-shot-"))
for _var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
    os.environ[_var] = str(HOME / _var.lower())
os.environ["HOME"] = str(HOME)
NAMES = [f"scene_{i:03d}.png" for i in range(8)]


def make_folder() -> Path:
    from PIL import Image, ImageDraw

    from vhd_gui.record import DebateRecord
    from vhd_gui.store import Store

    folder = HOME / "street-photos"
    folder.mkdir()
    for i, name in enumerate(NAMES):
        picture = Image.new("RGB", (640, 420), (40 + 20 * i, 90, 160 - 10 * i))
        draw = ImageDraw.Draw(picture)
        for k in range(6):
            draw.ellipse((60 * k + 20 * i % 80, 80 + 30 * k, 60 * k + 140, 200 + 25 * k), fill=(200 - 20 * k, 120 + 10 * i, 60))
        picture.save(folder / name)
    with Store.for_folder(folder, daily_backup=False) as store:
        store.upsert_items([(n, "image", None, None) for n in NAMES])
        store.set_project_settings(overlap=2, resolution="majority")
        for i, name in enumerate(NAMES):
            harmful = i % 2 == 0
            store.record_debate(DebateRecord(path=name, kind="image", status="debated", decision="yes" if harmful else "no",
                                             harmful_type="violence" if harmful else "",
                                             judge_raw="Yes, violence." if harmful else "No, a crowd at a street fair."))
        store.record_decision(NAMES[0], "yes", "violence", reviewer="ann")
        store.record_decision(NAMES[0], "no", reviewer="bob")
        store.record_decision(NAMES[1], "no", reviewer="ann")
        store.record_decision(NAMES[1], "no", reviewer="bob")
        store.record_decision(NAMES[2], "yes", "violence", reviewer="bob")
    return folder


async def shoot(folder: Path, out: Path) -> None:
    from vhd_gui.config import Settings
    from vhd_gui.ui._main_window import MainWindow

    w = MainWindow(Settings(reviewer="cat"))
    w.resize(1400, 900)
    w.show()
    scanned: list[int] = []
    w.did_finish_scan.connect(scanned.append)
    w.open_path(folder)
    while not scanned or w.current is None:
        await asyncio.sleep(0.05)
    shown: list[str] = []
    w.team.did_show_others.connect(shown.append)
    w.open_item(NAMES[0])
    w.team.refresh()
    while NAMES[0] not in shown:
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)  # thumbnails and counters
    w.grab().save(str(out))
    print(f"wrote {out}")
    w.close()
    await asyncio.sleep(0.3)


def main() -> None:
    import qasync
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(shoot(make_folder(), ROOT / "docs" / "screenshot-team.png"))


if __name__ == "__main__":
    main()
