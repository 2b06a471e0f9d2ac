"""Figures for the batch issue: how batch wall time scales with concurrency, and memory.

    python benchmarks/batch_bench.py [--items N] [--memory-items N]

The test server (tests/fakeserver.py) runs in a process of its own with 0.2 s to first
token, so each request takes ~0.2 s of server time that concurrency can overlap. Prints wall
time at concurrency 1, 4, 8, 16 against the ideal (sequential time / N; goal >= 0.8 of ideal
at 8), then RSS every 100 items over a long run (goal: flat).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from vhd_gui.batch import BatchRun, BatchStopped, ItemFinished  # noqa: E402
from vhd_gui.media import scan  # noqa: E402
from vhd_gui.store import Store  # noqa: E402

from helpers import settings_for, write_image  # noqa: E402


def start_server(first_token_delay: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "fakeserver.py"), "--first-token-delay", str(first_token_delay)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def make_items(folder: Path, n: int) -> None:
    for i in range(n):
        write_image(folder / f"item{i:05d}.png", (64, 48), (i % 256, (i // 256) % 256, 90))


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def timed_run(folder: Path, base_url: str, concurrency: int, n: int) -> float:
    store_path = folder.parent / f"store-{concurrency}-{time.monotonic_ns()}.sqlite"
    store = Store.open(store_path, root=folder)
    with store.transaction():
        store.upsert_items((m.rel, m.kind, m.size, m.mtime) for m in scan(folder))
    paths = sorted(store.paths())[:n]
    t = time.perf_counter()
    async for ev in BatchRun(store, settings_for(base_url), paths, concurrency=concurrency, use_cache=False).run():
        if isinstance(ev, BatchStopped):
            assert ev.progress.done == n, ev.progress.failures[:3]
    wall = time.perf_counter() - t
    store.close()
    return wall


async def memory_run(folder: Path, base_url: str, n: int) -> list[tuple[int, float]]:
    store = Store.open(folder.parent / "memory.sqlite", root=folder)
    with store.transaction():
        store.upsert_items((m.rel, m.kind, m.size, m.mtime) for m in scan(folder))
    samples = [(0, rss_mb())]
    done = 0
    async for ev in BatchRun(store, settings_for(base_url), sorted(store.paths())[:n], concurrency=16, use_cache=False).run():
        if isinstance(ev, ItemFinished):
            done += 1
            if done % 100 == 0:
                samples.append((done, rss_mb()))
    store.close()
    return samples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=32, help="items per concurrency level")
    ap.add_argument("--memory-items", type=int, default=1000)
    args = ap.parse_args()
    os.environ.setdefault("VHD_TEST_KEY", "bench")
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d) / "media"
        make_items(folder, max(args.items, args.memory_items))
        proc, url = start_server(0.2)
        try:
            print(f"== wall time for {args.items} items (5 requests each, 0.2 s to first token)")
            seq = asyncio.run(timed_run(folder, url, 1, args.items))
            print(f"concurrency  1: {seq:6.1f} s")
            for n in (4, 8, 16):
                wall = asyncio.run(timed_run(folder, url, n, args.items))
                ideal = seq / n
                share = ideal / wall
                goal = f"  [goal >= 0.8 at 8: {'ok' if share >= 0.8 else 'MISSED'}]" if n == 8 else ""
                print(f"concurrency {n:2d}: {wall:6.1f} s, ideal {ideal:5.1f} s, {share:.2f} of ideal{goal}")
        finally:
            proc.stdin.close()  # type: ignore[union-attr]
            proc.wait(timeout=10)
        proc, url = start_server(0.01)
        try:
            print(f"\n== memory over {args.memory_items} items at concurrency 16 (RSS of the batch process)")
            samples = asyncio.run(memory_run(folder, url, args.memory_items))
            print("items: " + "  ".join(f"{n}:{mb:.0f}MB" for n, mb in samples))
            growth = samples[-1][1] - samples[1][1] if len(samples) > 2 else 0.0
            print(f"growth from item 100 to {samples[-1][0]}: {growth:+.1f} MB")
        finally:
            proc.stdin.close()  # type: ignore[union-attr]
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
