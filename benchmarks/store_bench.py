"""Store benchmark: a 100,000-item store with debates, timed where the window and the
CLI feel it.

    python benchmarks/store_bench.py [--items N] [--dir DIR] [--backend sqlite|postgresql [--url URL]]

Goals: open < 0.5 s, recording a decision p95 < 10 ms (durable: WAL + synchronous=FULL),
a filtered page of 200 < 50 ms, counts < 50 ms, vhd11k-csv export < 10 s; with several
reviewers, their filters and "next item for me" < 50 ms.
Use --dir to measure on the disk you care about (the default temp dir may be a RAM disk).
``--backend postgresql`` measures the same on PostgreSQL: an empty database at ``--url``, else a
server the script starts in a temporary folder from Debian's binaries (as the test suite does).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vhd_gui.formats import export_store  # noqa: E402
from vhd_gui.record import DebateRecord, EndpointInfo, TurnRecord  # noqa: E402
from vhd_gui.store import Filters, Store  # noqa: E402
from vhd_gui.store_api import open_store  # noqa: E402

CATEGORIES = ["violence", "gore or bloody scene", "sexual content or nudity", "drugs", "gambling", "weapons"]
ARGUMENT = "1. The scene shows {x}. 2. It could upset a child. 3. The other side ignores the context."


def make_debate(i: int, rng: random.Random) -> DebateRecord:
    kind = "video" if i % 10 == 0 else "image"
    path = f"set_{i % 100:02}/item_{i:06}.{'mp4' if kind == 'video' else 'png'}"
    if i % 97 == 0:
        return DebateRecord(path=path, kind=kind, status="error", error_kind="api", error="HTTP 500")
    harmful = rng.random() < 0.4
    category = rng.choice(CATEGORIES) if harmful else "a harmless scene"
    turns = [TurnRecord(role, r, ARGUMENT.format(x=f"{role} {r} {i}"), model="qwen2.5-vl", prompt_tokens=900, completion_tokens=80)
             for r in range(2) for role in ("affirmative", "negative")]
    turns.append(TurnRecord("judge", 0, f"{'Yes' if harmful else 'No'}, {category}.", model="gpt-4o"))
    return DebateRecord(
        path=path,
        kind=kind,
        status="debated",
        decision="yes" if harmful else "no",
        harmful_type=category,
        judge_raw=f"{'Yes' if harmful else 'No'}, {category}.",
        flags=["judge_unparsed"] if i % 50 == 0 else [],
        turns=turns,
        endpoints={"judge": EndpointInfo("http://localhost:8000/v1", "gpt-4o")},
        preset_name="vhd11k-image",
        preset_hash="0123456789abcdef",
        prompt_tokens=4500,
        completion_tokens=400,
        seconds=12.5,
        started_at="2025-01-01T00:00:00+00:00",
    )


def build(folder: Path, n: int, target: str | None) -> str:
    rng = random.Random(4)
    with (Store.for_folder(folder) if target is None else open_store(target, root=folder)) as store:
        t0 = time.perf_counter()
        debates = [make_debate(i, rng) for i in range(n)]
        store.upsert_items((d.path, d.kind, 1000 + i, 1.7e9 + i) for i, d in enumerate(debates))
        for start in range(0, n, 5000):
            with store.transaction():
                for d in debates[start : start + 5000]:
                    store.record_debate(d)
        with store.transaction():
            for i in range(0, n, 7):
                store.record_decision(debates[i].path, "yes" if i % 2 else "no", reviewer="bench", source="bench")
        print(f"build           {time.perf_counter() - t0:8.2f} s  ({n} items, {n} debates, {len(range(0, n, 7))} decisions)")
        return target or str(store.path)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--dir", help="where to build the store (default: a temp dir)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--url", help="with --backend postgresql: an empty database (default: start a server here)")
    args = parser.parse_args()
    server = None
    target = None
    if args.backend == "postgresql":
        target = args.url
        if not target:
            sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
            from pgserver import PgServer

            server = PgServer().start()
            target = server.new_database()
            print("PostgreSQL: a server of its own (fsync off, as in the tests): figures without disk flushes")
    try:
        _run(args, target)
    finally:
        if server is not None:
            server.stop()


def _run(args: argparse.Namespace, target: str | None) -> None:
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        path = build(folder, args.items, target)

        t0 = time.perf_counter()
        open_store(path, root=folder).close()
        t_first = time.perf_counter() - t0
        print(f"open, 1st a day {ms(t_first)}   (SQLite: the whole quick check and the daily backup)")
        t0 = time.perf_counter()
        store = open_store(path, root=folder)
        t_open = time.perf_counter() - t0
        print(f"open            {ms(t_open)}   goal < 500 ms (quick check of items, decisions, meta)")

        paths = store.paths()
        rng = random.Random(7)
        times = []
        for _ in range(300):
            p = rng.choice(paths)
            t0 = time.perf_counter()
            store.record_decision(p, rng.choice(["yes", "no"]), category="drugs", reviewer="bench")
            times.append(time.perf_counter() - t0)
        times.sort()
        p50, p95 = statistics.median(times), times[int(len(times) * 0.95) - 1]
        print(f"decision p50    {ms(p50)}")
        print(f"decision p95    {ms(p95)}   goal < 10 ms (synchronous=FULL)")

        queries = {
            "page name":      lambda: store.page(Filters(final_label="yes", kind="image"), sort="name", offset=20_000, limit=200),
            "page disagree":  lambda: store.page(Filters(disagreement=True), sort="updated", descending=True, limit=200),
            "page contains":  lambda: store.page(Filters(name_contains="item_0999"), sort="mtime", limit=200),
            "page category":  lambda: store.page(Filters(category="drugs", status="debated"), sort="status", limit=200),
        }
        for name, query in queries.items():
            best = min(_timed(query) for _ in range(5))
            print(f"{name:15} {ms(best)}   goal < 50 ms")
        best = min(_timed(store.counts) for _ in range(5))
        print(f"counts          {ms(best)}   goal < 50 ms")
        best = min(_timed(lambda: store.count(Filters(status="new"))) for _ in range(5))
        print(f"count filtered  {ms(best)}")
        best = min(_timed(store.paths) for _ in range(3))
        print(f"all paths       {ms(best)}   ({len(paths)} paths, for a list model)")

        _team(store, paths)

        t0 = time.perf_counter()
        store.upsert_items((f"rescan/{i:05}.png", "image", i, 1.7e9) for i in range(10_000))
        print(f"upsert 10k      {ms(time.perf_counter() - t0)}   (a folder scan landing in the store)")

        t0 = time.perf_counter()
        written = export_store(store, "vhd11k-csv", folder / "export.csv")
        t_export = time.perf_counter() - t0
        rows = sum(f.rows for f in written)
        print(f"vhd11k-csv      {t_export:8.2f} s   goal < 10 s ({rows} rows in {len(written)} files)")
        store.close()
        if target is None:
            file = Path(path)
            size = file.stat().st_size + sum(p.stat().st_size for p in file.parent.glob(file.name + "-*"))
            print(f"file size       {size / 1e6:8.1f} MB  (store with WAL)")


def _team(store: Store, paths: list[str]) -> None:
    """Several reviewers: a second reviewer on every 3rd decided item, the resolution switched
    (every decided item recomputed), the reviewers' filters, and "next item for me"."""
    rng = random.Random(11)
    with store.transaction():
        for p in paths[::21]:
            store.record_decision(p, rng.choice(["yes", "no"]), reviewer="second", source="bench")
    t0 = time.perf_counter()
    store.set_project_settings(resolution="majority", overlap=2)
    t_switch = time.perf_counter() - t0
    decided = store.count(Filters(decided_by="bench"))
    print(f"resolution      {ms(t_switch)}   (latest -> majority: {decided} decided items recomputed, one transaction)")
    queries = {
        "page disputed": lambda: store.page(Filters(needs_adjudication=True), limit=200),
        "page undecided": lambda: store.page(Filters(undecided_by="bench", kind="image"), offset=20_000, limit=200),
        "count undecided": lambda: store.count(Filters(undecided_by="second")),
    }
    for name, query in queries.items():
        best = min(_timed(query) for _ in range(5))
        print(f"{name:15} {ms(best)}   goal < 50 ms")
    store.set_project_settings(blind=True)
    best = min(_timed(lambda: store.page(Filters(final_label="yes"), offset=20_000, limit=200, viewer="bench")) for _ in range(5))
    print(f"page blind      {ms(best)}   goal < 50 ms (a blind reviewer's own labels, name order)")
    best = min(_timed(lambda: store.page(Filters(final_label="yes"), sort="status", offset=20_000, limit=200, viewer="bench")) for _ in range(5))
    print(f"page blind stat {ms(best)}   (status order: computed per reviewer, so a sort of every row)")
    best = min(_timed(lambda: store.counts(viewer="bench")) for _ in range(5))
    print(f"counts blind    {ms(best)}")
    store.set_project_settings(blind=False)
    times = []
    after = None
    for i in range(200):
        t0 = time.perf_counter()
        lease = store.next_for_reviewer(f"r{i % 4}", after=after)
        times.append(time.perf_counter() - t0)
        after = lease.path if lease else None
    times.sort()
    print(f"next for me p95 {ms(times[int(len(times) * 0.95) - 1])}   goal < 50 ms (4 reviewers, overlap 2, leases held)")


def _timed(fn: object) -> float:
    t0 = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
