"""Media figures: photo preparation, video frame sampling against the ffmpeg command line, scan.

    python benchmarks/media_bench.py [--fresh] [--runs N] [--only video] [--codec h264] [--res 4k]
                                     [--gop long] [--seconds 60] [--seconds-4k 20] [--generate-only]

Generates its inputs in a cache folder under the system temp dir, reused between runs unless
--fresh: a detailed 4000 × 3000 JPEG at quality 95; 10,000 tiny files; and H.264/H.265 clips at
1080p and 4K, 30 fps, with the encoder's default keyframe interval and with a long one (20 s),
encoded by the ffmpeg command line (Debian's ffmpeg with x264/x265). Encoding a 4K minute takes
a long time on a small machine; --seconds-4k shortens the 4K clips (the long interval is then a
third of the clip, at least 10 s).

The video table compares prepare(frames=5) with the ffmpeg command line's accurate seek of the
same five frames, and checks that both return the same pictures.
"""

from __future__ import annotations

import argparse
import inspect
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402

from vhd_gui import media  # noqa: E402

import mediagen  # noqa: E402

CACHE = Path(tempfile.gettempdir()) / "vhd-media-bench-v1"
FFMPEG = shutil.which("ffmpeg") or "ffmpeg"


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float, object]:
    """(first run s, median of the following runs s, last result)."""
    t = time.perf_counter()
    result = fn()
    first = time.perf_counter() - t
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return first, statistics.median(times) if times else first, result


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def bench_photo(runs: int) -> None:
    photo = CACHE / "photo_4000x3000_q95.jpg"
    if not photo.exists():
        mediagen.save_photo(photo)
    print(f"\n== photo: {photo.name}, {photo.stat().st_size / 1e6:.1f} MB on disk")
    first, med, prepared = timed(lambda: media.prepare(photo), runs)
    assert isinstance(prepared, media.PreparedMedia)
    im = prepared.images[0]
    print(f"prepare() (draft decode + LANCZOS + JPEG q85): first {first * 1e3:.0f} ms, median {med * 1e3:.0f} ms"
          f"   goal < 300 ms: {verdict(med < 0.3)}")
    print(f"sent: {im.width}×{im.height} px, {len(im.jpeg) / 1024:.0f} KiB ({len(im.jpeg):,} bytes)"
          f"   goal ≤ 1024 px and < 300 KB: {verdict(max(im.width, im.height) <= 1024 and len(im.jpeg) < 300_000)}")

    def full_decode() -> bytes:  # what it costs without JPEG draft mode, for comparison
        with Image.open(photo) as src:
            src.load()
            rgb = (ImageOps.exif_transpose(src) or src).convert("RGB")
        small = rgb.resize(media._fit(rgb.width, rgb.height, 1024), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        small.save(buf, "JPEG", quality=85, optimize=True)
        return buf.getvalue()

    _, med_full, _ = timed(full_decode, max(1, runs // 2))
    print(f"  for comparison, full-size decode + plain LANCZOS: median {med_full * 1e3:.0f} ms")
    _, med_sha, _ = timed(lambda: media._sha256(photo), runs)
    print(f"  of which sha256 of the file: {med_sha * 1e3:.1f} ms")


# --------------------------------------------------------------------------------------------
# video: ours against the ffmpeg command line's accurate seek, on H.264 and H.265 clips


@dataclass(frozen=True)
class Clip:
    codec: str  # 'h264' | 'h265'
    res: str  # '1080p' | '4k'
    gop: str  # 'default' | 'long'
    seconds: int

    @property
    def size(self) -> tuple[int, int]:
        return (1920, 1080) if self.res == "1080p" else (3840, 2160)

    @property
    def gop_frames(self) -> int | None:
        """None: the encoder's default (250 frames, 8.3 s at 30 fps); long: 20 s, or a third of a
        shorter clip but never under 10 s, so every clip has several long intervals."""
        if self.gop == "default":
            return None
        return FPS * max(10, min(20, self.seconds // 3))

    @property
    def name(self) -> str:
        return f"{self.codec}_{self.res}_{self.gop}gop_{self.seconds}s.mp4"

    def describe(self) -> str:
        gop = "default GOP (250)" if self.gop_frames is None else f"GOP {self.gop_frames // FPS} s"
        return f"{self.codec.upper()} {self.res} {self.seconds} s, {gop}"


FPS = 30
# Bitrates close to what phones record: H.265 at about half of H.264's.
BITRATE = {("h264", "1080p"): "12M", ("h265", "1080p"): "6M", ("h264", "4k"): "40M", ("h265", "4k"): "20M"}


def make_clip(clip: Clip) -> Path:
    """An H.264 (x264, with B-frames and CABAC like phones) or H.265 (x265) clip of ffmpeg's
    testsrc2 with moving grain, so it compresses like camera footage; cached between runs."""
    path = CACHE / clip.name
    if path.exists():
        return path
    w, h = clip.size
    # the grain is made at 1080p and scaled up for 4K: the noise filter at 4K costs more than encoding
    source = f"testsrc2=s=1920x1080:r={FPS}:d={clip.seconds},noise=alls=8:allf=t"
    if clip.res != "1080p":
        source += f",scale={w}:{h}"
    rate = BITRATE[(clip.codec, clip.res)]
    gop = clip.gop_frames
    if clip.codec == "h264":
        enc = ["-c:v", "libx264", "-preset", "superfast"] + (["-g", str(gop)] if gop else [])
    else:
        params = "log-level=error" + (f":keyint={gop}:min-keyint={gop}" if gop else "")
        enc = ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", params, "-tag:v", "hvc1"]
    tmp = path.with_suffix(".part.mp4")
    print(f"(encoding {clip.name} once; this takes minutes)", flush=True)
    t = time.perf_counter()
    subprocess.run(
        [FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", source, *enc,
         "-b:v", rate, "-maxrate", rate, "-bufsize", rate, "-pix_fmt", "yuv420p", str(tmp)],
        check=True,
    )
    tmp.rename(path)
    print(f"(encoded in {time.perf_counter() - t:.0f} s, {path.stat().st_size / 1e6:.0f} MB)", flush=True)
    return path


def ffmpeg_frames(clip: Path, indices: list[int], fps: float, out: Path, max_side: int) -> list[Path]:
    """The same frames by the ffmpeg command line, one accurate seek per frame (``-ss`` before
    ``-i``: seek to the keyframe before T, decode and drop up to T), scaled to the same size and
    written as JPEG, as a person would script it. T is a quarter frame before the frame's time, so
    ffmpeg's "first frame at or after T" is that frame."""
    paths = []
    for n, index in enumerate(indices):
        t = max(0.0, (index - 0.25) / fps)
        target = out / f"ffmpeg_{n}.jpg"
        subprocess.run(
            [FFMPEG, "-v", "error", "-y", "-ss", f"{t:.6f}", "-i", str(clip), "-frames:v", "1",
             "-vf", f"scale='min({max_side},iw)':-2", "-q:v", "3", str(target)],
            check=True,
        )
        paths.append(target)
    return paths


def mean_abs_diff(a: bytes | Path, b: bytes | Path) -> float:
    def load(x: bytes | Path) -> np.ndarray:
        im = Image.open(io.BytesIO(x) if isinstance(x, bytes) else x).convert("L")
        return np.asarray(im.resize((256, 144)), dtype=np.float32)

    return float(np.abs(load(a) - load(b)).mean())


def measured(fn: Callable[[], object]) -> tuple[float, float, object]:
    """(wall s, CPU s of this process's threads plus its children, result) of one call. On a
    shared machine the wall time swings with the neighbours' load; the CPU time is the work done."""
    t0, c0, k0 = time.perf_counter(), time.process_time(), os.times()
    result = fn()
    k1 = os.times()
    children = (k1.children_user - k0.children_user) + (k1.children_system - k0.children_system)
    return time.perf_counter() - t0, time.process_time() - c0 + children, result


def bench_video(runs: int, cases: list[Clip], sampling_modes: list[str]) -> None:
    kw_ok = "sampling" in inspect.signature(media.prepare).parameters
    print(f"\n== video: 5 frames per clip, prepare() (sha256 + sampling + JPEG encode) vs. {FFMPEG} -ss T -i clip"
          f" -frames:v 1 per frame (one after another, scaled to the same size, JPEG out). Median of {runs} runs after a first,"
          " ours and ffmpeg's taking turns; wall-clock seconds and, in brackets, CPU seconds (all threads and processes)")
    print(f"{'clip':<36} {'MB':>4} {'ours':>15} {'ffmpeg':>15} {'ratio':>11}  goal ≤ 0.9×   frames (ours = ffmpeg's?)")
    for clip in cases:
        bench_clip(clip, runs, kw_ok and "keyframes" in sampling_modes, kw_ok)


def bench_clip(clip: Clip, runs: int, keyframes: bool, kw_ok: bool) -> None:
    path = make_clip(clip)
    mb = path.stat().st_size / 1e6
    ours: list[tuple[float, float]] = []
    theirs: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(runs + 1):
            wall, cpu, prepared = measured(lambda: media.prepare(path, frames=5, **({"sampling": "exact"} if kw_ok else {})))
            ours.append((wall, cpu))
            assert isinstance(prepared, media.PreparedMedia)
            indices = list(prepared.frame_indices)
            wall, cpu, jpgs = measured(lambda: ffmpeg_frames(path, indices, prepared.fps, Path(tmp), 1024))  # noqa: B023
            theirs.append((wall, cpu))
            assert isinstance(jpgs, list)
        diffs = [mean_abs_diff(im.jpeg, j) for im, j in zip(prepared.images, jpgs, strict=True)]
    same = "same" if max(diffs) < 3.0 else "DIFFERENT"
    o_wall, o_cpu = (statistics.median(x[i] for x in ours[1:]) for i in (0, 1))
    t_wall, t_cpu = (statistics.median(x[i] for x in theirs[1:]) for i in (0, 1))
    ratio, cpu_ratio = o_wall / t_wall, o_cpu / t_cpu
    print(f"{clip.describe():<36} {mb:4.0f} {o_wall:6.2f}s ({o_cpu:5.2f}) {t_wall:6.2f}s ({t_cpu:5.2f}) {ratio:4.2f}× ({cpu_ratio:4.2f})"
          f"  {verdict(ratio <= 0.9):<11}  {indices} of {prepared.frame_count}: {same} (mean |Δ| ≤ {max(diffs):.1f}/255)", flush=True)
    if keyframes:
        times = [measured(lambda: media.prepare(path, frames=5, sampling="keyframes")) for _ in range(runs + 1)]
        kp = times[-1][2]
        assert isinstance(kp, media.PreparedMedia)
        k_wall, k_cpu = (statistics.median(x[i] for x in times[1:]) for i in (0, 1))
        goal = f"goal < 0.3 s: {verdict(k_wall < 0.3)}" if clip.res == "1080p" else ""
        print(f"{'  keyframes sampling':<36} {'':>4} {k_wall:6.2f}s ({k_cpu:5.2f}) {'':>15} {'':>11}  {goal:<11}  {list(kp.frame_indices)}",
              flush=True)


def video_library() -> str:
    try:
        import av

        return f"PyAV {av.__version__} (FFmpeg libavcodec {'.'.join(map(str, av.library_versions['libavcodec']))})"
    except ImportError:
        import cv2

        return f"OpenCV {cv2.__version__}"


def bench_scan() -> None:
    tree = CACHE / "scan_10k"
    marker = tree / ".complete"
    if not marker.exists():
        shutil.rmtree(tree, ignore_errors=True)
        exts = [".jpg", ".PNG", ".mp4", ".txt", ".webm", ".jpeg", ".json", ".Tif"]
        for d in range(100):
            sub = tree / f"dir{d:03d}" / ("deeper" if d % 3 == 0 else "")
            sub.mkdir(parents=True, exist_ok=True)
            for f in range(100):
                (sub / f"file{f:03d}{exts[(d + f) % len(exts)]}").write_bytes(b"x")
        (tree / ".vhd-annotator").mkdir(exist_ok=True)
        marker.write_text("")
    n_files = sum(len(files) for _, _, files in os.walk(tree)) - 1
    # warm the directory cache once, then measure (what a user sees on a second open)
    list(media.scan(tree))
    t = time.perf_counter()
    it = media.scan(tree)
    next(it)
    first_item = time.perf_counter() - t
    rest = sum(1 for _ in it) + 1
    total = time.perf_counter() - t
    print(f"\n== scan: {n_files:,} tiny files in 100 folders, {rest:,} of them media")
    print(f"first item after {first_item * 1e3:.1f} ms, all in {total * 1e3:.0f} ms"
          f"   goal well under 1 s: {verdict(total < 1.0)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fresh", action="store_true", help="regenerate the inputs")
    ap.add_argument("--runs", type=int, default=3, help="timed runs after the first (default 3)")
    ap.add_argument("--only", choices=["photo", "video", "scan"], help="run one part")
    ap.add_argument("--codec", choices=["h264", "h265"], action="append", help="video codecs (default both)")
    ap.add_argument("--res", choices=["1080p", "4k"], action="append", help="video sizes (default both)")
    ap.add_argument("--gop", choices=["default", "long"], action="append", help="keyframe intervals (default both)")
    ap.add_argument("--seconds", type=int, default=60, help="video length (default 60)")
    ap.add_argument("--seconds-4k", type=int, help="4K video length (default: --seconds); 4K clips take long to encode")
    ap.add_argument("--generate-only", action="store_true", help="encode the video inputs and stop")
    args = ap.parse_args()
    if args.fresh:
        shutil.rmtree(CACHE, ignore_errors=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    cases = [
        Clip(codec, res, gop, (args.seconds_4k or args.seconds) if res == "4k" else args.seconds)
        for res in args.res or ["1080p", "4k"]
        for codec in args.codec or ["h264", "h265"]
        for gop in args.gop or ["default", "long"]
    ]
    if args.generate_only:
        for clip in cases:
            make_clip(clip)
        return
    print(f"media benchmark · Python {sys.version.split()[0]} · Pillow {Image.__version__} · "
          f"{video_library()} · {os.cpu_count()} CPUs · inputs in {CACHE}")
    if args.only in (None, "photo"):
        bench_photo(args.runs)
    if args.only in (None, "video"):
        bench_video(args.runs, cases, ["exact", "keyframes"])
    if args.only in (None, "scan"):
        bench_scan()


if __name__ == "__main__":
    main()
