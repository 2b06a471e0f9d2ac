"""`vhd-annotator --self-test`: does this install work on this machine? One JSON report.

It needs no network, no API key and no display: Qt runs offscreen in this process, the X11
plugin is started in a child process when there is a display (and its libraries are checked
with ldd either way), the media backend must offer formats, an image and a video must decode
both through Qt (the viewer) and through the core (what the models are sent), tiktoken's
encoding must load offline, the CA certificates must be there, and the config, cache and data
folders must be writable. Exit 0 when nothing failed, 1 otherwise.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from vhd_gui import __version__
from vhd_gui.checks import FAIL, OK, Report, check_ca_bundle, check_tiktoken, check_writable, frozen, write_test_image, write_test_video


def _check_core_media(report: Report, scratch: Path) -> None:
    from vhd_gui import media

    try:
        image = media.prepare(write_test_image(scratch / "still.jpg"), max_side=64)
        report.add("image decode (core)", OK, f"a JPEG decodes and re-encodes ({image.images[0].width}x{image.images[0].height})")
    except Exception as exc:  # noqa: BLE001 - any failure is the finding
        report.add("image decode (core)", FAIL, f"{type(exc).__name__}: {exc}")
    try:
        video = media.prepare(write_test_video(scratch / "clip.avi"), max_side=64, frames=3)
        report.add("video decode (core)", OK, f"{len(video.images)} of {video.frame_count} frames sampled from a Motion-JPEG AVI")
    except Exception as exc:  # noqa: BLE001
        report.add("video decode (core)", FAIL, f"{type(exc).__name__}: {exc}")


def _check_agents(report: Report) -> None:
    """AutoGen builds its model client from a dotted name: the module must be importable."""
    try:
        from autogen_core.models import ChatCompletionClient

        client = ChatCompletionClient.load_component(
            {"provider": "autogen_ext.models.openai.OpenAIChatCompletionClient", "config": {"model": "gpt-4o", "api_key": "not-used"}}
        )
        import vhd_gui.engine  # noqa: F401 - the debate engine and its imports
    except Exception as exc:  # noqa: BLE001
        report.add("agent libraries", FAIL, f"{type(exc).__name__}: {exc}")
        return
    report.add("agent libraries", OK, f"AutoGen loads {type(client).__name__} by name; the debate engine imports")


def run(*, xcb: bool = True) -> dict[str, Any]:
    started = time.perf_counter()
    os.environ["QT_QPA_PLATFORM"] = "offscreen"  # this process never needs a screen
    report = Report([])
    from vhd_gui import config

    with tempfile.TemporaryDirectory(prefix="vhd-selftest-") as tmp:
        scratch = Path(tmp)
        try:
            from vhd_gui.ui._qt_checks import qt_versions, run_qt_checks
        except ImportError as exc:
            report.add("Qt", FAIL, f"PySide6 does not import: {exc}")
            versions: dict[str, str] = {}
        else:
            versions = qt_versions()
            run_qt_checks(report, scratch, xcb=xcb)
        _check_core_media(report, scratch)
    _check_agents(report)
    check_tiktoken(report)
    check_ca_bundle(report)
    check_writable(report, "config folder", config.config_dir())
    check_writable(report, "cache folder", config.cache_dir())
    check_writable(report, "data folder", config.data_dir())
    out = {
        "app": "vhd-annotator",
        "version": __version__,
        "bundle": frozen(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()} {platform.machine()}",
        **({k.lower(): v for k, v in versions.items()}),
        **report.as_dict(),
        "seconds": round(time.perf_counter() - started, 3),
    }
    return out


def main() -> int:
    result = run()
    print(json.dumps(result, indent=2, ensure_ascii=False), flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
