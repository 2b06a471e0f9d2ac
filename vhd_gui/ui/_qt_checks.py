"""The Qt half of `--self-test` and `doctor`: platform plugins, the media backend, decoding.

Kept in the UI package because it imports Qt. A window platform plugin is started in a child process
(a plugin that cannot load makes Qt abort the process that tried).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from vhd_gui.checks import FAIL, OK, PLATFORM_PROBE_FLAG, SKIP, Report, missing_libraries, packages_for, self_command, write_test_video


def application() -> object:
    """The QApplication of this process (created offscreen when there is none yet)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("QT_API", "pyside6")
    from PySide6.QtWidgets import QApplication

    return QApplication.instance() or QApplication(sys.argv[:1])


def qt_versions() -> dict[str, str]:
    import PySide6
    from PySide6 import QtCore

    return {"PySide6": PySide6.__version__, "Qt": QtCore.qVersion()}


def plugin_path(kind: str, name: str) -> Path | None:
    from PySide6.QtCore import QLibraryInfo

    folder = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / kind
    for candidate in sorted(folder.glob(f"*{name}*")):
        return candidate
    return None


def check_running_platform(report: Report) -> None:
    from PySide6.QtGui import QGuiApplication

    application()
    report.add("Qt platform (this process)", OK, f"{QGuiApplication.platformName()} plugin loaded")


def check_platform_plugin(report: Report, name: str = "xcb", *, timeout: float = 60.0) -> None:
    """A window platform plugin (xcb for X11, wayland): its libraries, and when its display
    is there, a real start in a child process."""
    label = f"Qt platform {name}"
    if not sys.platform.startswith("linux"):
        report.add(label, SKIP, f"not used on {sys.platform}")
        return
    plugin = plugin_path("platforms", f"q{name}")
    if plugin is None:
        report.add(label, FAIL, f"the {name} platform plugin is missing from this install")
        return
    missing = missing_libraries(plugin)
    if missing:
        report.add(label, FAIL, f"libraries missing: {', '.join(missing)}; install the Debian packages: apt-get install {' '.join(packages_for(missing))}")
        return
    display_var = "WAYLAND_DISPLAY" if name == "wayland" else "DISPLAY"
    display = os.environ.get(display_var)
    if not display:
        report.add(label, SKIP, f"no display ({display_var} is unset), so not started; its libraries are all present")
        return
    env = dict(os.environ, QT_QPA_PLATFORM=name)
    try:
        out = subprocess.run([*self_command(), PLATFORM_PROBE_FLAG, name], capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired:
        report.add(label, FAIL, f"starting on display {display} did not finish in {timeout:g} s")
        return
    if out.returncode == 0 and f"platform {name}" in out.stdout:
        report.add(label, OK, f"starts on display {display}")
        return
    reason = next((ln.strip() for ln in reversed(out.stderr.splitlines()) if name in ln or "display" in ln.lower()), "")
    report.add(label, FAIL, f"cannot start on display {display} (exit {out.returncode}){': ' + reason if reason else ''}")


def probe_platform(name: str) -> int:
    """The child side of :func:`check_xcb`: start Qt on ``name`` and say which plugin runs."""
    os.environ["QT_QPA_PLATFORM"] = name
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication(sys.argv[:1])
    print(f"platform {app.platformName()}", flush=True)
    return 0


def check_media_formats(report: Report) -> int:
    from PySide6.QtMultimedia import QMediaFormat

    application()
    fmt = QMediaFormat()
    files = fmt.supportedFileFormats(QMediaFormat.ConversionMode.Decode)
    codecs = fmt.supportedVideoCodecs(QMediaFormat.ConversionMode.Decode)
    if not files:
        report.add(
            "media backend",
            FAIL,
            "Qt Multimedia offers no playable format: its FFmpeg backend did not load (it needs QtQuick and QtQml beside it)",
        )
    else:
        report.add("media backend", OK, f"{len(files)} container formats, {len(codecs)} video codecs can be played")
    return len(files)


def check_qt_image(report: Report) -> None:
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice
    from PySide6.QtGui import QColor, QImage

    application()
    img = QImage(32, 24, QImage.Format.Format_RGB32)
    img.fill(QColor(200, 40, 40))
    decoded = []
    for fmt in ("PNG", "JPEG"):
        data = QByteArray()
        buf = QBuffer(data)
        buf.open(QIODevice.OpenModeFlag.WriteOnly)
        if not img.save(buf, fmt):  # type: ignore[call-overload]  # the stubs say bytes; PySide6 takes str
            report.add("image decode (Qt)", FAIL, f"Qt cannot encode {fmt}: its image format plugin is missing")
            return
        back = QImage.fromData(data, fmt)  # type: ignore[arg-type]
        if back.isNull() or back.size() != img.size():
            report.add("image decode (Qt)", FAIL, f"Qt cannot decode {fmt}: its image format plugin is missing")
            return
        decoded.append(fmt)
    report.add("image decode (Qt)", OK, f"{' and '.join(decoded)} decode (the viewer and thumbnails)")


def check_qt_video(report: Report, video: Path, *, timeout_ms: int = 20000) -> None:
    """Play ``video`` into a video sink until the first frame arrives."""
    from PySide6.QtCore import QEventLoop, QTimer, QUrl
    from PySide6.QtMultimedia import QMediaPlayer, QVideoSink

    application()
    player = QMediaPlayer()
    sink = QVideoSink()
    player.setVideoSink(sink)
    got: list[tuple[int, int]] = []
    errors: list[str] = []
    loop = QEventLoop()

    def on_frame(frame: object) -> None:
        if not got and frame.isValid():  # type: ignore[attr-defined]
            got.append((frame.width(), frame.height()))  # type: ignore[attr-defined]
            loop.quit()

    def on_error(_error: object, text: str) -> None:
        errors.append(text)
        loop.quit()

    sink.videoFrameChanged.connect(on_frame)
    player.errorOccurred.connect(on_error)
    QTimer.singleShot(timeout_ms, loop.quit)
    player.setSource(QUrl.fromLocalFile(str(video)))
    player.play()
    if not got and not errors:
        loop.exec()
    player.stop()
    player.setSource(QUrl())
    if got:
        report.add("video decode (Qt)", OK, f"the player decoded a {got[0][0]}x{got[0][1]} frame (the viewer)")
    elif errors:
        report.add("video decode (Qt)", FAIL, f"the player failed: {errors[0]}")
    else:
        report.add("video decode (Qt)", FAIL, f"the player gave no frame within {timeout_ms / 1000:g} s")


def run_qt_checks(report: Report, scratch: Path | None = None, *, xcb: bool = True) -> None:
    """Every Qt check, in order; ``scratch`` holds the small test video."""
    check_running_platform(report)
    if xcb:
        check_platform_plugin(report, "xcb")
        if os.environ.get("WAYLAND_DISPLAY"):
            check_platform_plugin(report, "wayland")
    formats = check_media_formats(report)
    check_qt_image(report)
    if formats:
        with tempfile.TemporaryDirectory(prefix="vhd-selftest-", dir=scratch) as tmp:
            check_qt_video(report, write_test_video(Path(tmp) / "clip.avi"))
    else:
        report.add("video decode (Qt)", SKIP, "no media backend to decode with")
