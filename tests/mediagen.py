"""Real test media, generated on the spot: images in every Pillow mode, EXIF-rotated photos,
broken files, a decompression bomb header, and short videos whose frames carry their own index.

Used by tests/test_media.py and benchmarks/media_bench.py. Nothing here is mocked: every file
is written by Pillow, OpenCV, the ffmpeg command line (H.264/H.265) or by hand byte for byte
(the bomb), and read back by the real code.

Frame index code: each video frame shows its index as a 4 × 3 grid of black (0) or white (1)
cells, most significant bit first, in the top part of the frame (the whole frame for plain
clips). The cells are large, so the code survives lossy codecs, downscaling and JPEG, and
:func:`decode_index` reads it back from any returned frame.
"""

from __future__ import annotations

import io
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

CODE_COLS, CODE_ROWS = 4, 3
CODE_BITS = CODE_COLS * CODE_ROWS  # up to 4095 frames
CODE_BAND = 0.6  # textured frames: the code takes the top 60 %

# Codecs this opencv-python-headless wheel can *write* (checked: avc1/H264 cannot, there is no
# software H.264 encoder in the wheel; VP8/VP9 work only in .webm under FFmpeg's own tags).
WRITABLE_VIDEO_FORMATS: tuple[tuple[str, str], ...] = (
    ("mp4v", ".mp4"),
    ("MJPG", ".avi"),
    ("XVID", ".avi"),
    ("mp4v", ".mov"),
    ("FFV1", ".mkv"),
    ("VP80", ".webm"),
)


# --------------------------------------------------------------------------------------------
# images


def noisy_rgb(width: int, height: int, seed: int = 0, detail: float = 1.0) -> np.ndarray:
    """Photo-like content: smooth colour fields plus edges and fine grain (compresses like a
    real photo, unlike pure noise which is ~3× bigger as JPEG)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.empty((height, width, 3), np.float32)
    for c in range(3):
        fx, fy, ph = rng.uniform(1, 6, 3)
        img[..., c] = 128 + 70 * np.sin(x / width * fx * np.pi + ph) * np.cos(y / height * fy * np.pi)
    # blocky mid-frequency structure (like objects and edges)
    blocks = rng.integers(-40, 40, (height // 40 + 1, width // 40 + 1, 3)).astype(np.float32)
    img += np.repeat(np.repeat(blocks, 40, 0), 40, 1)[:height, :width]
    img += rng.normal(0, 6 * detail, (height, width, 3)).astype(np.float32)  # sensor grain
    return np.clip(img, 0, 255).astype(np.uint8)


def save_photo(path: Path, width: int = 4000, height: int = 3000, quality: int = 95, seed: int = 0) -> Path:
    Image.fromarray(noisy_rgb(width, height, seed)).save(path, "JPEG", quality=quality)
    return path


def save_solid(path: Path, size: tuple[int, int], colour: tuple[int, int, int] = (200, 30, 30), fmt: str | None = None) -> Path:
    Image.new("RGB", size, colour).save(path, fmt)
    return path


def save_half_transparent(path: Path, mode: str, opaque: tuple[int, ...]) -> Path:
    """64 × 32 image in ``mode``: left half fully transparent, right half ``opaque``.

    For mode 'P' the palette has index 0 as the transparent colour (black, so that
    compositing on black instead of white would show)."""
    w, h = 64, 32
    if mode == "P":
        im = Image.new("P", (w, h), 0)
        im.putpalette([0, 0, 0, *opaque[:3]] + [0, 0, 0] * 254)
        im.paste(1, (w // 2, 0, w, h))
        im.save(path, transparency=0)
        return path
    im = Image.new(mode, (w, h), tuple([0] * len(Image.new(mode, (1, 1)).getbands())))
    im.paste(opaque, (w // 2, 0, w, h))
    im.save(path)
    return path


def save_gradient16(path: Path, width: int = 256, height: int = 16) -> Path:
    """16-bit grey ('I;16'): column x holds x * 257, so 8-bit output should read back ≈ x."""
    row = (np.arange(width, dtype=np.uint32) * 65535 // (width - 1)).astype(np.uint16)
    arr = np.tile(row, (height, 1))
    im = Image.fromarray(arr)  # uint16 → mode 'I;16'
    assert im.mode.startswith("I;16"), im.mode
    im.save(path)
    return path


def save_float(path: Path, width: int = 256, height: int = 8) -> Path:
    """32-bit float grey ('F') in [0, 1] as TIFF."""
    row = np.linspace(0.0, 1.0, width, dtype=np.float32)
    Image.fromarray(np.tile(row, (height, 1)), "F").save(path)
    return path


def save_cmyk(path: Path, cmyk: tuple[int, int, int, int] = (255, 0, 0, 0)) -> Path:
    Image.new("CMYK", (40, 30), cmyk).save(path)
    return path


def save_bilevel(path: Path) -> Path:
    im = Image.new("1", (40, 20), 0)
    im.paste(1, (20, 0, 40, 20))
    im.save(path)
    return path


def save_animated_gif(path: Path, colours: tuple[tuple[int, int, int], ...] = ((255, 0, 0), (0, 255, 0), (0, 0, 255))) -> Path:
    frames = [Image.new("RGB", (40, 30), c) for c in colours]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return path


def save_exif_oriented(path: Path, orientation: int, stored: tuple[int, int] = (60, 30)) -> Path:
    """A JPEG whose *stored* pixels are ``stored`` (w, h), blue with a red top-left quadrant,
    tagged with EXIF Orientation ``orientation`` (1-8)."""
    w, h = stored
    im = Image.new("RGB", (w, h), (0, 0, 255))
    im.paste((255, 0, 0), (0, 0, w // 2, h // 2))
    exif = Image.Exif()
    exif[0x0112] = orientation
    im.save(path, "JPEG", quality=95, exif=exif.tobytes())
    return path


def save_truncated(path: Path, fmt: str, keep: float = 0.5) -> Path:
    """A detailed image in ``fmt`` cut to ``keep`` of its bytes."""
    buf = io.BytesIO()
    Image.fromarray(noisy_rgb(256, 256, seed=3, detail=4.0)).save(buf, fmt)
    data = buf.getvalue()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def save_png_bomb(path: Path, width: int = 100_000, height: int = 100_000) -> Path:
    """A ~100-byte PNG whose header claims ``width`` × ``height`` pixels (8-bit grey), with a
    tiny valid zlib stream: decoding it would need width × height bytes of memory."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")
    path.write_bytes(data)
    return path


