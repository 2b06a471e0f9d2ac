"""Media: find images and videos in a folder, and turn one item into what the agents see.

No Qt here. Everything that decodes is blocking and meant to run off the event loop
(:func:`prepare_async` does that for you). An item is prepared **once**: a few downscaled
JPEGs (one for an image, K frames for a video) plus a content hash, and every agent in every
round reuses those bytes (docs/ARCHITECTURE.md#known-pitfalls).

Every failure a user can cause with a file (missing, empty, unreadable, truncated, not media,
absurdly large) surfaces as one exception type, :class:`MediaError`, whose message is one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import io
import math
import os
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from struct import error as struct_error  # a few Pillow plugins raise it on short reads
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from vhd_gui.filenames import has_undecodable, to_key

if TYPE_CHECKING:
    import cv2

__all__ = [
    "IMAGE_EXTS",
    "VIDEO_EXTS",
    "APP_DIR_NAME",
    "MAX_IMAGE_PIXELS",
    "MediaError",
    "MediaFile",
    "PreparedImage",
    "PreparedMedia",
    "kind_of",
    "scan",
    "prepare",
    "prepare_async",
    "load_image",
    "thumbnail_jpeg",
    "sample_frame_indices",
]

IMAGE_EXTS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
VIDEO_EXTS: frozenset[str] = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm"})

#: The app's own folder inside a project folder (store, caches); never scanned.
APP_DIR_NAME = ".vhd-annotator"

#: Largest image (width × height) we agree to decode. Pillow's default guard (~89.5 MP) would
#: refuse photos from 100+ MP cameras; this covers them while still refusing decompression bombs
#: (a few hundred bytes of PNG claiming billions of pixels). Anything above is a MediaError.
MAX_IMAGE_PIXELS = 128 * 1024 * 1024

# Pillow warns above its limit and refuses above twice its limit, both at open(). Raise its
# threshold to ours when it is still Pillow's own default, so that images we accept don't make
# Pillow warn; we check the size ourselves right after open() (a process-wide
# warnings.catch_warnings() would not be thread-safe in an executor).
_PILLOW_DEFAULT_MAX_PIXELS = int(1024 * 1024 * 1024 // 4 // 3)
if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS == _PILLOW_DEFAULT_MAX_PIXELS:
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS

_HASH_CHUNK = 1 << 20


# --------------------------------------------------------------------------------------------
# errors and small helpers


class MediaError(Exception):
    """A media file we can't use. ``str(e)`` is ``"<path>: <reason>"`` on one line."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = Path(path)
        self.reason = " ".join(str(reason).split())  # one line, whatever the library said
        # A name that is not UTF-8 is shown escaped, so the message can go to a store or a terminal.
        super().__init__(f"{to_key(self.path)}: {self.reason}")


def kind_of(path: str | os.PathLike[str]) -> str | None:
    """``'image'``, ``'video'`` or ``None`` from the file's suffix, in any letter case."""
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix in IMAGE_EXTS:
        return "image"
    if suffix in VIDEO_EXTS:
        return "video"
    return None


