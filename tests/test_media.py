"""vhd_gui.media against real files generated in tmp_path (tests/mediagen.py). No mocks."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from vhd_gui import media  # noqa: E402
from vhd_gui.media import MediaError, kind_of, prepare, sample_frame_indices, scan  # noqa: E402

import mediagen as gen  # noqa: E402


def decode(jpeg: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(jpeg))
    assert im.format == "JPEG"
    im.load()
    return im.convert("RGB")


def pixel(im: Image.Image, x: int, y: int) -> tuple[int, int, int]:
    px = im.getpixel((x, y))
    assert isinstance(px, tuple)
    return px[0], px[1], px[2]


def close(a: tuple[int, ...], b: tuple[int, ...], tol: int = 24) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


# ------------------------------------------------------------------------------------------
# kinds and scanning


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("a.jpg", "image"), ("a.JPEG", "image"), ("a.Png", "image"), ("a.webp", "image"),
        ("a.BMP", "image"), ("a.gif", "image"), ("a.tif", "image"), ("a.TIFF", "image"),
        ("a.mp4", "video"), ("a.MOV", "video"), ("a.avi", "video"), ("a.mkv", "video"),
        ("a.WebM", "video"), ("a.txt", None), ("jpg", None), ("a.jpg.txt", None), ("noext", None),
    ],
)
def test_kind_of_any_case(name: str, kind: str | None) -> None:
    assert kind_of(name) == kind
    assert kind_of(Path("/x/y") / name) == kind


def test_extension_sets_are_lowercase_with_dot() -> None:
    for ext in media.IMAGE_EXTS | media.VIDEO_EXTS:
        assert ext.startswith(".") and ext == ext.lower()
    assert not media.IMAGE_EXTS & media.VIDEO_EXTS


def _touch(path: Path, data: bytes = b"x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_scan_nested_case_hidden_and_app_dir(tmp_path: Path) -> None:
    for rel in [
        "b.JPG", "a.png", "notes.txt", "C.mp4", "sub/z.WebM", "sub/deeper/x.jpeg",
        "sub/readme.md", "Sub2/y.TIF", ".hidden.jpg", ".cache/h.png", "sub/.git/objects/o.png",
        ".vhd-annotator/thumbs/t.jpg", "empty/.keep",
    ]:
        _touch(tmp_path / rel)
    found = list(scan(tmp_path))
    rels = [f.rel for f in found]
    # depth first, case-insensitive name order, so the whole list is ordered by path
    assert rels == ["a.png", "b.JPG", "C.mp4", "sub/deeper/x.jpeg", "sub/z.WebM", "Sub2/y.TIF"]
    by_rel = {f.rel: f for f in found}
    assert by_rel["C.mp4"].kind == "video" and by_rel["b.JPG"].kind == "image"
    f = by_rel["sub/deeper/x.jpeg"]
    assert f.path == tmp_path / "sub" / "deeper" / "x.jpeg"
    assert f.size == 1 and f.mtime == pytest.approx(f.path.stat().st_mtime)
    assert isinstance(f, media.MediaFile)


def test_scan_is_lazy_and_stable(tmp_path: Path) -> None:
    for i in range(30):
        _touch(tmp_path / f"d{i % 3}" / f"f{i:02d}.png")
    it = scan(tmp_path)
    first = next(it)  # a generator: the GUI can show items while the scan goes on
    assert first.rel == "d0/f00.png"
    assert [f.rel for f in scan(tmp_path)] == [f.rel for f in scan(tmp_path)]
    assert len(list(scan(tmp_path))) == 30


def test_scan_symlinks(tmp_path: Path) -> None:
    real = tmp_path / "real"
    _touch(real / "a.png")
    root = tmp_path / "root"
    root.mkdir()
    (root / "linked_dir").symlink_to(real, target_is_directory=True)
    (root / "linked_file.jpg").symlink_to(real / "a.png")
    (root / "broken.jpg").symlink_to(tmp_path / "missing.jpg")
    (real / "loop").symlink_to(real, target_is_directory=True)
    assert [f.rel for f in scan(root)] == ["linked_file.jpg"]
    assert [f.rel for f in scan(root, follow_symlinks=True)] == ["linked_dir/a.png", "linked_file.jpg"]


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True, reason="root reads anything")
def test_scan_skips_unreadable_folder(tmp_path: Path) -> None:
    _touch(tmp_path / "ok" / "a.png")
    locked = tmp_path / "locked"
    _touch(locked / "b.png")
    locked.chmod(0)
    try:
        assert [f.rel for f in scan(tmp_path)] == ["ok/a.png"]
    finally:
        locked.chmod(0o755)


def test_scan_missing_root_or_file_root(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="folder not found"):
        list(scan(tmp_path / "nope"))
    _touch(tmp_path / "f.png")
    with pytest.raises(MediaError, match="not a folder"):
        list(scan(tmp_path / "f.png"))


# ------------------------------------------------------------------------------------------
# images: every mode to RGB


@pytest.mark.parametrize(
    ("name", "mode", "opaque", "expect_right"),
    [
        ("p.png", "P", (255, 0, 0), (255, 0, 0)),
        ("p.gif", "P", (0, 200, 0), (0, 200, 0)),
        ("la.png", "LA", (40, 255), (40, 40, 40)),
        ("rgba.png", "RGBA", (0, 0, 255, 255), (0, 0, 255)),
        ("rgba.webp", "RGBA", (0, 0, 255, 255), (0, 0, 255)),
        ("rgba.tif", "RGBA", (0, 0, 255, 255), (0, 0, 255)),
    ],
)
def test_transparency_composites_on_white(tmp_path: Path, name: str, mode: str, opaque: tuple[int, ...], expect_right: tuple[int, int, int]) -> None:
    path = gen.save_half_transparent(tmp_path / name, mode, opaque)
    im = media.load_image(path)
    assert im.mode == "RGB" and im.size == (64, 32)
    assert close(pixel(im, 8, 16), (255, 255, 255)), "transparent half must be white, not black"
    assert close(pixel(im, 56, 16), expect_right)
    out = decode(prepare(path).images[0].jpeg)
    assert close(pixel(out, 8, 16), (255, 255, 255)) and close(pixel(out, 56, 16), expect_right, 40)


@pytest.mark.parametrize("name", ["g16.png", "g16.tif"])
def test_16_bit_grey_is_scaled_not_clipped(tmp_path: Path, name: str) -> None:
    path = gen.save_gradient16(tmp_path / name)
    with Image.open(path) as src:
        assert src.mode in ("I;16", "I;16B", "I;16L", "I")  # really a 16-bit file
    im = media.load_image(path)
    assert im.mode == "RGB"
    row = np.asarray(im)[8, :, 0].astype(int)
    assert row[0] <= 1 and row[-1] >= 254
    assert abs(row[128] - 128) <= 2  # mid-grey stays mid-grey (clipping would give 255)
    assert (np.diff(row) >= 0).all()


def test_float_mode(tmp_path: Path) -> None:
    path = gen.save_float(tmp_path / "f.tif")
    with Image.open(path) as src:
        assert src.mode == "F"
    row = np.asarray(media.load_image(path))[4, :, 1].astype(int)
    assert row[0] <= 1 and row[-1] >= 254 and abs(row[128] - 128) <= 2


@pytest.mark.parametrize("name", ["c.jpg", "c.tif"])
def test_cmyk(tmp_path: Path, name: str) -> None:
    path = gen.save_cmyk(tmp_path / name, (255, 0, 0, 0))  # pure cyan
    with Image.open(path) as src:
        assert src.mode == "CMYK"
    assert close(pixel(media.load_image(path), 20, 15), (0, 255, 255), 30)


def test_bilevel_and_grey(tmp_path: Path) -> None:
    im = media.load_image(gen.save_bilevel(tmp_path / "b.png"))
    assert pixel(im, 5, 10) == (0, 0, 0) and pixel(im, 35, 10) == (255, 255, 255)
    grey = tmp_path / "l.jpg"
    Image.new("L", (30, 20), 77).save(grey)
    assert close(pixel(media.load_image(grey), 10, 10), (77, 77, 77), 3)


def test_animated_gif_first_frame(tmp_path: Path) -> None:
    path = gen.save_animated_gif(tmp_path / "anim.gif")
    assert close(pixel(media.load_image(path), 20, 15), (255, 0, 0), 10)
    p = prepare(path)
    assert len(p.images) == 1 and p.images[0].label == "image"


@pytest.mark.parametrize("fmt,name", [("BMP", "x.bmp"), ("WEBP", "x.webp"), ("TIFF", "x.TIFF"), ("PNG", "x.PNG"), ("JPEG", "x.JPG")])
def test_plain_formats(tmp_path: Path, fmt: str, name: str) -> None:
    path = gen.save_solid(tmp_path / name, (50, 40), (30, 120, 220), fmt)
    out = decode(prepare(path).images[0].jpeg)
    assert out.size == (50, 40) and close(pixel(out, 25, 20), (30, 120, 220), 12)


# ------------------------------------------------------------------------------------------
# EXIF orientation


@pytest.mark.parametrize(
    ("orientation", "size", "red_corner"),
    [
        (1, (60, 30), "top-left"),
        (2, (60, 30), "top-right"),  # mirrored
        (3, (60, 30), "bottom-right"),  # rotated 180°
        (6, (30, 60), "top-right"),  # shown rotated 90° clockwise
        (8, (30, 60), "bottom-left"),  # shown rotated 90° counter-clockwise
    ],
)
def test_exif_orientation_applied(tmp_path: Path, orientation: int, size: tuple[int, int], red_corner: str) -> None:
    path = gen.save_exif_oriented(tmp_path / f"o{orientation}.jpg", orientation)
    w, h = size
    corners = {"top-left": (3, 3), "top-right": (w - 4, 3), "bottom-left": (3, h - 4), "bottom-right": (w - 4, h - 4)}
    for im in (media.load_image(path), decode(prepare(path).images[0].jpeg)):
        assert im.size == size
        for name, (x, y) in corners.items():
            want = (255, 0, 0) if name == red_corner else (0, 0, 255)
            assert close(pixel(im, x, y), want, 60), (name, pixel(im, x, y))
    p = prepare(path)
    assert (p.source_width, p.source_height) == size


def test_exif_rotation_with_downscale(tmp_path: Path) -> None:
    path = gen.save_exif_oriented(tmp_path / "big.jpg", 6, stored=(2400, 1200))
    p = prepare(path, max_side=300)
    img = p.images[0]
    assert (img.width, img.height) == (150, 300)
    assert (p.source_width, p.source_height) == (1200, 2400)
    out = decode(img.jpeg)
    assert out.size == (150, 300)
    assert close(pixel(out, 140, 10), (255, 0, 0), 60) and close(pixel(out, 10, 290), (0, 0, 255), 60)


# ------------------------------------------------------------------------------------------
# size limits and output


@pytest.mark.parametrize(("src", "max_side", "want"), [
    ((3000, 2000), 1024, (1024, 683)),
    ((2000, 3000), 1024, (683, 1024)),
    ((3000, 2000), 512, (512, 341)),
    ((800, 600), 1024, (800, 600)),  # never upscaled
    ((1024, 10), 1024, (1024, 10)),
    ((5000, 3), 1000, (1000, 1)),
])
def test_max_side_respected_never_upscaled(tmp_path: Path, src: tuple[int, int], max_side: int, want: tuple[int, int]) -> None:
    path = tmp_path / "p.jpg"
    Image.fromarray(gen.noisy_rgb(*src)).save(path, quality=90)
    p = prepare(path, max_side=max_side)
    img = p.images[0]
    assert (img.width, img.height) == want
    assert decode(img.jpeg).size == want
    assert (p.source_width, p.source_height) == src
    assert p.kind == "image" and p.frame_indices == () and p.frame_count == 1


def test_prepared_image_fields(tmp_path: Path) -> None:
    import hashlib

    path = gen.save_photo(tmp_path / "photo.jpg", 1600, 1200)
    p = prepare(path, jpeg_quality=80)
    assert p.path == path and p.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert p.images[0].jpeg[:3] == b"\xff\xd8\xff"
    assert prepare(path, jpeg_quality=80) == p  # deterministic: the same bytes every time
    assert len(prepare(path, jpeg_quality=40).images[0].jpeg) < len(p.images[0].jpeg)


def test_load_image_full_size_and_drafted(tmp_path: Path) -> None:
    path = gen.save_photo(tmp_path / "photo.jpg", 1600, 1200)
    assert media.load_image(path).size == (1600, 1200)
    assert media.load_image(path, max_side=400).size == (400, 300)


def test_thumbnails(tmp_path: Path) -> None:
    photo = gen.save_photo(tmp_path / "photo.jpg", 1600, 1200)
    th = decode(media.thumbnail_jpeg(photo))
    assert th.size == (256, 192)
    small = gen.save_solid(tmp_path / "small.png", (100, 50))
    assert decode(media.thumbnail_jpeg(small, 256)).size == (100, 50)
    clip = gen.write_video(tmp_path / "c.mp4", 21, size=(320, 240))
    th = decode(media.thumbnail_jpeg(clip, 64))
    assert th.size == (64, 48)
    assert gen.decode_index(np.asarray(decode(media.thumbnail_jpeg(clip)))) == 10  # the middle frame
    assert gen.decode_index(np.asarray(decode(media.thumbnail_jpeg(clip, frame=17)))) == 17
    with pytest.raises(MediaError, match="zero-byte"):
        media.thumbnail_jpeg(_empty(tmp_path / "e.mp4"))


def test_video_thumbnail_of_a_replaced_file_is_not_stale(tmp_path: Path) -> None:
    clip = tmp_path / "c.mp4"
    gen.write_video(clip, 48)
    assert gen.decode_index(np.asarray(decode(media.thumbnail_jpeg(clip, 64, frame=40)))) == 40
    gen.write_video(tmp_path / "other.mp4", 30, size=(192, 144)).replace(clip)  # same path, new clip
    assert decode(media.thumbnail_jpeg(clip, 64, frame=20)).size == (64, 48)
    assert gen.decode_index(np.asarray(decode(media.thumbnail_jpeg(clip, 64, frame=20)))) == 20
    assert gen.decode_index(np.asarray(decode(media.thumbnail_jpeg(clip, 64, frame=40)))) == 0  # past the end: the first


# ------------------------------------------------------------------------------------------
# broken files: one typed error, one line


def _empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def _one_line(e: MediaError) -> str:
    text = str(e)
    assert "\n" not in text and text.startswith(str(e.path)) and e.reason in text
    return e.reason


@pytest.mark.parametrize("name", ["z.jpg", "z.png", "z.mp4", "z.avi"])
def test_zero_byte(tmp_path: Path, name: str) -> None:
    with pytest.raises(MediaError) as ei:
        prepare(_empty(tmp_path / name))
    assert _one_line(ei.value) == "zero-byte file"
    assert ei.value.path == tmp_path / name


@pytest.mark.parametrize(("fmt", "name"), [("JPEG", "t.jpg"), ("PNG", "t.png"), ("WEBP", "t.webp"), ("TIFF", "t.tif")])
def test_truncated_image(tmp_path: Path, fmt: str, name: str) -> None:
    path = gen.save_truncated(tmp_path / name, fmt)
    with pytest.raises(MediaError) as ei:
        prepare(path)
    assert _one_line(ei.value).startswith("truncated or corrupt image")
    with pytest.raises(MediaError):
        media.load_image(path)
    with pytest.raises(MediaError):
        media.thumbnail_jpeg(path)


def test_missing_and_folder(tmp_path: Path) -> None:
    with pytest.raises(MediaError) as ei:
        prepare(tmp_path / "gone.jpg")
    assert _one_line(ei.value) == "file not found"
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(MediaError, match="is a folder"):
        prepare(tmp_path / "dir.png")


def test_unsupported(tmp_path: Path) -> None:
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    with pytest.raises(MediaError) as ei:
        prepare(txt)
    assert _one_line(ei.value).startswith("not a supported image or video")
    fake = tmp_path / "fake.jpg"
    fake.write_text("this is not a picture at all")
    with pytest.raises(MediaError) as ei:
        prepare(fake)
    assert _one_line(ei.value).startswith("not a supported image or video")


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True, reason="root reads anything")
def test_unreadable(tmp_path: Path) -> None:
    path = gen.save_solid(tmp_path / "locked.png", (10, 10))
    path.chmod(0)
    try:
        with pytest.raises(MediaError) as ei:
            prepare(path)
        assert _one_line(ei.value).startswith("permission denied")
    finally:
        path.chmod(0o644)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # Pillow warns at open(); we refuse
@pytest.mark.parametrize("side", [100_000, 12_000])  # far over (Pillow's error) and just over (its warning band)
def test_decompression_bomb(tmp_path: Path, side: int) -> None:
    path = gen.save_png_bomb(tmp_path / "bomb.png", side, side)
    assert path.stat().st_size < 200
    assert side * side > media.MAX_IMAGE_PIXELS
    with pytest.raises(MediaError) as ei:
        prepare(path)
    assert _one_line(ei.value).startswith("image too large")
    assert "decompression bomb" in ei.value.reason
    with pytest.raises(MediaError, match="image too large"):
        media.thumbnail_jpeg(path)


def test_broken_videos(tmp_path: Path) -> None:
    good = gen.write_video(tmp_path / "good.mp4", 30)
    data = good.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])  # index (moov) is at the end: gone
    (tmp_path / "noise.mkv").write_bytes(os.urandom(4096))
    (tmp_path / "text.avi").write_text("not a video")
    for name in ["cut.mp4", "noise.mkv", "text.avi"]:
        with pytest.raises(MediaError) as ei:
            prepare(tmp_path / name)
        reason = _one_line(ei.value)
        assert "video" in reason, reason


def test_nothing_else_escapes_on_garbage(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    for ext in sorted(media.IMAGE_EXTS | media.VIDEO_EXTS):
        path = tmp_path / f"garbage{ext}"
        path.write_bytes(rng.integers(0, 256, 2000, dtype=np.uint8).tobytes())
        with pytest.raises(MediaError):
            prepare(path)


# ------------------------------------------------------------------------------------------
# videos


@pytest.mark.parametrize(("n", "k", "want"), [
    (100, 5, [10, 30, 50, 70, 90]),
    (10, 5, [1, 3, 5, 7, 9]),
    (5, 5, [0, 1, 2, 3, 4]),
    (3, 5, [0, 1, 2]),
    (1, 5, [0]),
    (0, 5, []),
    (7, 0, []),
    (1800, 1, [900]),
])
def test_sample_frame_indices(n: int, k: int, want: list[int]) -> None:
    assert sample_frame_indices(n, k) == want


def test_sample_frame_indices_properties() -> None:
    for n in range(1, 400, 7):
        for k in (1, 2, 3, 5, 8, 16):
            idx = sample_frame_indices(n, k)
            assert len(idx) == min(n, k)
            assert idx == sorted(set(idx)) and 0 <= idx[0] and idx[-1] < n
            if n >= k:  # every one of the K equal segments contributes a frame that overlaps it
                assert all(j * n / k < i + 1 and i < (j + 1) * n / k for j, i in enumerate(idx))


@pytest.mark.parametrize(("fourcc", "ext"), gen.WRITABLE_VIDEO_FORMATS)
def test_video_frames_spread_and_exact(tmp_path: Path, fourcc: str, ext: str) -> None:
    path = gen.write_video(tmp_path / f"clip{ext}", 83, size=(320, 240), fps=25.0, fourcc=fourcc)
    p = prepare(path, frames=5, max_side=160)
    assert p.kind == "video" and p.frame_count == 83
    assert p.frame_indices == tuple(sample_frame_indices(83, 5)) == (8, 24, 41, 58, 74)
    assert [im.label for im in p.images] == [f"frame {i} of 5" for i in range(1, 6)]
    assert (p.source_width, p.source_height) == (320, 240)
    assert p.fps == pytest.approx(25.0) and p.duration_s == pytest.approx(83 / 25)
    for im, want in zip(p.images, p.frame_indices, strict=True):
        assert (im.width, im.height) == (160, 120)
        assert gen.decode_index(np.asarray(decode(im.jpeg))) == want


def test_video_frame_exact_on_every_index(tmp_path: Path) -> None:
    # K = number of frames: all of them, in order; any off-by-one seek would show
    path = gen.write_video(tmp_path / "all.mp4", 40)
    p = prepare(path, frames=40)
    assert p.frame_indices == tuple(range(40))
    assert [gen.decode_jpeg_index(im.jpeg) for im in p.images] == list(range(40))


def test_textured_video_downscaled(tmp_path: Path) -> None:
    path = gen.write_video(tmp_path / "hd.mp4", 60, size=(1280, 720), fps=30.0, textured=True)
    p = prepare(path)
    assert [(im.width, im.height) for im in p.images] == [(1024, 576)] * 5
    assert [gen.decode_jpeg_index(im.jpeg, gen.CODE_BAND) for im in p.images] == list(p.frame_indices)
    small = prepare(path, max_side=2000)  # never upscaled
    assert (small.images[0].width, small.images[0].height) == (1280, 720)


@pytest.mark.parametrize("n", [1, 2, 4])
def test_short_clip_fewer_frames_than_k(tmp_path: Path, n: int) -> None:
    path = gen.write_video(tmp_path / "short.avi", n, fourcc="MJPG")
    p = prepare(path, frames=5)
    assert p.frame_count == n and p.frame_indices == tuple(range(n))
    assert [im.label for im in p.images] == [f"frame {i} of {n}" for i in range(1, n + 1)]
    assert [gen.decode_jpeg_index(im.jpeg) for im in p.images] == list(range(n))


def test_truncated_avi_count_is_validated(tmp_path: Path) -> None:
    # the AVI header still says 90 frames; only about half are in the file
    path = gen.write_video(tmp_path / "full.avi", 90, fourcc="MJPG")
    data = path.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    p = prepare(cut)
    assert 30 < p.frame_count < 60
    assert p.frame_indices == tuple(sample_frame_indices(p.frame_count, 5))
    assert [gen.decode_jpeg_index(im.jpeg) for im in p.images] == list(p.frame_indices)


def test_sequential_fallback_is_exact(tmp_path: Path) -> None:
    path = gen.write_video(tmp_path / "c.mp4", 50)
    idx = sample_frame_indices(50, 5)
    count, frames, _ = media._decode_in_order(path, idx)
    assert count > max(idx)  # stops once the last wanted frame is out
    assert [gen.decode_index(np.asarray(frames[i].to_image())) for i in idx] == idx
    assert media._decode_in_order(path, None)[:2] == (50, {})


# ------------------------------------------------------------------------------------------
# videos as phones and the web make them: H.264 and H.265 by the ffmpeg command line

needs_ffmpeg = pytest.mark.skipif(gen.FFMPEG is None or shutil.which("ffprobe") is None, reason="needs the ffmpeg command line (Debian package ffmpeg)")


def _codes(p: media.PreparedMedia) -> list[int]:
    return [gen.decode_jpeg_index(im.jpeg) for im in p.images]


@needs_ffmpeg
@pytest.mark.parametrize("codec", ["h264", "h265"])
def test_long_keyframe_interval_exact_for_every_k(tmp_path: Path, codec: str) -> None:
    # 150 frames, keyframes at 0, 60 and 120 only, B-frames: several wanted frames share an
    # interval, some are B-frames nothing references, some sit just before a keyframe
    path = gen.write_ffmpeg_video(tmp_path / f"long_{codec}.mp4", 150, codec=codec, gop=60, bframes=3)
    assert gen.keyframe_indices(path) == [0, 60, 120]
    with media._Video(path) as video:
        assert video.can_skip_nonref  # so the frames that nothing references are skipped here
    for k in (1, 2, 5, 7, 13, 29):
        p = prepare(path, frames=k, max_side=160)
        assert p.frame_count == 150 and p.sampling == "exact"
        assert p.frame_indices == tuple(sample_frame_indices(150, k))
        assert _codes(p) == list(p.frame_indices), k
    assert p.fps == pytest.approx(10.0) and p.duration_s == pytest.approx(15.0)


@needs_ffmpeg
@pytest.mark.parametrize("codec", ["h264", "h265"])
def test_every_frame_of_a_b_frame_clip(tmp_path: Path, codec: str) -> None:
    path = gen.write_ffmpeg_video(tmp_path / f"all_{codec}.mp4", 48, codec=codec, gop=24, bframes=3)
    p = prepare(path, frames=48)
    assert p.frame_indices == tuple(range(48)) and _codes(p) == list(range(48))
    # and each one alone, by the thumbnail path the viewer uses
    for i in (0, 1, 2, 23, 24, 25, 47):
        assert gen.decode_index(np.asarray(decode(media.thumbnail_jpeg(path, 64, frame=i)))) == i


@needs_ffmpeg
@pytest.mark.parametrize("codec", ["h264", "h265"])
def test_keyframes_sampling_sends_the_nearest_keyframes(tmp_path: Path, codec: str) -> None:
    path = gen.write_ffmpeg_video(tmp_path / f"k_{codec}.mp4", 150, codec=codec, gop=25, bframes=3)
    keys = gen.keyframe_indices(path)
    assert keys == [0, 25, 50, 75, 100, 125]
    p = prepare(path, frames=5, sampling="keyframes")
    assert p.sampling == "keyframes" and p.frame_count == 150
    # spots 15, 45, 75, 105, 135 -> nearest keyframes 25 (15 is nearer 25 than 0), 50, 75, 100, 125 (or 150: none)
    assert p.frame_indices == (25, 50, 75, 100, 125)
    assert _codes(p) == list(p.frame_indices)  # the indices recorded are the frames sent
    assert [im.label for im in p.images] == [f"frame {i} of 5" for i in range(1, 6)]


@needs_ffmpeg
@pytest.mark.parametrize("codec", ["h264", "h265"])
def test_keyframes_are_read_one_packet_each(tmp_path: Path, codec: str) -> None:
    # the encoder's default interval (250) over 1300 frames: HEVC's CRA keyframes fed back to
    # back make its decoder drop some (their picture order counts collide), which must not
    # push the whole clip onto the slow exact path
    path = gen.write_ffmpeg_video(tmp_path / f"d_{codec}.mp4", 1300, codec=codec, size=(64, 64), fps=30.0)
    keys = gen.keyframe_indices(path)
    assert keys == [0, 250, 500, 750, 1000, 1250]
    with media._Video(path) as video:
        table = video.table()
        assert table is not None and list(table.keyframes) == keys
        got = media._read_keyframes(video, table, keys)
    assert got is not None
    assert [gen.decode_index(np.asarray(got[i].to_image())) for i in keys] == keys


@needs_ffmpeg
def test_keyframes_sampling_sends_a_shared_keyframe_once(tmp_path: Path) -> None:
    path = gen.write_ffmpeg_video(tmp_path / "sparse.mp4", 150, gop=100)
    assert gen.keyframe_indices(path) == [0, 100]
    p = prepare(path, frames=5, sampling="keyframes")
    # spots 15, 45, 75, 105, 135: 0, 0, 100, 100, 100
    assert p.frame_indices == (0, 100) and _codes(p) == [0, 100]
    assert [im.label for im in p.images] == ["frame 1 of 2", "frame 2 of 2"]
    exact = prepare(path, frames=5)
    assert exact.frame_indices == (15, 45, 75, 105, 135) and _codes(exact) == [15, 45, 75, 105, 135]


def test_unknown_sampling_is_refused(tmp_path: Path) -> None:
    clip = gen.write_video(tmp_path / "c.mp4", 10)
    with pytest.raises(ValueError, match="sampling must be one of exact, keyframes"):
        prepare(clip, sampling="fast")
    assert media.SAMPLING_MODES == ("exact", "keyframes")


@needs_ffmpeg
@pytest.mark.parametrize("codec", ["h264", "h265"])
def test_variable_frame_rate(tmp_path: Path, codec: str) -> None:
    # 40 frames at 10 fps, then 80 at 30 fps: index ≠ time × fps after the switch
    path = gen.write_ffmpeg_video(tmp_path / f"vfr_{codec}.mp4", 120, codec=codec, gop=50, vfr_from=40)
    p = prepare(path, frames=7)
    assert p.frame_count == 120
    assert p.frame_indices == tuple(sample_frame_indices(120, 7))
    assert _codes(p) == list(p.frame_indices)
    assert p.duration_s == pytest.approx(4.0 + 80 / 30, abs=0.05)


@needs_ffmpeg
@pytest.mark.parametrize(("rotate", "codec"), [(90, "h264"), (270, "h265"), (180, "h264")])
def test_rotated_phone_video_is_turned_upright(tmp_path: Path, rotate: int, codec: str) -> None:
    path = gen.write_ffmpeg_video(tmp_path / f"phone{rotate}.mp4", 30, codec=codec, size=(192, 128), rotate=rotate)
    p = prepare(path, frames=3)
    upright = (128, 192) if rotate in (90, 270) else (192, 128)
    assert (p.source_width, p.source_height) == upright
    assert all((im.width, im.height) == upright for im in p.images)
    for im, want in zip(p.images, p.frame_indices, strict=True):
        shown = np.asarray(decode(im.jpeg))
        stored = np.rot90(shown, k=-rotate // 90)  # turn it back clockwise
        assert gen.decode_index(stored) == want
        # and the same picture the ffmpeg command line shows (it turns videos upright too)
        ref = tmp_path / f"ref{want}.png"
        subprocess.run([gen.FFMPEG, "-v", "error", "-y", "-ss", f"{max(0, want - 0.25) / 10:.3f}", "-i", str(path),
                        "-frames:v", "1", str(ref)], check=True)
        theirs = np.asarray(Image.open(ref).convert("RGB"), dtype=np.float32)
        assert theirs.shape == shown.shape
        assert np.abs(theirs - shown.astype(np.float32)).mean() < 8
    th = decode(media.thumbnail_jpeg(path, 96))
    assert th.size == ((64, 96) if rotate in (90, 270) else (96, 64))


@needs_ffmpeg
@pytest.mark.parametrize("codec", ["h264", "h265"])
def test_container_that_lies_about_its_frame_count(tmp_path: Path, codec: str) -> None:
    # index at the front, then the file is cut: the index still lists all 200 frames
    full = gen.write_ffmpeg_video(tmp_path / f"full_{codec}.mp4", 200, codec=codec, gop=30, faststart=True)
    data = full.read_bytes()
    cut = tmp_path / f"cut_{codec}.mp4"
    cut.write_bytes(data[: int(len(data) * 0.55)])
    import av

    with av.open(str(cut)) as c:
        assert c.streams.video[0].frames == 200  # what the container claims
    shown = gen.shown_indices(cut)  # the frames a player still shows, in order
    p = prepare(cut, frames=5)
    assert p.frame_count == len(shown) and 20 < p.frame_count < 180
    assert p.frame_indices == tuple(sample_frame_indices(p.frame_count, 5))
    assert _codes(p) == [shown[i] for i in p.frame_indices]
    k = prepare(cut, frames=5, sampling="keyframes")
    assert _codes(k) == [shown[i] for i in k.frame_indices]


@needs_ffmpeg
@pytest.mark.parametrize("codec", ["h264", "h265"])
def test_clip_with_repeated_timestamps_is_decoded_in_order(tmp_path: Path, codec: str) -> None:
    # a remux that gives every two frames the same time (as broken recorders do): timestamps
    # can't tell the frames apart, so the clip is decoded from the start and counted
    made = gen.write_ffmpeg_video(tmp_path / f"ok_{codec}.mkv", 40, codec=codec, gop=10, bframes=0)
    path = tmp_path / f"dup_{codec}.mkv"
    subprocess.run([gen.FFMPEG, "-v", "error", "-i", str(made), "-c", "copy", "-bsf:v", "setts=ts=floor(N/2)*100", str(path)], check=True)
    with media._Video(path) as video:
        assert video.table() is None
    p = prepare(path, frames=5)
    assert p.frame_count == 40 and p.frame_indices == (4, 12, 20, 28, 36) and _codes(p) == [4, 12, 20, 28, 36]
    k = prepare(path, frames=5, sampling="keyframes")  # keyframes 0, 10, 20, 30: the nearest to each spot
    assert k.frame_indices == (0, 10, 20, 30) and _codes(k) == [0, 10, 20, 30]


@needs_ffmpeg
def test_b_frames_in_avi_are_still_exact(tmp_path: Path) -> None:
    # AVI stores no presentation times, only the order of storage; B-frames are shown in
    # another order, which FFmpeg works out from the decoder's delay
    path = gen.write_ffmpeg_video(tmp_path / "old.avi", 60, gop=30, bframes=2)
    p = prepare(path, frames=6)
    assert p.frame_count == 60
    assert p.frame_indices == tuple(sample_frame_indices(60, 6)) and _codes(p) == list(p.frame_indices)
    k = prepare(path, frames=6, sampling="keyframes")  # and on that path too, keyframes are keyframes
    assert k.frame_indices == (0, 30) and _codes(k) == [0, 30]


@needs_ffmpeg
@pytest.mark.parametrize("codec", ["h264", "h265"])
def test_broken_h264_and_h265(tmp_path: Path, codec: str) -> None:
    good = gen.write_ffmpeg_video(tmp_path / f"good_{codec}.mp4", 40, codec=codec)
    data = good.read_bytes()
    cut = tmp_path / f"cut_{codec}.mp4"
    cut.write_bytes(data[: len(data) // 2])  # the index is at the end: gone
    empty = _empty(tmp_path / f"empty_{codec}.mp4")
    sound = tmp_path / f"sound_{codec}.mp4"  # a voice memo: an MP4 with no picture
    subprocess.run([gen.FFMPEG, "-v", "error", "-f", "lavfi", "-i", "sine=d=1", "-c:a", "aac", str(sound)], check=True)
    for path, reason in ((cut, "cannot open video"), (empty, "zero-byte file"), (sound, "cannot open video: the file has no video stream")):
        for sampling in media.SAMPLING_MODES:
            with pytest.raises(MediaError) as ei:
                prepare(path, sampling=sampling)
            assert _one_line(ei.value).startswith(reason)
        with pytest.raises(MediaError):
            media.thumbnail_jpeg(path)


def test_prepare_async_runs_off_the_loop(tmp_path: Path) -> None:
    clip = gen.write_video(tmp_path / "c.mp4", 20)
    photo = gen.save_solid(tmp_path / "a.png", (40, 40))

    async def main() -> tuple[media.PreparedMedia, media.PreparedMedia, int]:
        ticks = 0
        stop = False

        async def ticker() -> None:
            nonlocal ticks
            while not stop:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        start = ticks
        # if prepare ran on the loop, the ticker could not move until both were done
        a, b = await asyncio.gather(media.prepare_async(clip, frames=3), media.prepare_async(photo, max_side=16))
        moved = ticks - start
        stop = True
        await task
        return a, b, moved

    a, b, moved = asyncio.run(main())
    assert moved > 0
    assert a.kind == "video" and len(a.images) == 3
    assert b.kind == "image" and (b.images[0].width, b.images[0].height) == (16, 16)

    async def bad() -> None:
        await media.prepare_async(_empty(tmp_path / "e.jpg"))

    with pytest.raises(MediaError, match="zero-byte"):
        asyncio.run(bad())