# --------------------------------------------------------------------------------------------
# videos


def code_cells(width: int, height: int, band: float) -> list[tuple[int, int, int, int]]:
    """(x0, y0, x1, y1) of each code cell, most significant bit first."""
    band_h = int(height * band)
    cells = []
    for r in range(CODE_ROWS):
        for c in range(CODE_COLS):
            cells.append((c * width // CODE_COLS, r * band_h // CODE_ROWS, (c + 1) * width // CODE_COLS, (r + 1) * band_h // CODE_ROWS))
    return cells


def code_frame(index: int, width: int, height: int, texture: np.ndarray | None = None) -> np.ndarray:
    """One BGR frame showing ``index``. With ``texture`` (an RGB array at least as big as the
    frame plus the pan), the bottom part pans across it so the clip compresses like real video."""
    if not 0 <= index < 2**CODE_BITS:
        raise ValueError(f"frame index {index} does not fit in {CODE_BITS} bits")
    band = 1.0 if texture is None else CODE_BAND
    frame = np.zeros((height, width, 3), np.uint8)
    if texture is not None:
        top = int(height * band)
        dx = (index * 7) % (texture.shape[1] - width)
        frame[top:] = texture[top:height, dx : dx + width, ::-1]
    for bit, (x0, y0, x1, y1) in enumerate(code_cells(width, height, band)):
        if index >> (CODE_BITS - 1 - bit) & 1:
            frame[y0:y1, x0:x1] = 255
    return frame


def decode_index(rgb: np.ndarray, band: float = 1.0) -> int:
    """Read the index back from a decoded frame (RGB or BGR; any size)."""
    h, w = rgb.shape[:2]
    grey = rgb.mean(axis=2) if rgb.ndim == 3 else rgb
    value = 0
    for x0, y0, x1, y1 in code_cells(w, h, band):
        cx, cy, rx, ry = (x0 + x1) // 2, (y0 + y1) // 2, max(1, (x1 - x0) // 6), max(1, (y1 - y0) // 6)
        value = value << 1 | int(grey[cy - ry : cy + ry, cx - rx : cx + rx].mean() > 127)
    return value


def decode_jpeg_index(jpeg: bytes, band: float = 1.0) -> int:
    return decode_index(np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")), band)


def write_video(
    path: Path,
    frames: int,
    size: tuple[int, int] = (160, 120),
    fps: float = 10.0,
    fourcc: str = "mp4v",
    textured: bool = False,
) -> Path:
    """Write ``frames`` frames, frame i showing index i. Raises RuntimeError if this OpenCV
    build can't write ``fourcc`` into ``path``'s container."""
    import cv2

    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {fourcc} into {path.suffix}")
    texture = noisy_rgb(width + 1024, height, seed=7) if textured else None
    try:
        for i in range(frames):
            writer.write(code_frame(i, width, height, texture))
    finally:
        writer.release()
    return path


# --------------------------------------------------------------------------------------------
# videos as phones and the web make them: H.264 / H.265 written by the ffmpeg command line


FFMPEG = shutil.which("ffmpeg")


def ffmpeg_major() -> int:
    """The ffmpeg command line's major version (0 if unknown)."""
    if FFMPEG is None:
        return 0
    out = subprocess.run([FFMPEG, "-version"], capture_output=True, text=True, check=False).stdout
    m = re.match(r"ffmpeg version n?(\d+)", out)
    return int(m.group(1)) if m else 0


def write_ffmpeg_video(
    path: Path,
    frames: int,
    *,
    codec: str = "h264",
    size: tuple[int, int] = (160, 128),
    fps: float = 10.0,
    gop: int | None = None,
    bframes: int | None = None,
    vfr_from: int | None = None,
    faststart: bool = False,
    rotate: int = 0,
    extra: tuple[str, ...] = (),
) -> Path:
    """Frame i shows index i (see :func:`code_frame`), encoded by ffmpeg with libx264 (``h264``)
    or libx265 (``h265``), keyframe every ``gop`` frames exactly (no scene-cut keyframes), or
    the encoder's default. ``vfr_from``: frames from there on come three times as fast as before
    (a variable frame rate clip). ``faststart``: the MP4 index at the front, so that a cut copy
    still opens. ``rotate``: degrees counter-clockwise the player must turn the picture (phone videos),
    as the display matrix states it (and ffprobe shows it), written by stream copy."""
    if FFMPEG is None:
        raise RuntimeError("the ffmpeg command line is not installed")
    width, height = size
    if codec == "h264":
        params = ["scenecut=0"] + ([f"keyint={gop}", f"min-keyint={gop}"] if gop else [])
        enc = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-x264-params", ":".join(params)]
        if bframes is not None:
            enc += ["-bf", str(bframes)]
    elif codec == "h265":
        params = ["log-level=error", "scenecut=0"] + ([f"keyint={gop}", f"min-keyint={gop}"] if gop else [])
        if bframes is not None:
            params.append(f"bframes={bframes}")
        enc = ["-c:v", "libx265", "-preset", "veryfast", "-crf", "20", "-x265-params", ":".join(params), "-tag:v", "hvc1"]
    else:
        raise ValueError(f"unknown codec {codec!r}")
    if vfr_from is not None:
        # setpts in seconds: 1/fps per frame up to vfr_from, then 1/(3 fps)
        h = vfr_from
        enc += ["-vf", f"settb=1/3000,setpts='if(lt(N,{h}),N/{fps},{h}/{fps}+(N-{h})/{3 * fps})/TB'", "-fps_mode", "passthrough", "-enc_time_base", "1/3000"]
    if faststart:
        enc += ["-movflags", "+faststart"]
    target = path if not rotate else path.with_name(f"unrotated_{path.name}")
    cmd = [FFMPEG, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{width}x{height}", "-r", str(fps),
           "-i", "-", *enc, *extra, "-pix_fmt", "yuv420p", str(target)]
    raw = b"".join(code_frame(i, width, height).tobytes() for i in range(frames))
    subprocess.run(cmd, input=raw, check=True, capture_output=True)
    if rotate:
        if ffmpeg_major() >= 6:  # the rotate tag gave way to an input option
            rot = ["-display_rotation", str(rotate), "-i", str(target)]
        else:
            rot = ["-i", str(target), "-metadata:s:v", f"rotate={rotate}"]
        subprocess.run([FFMPEG, "-v", "error", "-y", *rot, "-c", "copy", str(path)], check=True, capture_output=True)
        target.unlink()
    return path


def keyframe_indices(path: Path) -> list[int]:
    """Display-order indices of the keyframes, as ffprobe reports them (an oracle independent
    of the code under test)."""
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        raise RuntimeError("ffprobe is not installed")
    out = subprocess.run(
        [ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries", "frame=key_frame,pts", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout
    rows = sorted((int(pts), key == "1") for key, pts, *_ in (line.split(",") for line in out.split()) if pts not in ("", "N/A"))
    return [i for i, (_, key) in enumerate(rows) if key]


def shown_indices(path: Path) -> list[int]:
    """The index code of every frame the ffmpeg command line decodes from ``path``, in display
    order: for a damaged file, which of the original frames a player can still show."""
    if FFMPEG is None:
        raise RuntimeError("the ffmpeg command line is not installed")
    w, h = 64, 48
    out = subprocess.run(
        [FFMPEG, "-v", "quiet", "-i", str(path), "-fps_mode", "passthrough", "-vf", f"scale={w}:{h}",
         "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True, check=False,
    ).stdout
    frames = np.frombuffer(out[: len(out) - len(out) % (w * h * 3)], np.uint8).reshape(-1, h, w, 3)
    return [decode_index(f) for f in frames]
