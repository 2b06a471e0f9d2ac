"""Real test media, generated on the spot: images in every Pillow mode, EXIF-rotated photos,
broken files, a decompression bomb header, and short videos whose frames carry their own index.

Used by tests/test_media.py and benchmarks/media_bench.py. Nothing here is mocked: every file
is written by Pillow, OpenCV or by hand byte for byte (the bomb), and read back by the real code.

Frame index code: each video frame shows its index as a 4 × 3 grid of black (0) or white (1)
cells, most significant bit first, in the top part of the frame (the whole frame for plain
clips). The cells are large, so the code survives lossy codecs, downscaling and JPEG, and
:func:`decode_index` reads it back from any returned frame.
"""

from __future__ import annotations

import io
import struct
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
