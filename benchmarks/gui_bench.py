"""GUI figures. Prints one line per figure with its goal.

    QT_QPA_PLATFORM=offscreen python benchmarks/gui_bench.py [--items 10000]

1. process start → first paint of the window (goal < 1.5 s), median of 3 runs;
2. a folder of N generated images listed (goal < 1 s) and the longest event-loop stall while
   the list fills and thumbnails arrive;
3. stalls while scrolling down the list page by page (``--scroll-pages``), and RSS after it
   (goal < 600 MB);
4. the longest event-loop stall (goal < 50 ms, p99 < 16 ms) on each decision key (R and the
   first debate, Enter, H+digit, N, Ctrl+Z) with the whole list open, and while the window opens
   the store of N items again (its check, the list of N paths, a scan that finds nothing new);
5. the longest event-loop stalls while three panels stream 200 tokens/s each with a revealed
   1080p image on screen; and the same during a real debate against the fake server streaming
   200 tokens/s.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_API", "pyside6")


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def first_paint(runs: int = 3) -> list[float]:
    out = []
    env = dict(os.environ, VHD_ANNOTATOR_EXIT_AFTER_PAINT="1", PYTHONPATH=str(ROOT))
    with tempfile.TemporaryDirectory() as home:
        env.update(XDG_CONFIG_HOME=f"{home}/c", XDG_DATA_HOME=f"{home}/d", XDG_CACHE_HOME=f"{home}/k", HOME=home)
        for _ in range(runs):
            start = time.time()
            proc = subprocess.run([sys.executable, "-m", "vhd_gui"], env=env, capture_output=True, text=True, timeout=60)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("first-paint ")), None)
            if line is None:
                raise RuntimeError(f"no first paint reported: {proc.stdout}\n{proc.stderr}")
            out.append(float(line.split()[1]) - start)
    return out


def make_images(folder: Path, n: int) -> None:
    from PIL import Image

    marker = folder / f".complete-{n}"
    if marker.exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        sub = folder / f"part{i // 1000:02d}"
        sub.mkdir(exist_ok=True)
        Image.new("RGB", (160, 120), ((i * 37) % 256, (i * 91) % 256, (i * 13) % 256)).save(sub / f"img_{i:05d}.jpg", quality=70)
    marker.touch()


class StallMeter:
    """A 5 ms Qt timer; the gaps between its ticks beyond 5 ms are event-loop stalls."""

    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.gaps: list[float] = []
        self._last = time.perf_counter()
        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(5)
        self._timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        gap = max(0.0, now - self._last - 0.005)
        self.gaps.append(gap)
        if TRACER is not None and gap > TRACER.threshold:
            TRACER.report(self._last, now)
        if WATCHDOG:
            # Python's own watchdog thread, which needs no GIL: should the next tick not come in
            # time, every thread's stack is written to stderr, the GUI thread's where it stalls.
            faulthandler.dump_traceback_later(WATCHDOG, exit=False)
        self._last = now

    def start(self) -> StallMeter:
        self.gaps.clear()
        self._last = time.perf_counter()
        self._timer.start()
        return self

    def stop(self) -> dict[str, float]:
        self._timer.stop()
        if WATCHDOG:
            faulthandler.cancel_dump_traceback_later()
        g = sorted(self.gaps) or [0.0]
        return {"max_ms": g[-1] * 1000, "p99_ms": g[int(len(g) * 0.99) - 1 if len(g) > 1 else 0] * 1000, "ticks": len(g)}


class StallTracer:
    """With ``--trace-stalls MS``: a thread that notes every millisecond where each thread is,
    so that a stall can be told apart: the GUI thread busy in some code of ours (its frames
    during the gap), or waiting for the GIL (few notes in the gap: another thread held it in a
    long C call; that thread's frames are shown)."""

    def __init__(self, threshold_ms: float) -> None:
        import collections
        import threading

        self.threshold = threshold_ms / 1000
        self._notes: collections.deque[tuple[float, dict[int, str]]] = collections.deque(maxlen=5000)
        self._main = threading.main_thread().ident
        self._names = {}
        threading.Thread(target=self._run, daemon=True, name="stall-tracer").start()

    @staticmethod
    def _where(frame: Any) -> str:
        import traceback

        parts = [f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in traceback.extract_stack(frame, limit=12)[-5:]]
        return " < ".join(reversed(parts))

    def _run(self) -> None:
        import threading

        while True:
            now = time.perf_counter()
            frames = sys._current_frames()
            self._names = {t.ident: t.name for t in threading.enumerate()}
            self._notes.append((now, {ident: self._where(f) for ident, f in frames.items() if ident != threading.get_ident()}))
            time.sleep(0.001)

    def report(self, start: float, end: float) -> None:
        import collections

        notes = list(self._notes)
        inside = [n for t, n in notes if start <= t <= end]
        print(f"  stall {1000 * (end - start):.0f} ms: {len(inside)} notes in it")
        main = collections.Counter(n.get(self._main, "?") for n in inside)
        for where, k in main.most_common(3):
            print(f"    GUI x{k}: {where}")
        others = collections.Counter((self._names.get(i, str(i)), w) for n in inside for i, w in n.items() if i != self._main)
        for (name, where), k in others.most_common(4):
            print(f"    {name} x{k}: {where}")
        # the notes just before the gap: who was running when the GUI thread last got the GIL
        before = [n for t, n in notes if start - 0.01 <= t < start][-1:]
        for n in before:
            for i, w in n.items():
                print(f"    just before, {self._names.get(i, str(i))}: {w}")


TRACER: StallTracer | None = None
GC_PAUSES: list[tuple[int, float]] = []  # (generation, seconds) of the GUI process's collections


def time_collections() -> None:
    """Note how long each of Python's cyclic garbage collections takes (a full one walks every
    container object, and stops every thread while it does)."""
    import gc

    started: dict[str, float] = {}

    def note(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started["t"] = time.perf_counter()
        elif "t" in started:
            GC_PAUSES.append((info["generation"], time.perf_counter() - started.pop("t")))

    gc.callbacks.append(note)


WATCHDOG = 0.0  # seconds: --watchdog
R_AT_ONCE = False  # --r-at-once


async def until(pred: Any, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise TimeoutError
        await asyncio.sleep(0.005)


async def gui_figures(folder: Path, items: int, results: dict[str, Any], scroll_pages: int) -> None:
    from PySide6.QtCore import QSettings

    from fakeserver import FakeServer
    from helpers import TEST_KEY_ENV, settings_for
    from mediagen import save_photo
    from vhd_gui.ui._main_window import MainWindow

    tmp = Path(tempfile.mkdtemp(prefix="vhd-gui-bench-"))
    # A run of its own: the generated pictures hard-linked into a new folder, so the store starts
    # empty (a cold list) and two runs never share one.
    run_folder = tmp / "media"
    shutil.copytree(folder, run_folder, copy_function=os.link, ignore=shutil.ignore_patterns(".vhd-annotator", ".complete-*"))
    folder = run_folder
    qs = QSettings(str(tmp / "bench.ini"), QSettings.Format.IniFormat)
    os.environ[TEST_KEY_ENV] = "bench-key"
    from vhd_gui.gcpause import keep_out_of_collections

    with FakeServer(api_key="bench-key", token_delay=0.005) as server:
        keep_out_of_collections()  # as the app does before it makes its window, and again after
        w = MainWindow(settings_for(server.base_url), qs)
        w.resize(1440, 900)
        w.show()
        keep_out_of_collections()
        await asyncio.sleep(0.2)

        # ---------------------------------------------------------- listing N images
        meter = StallMeter().start()
        found: list[int] = []
        w.did_finish_scan.connect(found.append)
        t0 = time.perf_counter()
        w.open_path(folder)
        from PySide6.QtCore import QTimer

        QTimer.singleShot(1000, w.warm_up_when_idle)  # as the app does a second after the window shows
        first_row = None
        while not found:
            if first_row is None and w.model.rowCount():
                first_row = time.perf_counter() - t0
            await asyncio.sleep(0.001)
        listed = time.perf_counter() - t0
        results["list_first_rows_s"] = first_row or listed
        results["list_all_s"] = listed
        results["list_rows"] = w.model.rowCount()
        await until(lambda: w.thumbs.backlog == 0, 60)
        results["list_stall"] = meter.stop()

        # ---------------------------------------------------------- scroll through everything
        meter.start()
        view = w.browser.view
        bar = view.verticalScrollBar()
        from vhd_gui.ui._browser import ROW_HEIGHT

        await until(lambda: bar.maximum() >= items * ROW_HEIGHT - 2 * view.viewport().height(), 120)
        t0 = time.perf_counter()
        step = max(1, view.viewport().height())
        value = pages = 0
        while value < bar.maximum() and pages < scroll_pages:
            value += step
            pages += 1
            bar.setValue(value)
            await asyncio.sleep(0.004)
        results["scroll_pages"] = pages
        results["scroll_rows"] = min(items, (value + view.viewport().height()) // ROW_HEIGHT)
        await until(lambda: w.thumbs.backlog == 0, 120)
        results["scroll_s"] = time.perf_counter() - t0
        results["scroll_px"] = bar.maximum()
        results["thumbs_on_disk"] = sum(1 for _ in (Path(os.environ["XDG_CACHE_HOME"]) / "vhd-annotator" / "thumbnails").glob("*.jpg"))
        results["scroll_stall"] = meter.stop()
        results["rss_after_scroll_mb"] = rss_mb()

        # ---------------------------------------------------------- decisions and the first debate at N items
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest

        w.activateWindow()
        w.browser.view.setCurrentIndex(w.model.index(0))
        w.browser.view.setFocus()
        await asyncio.sleep(0.5)
        # A person looks at the item a moment before asking for a debate: the window uses such a
        # quiet moment to load the agent libraries (measured apart: --r-at-once skips this).
        if not R_AT_ONCE:
            await until(lambda: w.debates.warming, 60)
            await w._warm
            results["warm_up"] = "loaded while the list was still"
        elif w.debates.warming:  # the window found its quiet moment (or its 30 s limit) already
            results["warm_up"] = "already loading before R, so this does not measure R at once"
        else:
            results["warm_up"] = "not loaded before R"

        def press(k: Any, mod: Any = Qt.KeyboardModifier.NoModifier) -> None:
            QTest.keyClick(w.focusWidget() or w.browser.view, k, mod)

        recorded: list[str] = []
        w.did_record_debate.connect(recorded.append)
        meter.start()
        press(Qt.Key.Key_R)
        await until(lambda: recorded and not w.debate_running, 120)
        await asyncio.sleep(0.3)
        results["first_debate_stall"] = meter.stop()
        for name, keys in (("Enter", [Qt.Key.Key_Return]), ("H+digit", [Qt.Key.Key_H, Qt.Key.Key_1]), ("N", [Qt.Key.Key_N]),
                           ("Ctrl+Z", [(Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)])):
            meter.start()
            for k in keys:
                if isinstance(k, tuple):
                    press(*k)
                else:
                    press(k)
            await asyncio.sleep(0.6)  # what follows the key press (counts, review, autosave) included
            results[f"decide_{name}_stall"] = meter.stop()
        w.close()
        await asyncio.sleep(0.3)

        # ---------------------------------------------------------- opening the full store again
        # The store now holds N items: its quick check, the first list of N paths and the scan
        # finding nothing new, as when the app starts on the last folder.
        w = MainWindow(settings_for(server.base_url), qs)
        w.resize(1440, 900)
        w.show()
        await asyncio.sleep(0.3)
        meter.start()
        found = []
        w.did_finish_scan.connect(found.append)
        t0 = time.perf_counter()
        w.open_path(folder)
        first_row = None
        while not found or w.list_pending:
            if first_row is None and w.model.rowCount():
                first_row = time.perf_counter() - t0
            await asyncio.sleep(0.001)
        results["reopen_first_rows_s"] = first_row or time.perf_counter() - t0
        results["reopen_all_s"] = time.perf_counter() - t0
        await until(lambda: w.thumbs.backlog == 0, 60)
        results["reopen_stall"] = meter.stop()
        w.close()

        # ---------------------------------------------------------- streaming with a 1080p image
        one = tmp / "one"
        one.mkdir()
        save_photo(one / "photo_1080p.jpg", 1920, 1080, seed=3)
        w = MainWindow(settings_for(server.base_url), qs)
        w.resize(1440, 900)
        w.show()
        done: list[int] = []
        w.did_finish_scan.connect(done.append)
        w.open_path(one)
        await until(lambda: done and w.viewer._image is not None)
        w.toggle_reveal()  # the full 1080p picture on screen
        await asyncio.sleep(0.3)
        from vhd_gui.protocol import Role, Turn

        turns = [Turn(Role.AFFIRMATIVE, 0), Turn(Role.NEGATIVE, 0), Turn(Role.JUDGE)]
        w.debate.start(turns, "benchmark: three panels at 200 tokens/s")
        for t in turns:
            w.debate.begin_turn(t, "bench", 1)

        async def stream(turn: Turn, seconds: float) -> None:
            loop = asyncio.get_running_loop()
            start = loop.time()
            n = 0
            while loop.time() - start < seconds:
                due = start + n / 200.0
                await asyncio.sleep(max(0.0, due - loop.time()))
                w.debate.append(turn, f" word{n}")
                n += 1

        meter.start()
        await asyncio.gather(*(stream(t, 5.0) for t in turns))
        w.debate.flush()
        results["stream3_stall"] = meter.stop()
        results["stream3_chars"] = sum(len(w.role_text(r)) for r in ("affirmative", "negative", "judge"))

        # a real debate through the engine, 200 tokens/s from the fake server
        w._warm = None
        server.answers.update({r: " ".join(f"w{i}" for i in range(200)) for r in ("affirmative", "negative")})
        recorded: list[str] = []
        w.did_record_debate.connect(recorded.append)
        w.warm_up()
        await w._warm
        meter.start()
        w.run_debate(rerun=True)
        await until(lambda: recorded, 120)
        results["engine_stall"] = meter.stop()
        w.close()
        await asyncio.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "vhd-gui-bench-images")
    parser.add_argument("--scroll-pages", type=int, default=400, help="pages scrolled down from the top (0: the whole list)")
    parser.add_argument("--trace-stalls", type=float, default=0, metavar="MS", help="say where every thread was during each stall over MS")
    parser.add_argument("--watchdog", type=float, default=0, metavar="MS",
                        help="write every thread's stack to stderr when the event loop has not turned for MS (faulthandler)")
    parser.add_argument("--r-at-once", action="store_true",
                        help="press R before the window had a quiet moment to load the agent libraries")
    args = parser.parse_args()
    global TRACER, WATCHDOG, R_AT_ONCE
    WATCHDOG = args.watchdog / 1000
    R_AT_ONCE = args.r_at_once
    if args.trace_stalls:
        TRACER = StallTracer(args.trace_stalls)

    # As after the app's first start: the bytecode of its modules is cached (an installed wheel
    # and the bundle ship it). Compiling one in a worker holds Python's lock for its whole length,
    # which a machine with PYTHONDONTWRITEBYTECODE set would otherwise pay on every run.
    import compileall

    compileall.compile_dir(str(ROOT / "vhd_gui"), quiet=1)
    paints = first_paint()
    print(f"start to first paint: median {statistics.median(paints):.2f} s (runs {', '.join(f'{p:.2f}' for p in paints)}) goal < 1.5 s")

    folder = args.folder / str(args.items)
    t0 = time.perf_counter()
    make_images(folder, args.items)
    print(f"(media: {args.items} images in {folder}, ready in {time.perf_counter() - t0:.1f} s)")

    from PySide6.QtWidgets import QApplication

    import qasync

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("vhd-annotator-bench")
    app.setQuitOnLastWindowClosed(False)
    # a cold thumbnail cache for this run
    cache = tempfile.mkdtemp(prefix="vhd-gui-bench-cache-")
    os.environ["XDG_CACHE_HOME"] = cache
    r: dict[str, Any] = {}
    time_collections()
    qasync.run(gui_figures(folder, args.items, r, args.scroll_pages or 10**9))

    def stall(d: dict[str, float]) -> str:
        return f"p99 {d['p99_ms']:.1f} ms, max {d['max_ms']:.1f} ms over {d['ticks']} ticks"

    print(f"list {r['list_rows']} images: first rows after {r['list_first_rows_s'] * 1000:.0f} ms, all listed in {r['list_all_s']:.2f} s (goal < 1 s); stalls while listing + thumbnails: {stall(r['list_stall'])}")
    print(f"open the store of {r['list_rows']} again: first rows after {r['reopen_first_rows_s'] * 1000:.0f} ms, scan done in {r['reopen_all_s']:.2f} s; stalls {stall(r['reopen_stall'])}")
    print(f"scroll {r['scroll_pages']} pages ({r['scroll_rows']} of {r['list_rows']} rows) with thumbnails: {r['scroll_s']:.1f} s, {r['thumbs_on_disk']} thumbnails cached on disk; stalls {stall(r['scroll_stall'])}")
    print(f"RSS after scrolling: {r['rss_after_scroll_mb']:.0f} MB (goal < 600 MB)")
    print(f"three panels at 200 tokens/s each, 1080p image revealed: {stall(r['stream3_stall'])} (goal p99 < 50 ms); {r['stream3_chars']} characters shown")
    print(f"one real debate via the engine, fake server at 200 tokens/s: {stall(r['engine_stall'])}")
    print(f"first debate (R) in the list of {r['list_rows']}, agent libraries {r['warm_up']}: {stall(r['first_debate_stall'])}")
    for name in ("Enter", "H+digit", "N", "Ctrl+Z"):
        print(f"decision {name} in the list of {r['list_rows']}: {stall(r[f'decide_{name}_stall'])}")
    for gen in (0, 1, 2):
        pauses = [p for g, p in GC_PAUSES if g == gen]
        if pauses:
            print(f"garbage collections of generation {gen}: {len(pauses)}, longest {max(pauses) * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
