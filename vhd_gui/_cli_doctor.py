"""`vhd-annotator doctor [--json]`: everything that can be wrong, one line each.

Versions, the display session and Qt's platform plugins (naming the Debian package for each
missing X11 library), the media backend, the settings file, the folders the store and cache
use, the in-context examples, and for each role its server, key, model, images, streaming,
usage, cached tokens and log-probabilities (see vhd_gui.doctor). ✓ works, ! works with a
caveat, - not checked here, ✗ broken. Exit 0 only when nothing is ✗.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

from vhd_gui import __version__
from vhd_gui._cli_common import EXIT_ITEMS_FAILED, EXIT_OK
from vhd_gui.checks import FAIL, OK, SKIP, WARN, Report, check_writable, frozen


def _check_versions(report: Report) -> None:
    from importlib import metadata

    parts = [f"vhd-annotator {__version__}{' (bundle)' if frozen() else ''}", f"Python {platform.python_version()}"]
    for dist in ("PySide6-Essentials", "openai", "autogen-core", "av"):
        try:
            parts.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            pass
    report.add("versions", OK, ", ".join(parts) + f"; {platform.system()} {platform.release()}")


def _check_display(report: Report) -> None:
    session = os.environ.get("XDG_SESSION_TYPE") or "unknown"
    display = os.environ.get("DISPLAY")
    wayland = os.environ.get("WAYLAND_DISPLAY")
    chosen = os.environ.get("QT_QPA_PLATFORM")
    if not sys.platform.startswith("linux"):
        report.add("display", OK, f"{sys.platform}: the system's own window platform")
    elif display or wayland:
        where = ", ".join(x for x in (f"DISPLAY={display}" if display else "", f"WAYLAND_DISPLAY={wayland}" if wayland else "") if x)
        report.add("display", OK, f"session {session}: {where}" + (f"; QT_QPA_PLATFORM={chosen}" if chosen else ""))
    else:
        report.add("display", WARN, "no display (DISPLAY and WAYLAND_DISPLAY are unset): the window cannot open here; the CLI works")


def _check_qt(report: Report) -> None:
    try:
        from vhd_gui.ui import _qt_checks
    except ImportError as exc:
        report.add("Qt", FAIL, f"PySide6 does not import: {exc}")
        return
    saved = os.environ.get("QT_QPA_PLATFORM")
    os.environ["QT_QPA_PLATFORM"] = "offscreen"  # this process only inspects; children try the real ones
    try:
        versions = _qt_checks.qt_versions()
        report.add("Qt", OK, f"PySide6 {versions['PySide6']}, Qt {versions['Qt']}")
        _qt_checks.run_qt_checks(report)
    finally:
        if saved is None:
            os.environ.pop("QT_QPA_PLATFORM", None)
        else:
            os.environ["QT_QPA_PLATFORM"] = saved


def _check_settings(report: Report, args: argparse.Namespace) -> object | None:
    from vhd_gui.config import ConfigError, apply_overrides, load_settings, settings_path

    path = Path(args.config) if getattr(args, "config", None) else settings_path()
    try:
        settings = apply_overrides(load_settings(getattr(args, "config", None)), args)
    except ConfigError as exc:
        report.add("settings file", FAIL, str(exc))
        return None
    if path.exists():
        report.add("settings file", OK, f"{path} reads")
    else:
        report.add("settings file", OK, f"{path} does not exist: defaults, $OPENAI_BASE_URL and $OPENAI_API_KEY apply")
    return settings


def _check_folders(report: Report, folder: str | None) -> None:
    from vhd_gui import config

    check_writable(report, "data folder (stores of read-only media folders)", config.data_dir())
    check_writable(report, "cache folder (responses, thumbnails)", config.cache_dir())
    if not folder:
        return
    media = Path(folder).expanduser()
    store_dir = media / ".vhd-annotator"
    if not media.is_dir():
        report.add("store folder", FAIL, f"{media} is not a folder")
    elif store_dir.is_dir():
        check_writable(report, "store folder", store_dir)
    elif os.access(media, os.W_OK | os.X_OK):
        report.add("store folder", OK, f"{store_dir} can be created")
    else:
        report.add("store folder", WARN, f"{media} is read-only: its store will go to the data folder")


def _check_examples(report: Report, settings: object) -> None:
    from vhd_gui.config import Settings
    from vhd_gui.protocol import PresetError, resolve_preset

    assert isinstance(settings, Settings)
    for kind in ("image", "video"):
        name = f"in-context examples ({kind})"
        try:
            preset = resolve_preset(settings.preset or None, kind)
            if settings.preset and preset.kind != kind:
                preset = resolve_preset(None, kind)
            if settings.examples_folder:
                preset = preset.with_examples_folder(settings.examples_folder)
            if not preset.examples:
                report.add(name, OK, f"preset {preset.name!r} uses no examples")
                continue
            if not preset.examples_enabled:
                report.add(name, WARN, f"preset {preset.name!r} lists {len(preset.examples)} examples but no folder is set: "
                                       "the judge runs without them (--examples-folder DIR, or the Preset tab in Settings)")
                continue
            paths = preset.example_paths()
        except (PresetError, OSError, ValueError) as exc:
            report.add(name, FAIL, str(exc))
            continue
        files = sum(len(p) for p, _ in paths)
        report.add(name, OK, f"preset {preset.name!r}: {len(paths)} examples, all {files} files present")


def run_doctor(args: argparse.Namespace) -> int:
    report = Report([])
    _check_versions(report)
    _check_display(report)
    _check_qt(report)
    settings = _check_settings(report, args)
    _check_folders(report, getattr(args, "folder", None))
    if settings is not None:
        _check_examples(report, settings)
        if args.no_network:
            report.add("endpoints", SKIP, "--no-network: servers not asked")
        else:
            from vhd_gui.config import Settings
            from vhd_gui.doctor import check_endpoints

            assert isinstance(settings, Settings)
            check_endpoints(report, settings)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    else:
        for check in report.checks:
            print(check.line())
        print()
        print(("✗ " if report.failed else "✓ ") + report.summary())
    return EXIT_ITEMS_FAILED if report.failed else EXIT_OK
