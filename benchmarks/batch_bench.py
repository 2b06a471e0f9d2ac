"""Figures for the batch runner: how one process scales with concurrency, and memory.

    python benchmarks/batch_bench.py [--items N] [--levels 1,8,16,32] [--memory-items N]
                                     [--server-only] [--no-memory]

The test server (tests/fakeserver.py, a real HTTP/1.1 server with SSE streaming) runs in a
process of its own and answers like a hosted API: ``--first-token`` seconds before the first
token, then one SSE event per word every ``--token-delay`` seconds (the debaters say
``--answer-words`` words; the judge its one short line). With the defaults a debater's turn
takes about 1.3 s and the judge's 0.5 s, so one item (2 rounds: 4 debater turns and the
judge) spends about 5.8 s waiting on the server: time that concurrency can overlap, so the
ideal wall time at concurrency N is (sequential time) / N.

Every level runs the same work per item: the same ``--items`` images (1024x768 JPEG-sized
photos, encoded once per item as the app does), a new store file, no response cache. The
sequential time is measured on ``--seq-items`` items and scaled to ``--items`` (a sequential
run's time is the sum of its items'; ``--seq-items 0`` runs them all). ``--items`` defaults to
four items per slot of the largest level, so every slot stays busy until the last wave.

Before the batch figures, the server is measured alone: ``--levels`` concurrent raw
streaming requests (httpx, nothing of the app), each client sending the next request as soon
as its answer ends, so that a shortfall in the batch figures is the app's, not the server's.

Then RSS every 100 items over a long run at concurrency 16 (goal: flat).
"""

from __future__ import annotations

import argparse
import asyncio
import json
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

from vhd_gui.batch import BatchRun, BatchStopped, ItemFinished, ItemStarted  # noqa: E402
from vhd_gui.media import scan  # noqa: E402
from vhd_gui.store import Store  # noqa: E402

from helpers import settings_for  # noqa: E402

GOAL_AT = 32
GOAL_SHARE = 0.9


def start_server(first_token: float, token_delay: float, answer_words: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable, str(ROOT / "tests" / "fakeserver.py"),
            "--first-token-delay", str(first_token),
            "--token-delay", str(token_delay),
            "--answer-words", str(answer_words),
        ],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def stop_server(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=10)


