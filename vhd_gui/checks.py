"""What `--self-test` and `doctor` report: one line per check, and the system facts they share.

A check has a status: ``ok``, ``warn`` (works, but a person may want to know), ``skip`` (could
not be checked here, e.g. no display) or ``fail``. A report fails when any check failed.
Standard library only; nothing here touches the network.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

OK, WARN, SKIP, FAIL = "ok", "warn", "skip", "fail"
MARKS = {OK: "✓", WARN: "!", SKIP: "-", FAIL: "✗"}
# The hidden option of the child process that tries one Qt platform plugin (see --self-test).
PLATFORM_PROBE_FLAG = "--self-test-platform"

# Debian package of each library Qt's xcb platform plugin (and Qt itself) may find missing.
DEBIAN_PACKAGE_OF = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libSM.so.6": "libsm6",
    "libICE.so.6": "libice6",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libGLX.so.0": "libglx0",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libpulse.so.0": "libpulse0",
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
}


@dataclass
class Check:
    name: str
    status: str
    detail: str

    def line(self) -> str:
        return f"{MARKS[self.status]} {self.name}: {self.detail}"


@dataclass
class Report:
    checks: list[Check]

    def add(self, name: str, status: str, detail: str) -> Check:
        c = Check(name, status, detail)
        self.checks.append(c)
        return c

    @property
    def failed(self) -> bool:
        return any(c.status == FAIL for c in self.checks)

    def counts(self) -> dict[str, int]:
        return {s: sum(c.status == s for c in self.checks) for s in (OK, WARN, SKIP, FAIL)}

    def summary(self) -> str:
        n = self.counts()
        head = "problems found" if self.failed else ("works, with warnings" if n[WARN] else "all good")
        return f"{head}: {n[OK]} ok, {n[WARN]} warnings, {n[FAIL]} failed, {n[SKIP]} not checked"

    def as_dict(self) -> dict[str, Any]:
        return {"ok": not self.failed, "summary": self.summary(), "counts": self.counts(), "checks": [asdict(c) for c in self.checks]}


def frozen() -> bool:
    """True inside the PyInstaller bundle."""
    return bool(getattr(sys, "frozen", False))


def self_command() -> list[str]:
    """How to start this same program again (the bundle's binary, or this Python with -m)."""
    if frozen():
        return [sys.executable]
    return [sys.executable, "-m", "vhd_gui"]


def missing_libraries(path: str | os.PathLike[str]) -> list[str]:
    """The shared libraries ``ldd`` cannot find for ``path`` (empty when all resolve)."""
    ldd = shutil.which("ldd") or ("/usr/bin/ldd" if os.path.exists("/usr/bin/ldd") else None)
    if ldd is None:
        return []
    out = subprocess.run([ldd, str(path)], capture_output=True, text=True, check=False)
    return sorted({m.group(1) for m in re.finditer(r"^\s*(\S+)\s+=>\s+not found", out.stdout, re.M)})


def packages_for(libraries: list[str]) -> list[str]:
    """The Debian packages that provide ``libraries`` (a library we cannot name stays as is)."""
    return sorted({DEBIAN_PACKAGE_OF.get(lib, lib) for lib in libraries})


def check_writable(report: Report, name: str, folder: Path) -> None:
    """Create ``folder`` if needed and write, read and remove a small file in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=folder)
        try:
            os.write(fd, b"ok")
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        report.add(name, FAIL, f"{folder} is not writable: {exc.strerror or exc}")
    else:
        report.add(name, OK, f"{folder} is writable")


def check_ca_bundle(report: Report) -> None:
    """The CA certificates HTTPS to a hosted API needs (certifi's file, as the openai client uses)."""
    try:
        import certifi
    except ImportError:
        report.add("CA certificates", FAIL, "certifi is not installed: HTTPS to a hosted API would fail")
        return
    path = Path(certifi.where())
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            has_cert = b"BEGIN CERTIFICATE" in f.read(65536)
    except OSError as exc:
        report.add("CA certificates", FAIL, f"{path}: {exc.strerror or exc}")
        return
    if not has_cert:
        report.add("CA certificates", FAIL, f"{path} holds no certificate")
    else:
        report.add("CA certificates", OK, f"{path} ({size // 1024} KiB)")


def check_tiktoken(report: Report) -> None:
    """Whether tiktoken's cl100k_base encoding loads without the network.

    The app itself counts no tokens (the server's usage report is what budgets use); tiktoken
    is there for AutoGen's optional token counting. The bundle ships the file and points
    TIKTOKEN_CACHE_DIR at it; elsewhere a missing file is a warning, never a download.
    """
    try:
        import hashlib

        import tiktoken
        import tiktoken_ext.openai_public  # noqa: F401 - the plugin tiktoken finds encodings through
    except ImportError as exc:
        report.add("tiktoken", FAIL, f"cannot import tiktoken's encodings: {exc}")
        return
    blob = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
    cache = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR") or os.path.join(tempfile.gettempdir(), "data-gym-cache")
    cached = os.path.join(cache, hashlib.sha1(blob.encode()).hexdigest())
    if not os.path.isfile(cached):
        status = FAIL if frozen() else WARN
        report.add("tiktoken", status, f"cl100k_base is not available offline ({cache}); token counting would download it on first use")
        return
    try:
        enc = tiktoken.get_encoding("cl100k_base")
        n = len(enc.encode("harmful or not harmful"))
    except Exception as exc:  # noqa: BLE001 - a corrupt file must read as a failed check
        report.add("tiktoken", FAIL, f"cl100k_base did not load from {cache}: {type(exc).__name__}: {exc}")
        return
    report.add("tiktoken", OK, f"cl100k_base loads offline from {cache} ({n} tokens in a test sentence)")


def write_test_video(path: Path, frames: int = 12, size: tuple[int, int] = (64, 48)) -> Path:
    """A small Motion-JPEG AVI (frame i filled with gray 20*i), written with PyAV (the FFmpeg the
    app decodes with)."""
    import av
    import numpy as np

    try:
        with av.open(str(path), "w", format="avi") as out:
            stream = out.add_stream("mjpeg", rate=10)
            stream.width, stream.height = size
            stream.pix_fmt = "yuvj420p"
            for i in range(frames):
                pixels = np.full((size[1], size[0], 3), (20 * i) % 256, dtype=np.uint8)
                for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
    except av.FFmpegError as exc:
        raise OSError(f"cannot write a Motion-JPEG video to {path}: {exc}") from None
    return path


def write_test_image(path: Path, size: tuple[int, int] = (96, 64)) -> Path:
    from PIL import Image

    Image.new("RGB", size, (200, 40, 40)).save(path)
    return path
