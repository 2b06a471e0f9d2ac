"""Agreement between people: time to compute every figure for VHD11K's size, 11,000 items × 3 reviewers.

    python benchmarks/agreement_bench.py [--items N] [--reviewers R] [--overlap P] [--dir DIR]

The store is built through the Store API (record_debate / record_decision in large
transactions), 1 in 11 items a video, with debates shaped like metrics_bench.py's (two rounds,
judge, critic). Each reviewer decides each item with probability ``--overlap`` (1.0 by default:
every item seen by every reviewer, the most work); a reviewer agrees with a hidden truth 90 % of
the time, and about 20 % of items are harmful, in six categories. Timed, best of 3: reading the
ratings (``agreement.read_ratings``: every record with its decision history), computing every
figure with 1000 bootstrap resamples (``agreement.between_people``: overall, per kind, per
category, label and category, every pair, the model against each person and the final label),
and both together, which is what ``metrics --between reviewers`` and the Review panel do.
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from metrics_bench import CATEGORIES, make_debate  # noqa: E402

from vhd_gui import agreement  # noqa: E402
from vhd_gui.store import Store  # noqa: E402

T = TypeVar("T")


def best_of(runs: int, fn: Callable[[], T]) -> tuple[float, float, T]:
    """(best wall seconds, best CPU seconds of this process, result): the CPU time says what the
    work costs when other processes share the machine."""
    wall, cpu, result = float("inf"), float("inf"), None
    for _ in range(runs):
        w0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        wall, cpu = min(wall, time.perf_counter() - w0), min(cpu, time.process_time() - c0)
    assert result is not None
    return wall, cpu, result


def build(folder: Path, n: int, reviewers: int, overlap: float) -> tuple[Path, int]:
    rng = random.Random(11)
    t0 = time.perf_counter()
    decisions = 0
    with Store.for_folder(folder) as store:
        with store.transaction():
            for i in range(n):
                truth = "yes" if rng.random() < 0.2 else "no"
                category = rng.choice(CATEGORIES) if truth == "yes" else ""
                model = truth if rng.random() < 0.85 else ("no" if truth == "yes" else "yes")
                d = make_debate(i, rng, model)
                d.kind = "video" if i % 11 == 0 else "image"
                store.record_debate(d)
                for r in range(reviewers):
                    if rng.random() >= overlap:
                        continue
                    label = truth if rng.random() < 0.9 else ("no" if truth == "yes" else "yes")
                    cat = (category if rng.random() < 0.8 else rng.choice(CATEGORIES)) if label == "yes" else ""
                    store.record_decision(d.path, label, cat, reviewer=f"reviewer-{r + 1}", source="bench")
                    decisions += 1
        path = store.path
    print(f"build              {time.perf_counter() - t0:8.2f} s  ({n} items, {reviewers} reviewers, {decisions} decisions)")
    return path, decisions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=11_000)
    parser.add_argument("--reviewers", type=int, default=3)
    parser.add_argument("--overlap", type=float, default=1.0, help="chance that a reviewer decides a given item")
    parser.add_argument("--dir", help="where to build the store (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as scratch:
        path, _ = build(Path(scratch), args.items, args.reviewers, args.overlap)
        with Store.open(path) as store:
            t_read, c_read, rows = best_of(3, lambda: agreement.read_ratings(store))
            print(f"read ratings       {t_read * 1000:8.1f} ms  cpu {c_read * 1000:8.1f} ms  ({len(rows)} items with a person's decision)")
            t_fig, c_fig, result = best_of(3, lambda: agreement.between_people(rows))
            groups = 1 + len(result.by_kind) + len(result.by_category) + 1
            pairs = sum(len(g.pairs) + len(g.model) for g in (result.overall, result.label_and_category, *result.by_kind.values(), *result.by_category.values()))
            print(f"figures            {t_fig * 1000:8.1f} ms  cpu {c_fig * 1000:8.1f} ms  ({groups} groups, {pairs} pairs, {result.resamples} resamples each)")
            t_all, c_all, _ = best_of(3, lambda: agreement.between_people(agreement.read_ratings(store)))
            print(f"read + figures     {t_all * 1000:8.1f} ms  cpu {c_all * 1000:8.1f} ms  (what metrics --between reviewers and the Review panel compute)")
            print()
            print(agreement.format_group(result.overall, "harmful or not"))


if __name__ == "__main__":
    main()
