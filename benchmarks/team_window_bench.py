"""The window in a team: how soon another person's decision shows, and how long "next item
for me" takes. Prints one line per figure with its goal.

    QT_QPA_PLATFORM=offscreen python benchmarks/team_window_bench.py [--items 2000] [--rounds 20]

1. another connection (another person) decides the item on screen: time from its commit to the
   window's "Reviewers" line naming the decision, and to the list's row counting it (goal
   < 2 s each), median and worst of ``--rounds``;
2. "next undecided" in team mode (overlap 2, ``Store.next_for_reviewer`` with a review lease):
   time from the key to the next item on screen, median and worst.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
HOME = Path(tempfile.mkdtemp(prefix="vhd-team-bench-"))
for _var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
    os.environ[_var] = str(HOME / _var.lower())
os.environ["HOME"] = str(HOME)


def make_folder(n: int) -> tuple[Path, list[str]]:
    from PIL import Image

    from vhd_gui.store import Store

    folder = HOME / "items"
    folder.mkdir()
    names = [f"item_{i:05d}.png" for i in range(n)]
    for i, name in enumerate(names):
        Image.new("RGB", (64, 48), (i % 255, 80, 160)).save(folder / name)
    with Store.for_folder(folder, daily_backup=False) as store:
        store.upsert_items([(name, "image", None, None) for name in names])
        store.set_project_settings(overlap=2, resolution="majority")
    return folder, names


async def until(predicate: Callable[[], object], limit: float = 30.0) -> float:
    """Seconds until ``predicate()`` holds (raises past ``limit``: something is broken)."""
    start = time.perf_counter()
    while not predicate():
        if time.perf_counter() - start > limit:
            raise RuntimeError("the window never showed it")
        await asyncio.sleep(0.002)
    return time.perf_counter() - start


async def run(items: int, rounds: int) -> None:
    from vhd_gui.config import Settings
    from vhd_gui.store import Store
    from vhd_gui.ui._main_window import MainWindow

    folder, names = make_folder(items)
    w = MainWindow(Settings(reviewer="cat"))
    w.show()
    scanned: list[int] = []
    w.did_finish_scan.connect(scanned.append)
    w.open_path(folder)
    await until(lambda: scanned and w.current is not None)
    await until(lambda: w.team.team_mode)
    other = Store.for_folder(folder, daily_backup=False)
    line: list[float] = []
    row: list[float] = []
    nexts: list[float] = []
    try:
        for i in range(rounds):
            name = names[i * 3]
            w.open_item(name)
            await until(lambda n=name: w.current == n)
            await asyncio.sleep(0.3)  # settle: the item's own reads are done
            label = "yes" if i % 2 else "no"
            other.record_decision(name, label, "violence" if label == "yes" else "", reviewer=f"eve{i}")
            start = time.perf_counter()
            await until(lambda i=i: f"<b>eve{i}</b>" in w.team.others.text())
            line.append(time.perf_counter() - start)
            await until(lambda n=name: (r := w.model.cached_row(n)) is not None and r.reviewer_count == 1)
            row.append(time.perf_counter() - start)
        for _ in range(rounds):
            before = w.current
            start = time.perf_counter()
            w.next_undecided()
            await until(lambda b=before: w.current != b)
            nexts.append(time.perf_counter() - start)
    finally:
        other.close()
        w.close()
        await asyncio.sleep(0.3)

    def ms(xs: list[float]) -> str:
        return f"median {statistics.median(xs) * 1000:.0f} ms, worst {max(xs) * 1000:.0f} ms"

    print(f"another person's decision on the item shown, in the Reviewers line ({rounds} rounds, {items} items): {ms(line)} (goal < 2000 ms)")
    print(f"another person's decision, in the list's row: {ms(row)} (goal < 2000 ms)")
    print(f"next item for me (next_for_reviewer + lease, overlap 2): {ms(nexts)}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    import qasync
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(run(args.items, args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