def _check_file(path: Path) -> os.stat_result:
    """Stat ``path`` and turn the usual problems into MediaError before any decoder sees it."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise MediaError(path, "file not found") from None
    except PermissionError:
        raise MediaError(path, "permission denied: cannot read the file") from None
    except OSError as e:
        raise MediaError(path, f"cannot read the file: {e.strerror or e}") from None
    if stat.S_ISDIR(st.st_mode):
        raise MediaError(path, "is a folder, not a media file")
    if not stat.S_ISREG(st.st_mode):
        raise MediaError(path, "not a regular file")
    if st.st_size == 0:
        raise MediaError(path, "zero-byte file")
    if not os.access(path, os.R_OK):
        raise MediaError(path, "permission denied: cannot read the file")
    return st


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(_HASH_CHUNK):
                h.update(chunk)
    except PermissionError:
        raise MediaError(path, "permission denied: cannot read the file") from None
    except OSError as e:
        raise MediaError(path, f"cannot read the file: {e.strerror or e}") from None
    return h.hexdigest()


def _fit(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Size with the longest side at most ``max_side``, aspect kept, never upscaled."""
    longest = max(width, height)
    if longest <= max_side:
        return width, height
    scale = max_side / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def _encode_jpeg(im: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    # optimize (Huffman tables fitted to the image): measured +3 ms on a 1024×768 photo for
    # ~5 % fewer bytes, and those bytes are re-sent in every request: worth it.
    im.save(buf, "JPEG", quality=quality, optimize=True)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------
# scanning


@dataclass(frozen=True)
class MediaFile:
    path: Path  # the real file (a name that is not UTF-8 keeps its bytes, see vhd_gui.filenames)
    rel: str  # POSIX path relative to the scanned root, as a key: valid text, escaped if need be
    kind: str  # 'image' | 'video'
    size: int
    mtime: float


def _sort_key(entry: os.DirEntry[str]) -> tuple[str, str]:
    return (entry.name.casefold(), entry.name)


def scan(root: str | os.PathLike[str], *, follow_symlinks: bool = False) -> Iterator[MediaFile]:
    """Yield every image and video under ``root``, depth first, as they are found.

    Within a folder, entries come in case-insensitive name order and a subfolder's contents
    come where the subfolder's name sorts, so the whole sequence is ordered by path. Skipped:
    names starting with a dot (hidden files and folders, which includes the app's own
    ``.vhd-annotator/``), non-media files, broken links, and subfolders that can't be read.
    Symlinked *files* are listed; symlinked *folders* are entered only with
    ``follow_symlinks=True`` (each real folder once, so link loops end).

    A name that is not valid UTF-8 is listed like any other: ``path`` opens it and ``rel`` is
    its escaped key (:func:`vhd_gui.filenames.to_key`).

    Raises MediaError (on the first ``next()``) if ``root`` is missing or not a folder.
    """
    root_path = Path(root).absolute()
    if not root_path.is_dir():
        if root_path.exists():
            raise MediaError(root_path, "not a folder")
        raise MediaError(root_path, "folder not found")
    try:
        top = os.scandir(root_path)
    except OSError as e:
        raise MediaError(root_path, f"cannot read the folder: {e.strerror or e}") from None

    seen: set[tuple[int, int]] = set()
    if follow_symlinks:
        st = root_path.stat()
        seen.add((st.st_dev, st.st_ino))

    # A stack of (sorted entries, position, rel prefix) instead of recursion.
    with top:
        first = sorted(top, key=_sort_key)
    stack: list[tuple[list[os.DirEntry[str]], int, str]] = [(first, 0, "")]
    image_exts, video_exts = IMAGE_EXTS, VIDEO_EXTS
    while stack:
        entries, i, prefix = stack[-1]
        if i >= len(entries):
            stack.pop()
            continue
        stack[-1] = (entries, i + 1, prefix)
        entry = entries[i]
        name = entry.name
        if name.startswith("."):
            continue
        try:
            if entry.is_dir(follow_symlinks=follow_symlinks):
                if follow_symlinks:
                    st = entry.stat()
                    key = (st.st_dev, st.st_ino)
                    if key in seen:
                        continue
                    seen.add(key)
                try:
                    with os.scandir(entry.path) as it:
                        children = sorted(it, key=_sort_key)
                except OSError:
                    continue  # unreadable or vanished subfolder: not fatal
                stack.append((children, 0, f"{prefix}{name}/"))
                continue
            suffix = os.path.splitext(name)[1].lower()
            if suffix in image_exts:
                kind = "image"
            elif suffix in video_exts:
                kind = "video"
            else:
                continue
            if not entry.is_file():  # follows a file symlink; False for broken links
                continue
            st = entry.stat()
        except OSError:
            continue  # vanished or unreadable entry
        yield MediaFile(Path(entry.path), to_key(prefix + name), kind, st.st_size, st.st_mtime)


@contextlib.contextmanager
def _opencv_name(path: Path) -> Iterator[str]:
    """A name OpenCV can open for ``path``.

    OpenCV takes a path as UTF-8 text, and crashes the process on a str it cannot encode (a
    file name that is not valid UTF-8). Such a file is opened here and handed over as
    ``/proc/self/fd/N``, or where there is no /proc, as a symlink with a plain name in a
    temporary folder; either is gone once the capture has opened the file itself.
    """
    name = os.fspath(path)
    if not has_undecodable(name):
        yield name
        return
    fd = os.open(name, os.O_RDONLY)
    try:
        proc = f"/proc/self/fd/{fd}"
        if os.path.exists(proc):
            yield proc
            return
        with tempfile.TemporaryDirectory(prefix="vhd-media-") as tmp:
            link = os.path.join(tmp, "media" + path.suffix.encode("ascii", "replace").decode())
            os.symlink(os.path.abspath(name), link)
            yield link
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------------
# images


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB; transparency is composited on white."""
    mode = im.mode
    if mode == "RGB":
        return im
    if mode == "P" and ("transparency" in im.info or im.palette is not None and im.palette.mode == "RGBA"):
        im = im.convert("RGBA")
        mode = "RGBA"
    elif mode == "PA":
        im = im.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "La", "RGBa"):
        rgba = im.convert("RGBA") if mode != "RGBA" else im
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if mode.startswith("I;16") or mode in ("I", "F"):
        return _high_depth_to_rgb(im)
    if mode in ("1", "L", "P", "CMYK", "YCbCr", "RGBX", "HSV"):
        return im.convert("RGB")
    try:  # LAB and anything exotic
        return im.convert("RGB")
    except ValueError:
        return im.convert("RGBA").convert("RGB")


def _high_depth_to_rgb(im: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer and float grey images to 8 bits, scaled rather than clipped."""
    arr = np.asarray(im)
    if arr.ndim != 2:  # not expected for these modes, but never crash on it
        return im.convert("RGB")
    if im.mode.startswith("I;16"):
        out = (arr.astype(np.uint32) >> 8).astype(np.uint8)  # full 0..65535 range → 0..255
    else:
        a = arr.astype(np.float64)
        finite = np.isfinite(a)
        if not finite.all():
            a = np.where(finite, a, 0.0)
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
        if im.mode == "F" and lo >= 0.0 and hi <= 1.0:
            a = a * 255.0  # float images in [0, 1]
        elif lo >= 0 and hi <= 255:
            pass  # already 8-bit values in a wide container
        elif lo >= 0 and hi <= 65535:
            a = a / 257.0  # 16-bit data (how older Pillow opens 16-bit PNGs)
        else:
            a = (a - lo) * (255.0 / (hi - lo))  # anything else: stretch to the full range
        out = np.clip(np.rint(a), 0, 255).astype(np.uint8)
    return Image.fromarray(out, "L").convert("RGB")


def _open_rgb(path: Path, target_side: int | None) -> tuple[Image.Image, tuple[int, int]]:
    """Open, guard, (draft-)decode, EXIF-transpose and convert to RGB.

    Returns the image and the source's full size as displayed (after EXIF rotation).

    ``target_side``: the caller will shrink to this longest side, so a JPEG may be decoded at
    1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling) as long as the result stays at least that big.
    """
    _check_file(path)
    try:
        with Image.open(path) as src:
            width, height = src.size
            if width * height > MAX_IMAGE_PIXELS:
                raise MediaError(
                    path,
                    f"image too large: {width}×{height} pixels is over the limit of "
                    f"{MAX_IMAGE_PIXELS:,} (possible decompression bomb)",
                )
            src.seek(0)  # animated GIF / WebP / multi-page TIFF: the first frame
            if target_side is not None and src.format == "JPEG":
                want = _fit(width, height, target_side)
                src.draft(None, want)
            src.load()
            im: Image.Image = src
            try:
                transposed = ImageOps.exif_transpose(im)
                if transposed is not None:
                    im = transposed
            except Exception:  # a broken EXIF block must not cost us the picture
                pass
            if im.size != src.size and im.size == src.size[::-1]:
                width, height = height, width  # rotated by 90° for display
            rgb = _to_rgb(im)
            if rgb is src:
                rgb = src.copy()  # detach from the file we are about to close
            return rgb, (width, height)
    except MediaError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise MediaError(
            path, f"image too large: over the limit of {MAX_IMAGE_PIXELS:,} pixels (possible decompression bomb)"
        ) from None
    except UnidentifiedImageError:
        raise MediaError(path, "not a supported image or video: the contents are not a readable image format") from None
    except PermissionError:
        raise MediaError(path, "permission denied: cannot read the file") from None
    except MemoryError:
        raise MediaError(path, "not enough memory to decode this image") from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, KeyError, struct_error) as e:
        raise MediaError(path, f"truncated or corrupt image: {e}") from None


