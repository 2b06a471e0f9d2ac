"""Figures for the desktop bundle (dist/vhd-annotator/, made by packaging/build.sh).

    python benchmarks/bundle_bench.py [--runs N]

- size of the bundle folder on disk, and of the tarball;
- start to the first painted window on a virtual X display (Xvfb), the bundle against a venv
  install (build/bundle/venv/bin/vhd-annotator when build.sh made it, else this Python with
  the checkout), in alternating runs; the first run of each is reported apart (cold-ish: the
  page cache is shared, so a truly cold start cannot be forced without disturbing the machine);
- the time of `--self-test` for both.

Goals: tarball < 200 MB; bundle start <= 1.2 x the venv's.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vhd_gui import __version__  # noqa: E402

BUNDLE = ROOT / "dist" / "vhd-annotator"
TARBALL = ROOT / "dist" / f"vhd-annotator-{__version__}-linux-{platform.machine()}.tar.gz"
VENV_EXE = ROOT / "build" / "bundle" / "venv" / "bin" / "vhd-annotator"


def folder_bytes(folder: Path) -> tuple[int, int]:
    """(sum of file sizes, bytes of disk blocks used)."""
    apparent = used = 0
    for p in folder.rglob("*"):
        if p.is_file() and not p.is_symlink():
            st = p.stat()
            apparent += st.st_size
            used += st.st_blocks * 512
    return apparent, used


def start_xvfb() -> tuple[subprocess.Popen[bytes], str]:
    read, write = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                            pass_fds=(write,), stderr=subprocess.DEVNULL)
    os.close(write)
    number = b""
    while not number.endswith(b"\n"):
        chunk = os.read(read, 16)
        if not chunk:
            raise RuntimeError("Xvfb did not start")
        number += chunk
    os.close(read)
    return proc, f":{number.decode().strip()}"


def timed_paint(cmd: list[str], env: dict[str, str]) -> float:
    start = time.time()
    proc = subprocess.run(cmd, env={**env, "VHD_ANNOTATOR_EXIT_AFTER_PAINT": "1"}, capture_output=True, text=True, timeout=300)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("first-paint ")), None)
    if line is None:
        raise RuntimeError(f"{cmd[0]}: no first paint\n{proc.stdout}\n{proc.stderr[-2000:]}")
    return float(line.split()[1]) - start


def timed_self_test(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run([*cmd, "--self-test"], env=env, capture_output=True, text=True, timeout=300)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} --self-test failed:\n{proc.stdout[-3000:]}")
    return took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    exe = BUNDLE / "vhd-annotator"
    if not exe.is_file():
        print(f"no bundle at {exe}: run bash packaging/build.sh first", file=sys.stderr)
        return 2
    apparent, used = folder_bytes(BUNDLE)
    mb = 1024 * 1024
    print(f"bundle folder: {apparent / mb:.0f} MiB of files, {used / mb:.0f} MiB on disk")
    if TARBALL.is_file():
        size = TARBALL.stat().st_size
        print(f"tarball: {size / mb:.1f} MiB ({size / 1e6:.1f} MB)  goal < 200 MB: {'met' if size < 200e6 else 'MISSED'}")
    venv_cmd = [str(VENV_EXE)] if VENV_EXE.is_file() else [sys.executable, "-m", "vhd_gui"]
    print(f"venv install: {' '.join(venv_cmd)}")
    if shutil.which("Xvfb") is None:
        print("Xvfb is not installed: no start-up figures", file=sys.stderr)
        return 2
    xvfb, display = start_xvfb()
    try:
        with tempfile.TemporaryDirectory() as home:
            base = {"HOME": home, "PATH": "/usr/bin:/bin", "DISPLAY": display, "QT_QPA_PLATFORM": "xcb",
                    "XDG_CONFIG_HOME": f"{home}/c", "XDG_CACHE_HOME": f"{home}/k", "XDG_DATA_HOME": f"{home}/d"}
            venv_env = dict(base)
            if not VENV_EXE.is_file():
                venv_env["PYTHONPATH"] = str(ROOT)
            bundle_times: list[float] = []
            venv_times: list[float] = []
            for _ in range(args.runs + 1):
                bundle_times.append(timed_paint([str(exe)], base))
                venv_times.append(timed_paint(venv_cmd, venv_env))
            b_med = statistics.median(bundle_times[1:])
            v_med = statistics.median(venv_times[1:])
            print(f"first start to first paint: bundle {bundle_times[0]:.2f} s, venv {venv_times[0]:.2f} s")
            print(f"start to first paint, median of {args.runs}: bundle {b_med:.2f} s, venv {v_med:.2f} s, "
                  f"ratio {b_med / v_med:.2f}  goal <= 1.2: {'met' if b_med <= 1.2 * v_med else 'MISSED'}")
            no_display = {k: v for k, v in base.items() if k not in ("DISPLAY", "QT_QPA_PLATFORM")}
            st_b = statistics.median(timed_self_test([str(exe)], no_display) for _ in range(3))
            venv_nd = {k: v for k, v in venv_env.items() if k not in ("DISPLAY", "QT_QPA_PLATFORM")}
            st_v = statistics.median(timed_self_test(venv_cmd, venv_nd) for _ in range(3))
            print(f"--self-test (no display), median of 3: bundle {st_b:.2f} s, venv {st_v:.2f} s")
    finally:
        xvfb.terminate()
        xvfb.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