def make_items(folder: Path, n: int, size: tuple[int, int]) -> None:
    """n photo-like images (smooth gradients with grain), each different, saved as PNG."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    for i in range(n):
        base = np.stack([(xx * (i % 7 + 1)) % 256, (yy * (i % 5 + 1)) % 256, ((xx + yy + 3 * i) // 4) % 256], axis=-1)
        grain = rng.integers(-12, 12, size=(h, w, 3))
        pixels = np.clip(base + grain, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"item{i:05d}.png")


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# ---------------------------------------------------------------------------- the server alone


async def raw_streams(base_url: str, concurrency: int, per_client: int, body: dict[str, object]) -> tuple[float, int]:
    """``concurrency`` clients each sending ``per_client`` streaming requests one after another;
    (wall seconds, SSE events read)."""
    import httpx2 as httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    events = 0
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60.0) as client:

        async def one_client() -> None:
            nonlocal events
            for _ in range(per_client):
                async with client.stream("POST", "/chat/completions", json=body) as r:
                    r.raise_for_status()
                    async for line in r.aiter_lines():
                        if line.startswith("data: "):
                            events += 1

        t = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(concurrency)))
        return time.perf_counter() - t, events


def server_alone(base_url: str, levels: list[int], per_client: int) -> None:
    body = {
        "model": "fake-vlm",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [
            {"role": "system", "content": "You are the AFFIRMATIVE debater."},
            {"role": "user", "content": [{"type": "text", "text": "Is it harmful?"}, {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64," + "A" * 120_000}}]},
        ],
    }
    one, _ = asyncio.run(raw_streams(base_url, 1, per_client, body))
    per_request = one / per_client
    print(f"== the server alone: raw streaming requests (httpx, {per_client} per client, one {per_request:.2f} s each)")
    for n in levels:
        wall, events = asyncio.run(raw_streams(base_url, n, per_client, body))
        print(f"  {n:3d} at once: {wall:6.2f} s, ideal {per_request * per_client:5.2f} s, {per_request * per_client / wall:.2f} of ideal, {events / wall:6.0f} events/s")


# ---------------------------------------------------------------------------- the batch


class Timings:
    """Where one level's time went, per item: in the turns (request to last token, as the engine
    times them), in the rest of the debate (media not prepared ahead, between turns), in the
    batch around the debate (claim, commit, waiting for the loop), and how late the
    event loop woke a 10 ms sleep (its lag: how long every stream's next token waits)."""

    def __init__(self) -> None:
        self.started: dict[str, float] = {}
        self.item_seconds: list[float] = []
        self.turn_seconds: list[float] = []
        self.debate_seconds: list[float] = []
        self.lags: list[float] = []
        self.loop_cpu = 0.0

    async def probe(self) -> None:
        while True:
            t = time.perf_counter()
            await asyncio.sleep(0.01)
            self.lags.append(time.perf_counter() - t - 0.01)

    def line(self) -> str:
        def mean(xs: list[float]) -> float:
            return sum(xs) / len(xs) if xs else 0.0

        lags = sorted(self.lags) or [0.0]
        per_item, in_turns, debate = mean(self.item_seconds), mean(self.turn_seconds) * 5, mean(self.debate_seconds)
        return (
            f"    per item {per_item:.2f} s: turns {in_turns:.2f} s, the rest of the debate {debate - in_turns:.2f} s, "
            f"the batch around it (claim, commit, events) {per_item - debate:.2f} s; "
            f"loop lag median {lags[len(lags) // 2] * 1000:.0f} ms, p95 {lags[int(len(lags) * 0.95)] * 1000:.0f} ms"
        )


async def timed_run(folder: Path, base_url: str, concurrency: int, n: int, timings: Timings | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of a batch over the first ``n`` items."""
    store_path = folder.parent / f"store-{concurrency}-{time.monotonic_ns()}.sqlite"
    store = Store.open(store_path, root=folder)
    with store.transaction():
        store.upsert_items((m.rel, m.kind, m.size, m.mtime) for m in scan(folder))
    paths = sorted(store.paths())[:n]
    timings = timings or Timings()
    probe = asyncio.create_task(timings.probe())
    cpu = cpu_seconds()
    loop_cpu = time.thread_time()
    t = time.perf_counter()
    async for ev in BatchRun(store, settings_for(base_url), paths, concurrency=concurrency, use_cache=False).run():
        if isinstance(ev, ItemStarted):
            timings.started[ev.path] = time.perf_counter()
        elif isinstance(ev, ItemFinished) and ev.event is not None:
            timings.item_seconds.append(time.perf_counter() - timings.started[ev.path])
            timings.turn_seconds.extend(tr.seconds for tr in ev.event.record.turns)
            timings.debate_seconds.append(ev.event.record.seconds)
        elif isinstance(ev, BatchStopped):
            assert ev.progress.done == n, (ev.progress.done, ev.progress.failures[:3], ev.progress.stop_message)
    wall = time.perf_counter() - t
    timings.loop_cpu = time.thread_time() - loop_cpu
    cpu = cpu_seconds() - cpu
    probe.cancel()
    store.close()
    return wall, cpu


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
    ap.add_argument("--levels", default="1,8,16,32", help="concurrency levels, comma-separated (1 is the sequential reference)")
    ap.add_argument("--items", type=int, default=0, help="items per level (default: 4 per slot of the largest level)")
    ap.add_argument("--seq-items", type=int, default=8, help="items the sequential run measures (0: all of --items)")
    ap.add_argument("--first-token", type=float, default=0.4, help="server seconds to the first token")
    ap.add_argument("--token-delay", type=float, default=0.015, help="server seconds between tokens")
    ap.add_argument("--answer-words", type=int, default=60, help="words in a debater's answer")
    ap.add_argument("--image-size", default="1024x768")
    ap.add_argument("--server-requests", type=int, default=4, help="requests per client when the server is measured alone")
    ap.add_argument("--server-only", action="store_true", help="measure only the server alone")
    ap.add_argument("--no-server", action="store_true", help="skip the measurement of the server alone")
    ap.add_argument("--memory-items", type=int, default=1000)
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args()
    levels = sorted({int(x) for x in args.levels.split(",")} | {1})
    items = args.items or 4 * max(levels)
    seq_items = args.seq_items or items
    w, h = (int(x) for x in args.image_size.split("x"))
    os.environ.setdefault("VHD_TEST_KEY", "bench")
    figures: dict[str, object] = {"items": items, "levels": {}}
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d) / "media"
        proc, url = start_server(args.first_token, args.token_delay, args.answer_words)
        try:
            if not args.no_server:
                server_alone(url, [n for n in levels if n > 1] + [2 * max(levels)], args.server_requests)
            if args.server_only:
                return
            make_items(folder, max(items, seq_items, 0 if args.no_memory else args.memory_items), (w, h))
            print(
                f"\n== batch wall time, {items} items of {w}x{h} (5 requests each: {args.first_token:g} s to the first token, "
                f"{args.answer_words} words at {args.token_delay:g} s each), {os.cpu_count()} CPUs"
            )
            # One item first, untimed: openai and AutoGen are imported once per process (about 2 s)
            # and that would otherwise count against the sequential run alone.
            asyncio.run(timed_run(folder, url, 1, 1))
            seq_timings = Timings()
            seq_wall, seq_cpu = asyncio.run(timed_run(folder, url, 1, seq_items, seq_timings))
            per_item = seq_wall / seq_items
            seq = per_item * items
            scaled = "" if seq_items == items else f" (measured on {seq_items} items: {seq_wall:.1f} s, {per_item:.2f} s per item)"
            print(f"concurrency  1: {seq:6.1f} s{scaled}, CPU {seq_cpu / seq_items * 1000:.0f} ms per item")
            print(seq_timings.line())
            figures["seconds_per_item"] = per_item
            for n in levels:
                if n == 1:
                    continue
                timings = Timings()
                wall, cpu = asyncio.run(timed_run(folder, url, n, items, timings))
                ideal = seq / n
                share = ideal / wall
                goal = f"  [goal >= {GOAL_SHARE} at {GOAL_AT}: {'ok' if share >= GOAL_SHARE else 'MISSED'}]" if n == GOAL_AT else ""
                print(
                    f"concurrency {n:2d}: {wall:6.1f} s, ideal {ideal:5.1f} s, {share:.2f} of ideal, "
                    f"CPU {cpu / wall * 100:3.0f}% of one core ({cpu / items * 1000:.0f} ms per item, "
                    f"{timings.loop_cpu / items * 1000:.0f} ms of it on the event loop's thread){goal}"
                )
                print(timings.line())
                figures["levels"][str(n)] = {"wall": wall, "ideal": ideal, "share": share, "cpu": cpu, "loop_cpu": timings.loop_cpu}  # type: ignore[index]
        finally:
            stop_server(proc)
        if not args.no_memory:
            proc, url = start_server(0.01, 0.0, 20)
            try:
                print(f"\n== memory over {args.memory_items} items at concurrency 16 (RSS of the batch process)")
                samples = asyncio.run(memory_run(folder, url, args.memory_items))
                print("items: " + "  ".join(f"{n}:{mb:.0f}MB" for n, mb in samples))
                growth = samples[-1][1] - samples[1][1] if len(samples) > 2 else 0.0
                print(f"growth from item 100 to {samples[-1][0]}: {growth:+.1f} MB")
            finally:
                stop_server(proc)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
