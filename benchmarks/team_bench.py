"""Team mode figures on one PostgreSQL database: batch workers on several "machines", many
reviewers at once, list pages on a big store, and one process's concurrency.

    python benchmarks/team_bench.py [--quick] [--parts 1,2,3,4]

It starts its own PostgreSQL (Debian's binaries in a temporary folder, fsync off, as the
tests do) and its own OpenAI-compatible test server (tests/fakeserver.py).

1. Workers: 8 ``vhd-annotator batch`` processes, each with its own HOME (another machine),
   over 2,000 generated images; the server fails 10% of requests with a 500 (seeded; the
   engine retries them); one worker is SIGKILLed mid-run, the others finish, and a new worker
   takes what the killed one held once its lease ran out. Promise: every item has exactly one
   debate in the store and none is lost. Also: answered requests per item at the server, and
   the wall time against one process doing the same items.
2. Reviewers: 20 threads, each with its own store connection, deciding through
   ``next_for_reviewer`` + ``record_decision`` with overlap 2 for 60 s. Promise: every
   acknowledged decision is in the store's history, and no item is served to more than
   ``overlap`` people.
3. Pages on a 1,000,000-item store: first, deep and filtered pages, count and counts (goal
   < 200 ms).
4. One process at concurrency 8, 16 and 32 on the PostgreSQL store, 0.4 s per turn (a hosted
   API's pace), against the ideal (sequential time / N).

``--quick`` runs a smaller version of each (400 items, 10 s, 100,000 items, fewer debates).
Exits 1 if a promise is broken (an item debated twice or not at all, a decision lost, an item
served to more people than the overlap).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from vhd_gui.batch import BatchRun, BatchStopped  # noqa: E402
from vhd_gui.media import scan  # noqa: E402
from vhd_gui.record import DebateRecord, TurnRecord  # noqa: E402
from vhd_gui.store import Filters, ReviewLease  # noqa: E402
from vhd_gui.store_api import open_store  # noqa: E402

from fakeserver import FakeServer  # noqa: E402
from helpers import TEST_KEY, settings_for, write_image  # noqa: E402
from pgserver import PgServer  # noqa: E402

BROKEN: list[str] = []  # promises broken, said at the end


def broken(what: str) -> None:
    BROKEN.append(what)
    print(f"  PROMISE BROKEN: {what}", flush=True)


def make_images(folder: Path, n: int) -> list[str]:
    """n small distinct images; returns their relative paths."""
    rels = []
    for i in range(n):
        rel = f"set{i % 8}/img{i:05d}.png"
        write_image(folder / rel, (48, 32), (40 + i % 200, (i // 200) % 256, (i * 7) % 256))
        rels.append(rel)
    return rels


def image_key(body: dict[str, Any]) -> str:
    """The item a request is about: its last image, by a checksum of the data URL."""
    user = [m for m in body.get("messages", []) if m.get("role") == "user"]
    parts = user[-1].get("content") if user else None
    urls = [p["image_url"]["url"] for p in parts or [] if isinstance(p, dict) and p.get("type") == "image_url"]
    return f"{zlib.crc32(urls[-1].encode()):08x}" if urls else "?"


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(q * len(s))) - 1))] if s else float("nan")


def ms(x: float) -> str:
    return f"{x * 1000:7.1f} ms"


def worker_env(home: Path) -> dict[str, str]:
    env = {**os.environ, "VHD_KEY": TEST_KEY, "HOME": str(home), "PYTHONPATH": str(ROOT)}
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        (home / var.lower()).mkdir(parents=True, exist_ok=True)
        env[var] = str(home / var.lower())
    return env


def batch_cmd(folder: Path, url: str, base_url: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "vhd_gui", "batch", str(folder), "--store", url, "--no-cache", "--base-url", base_url,
            "--model", "fake-vlm", "--api-key-env", "VHD_KEY", *extra]


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# --------------------------------------------------------------------------- 1. workers


def part_workers(pg: PgServer, tmp: Path, n_items: int, n_workers: int, per_proc: int, lease: int) -> None:
    print(f"\n== 1. {n_workers} batch workers over {n_items} images, 10% of requests fail with a 500, one worker SIGKILLed,"
          f" --concurrency {per_proc} --claim-lease {lease}")
    folder = tmp / "media"
    make_images(folder, n_items)
    answered: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()

    def counting(role: str, text: str) -> Any:
        def answer(body: dict[str, Any]) -> str:
            with lock:
                answered[image_key(body)] += 1
            return text

        return answer

    from fakeserver import DEFAULT_ANSWERS

    answers = {role: counting(role, text) for role, text in DEFAULT_ANSWERS.items()}
    with FakeServer(api_key=TEST_KEY, answers=answers, fault_rates={"500": 0.10}, seed=11, token_delay=0.004) as srv:
        srv.keep_requests = False
        srv.simulate_cache = False
        # The killed worker's half-sent requests are expected: no traceback for each of them.
        assert srv._httpd is not None
        srv._httpd.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        url = pg.new_database()
        t0 = time.perf_counter()
        workers = [
            subprocess.Popen(batch_cmd(folder, url, srv.base_url, "--concurrency", str(per_proc), "--claim-lease", str(lease)),
                             env=worker_env(tmp / f"machine{w}"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for w in range(n_workers)
        ]
        victim = workers[0]
        killed_at = None
        with open_store(url, root=folder) as st:
            while time.perf_counter() - t0 < 3600:
                if st.count(Filters(status="debated")) >= n_items // 4 and st.claims():
                    break
                if victim.poll() is not None:
                    break
                time.sleep(0.2)
            held = [c for c in st.claims() if f"pid {victim.pid}" in c.owner]
        if victim.poll() is None:
            victim.send_signal(signal.SIGKILL)
            killed_at = time.perf_counter() - t0
        victim.wait()
        print(f"  worker pid {victim.pid} SIGKILLed at {killed_at or float('nan'):.1f} s holding {len(held)} claims")
        errs = []
        for w in workers[1:]:
            _, err = w.communicate(timeout=7200)
            if w.returncode != 0:
                errs.append(err[-500:])
        t_survivors = time.perf_counter() - t0
        if errs:
            broken(f"{len(errs)} surviving workers exited non-zero: {errs[:2]}")
        with open_store(url, root=folder) as st:
            left = n_items - st.count(Filters(status="debated"))
            expiries = [c.lease_until for c in st.claims(include_expired=True)]
        rerun = 0.0
        if left:
            # What the killed worker held comes back once its lease runs out: a new machine takes it.
            print(f"  survivors finished at {t_survivors:.1f} s with {left} items left (the killed worker's leases); a new worker takes them")
            t1 = time.perf_counter()
            with open_store(url, root=folder) as st:
                while st.claims():
                    time.sleep(0.2)
            done = subprocess.run(batch_cmd(folder, url, srv.base_url, "--concurrency", str(per_proc)), env=worker_env(tmp / "machine-new"),
                                  capture_output=True, text=True, timeout=7200)
            rerun = time.perf_counter() - t1
            if done.returncode != 0:
                broken(f"the new worker exited {done.returncode}: {done.stderr[-300:]}")
        wall = time.perf_counter() - t0
        requests, faults = srv.stats.requests, srv.stats.requests - sum(answered.values())
        team_answered = dict(answered)

        with open_store(url, root=folder) as st:
            per_item = {p: len(st.debates(p)) for p in st.paths()}
            leftover = st.claims(include_expired=True)
        once = sum(1 for v in per_item.values() if v == 1)
        twice = {p: v for p, v in per_item.items() if v > 1}
        lost = [p for p, v in per_item.items() if v == 0]
        server_counts = collections.Counter(team_answered.values())
        print(f"  items debated exactly once (store): {once} of {n_items}; more than once: {len(twice)}; lost: {len(lost)}")
        print(f"  claims left in the store at the end: {len(leftover)} (when the survivors finished: {len(expiries)})")
        print(f"  server: {requests} requests, {faults} failed with 500 and retried ({faults / max(1, requests):.1%})")
        print("  answered requests per item at the server: " + ", ".join(f"{k} turns: {v} items" for k, v in sorted(server_counts.items())))
        print(f"    (5 = one debate; more = an item begun by one worker and debated again by another: the killed worker's {len(held)}"
          " claims, and any claim whose lease ran out before its worker renewed it; the store keeps one debate)")
        print(f"  team wall time: {wall:.1f} s (survivors done at {t_survivors:.1f} s, new worker {rerun:.1f} s incl. waiting for the lease)")
        if twice:
            broken(f"{len(twice)} items have more than one debate in the store, e.g. {list(twice.items())[:3]}")
        if lost or len(per_item) != n_items:
            broken(f"{len(lost)} items lost (no debate), {n_items - len(per_item)} items missing from the store")
        if leftover:
            broken(f"{len(leftover)} claims left behind")

    # The same items, one process, the same 10% of failures, nobody killed: the baseline.
    with FakeServer(api_key=TEST_KEY, fault_rates={"500": 0.10}, seed=11, token_delay=0.004) as srv:
        srv.keep_requests = False
        srv.simulate_cache = False
        url = pg.new_database()
        t0 = time.perf_counter()
        done = subprocess.run(batch_cmd(folder, url, srv.base_url, "--concurrency", str(per_proc)), env=worker_env(tmp / "machine-single"),
                              capture_output=True, text=True, timeout=7200)
        single = time.perf_counter() - t0
        if done.returncode != 0:
            broken(f"the single process exited {done.returncode}: {done.stderr[-300:]}")
    print(f"  one process, same items, concurrency {per_proc}: {single:.1f} s; {n_workers} workers: {wall:.1f} s"
          f" ({single / wall:.2f}x; the survivors alone {single / t_survivors:.2f}x)")


# --------------------------------------------------------------------------- 2. reviewers


def part_reviewers(pg: PgServer, tmp: Path, n_reviewers: int, seconds: float, n_items: int) -> None:
    overlap = 2
    print(f"\n== 2. {n_reviewers} reviewers deciding at once for {seconds:.0f} s, overlap {overlap}, {n_items} items")
    url = pg.new_database()
    folder = tmp / "review"
    folder.mkdir()
    with open_store(url, root=folder) as st:
        st.upsert_items((f"r/{i:06d}.png", "image", 100, 1.7e9) for i in range(n_items))
        st.set_project_settings(overlap=overlap)
    acked: list[tuple[int, str, str, str]] = []
    served: dict[str, set[str]] = collections.defaultdict(set)
    next_times: list[float] = []
    decide_times: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(n_reviewers + 1)
    stop_at = [0.0]

    def reviewer(k: int) -> None:
        name = f"reviewer{k:02d}"
        mine: list[tuple[int, str, str, str]] = []
        nt: list[float] = []
        dt: list[float] = []
        try:
            with open_store(url, root=folder) as st:
                start.wait()
                while time.perf_counter() < stop_at[0]:
                    t = time.perf_counter()
                    lease: ReviewLease | None = st.next_for_reviewer(name)
                    nt.append(time.perf_counter() - t)
                    if lease is None:
                        break
                    with lock:
                        served[lease.path].add(name)
                    # Everyone agrees on an item (no dispute opens it for a third person).
                    label = "yes" if zlib.crc32(lease.path.encode()) % 2 else "no"
                    t = time.perf_counter()
                    entry = st.record_decision(lease.path, label, category="bench" if label == "yes" else "", reviewer=name, source="bench")
                    dt.append(time.perf_counter() - t)
                    mine.append((entry, lease.path, name, label))
        except Exception as exc:  # noqa: BLE001 - a reviewer's failure is a figure, said below
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
        with lock:
            acked.extend(mine)
            next_times.extend(nt)
            decide_times.extend(dt)

    threads = [threading.Thread(target=reviewer, args=(k,)) for k in range(n_reviewers)]
    for th in threads:
        th.start()
    stop_at[0] = time.perf_counter() + seconds + 2.0
    start.wait()
    t0 = time.perf_counter()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - t0
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT d.id, i.path, d.reviewer, d.label FROM decisions d JOIN items i ON i.id = d.item_id").fetchall()
        per_item = conn.execute("SELECT max(c) FROM (SELECT count(*) AS c FROM decisions GROUP BY item_id) x").fetchone()
    stored = {(int(r[0]), r[1], r[2], r[3]) for r in rows}
    lost = [a for a in acked if a not in stored]
    over = {p: sorted(who) for p, who in served.items() if len(who) > overlap}
    total = next_times and decide_times
    print(f"  decisions acknowledged: {len(acked)} in {elapsed:.1f} s = {len(acked) / elapsed:.0f} decisions/s")
    if total:
        pairs = [a + b for a, b in zip(next_times, decide_times, strict=False)]
        print(f"  next_for_reviewer  p50 {ms(statistics.median(next_times))}  p95 {ms(pct(next_times, 0.95))}")
        print(f"  record_decision    p50 {ms(statistics.median(decide_times))}  p95 {ms(pct(decide_times, 0.95))}")
        print(f"  next + decide      p50 {ms(statistics.median(pairs))}  p95 {ms(pct(pairs, 0.95))}")
    print(f"  decisions lost: {len(lost)} (of {len(acked)} acknowledged; {len(stored)} in the store)")
    print(f"  items served to more than {overlap} people: {len(over)}; most decisions on one item: {per_item[0] if per_item else 0}")
    if errors:
        broken(f"{len(errors)} reviewers failed: {errors[:3]}")
    if lost:
        broken(f"{len(lost)} acknowledged decisions missing from the store, e.g. {lost[:3]}")
    if over:
        broken(f"{len(over)} items served to more than {overlap} people, e.g. {list(over.items())[:3]}")
    if per_item and per_item[0] and per_item[0] > overlap:
        broken(f"an item has {per_item[0]} decisions with overlap {overlap}")


# --------------------------------------------------------------------------- 3. pages


def part_pages(pg: PgServer, tmp: Path, n_items: int, n_debates: int, runs: int) -> None:
    print(f"\n== 3. list pages on a {n_items:,}-item PostgreSQL store ({n_debates:,} debates, decisions by 2 reviewers)")
    url = pg.new_database()
    folder = tmp / "big"
    folder.mkdir()
    rng = random.Random(5)
    t0 = time.perf_counter()
    with open_store(url, root=folder) as st:
        chunk = 50_000
        for s in range(0, n_items, chunk):
            st.upsert_items((f"set_{i % 100:02d}/item_{i:07d}.png", "image", 1000 + i, 1.7e9 + i) for i in range(s, min(n_items, s + chunk)))
        t_items = time.perf_counter() - t0
        step = max(1, n_items // n_debates)
        debated = list(range(0, n_items, step))[:n_debates]
        with st.transaction():
            for i in debated:
                yes = rng.random() < 0.4
                st.record_debate(DebateRecord(
                    path=f"set_{i % 100:02d}/item_{i:07d}.png", kind="image", status="debated", decision="yes" if yes else "no",
                    harmful_type="violence" if yes else "a harmless scene", turns=[TurnRecord("judge", 0, "Yes, violence." if yes else "No, fine.")],
                ))
        st.set_project_settings(overlap=2, resolution="majority")
        with st.transaction():
            for n, i in enumerate(debated[: max(1, len(debated) // 2)]):
                p = f"set_{i % 100:02d}/item_{i:07d}.png"
                st.record_decision(p, "yes", reviewer="ann", source="bench")
                st.record_decision(p, "no" if n % 5 == 0 else "yes", reviewer="bob", source="bench")
        t_build = time.perf_counter() - t0
        print(f"  build: {t_build:.1f} s (items {t_items:.1f} s)")
    with open_store(url, root=folder) as st:
        # What autovacuum does within a minute of a bulk load: statistics, the visibility map
        # (index-only counts) and the trigram index's pending list.
        t = time.perf_counter()
        st._conn.execute("VACUUM ANALYZE items")
        print(f"  VACUUM ANALYZE items: {time.perf_counter() - t:.1f} s")
        total = st.count()
        near_end = st.paths()[total - 301]
        queries = {
            "page 1 (name)": lambda: st.page(sort="name", limit=200),
            f"deep page (offset {total - 300:,})": lambda: st.page(sort="name", offset=total - 300, limit=200),
            "deep page (after its last row)": lambda: st.page(sort="name", after=near_end, limit=200),
            "deep page, status order (after)": lambda: st.page(sort="status", after=near_end, limit=200),
            "page status=debated": lambda: st.page(Filters(status="debated"), sort="name", limit=200),
            "page needs_adjudication": lambda: st.page(Filters(needs_adjudication=True), sort="name", limit=200),
            "page name contains": lambda: st.page(Filters(name_contains="item_09999"), sort="name", limit=200),
            "count()": lambda: st.count(),
            "count(status=debated)": lambda: st.count(Filters(status="debated")),
            "counts()": lambda: st.counts(),
        }
        for name, q in queries.items():
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                q()
                times.append(time.perf_counter() - t)
            worst = max(times)
            print(f"  {name:34s} p50 {ms(statistics.median(times))}  max {ms(worst)}  {'ok' if worst < 0.2 else 'over 200 ms'}")


# --------------------------------------------------------------------------- 4. one process's concurrency


def part_concurrency(pg: PgServer, tmp: Path, pace: float, levels: tuple[int, ...], per_level: int) -> None:
    print(f"\n== 4. one process on the PostgreSQL store, {pace} s per turn, against the ideal (sequential / N)")
    folder = tmp / "conc"
    n_max = max(levels) * per_level
    make_images(folder, n_max)
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fakeserver.py"), "--first-token-delay", str(pace)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    base_url = proc.stdout.readline().strip()
    os.environ.setdefault("VHD_TEST_KEY", "bench")

    async def run(n_items: int, concurrency: int) -> float:
        url = pg.new_database()
        store = open_store(url, root=folder)
        with store.transaction():
            store.upsert_items((m.rel, m.kind, m.size, m.mtime) for m in scan(folder))
        paths = sorted(store.paths())[:n_items]
        t = time.perf_counter()
        async for ev in BatchRun(store, settings_for(base_url), paths, concurrency=concurrency, use_cache=False).run():
            if isinstance(ev, BatchStopped) and ev.progress.done != n_items:
                broken(f"concurrency {concurrency}: {ev.progress.done} of {n_items} done: {ev.progress.failures[:2]}")
        wall = time.perf_counter() - t
        store.close()
        return wall

    try:
        seq_items = 4
        seq = asyncio.run(run(seq_items, 1)) / seq_items
        print(f"  sequential: {seq:.2f} s per item (5 turns)")
        for n in levels:
            items = n * per_level
            wall = asyncio.run(run(items, n))
            ideal = seq * items / n
            print(f"  concurrency {n:2d}: {items} items in {wall:6.1f} s, ideal {ideal:5.1f} s, {ideal / wall:.2f} of ideal")
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a smaller run of every part")
    ap.add_argument("--parts", default="1,2,3,4", help="which parts to run, e.g. 1,3")
    ap.add_argument("--lease", type=int, default=5, help="the workers' --claim-lease in seconds (default 5)")
    args = ap.parse_args()
    parts = {int(p) for p in args.parts.split(",") if p.strip()}
    q = args.quick
    print(f"machine: {os.cpu_count()} cores, load average at start {loadavg()}{' (quick run)' if q else ''}")
    pg = PgServer().start()
    t0 = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="vhd-teambench-") as d:
            tmp = Path(d)
            if 1 in parts:
                part_workers(pg, tmp, 400 if q else 2000, 8, 4, args.lease)
            if 2 in parts:
                part_reviewers(pg, tmp, 20, 10 if q else 60, 4000 if q else 20_000)
            if 3 in parts:
                part_pages(pg, tmp, 100_000 if q else 1_000_000, 2000 if q else 20_000, 5 if q else 7)
            if 4 in parts:
                part_concurrency(pg, tmp, 0.4, (8, 16, 32), 2 if q else 4)
    finally:
        pg.stop()
    print(f"\nload average at the end {loadavg()}; total {time.perf_counter() - t0:.0f} s")
    if BROKEN:
        print(f"{len(BROKEN)} promises broken:")
        for b in BROKEN:
            print(f"  - {b}")
        return 1
    print("every promise held")
    return 0


if __name__ == "__main__":
    sys.exit(main())
