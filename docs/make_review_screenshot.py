"""Regenerate docs/review.png: the Review panel on a generated store of 3,000 items.

Run: ``QT_QPA_PLATFORM=offscreen python docs/make_review_screenshot.py [TAB]`` where TAB is
agreement (default), queue or audit; the queue and audit shots go to review-TAB.png.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> None:
    from metrics_bench import make_debate
    from PySide6.QtWidgets import QApplication

    from vhd_gui.store import Store
    from vhd_gui.ui._review_panel import ReviewPanel

    tab = sys.argv[1] if len(sys.argv) > 1 else "agreement"
    app = QApplication.instance() or QApplication([])
    rng = random.Random(11)
    with tempfile.TemporaryDirectory() as tmp, Store.for_folder(tmp) as store:
        with store.transaction():
            debates = [make_debate(i, rng) for i in range(3000)]
            for d in debates:
                store.record_debate(d)
            for i in range(0, 3000, 4):
                model = debates[i].decision or "no"
                label = model if rng.random() < 0.85 else ("no" if model == "yes" else "yes")
                category = rng.choice(["violence", "gore or bloody scene", "sexual content or nudity", "drugs", "gambling"]) if label == "yes" else ""
                store.record_decision(debates[i].path, label, category=category)
        panel = ReviewPanel(store)
        panel.resize(560, 980 if tab == "agreement" else 620)
        panel.show()
        panel.refresh()
        deadline = time.monotonic() + 30
        while panel.summary() is None and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.01)
        if tab == "audit":
            panel.tabs.setCurrentIndex(2)
            sample = panel.draw_sample()
            for path in sample[:60]:
                store.record_decision(path, "yes" if rng.random() < 0.5 else "no")
            panel.refresh()
            start = time.monotonic()
            while time.monotonic() - start < 3:
                app.processEvents()
                time.sleep(0.01)
        elif tab == "queue":
            panel.tabs.setCurrentIndex(1)
        for _ in range(20):
            app.processEvents()
        name = "review.png" if tab == "agreement" else f"review-{tab}.png"
        panel.grab().save(str(ROOT / "docs" / name))
        panel.close()
        print(f"wrote docs/{name}")


if __name__ == "__main__":
    main()