def load_image(path: str | os.PathLike[str], *, max_side: int | None = None) -> Image.Image:
    """The image as 8-bit RGB, EXIF orientation applied, fully decoded (so truncation shows).

    ``max_side`` (optional) shrinks it so the longest side is at most that, never upscaling;
    JPEGs are then decoded at reduced size, which is much faster. Raises MediaError.
    """
    p = Path(path)
    im, _ = _open_rgb(p, max_side)
    if max_side is not None:
        im = _shrink(im, max_side)
    return im


def _shrink(im: Image.Image, max_side: int) -> Image.Image:
    size = _fit(im.width, im.height, max_side)
    if size == im.size:
        return im
    # reducing_gap: a cheap integer box reduce first, then LANCZOS over the last ≥3× step;
    # indistinguishable from plain LANCZOS at these ratios and several times faster.
    return im.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


# --------------------------------------------------------------------------------------------
# prepared items


@dataclass(frozen=True)
class PreparedImage:
    jpeg: bytes
    width: int
    height: int
    label: str  # 'image' or 'frame 3 of 5'


@dataclass(frozen=True)
class PreparedMedia:
    path: Path
    kind: str
    images: tuple[PreparedImage, ...]
    sha256: str
    source_width: int
    source_height: int
    frame_indices: tuple[int, ...]  # video: 0-based indices of the frames sent, in order
    frame_count: int  # video: validated number of frames; image: 1
    duration_s: float
    fps: float


