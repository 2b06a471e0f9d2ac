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
import bisect
import contextlib
import functools
import hashlib
import io
import math
import os
import stat
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from struct import error as struct_error  # a few Pillow plugins raise it on short reads
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from vhd_gui.filenames import has_undecodable
from vhd_gui.scanning import APP_DIR_NAME, IMAGE_EXTS, VIDEO_EXTS, MediaError, MediaFile, scan

if TYPE_CHECKING:
    from av.packet import Packet
    from av.video.frame import VideoFrame

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
    "SAMPLING_MODES",
]

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

SAMPLING_MODES: tuple[str, ...] = ("exact", "keyframes")
"""``exact``: the K frames at the centres of K equal parts of the clip. ``keyframes``: for each
of those spots the keyframe nearest to it (several spots may share one; it is sent once), which
needs no decoding beyond the keyframes themselves: much faster on long keyframe intervals."""


# --------------------------------------------------------------------------------------------
# small helpers


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
# file names FFmpeg can open


@contextlib.contextmanager
def _openable_name(path: Path) -> Iterator[str]:
    """A name FFmpeg (through PyAV) can open for ``path``.

    Paths go to FFmpeg as UTF-8 text, which a file name that is not valid UTF-8 cannot be. Such
    a file is opened here and handed over as ``/proc/self/fd/N``, or where there is no /proc, as a
    symlink with a plain name in a temporary folder; either is gone once the decoder has opened
    the file itself.
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
    sampling: str = "exact"  # video: how frame_indices were chosen (see SAMPLING_MODES)


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
    sampling: str = "exact",
) -> PreparedMedia:
    """Decode one item and encode what the agents will see. Blocking; raises MediaError.

    A video gives up to ``frames`` frames chosen by ``sampling`` (one of :data:`SAMPLING_MODES`);
    ``frame_indices`` always records the 0-based indices of the frames actually sent.
    """
    p = Path(path)
    if max_side < 1:
        raise ValueError("max_side must be at least 1")
    if frames < 1:
        raise ValueError("frames must be at least 1")
    if sampling not in SAMPLING_MODES:
        raise ValueError(f"sampling must be one of {', '.join(SAMPLING_MODES)}, not {sampling!r}")
    kind = _supported_kind(p)
    try:
        if kind == "image":
            return _prepare_image(p, max_side, jpeg_quality)
        return _prepare_video(p, max_side, frames, jpeg_quality, sampling)
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
# videos (PyAV, imported on first use: the window and the scan don't need it)
#
# How frames are found. One pass over the container's packets (no decoding) lists every intact
# frame's presentation timestamp and which ones are keyframes. Sorted, those timestamps *are* the
# frame indices: frame i is the i-th in display order. That count is the real one, whatever the
# header claims (a cut download keeps its header), and it holds for variable frame rate clips,
# where "index = time × fps" does not. Each wanted frame is then reached by one seek to the
# keyframe at or before it and decoding forward (frame threads on), and wanted frames that share
# a keyframe interval are read in the same pass instead of one seek each. Along the way, frames
# that nothing references and that we don't want are not decoded at all (H.264, and HEVC with one
# temporal layer). The keyframes mode reads one packet per keyframe instead. A decoded frame
# counts only if its timestamp is the wanted one, so a seek that lands wrong is noticed; then the
# clip is decoded from the start in order, which is always exact.

def _av() -> Any:
    import av

    return av


@dataclass(frozen=True)
class _FrameTable:
    """What one pass over the packets tells us about a clip."""

    pts: tuple[int, ...]  # every frame's timestamp, display order: the position is the frame index
    keyframes: tuple[int, ...]  # indices of the frames a decoder can start from, ascending
    time_base: float
    fps: float

    @property
    def count(self) -> int:
        return len(self.pts)

    def keyframe_at_or_before(self, index: int) -> int:
        """Position in ``keyframes`` of the last keyframe at or before frame ``index``."""
        return max(0, bisect.bisect_right(self.keyframes, index) - 1)

    def nearest_keyframe(self, index: int) -> int:
        """Frame index of the keyframe nearest frame ``index`` (the earlier one on a tie)."""
        j = bisect.bisect_left(self.keyframes, index)
        options = self.keyframes[max(0, j - 1) : j + 1]
        return min(options, key=lambda k: (abs(k - index), k))


class _Video:
    """An open clip: the container, its first video stream and a threaded decoder."""

    def __init__(self, path: Path) -> None:
        av = _av()
        self.path = path
        try:
            with _openable_name(path) as name:
                self.container = av.open(name, mode="r", metadata_errors="ignore")
        except av.FFmpegError:
            raise MediaError(path, "cannot open video: unsupported codec or container, or a corrupt file") from None
        try:
            if not self.container.streams.video:
                raise MediaError(path, "cannot open video: the file has no video stream")
            self.stream = self.container.streams.video[0]
            self.ctx = self.stream.codec_context
            if self.ctx is None:
                raise MediaError(path, "cannot open video: no decoder for its codec")
            self.ctx.thread_type = "AUTO"  # frame and slice threads, as many as there are CPUs
            self.ctx.thread_count = 0
            # Frames that no other frame reads need not be decoded unless wanted. In H.264 that
            # is nal_ref_idc 0. In HEVC a "sub-layer non-reference" picture may still be read by
            # a higher temporal layer, so only when the stream says it has a single one.
            self.can_skip_nonref = self.ctx.name == "h264" or self.ctx.name == "hevc" and _hevc_single_layer(self.ctx.extradata)
        except BaseException:
            self.container.close()
            raise

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> _Video:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fps(self) -> float:
        for rate in (self.stream.average_rate, self.stream.guessed_rate, self.stream.base_rate):
            if rate:
                value = float(rate)
                if math.isfinite(value) and 0 < value <= 1000:
                    return value
        return 0.0

    def table(self) -> _FrameTable | None:
        """Demux every packet once. None when the timestamps can't index the frames (missing or
        repeated), and the clip has to be decoded in order instead."""
        av = _av()
        entries: list[tuple[int, bool]] = []  # (pts, keyframe)
        try:
            for packet in self.container.demux(self.stream):
                if packet.size == 0 or packet.is_corrupt or packet.is_discard:
                    continue  # the end marker, a packet cut short, or one the container drops
                pts = packet.pts if packet.pts is not None else packet.dts
                if pts is None:
                    return None
                entries.append((pts, bool(packet.is_keyframe)))
        except av.FFmpegError:
            pass  # a broken tail: the frames before it still count
        entries.sort()
        pts = tuple(e[0] for e in entries)
        if len(set(pts)) != len(pts):
            return None
        keys = [i for i, e in enumerate(entries) if e[1]]
        if not keys or keys[0] != 0:
            keys.insert(0, 0)  # nothing to start from before the first keyframe: seek to the start
        tb = float(self.stream.time_base) if self.stream.time_base else 0.0
        return _FrameTable(pts, tuple(keys), tb, self.fps())

    def _seek(self, ts: int) -> None:
        self.container.seek(ts, backward=True, any_frame=False, stream=self.stream)
        self.ctx.flush_buffers()

    def frames_from(self, ts: int, wanted_pts: set[int]) -> Iterator[VideoFrame]:
        """Seek to the keyframe at or before ``ts`` and yield every decoded frame from there,
        skipping frames that no other frame uses (where that is known) unless they are wanted."""
        av = _av()
        self._seek(ts)
        skip = self.can_skip_nonref
        for packet in self.container.demux(self.stream):
            if skip:
                self.ctx.skip_frame = "DEFAULT" if packet.pts in wanted_pts or packet.pts is None else "NONREF"
            try:
                frames = packet.decode()  # the empty end-of-file packet drains the decoder
            except av.FFmpegError:
                continue  # a damaged packet: go on with the next one, as ffmpeg does
            yield from frames
        if skip:
            self.ctx.skip_frame = "DEFAULT"


def _hevc_single_layer(extradata: bytes | None) -> bool:
    """True if an HEVC decoder configuration record (hvcC, as in MP4 and Matroska) says the
    stream has one temporal layer (its numTemporalLayers field, bits 5-3 of byte 21, is 1)."""
    if not extradata or len(extradata) < 23:
        return False
    return extradata[0] == 1 and (extradata[21] >> 3) & 7 == 1


def _frame_pts(frame: VideoFrame) -> int | None:
    return frame.pts if frame.pts is not None else frame.dts


def _read_exact(video: _Video, table: _FrameTable, indices: list[int]) -> dict[int, VideoFrame] | None:
    """The frames at ``indices`` by seek-and-decode; None if a frame is not where the table
    says (then the caller decodes in order)."""
    wanted_pts = {table.pts[i] for i in indices}
    got: dict[int, VideoFrame] = {}
    frames: Iterator[VideoFrame] | None = None
    position = -1  # index of the last frame the current pass has produced (or its start)
    for index in sorted(set(indices)):
        target = table.pts[index]
        key = table.keyframe_at_or_before(index)
        if frames is None or table.keyframes[key] > position:
            # Decoding on from where we are would pass through more frames than a seek to the
            # keyframe before the target. Seek by presentation time: that is what demuxers
            # index by (MP4 shifts its decoding times, so a keyframe's dts lands one keyframe early).
            frames = video.frames_from(table.pts[table.keyframes[key]], wanted_pts)
            position = table.keyframes[key]
        for frame in frames:
            pts = _frame_pts(frame)
            if pts is None or pts > target:
                return None  # passed the target without seeing it
            if pts == target:
                got[index] = frame
                position = index
                break
            position = max(position, bisect.bisect_left(table.pts, pts))
        else:
            return None  # the clip ended first
    return got


def _read_keyframes(video: _Video, table: _FrameTable, indices: list[int]) -> dict[int, VideoFrame] | None:
    """The keyframes at ``indices``: one packet each, fed to the decoder back to back so that its
    frame threads decode several at once (a keyframe's picture depends on nothing else). A
    decoder may still not show one of them after another (HEVC's CRA pictures share a picture
    order count space); those are decoded again on their own. None if one does not come out
    even then (the caller decodes exactly instead)."""
    av = _av()
    index_of = {table.pts[i]: i for i in indices}
    packets: dict[int, Packet] = {}  # by frame index
    for index in indices:
        video._seek(table.pts[index])
        for packet in video.container.demux(video.stream):
            if packet.pts == table.pts[index]:
                packets[index] = packet
                break
            if packet.size == 0 or packet.pts is None or packet.pts > table.pts[index] and packet.is_keyframe:
                return None
    got: dict[int, VideoFrame] = {}

    def decode(group: list[Packet]) -> None:
        video.ctx.flush_buffers()
        try:
            for packet in [*group, None]:  # None drains the decoder
                for frame in video.ctx.decode(packet):
                    pts = _frame_pts(frame)
                    if pts in index_of:
                        got[index_of[pts]] = frame
        except av.FFmpegError:
            pass  # what came out so far counts; the rest is tried alone or decoded exactly

    video.ctx.skip_frame = "DEFAULT"
    decode(list(packets.values()))
    for index in indices:
        if index not in got:
            decode([packets[index]])
    video.ctx.flush_buffers()
    return got if len(got) == len(indices) else None


def _decode_in_order(path: Path, indices: list[int] | None) -> tuple[int, dict[int, VideoFrame], list[int]]:
    """Decode from the start, counting frames in the order they come out: exact always. With
    ``indices`` None, only count. Returns (frames decoded, {index: frame} for those wanted,
    indices of the keyframes among those decoded)."""
    av = _av()
    wanted = set(indices or ())
    last = max(wanted) if wanted else None
    got: dict[int, VideoFrame] = {}
    keys: list[int] = []
    n = 0
    with _Video(path) as video:
        for packet in video.container.demux(video.stream):
            try:
                frames = packet.decode()
            except av.FFmpegError:
                continue
            for frame in frames:
                if n in wanted:
                    got[n] = frame
                if frame.key_frame:
                    keys.append(n)
                n += 1
            if last is not None and n > last:
                break
    return n, got, keys


def _rotation(frame: VideoFrame) -> int:
    """The clockwise quarter turns (0-3) the clip asks for on display (phones record upright
    video as landscape and say "turn it" in the display matrix)."""
    try:
        ccw = int(round(float(frame.rotation)))
    except (TypeError, ValueError, AttributeError):
        return 0
    return (-ccw // 90) % 4 if ccw % 90 == 0 else 0


_TURNS = {1: Image.Transpose.ROTATE_270, 2: Image.Transpose.ROTATE_180, 3: Image.Transpose.ROTATE_90}


def _frame_image(frame: VideoFrame, max_side: int | None) -> Image.Image:
    """RGB, shrunk so the longest side is at most ``max_side`` (area averaging, in the same
    swscale call as the colour conversion), turned upright."""
    w, h = frame.width, frame.height
    if max_side is not None:
        w, h = _fit(w, h, max_side)
    im: Image.Image = frame.to_image(width=w, height=h, interpolation="AREA")
    turns = _rotation(frame)
    return im.transpose(_TURNS[turns]) if turns else im


def _display_size(frame: VideoFrame) -> tuple[int, int]:
    return (frame.height, frame.width) if _rotation(frame) % 2 else (frame.width, frame.height)


@dataclass(frozen=True)
class _Sampled:
    indices: list[int]
    frames: list[VideoFrame]
    count: int
    fps: float
    duration_s: float


def _sample_video(path: Path, k: int, sampling: str) -> _Sampled:
    with _Video(path) as video:
        table = video.table()
        if table is not None and table.count > 0:
            if sampling == "keyframes":
                spots = sample_frame_indices(table.count, k)
                indices = sorted({table.nearest_keyframe(s) for s in spots})
                got = _read_keyframes(video, table, indices) or _read_exact(video, table, indices)
            else:
                indices = sample_frame_indices(table.count, k)
                got = _read_exact(video, table, indices)
            if got is not None:
                span = (table.pts[-1] - table.pts[0]) * table.time_base
                duration = span + 1 / table.fps if table.fps > 0 else span
                return _Sampled(indices, [got[i] for i in indices], table.count, table.fps, duration)
        fps = video.fps()
    # no usable timestamps, or a seek landed wrong: count by decoding, then decode in order
    count, _, keys = _decode_in_order(path, None)
    if count <= 0:
        raise MediaError(path, "video has no decodable frames")
    indices = sample_frame_indices(count, k)
    if sampling == "keyframes" and keys:
        nearest = _FrameTable(tuple(range(count)), tuple(keys), 0.0, fps).nearest_keyframe
        indices = sorted({nearest(s) for s in indices})
    _, got, _ = _decode_in_order(path, indices)
    missing = [i for i in indices if i not in got]
    if missing:
        raise MediaError(path, f"truncated or corrupt video: frame {missing[0]} could not be decoded")
    return _Sampled(indices, [got[i] for i in indices], count, fps, count / fps if fps > 0 else 0.0)


class _HashThread(threading.Thread):
    """sha256 of the file on a second thread while the decoder works (hashlib and file reads
    release the GIL)."""

    def __init__(self, path: Path) -> None:
        super().__init__(name="vhd-media-sha256", daemon=True)
        self.path = path
        self.digest = ""
        self.error: MediaError | None = None
        self.start()

    def run(self) -> None:
        try:
            self.digest = _sha256(self.path)
        except MediaError as e:
            self.error = e

    def result(self) -> str:
        self.join()
        if self.error is not None:
            raise self.error
        return self.digest


def _prepare_video(path: Path, max_side: int, k: int, quality: int, sampling: str) -> PreparedMedia:
    _check_file(path)
    hasher = _HashThread(path)
    av = _av()
    try:
        sampled = _sample_video(path, k, sampling)
        src_w, src_h = _display_size(sampled.frames[0])
        pictures = [_frame_image(f, max_side) for f in sampled.frames]
    except MediaError:
        raise
    except av.FFmpegError as e:
        raise MediaError(path, f"truncated or corrupt video: {e}") from None
    finally:
        digest = hasher.result()
    n = len(pictures)
    images = tuple(
        PreparedImage(_encode_jpeg(im, quality), im.width, im.height, f"frame {j} of {n}") for j, im in enumerate(pictures, start=1)
    )
    return PreparedMedia(
        path=path,
        kind="video",
        images=images,
        sha256=digest,
        source_width=src_w,
        source_height=src_h,
        frame_indices=tuple(sampled.indices),
        frame_count=sampled.count,
        duration_s=sampled.duration_s,
        fps=sampled.fps,
        sampling=sampling,
    )


# --------------------------------------------------------------------------------------------
# thumbnails


def thumbnail_jpeg(path: str | os.PathLike[str], size: int = 256, *, frame: int | None = None) -> bytes:
    """A small JPEG (longest side ≤ ``size``) for the browser: the image itself, or a video's
    frame ``frame`` (exact, as recorded by :func:`prepare`), by default the middle one by time,
    which needs no pass over the whole file. Raises MediaError."""
    p = Path(path)
    kind = _supported_kind(p)
    try:
        if kind == "image":
            im = load_image(p, max_side=size)
        else:
            im = _thumbnail_frame(p, frame, size)
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=80)
        return buf.getvalue()
    except MediaError:
        raise
    except MemoryError:
        raise MediaError(p, "not enough memory to decode this file") from None
    except Exception as e:
        raise MediaError(p, f"cannot decode {kind}: {type(e).__name__}: {e}") from None


_TABLES: OrderedDict[tuple[str, int, int], _FrameTable | None] = OrderedDict()
_TABLES_LOCK = threading.Lock()


def _cached_table(video: _Video) -> _FrameTable | None:
    """:meth:`_Video.table`, remembered for the last few files (by path, size and mtime): the
    viewer asks for each frame a debate sent, one call per frame, and the pass reads the file."""
    st = video.path.stat()
    key = (os.fspath(video.path.absolute()), st.st_size, st.st_mtime_ns)
    with _TABLES_LOCK:
        if key in _TABLES:
            _TABLES.move_to_end(key)
            return _TABLES[key]
    table = video.table()
    with _TABLES_LOCK:
        _TABLES[key] = table
        while len(_TABLES) > 8:
            _TABLES.popitem(last=False)
    return table


def _thumbnail_frame(path: Path, index: int | None, size: int) -> Image.Image:
    _check_file(path)
    with _Video(path) as video:
        if index is not None:
            table = _cached_table(video)
            if table is not None and 0 <= index < table.count:
                got = _read_exact(video, table, [index])
                if got is not None:
                    return _frame_image(got[index], size)
        else:
            middle = _middle_by_time(video)
            if middle is not None:
                return _frame_image(middle, size)
        # the frame isn't there or the seek missed: take the first frame instead
        for first in video.frames_from(video.stream.start_time or 0, set()):
            return _frame_image(first, size)
    raise MediaError(path, "video has no decodable frames")


def _middle_by_time(video: _Video) -> VideoFrame | None:
    """The first frame at or after the middle of the clip by its container's length (one seek;
    exact for constant frame rate clips whose container is right)."""
    stream, tb = video.stream, video.stream.time_base
    if not tb:
        return None
    start = stream.start_time or 0
    fps = video.fps()
    if stream.frames and fps > 0:
        offset = (stream.frames // 2) / fps
    elif stream.duration:
        offset = float(stream.duration * tb) / 2
    elif video.container.duration:
        offset = video.container.duration / 1_000_000 / 2
    else:
        return None
    half_frame = 0.5 / fps if fps > 0 else 0.0
    target = start + int((offset - half_frame) / float(tb))
    for frame in video.frames_from(target, set()):
        pts = _frame_pts(frame)
        if pts is not None and pts >= target:
            return frame
    return None
