"""Metrics benchmark: agreement figures and the review queue on a 100,000-item store.

    python benchmarks/metrics_bench.py [--items N] [--dir DIR] [--keep]

Goals: agreement (overall, with bootstrap intervals) < 1 s, review queue < 1 s; also timed:
the split by kind, category and model, and an audit draw. The store is built through the Store
API (record_debate / record_decision inside large transactions): 40 % harmful verdicts, 1 in 10
items a video, a critic on every debate, the judge's yes-probability on half of them, two judge
models, 1 in 50 items debated twice, and a human decision on 1 in 7 items.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vhd_gui import metrics  # noqa: E402
from vhd_gui.record import DebateRecord, EndpointInfo, TurnRecord  # noqa: E402
from vhd_gui.store import Store  # noqa: E402

CATEGORIES = ["violence", "gore or bloody scene", "sexual content or nudity", "drugs", "gambling", "weapons"]
ARGUMENT = "1. The scene shows {x}. 2. It could upset a child. 3. The other side ignores the context."
T = TypeVar("T")


def make_debate(i: int, rng: random.Random, decision: str | None = None) -> DebateRecord:
    kind = "video" if i % 10 == 0 else "image"
    path = f"set_{i % 100:02}/item_{i:06}.{'mp4' if kind == 'video' else 'png'}"
    harmful = (rng.random() < 0.4) if decision is None else decision == "yes"
    category = rng.choice(CATEGORIES) if harmful else "a harmless scene"
    judge = f"{'Yes' if harmful else 'No'}, {category}."
    turns = [TurnRecord(role, r, ARGUMENT.format(x=f"{role} {r} {i}")) for r in range(2) for role in ("affirmative", "negative")]
    turns.append(TurnRecord("judge", 0, judge))
    turns.append(TurnRecord("critic", 0, "1. The judge may have missed the context.\nDisagree." if rng.random() < 0.1 else "1. Fine.\nAgree."))
    model = "gpt-4o" if i % 3 else "qwen2.5-vl-72b"
    flags = ["judge_unparsed"] if i % 50 == 0 else ["debater_refused"] if i % 83 == 0 else []
    return DebateRecord(
        path=path,
        kind=kind,
        status="debated",
        decision="yes" if harmful else "no",
        harmful_type=category,
        judge_raw=judge,
        flags=flags,
        turns=turns,
        endpoints={"judge": EndpointInfo("http://localhost:8000/v1", model)},
        preset_name="vhd11k-video" if kind == "video" else "vhd11k-image",
        preset_hash="0123456789abcdef",
        judge_yes_prob=(rng.betavariate(0.6, 0.6) if i % 2 else None),
    )


def build(folder: Path, n: int) -> Path:
    rng = random.Random(4)
    t0 = time.perf_counter()
    with Store.for_folder(folder) as store:
        debates = [make_debate(i, rng) for i in range(n)]
        for start in range(0, n, 10_000):
            with store.transaction():
                for d in debates[start : start + 10_000]:
                    store.record_debate(d)
        with store.transaction():
            for i in range(0, n, 50):  # a second run that disagrees with the first, on 2 %
                store.record_debate(make_debate(i, rng, "no" if debates[i].decision == "yes" else "yes"))
        with store.transaction():
            for i in range(0, n, 7):  # people agree with the model 85 % of the time
                model = store.current_debate(debates[i].path)
                assert model is not None and model.decision is not None
                label = model.decision if rng.random() < 0.85 else ("no" if model.decision == "yes" else "yes")
                category = rng.choice(CATEGORIES) if label == "yes" else ""
                store.record_decision(debates[i].path, label, category=category, reviewer="bench", source="bench")
        path = store.path
    print(f"build            {time.perf_counter() - t0:8.2f} s  ({n} items, {n + len(range(0, n, 50))} debates, {len(range(0, n, 7))} human decisions)")
    return path


def best_of(runs: int, fn: Callable[[], T]) -> tuple[float, T]:
    best, result = float("inf"), None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    assert result is not None
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--dir", help="where to build the store (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="print the store's path and keep it")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(dir=args.dir) if args.keep else None
    with tempfile.TemporaryDirectory(dir=args.dir) as scratch:
        path = build(Path(tmp or scratch), args.items)
        with Store.open(path) as store:
            t_rows, rows = best_of(3, store.verdict_rows)
            print(f"verdict_rows     {t_rows * 1000:8.1f} ms  ({len(rows)} rows: the one bulk read)")

            t_agree, overall = best_of(3, lambda: metrics.agreement(store.verdict_rows()))
            print(f"agreement        {t_agree * 1000:8.1f} ms  goal < 1000 ms (read + figures + {metrics.BOOTSTRAP_RESAMPLES} bootstrap resamples)")
            for by in ("kind", "category", "model"):
                t_by, groups = best_of(3, lambda by=by: metrics.agreement_by(store.verdict_rows(), by))
                print(f"by {by:13} {t_by * 1000:8.1f} ms  ({len(groups)} groups)")

            t_queue, queue = best_of(3, lambda: metrics.review_queue(store.verdict_rows()))
            print(f"review queue     {t_queue * 1000:8.1f} ms  goal < 1000 ms ({len(queue)} items without a human decision)")

            t_audit, sample = best_of(3, lambda: metrics.draw_audit_sample(store.verdict_rows(), 200, seed=1))
            print(f"audit draw       {t_audit * 1000:8.1f} ms  ({len(sample.paths)} of {sample.population} model-only verdicts)")

            print()
            print(metrics.format_table(overall))
            top = queue[:3]
            print("most suspicious: " + "; ".join(f"{q.path} {q.score:.2f} ({', '.join(q.reasons)})" for q in top))
        if tmp:
            print(f"store kept at {path}")


if __name__ == "__main__":
    main()