def sample_frame_indices(frame_count: int, k: int) -> list[int]:
    """K frame indices spread over the whole clip: the centres of K equal segments.

    Distinct and sorted; all frames when the clip has fewer than K.
    """
    if frame_count <= 0 or k <= 0:
        return []
    if frame_count <= k:
        return list(range(frame_count))
    return [int((j + 0.5) * frame_count / k) for j in range(k)]


def _supported_kind(p: Path) -> str:
    """'image' or 'video', or a MediaError that says why the file can't be used."""
    kind = kind_of(p)
    if kind is None:
        _check_file(p)
        raise MediaError(p, f"not a supported image or video (unknown extension {p.suffix or '(none)'!r})")
    return kind


def prepare(
    path: str | os.PathLike[str],
    *,
    max_side: int = 1024,
    frames: int = 5,
    jpeg_quality: int = 85,
) -> PreparedMedia:
    """Decode one item and encode what the agents will see. Blocking; raises MediaError."""
    p = Path(path)
    if max_side < 1:
        raise ValueError("max_side must be at least 1")
    if frames < 1:
        raise ValueError("frames must be at least 1")
    kind = _supported_kind(p)
    try:
        if kind == "image":
            return _prepare_image(p, max_side, jpeg_quality)
        return _prepare_video(p, max_side, frames, jpeg_quality)
    except MediaError:
        raise
    except MemoryError:
        raise MediaError(p, "not enough memory to decode this file") from None
    except Exception as e:  # last line: a decoder bug must still be one clear error
        raise MediaError(p, f"cannot decode {kind}: {type(e).__name__}: {e}") from None


async def prepare_async(path: str | os.PathLike[str], **kw: Any) -> PreparedMedia:
    """:func:`prepare` in the running loop's default executor, so the loop never blocks."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, functools.partial(prepare, path, **kw))


def _prepare_image(path: Path, max_side: int, quality: int) -> PreparedMedia:
    _check_file(path)
    digest = _sha256(path)
    im, (src_w, src_h) = _open_rgb(path, max_side)
    im = _shrink(im, max_side)
    jpeg = _encode_jpeg(im, quality)
    return PreparedMedia(
        path=path,
        kind="image",
        images=(PreparedImage(jpeg, im.width, im.height, "image"),),
        sha256=digest,
        source_width=src_w,
        source_height=src_h,
        frame_indices=(),
        frame_count=1,
        duration_s=0.0,
        fps=0.0,
    )


# --------------------------------------------------------------------------------------------
# videos (OpenCV is imported on first use: the window and the scan don't need it)


def _cv2() -> Any:
    import cv2

    return cv2


def _open_capture(path: Path) -> cv2.VideoCapture:
    cv2 = _cv2()
    # FFmpeg explicitly: OpenCV's other backends would, for instance, open a lone image as a
    # one-frame "video".
    with _opencv_name(path) as name:
        cap = cv2.VideoCapture(name, cv2.CAP_FFMPEG)
    if not cap.isOpened():
        cap.release()
        raise MediaError(path, "cannot open video: unsupported codec or container, or a corrupt file")
    return cap


def _position(cap: cv2.VideoCapture) -> int:
    return int(round(cap.get(_cv2().CAP_PROP_POS_FRAMES)))


def _seek_grab(cap: cv2.VideoCapture, index: int) -> bool:
    """Seek so that frame ``index`` is decoded next, grab it, and check we landed on it."""
    cv2 = _cv2()
    if not cap.set(cv2.CAP_PROP_POS_FRAMES, index):
        return False
    return bool(cap.grab()) and _position(cap) == index + 1


def _count_frames(cap: cv2.VideoCapture, path: Path, reported: int, fps: float) -> int:
    """The real number of decodable frames.

    CAP_PROP_FRAME_COUNT comes from the container (or duration × fps) and can be wrong: a
    truncated AVI keeps its header's count, MKV/WebM only estimate. Check that the last
    reported frame decodes and that nothing follows it; if it doesn't, look again a couple of
    seconds earlier; if that fails too, decode the whole clip counting frames.
    """
    if reported > 0:
        margin = max(30, int(2 * fps)) if fps > 0 else 30
        for start in (reported - 1, reported - 1 - margin):
            if start < 0:
                break
            if _seek_grab(cap, start):
                n = start + 1
                while cap.grab():
                    n += 1
                return n
    counter = _open_capture(path)
    try:
        n = 0
        while counter.grab():
            n += 1
        return n
    finally:
        counter.release()


def _read_by_seeking(cap: cv2.VideoCapture, indices: list[int]) -> list[np.ndarray] | None:
    """Seek to each frame and read it; None as soon as a seek misses (then decode in order)."""
    frames: list[np.ndarray] = []
    for index in indices:
        if not _seek_grab(cap, index):
            return None
        ok, frame = cap.retrieve()
        if not ok or frame is None:
            return None
        frames.append(frame)
    return frames


def _read_in_order(path: Path, indices: list[int]) -> list[np.ndarray]:
    """Decode from the start with grab() and convert only the wanted frames: exact always."""
    cap = _open_capture(path)
    try:
        wanted = set(indices)
        got: dict[int, np.ndarray] = {}
        last = max(indices)
        i = 0
        while i <= last and cap.grab():
            if i in wanted:
                ok, frame = cap.retrieve()
                if ok and frame is not None:
                    got[i] = frame
            i += 1
    finally:
        cap.release()
    missing = [i for i in indices if i not in got]
    if missing:
        raise MediaError(path, f"truncated or corrupt video: frame {missing[0]} could not be decoded")
    return [got[i] for i in indices]


def _frame_to_rgb_image(frame: np.ndarray) -> Image.Image:
    cv2 = _cv2()
    if frame.ndim == 2:
        return Image.fromarray(frame, "L").convert("RGB")
    if frame.shape[2] == 4:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB)
    else:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    return Image.fromarray(frame, "RGB")


def _downscale_frame(frame: np.ndarray, max_side: int) -> np.ndarray:
    cv2 = _cv2()
    h, w = frame.shape[:2]
    size = _fit(w, h, max_side)
    if size == (w, h):
        return frame
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)  # area averaging: no aliasing


def _video_frames(path: Path, k: int) -> tuple[list[int], list[np.ndarray], int, float]:
    """(indices, BGR frames, validated frame count, fps) for K evenly spread frames."""
    cv2 = _cv2()
    cap = _open_capture(path)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        if not math.isfinite(fps) or fps <= 0 or fps > 1000:
            fps = 0.0
        reported = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        reported_n = int(reported) if math.isfinite(reported) and reported > 0 else 0
        count = _count_frames(cap, path, reported_n, fps)
        if count <= 0:
            raise MediaError(path, "video has no decodable frames")
        indices = sample_frame_indices(count, k)
        frames = _read_by_seeking(cap, indices)
    finally:
        cap.release()
    if frames is None:
        frames = _read_in_order(path, indices)
    return indices, frames, count, fps


def _prepare_video(path: Path, max_side: int, k: int, quality: int) -> PreparedMedia:
    _check_file(path)
    digest = _sha256(path)
    try:
        indices, frames, count, fps = _video_frames(path, k)
    except MediaError:
        raise
    except Exception as e:  # cv2.error and friends
        raise MediaError(path, f"truncated or corrupt video: {type(e).__name__}: {e}") from None
    src_h, src_w = frames[0].shape[:2]
    images = []
    n = len(frames)
    for j, frame in enumerate(frames, start=1):
        im = _frame_to_rgb_image(_downscale_frame(frame, max_side))
        images.append(PreparedImage(_encode_jpeg(im, quality), im.width, im.height, f"frame {j} of {n}"))
    return PreparedMedia(
        path=path,
        kind="video",
        images=tuple(images),
        sha256=digest,
        source_width=src_w,
        source_height=src_h,
        frame_indices=tuple(indices),
        frame_count=count,
        duration_s=count / fps if fps > 0 else 0.0,
        fps=fps,
    )


# --------------------------------------------------------------------------------------------
# thumbnails


def thumbnail_jpeg(path: str | os.PathLike[str], size: int = 256, *, frame: int | None = None) -> bytes:
    """A small JPEG (longest side ≤ ``size``) for the browser: the image itself, or a video's
    frame ``frame`` (default: the middle one by the container's count, which is good enough
    for a picture and avoids validating the count). Raises MediaError."""
    p = Path(path)
    kind = _supported_kind(p)
    try:
        if kind == "image":
            im = load_image(p, max_side=size)
        else:
            im = _frame_to_rgb_image(_downscale_frame(_thumbnail_frame(p, frame), size))
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=80)
        return buf.getvalue()
    except MediaError:
        raise
    except MemoryError:
        raise MediaError(p, "not enough memory to decode this file") from None
    except Exception as e:
        raise MediaError(p, f"cannot decode {kind}: {type(e).__name__}: {e}") from None


def _thumbnail_frame(path: Path, frame: int | None) -> np.ndarray:
    cv2 = _cv2()
    _check_file(path)
    cap = _open_capture(path)
    try:
        if frame is None:
            reported = cap.get(cv2.CAP_PROP_FRAME_COUNT)
            frame = int(reported) // 2 if math.isfinite(reported) and reported > 0 else 0
        if frame > 0 and _seek_grab(cap, frame):
            ok, img = cap.retrieve()
            if ok and img is not None:
                return img
        # the count lied or the seek missed: take the first frame instead
        cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        ok, img = cap.read()
        if not ok or img is None:
            raise MediaError(path, "video has no decodable frames")
        return img
    finally:
        cap.release()
