"""`vhd-annotator [PATH]`: the window on one qasync event loop (docs/ARCHITECTURE.md#stack-and-why).

The window is shown and painted before anything heavy is imported; the agent libraries load
in a worker thread afterwards, and the engine module itself on the first Run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

ORG_NAME = "vhd-annotator"
APP_NAME = "vhd-annotator"
# Benchmarks set this: print the time of the first paint and quit right after it.
EXIT_AFTER_PAINT_ENV = "VHD_ANNOTATOR_EXIT_AFTER_PAINT"


def _set_app_icon(app: object) -> None:
    """The window icon and desktop-file name, from the files the menu entry uses."""
    from PySide6.QtGui import QGuiApplication, QIcon

    from vhd_gui.appinfo import APP_ID, ICON_SIZES, AppDataMissing, icon_png

    assert isinstance(app, QGuiApplication)
    QGuiApplication.setDesktopFileName(APP_ID)  # lets Wayland compositors match the .desktop entry
    try:
        icon = QIcon()
        for size in ICON_SIZES:
            icon.addFile(str(icon_png(size)))
    except AppDataMissing:
        return  # a broken install still opens, with the platform's default icon
    app.setWindowIcon(icon)


def run_app(args: argparse.Namespace) -> int:
    os.environ.setdefault("QT_API", "pyside6")
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setOrganizationName(ORG_NAME)
    app.setApplicationName(APP_NAME)
    _set_app_icon(app)
    app.setQuitOnLastWindowClosed(False)

    import qasync

    from vhd_gui.config import ConfigError, apply_overrides, load_settings

    try:
        settings = apply_overrides(load_settings(getattr(args, "config", None)), args)
    except ConfigError as exc:
        print(f"vhd-annotator: {exc}", file=sys.stderr)
        return 2

    from vhd_gui.gcpause import keep_out_of_collections
    from vhd_gui.ui._main_window import MainWindow

    # The modules loaded so far, and soon the window's widgets, live as long as the app: left
    # out of the cycle collector's full passes, each of which would otherwise walk them all
    # and stop the window for up to 150 ms.
    keep_out_of_collections()

    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    closed = asyncio.Event()
    window = MainWindow(settings)
    window.did_close.connect(closed.set)

    if os.environ.get(EXIT_AFTER_PAINT_ENV):
        def report() -> None:
            print(f"first-paint {time.time():.6f}", flush=True)
            window.close()

        window.did_first_paint.connect(report)

    from vhd_gui.ui._first_run import attach_onboarding

    # The empty state, and the first-run page when no endpoint is usable (decided once the
    # window is up and the loop runs: it may ask the server).
    attach_onboarding(window, check=not os.environ.get(EXIT_AFTER_PAINT_ENV))
    window.show()
    path = getattr(args, "path", None) or QSettings().value("last_folder")
    from vhd_gui.store_api import is_server_url

    server = getattr(args, "store", None) or (settings.store if is_server_url(settings.store) else "")
    if server and not is_server_url(server):
        print(f"vhd-annotator: --store takes a postgresql:// URL here (open a store file as PATH): {server}", file=sys.stderr)
        return 2
    if server and not os.environ.get(EXIT_AFTER_PAINT_ENV):
        media = Path(str(getattr(args, "path", None) or os.getcwd())).expanduser()
        if media.is_dir():
            QTimer.singleShot(0, lambda: window.open_path(server, root=media))
        else:
            QTimer.singleShot(0, lambda: window._warn("Cannot open", f"{media} is not a folder: give the media folder as PATH"))
    elif path and not os.environ.get(EXIT_AFTER_PAINT_ENV):
        if os.path.exists(str(path)):
            QTimer.singleShot(0, lambda: window.open_path(str(path)))
        elif getattr(args, "path", None):
            QTimer.singleShot(0, lambda: window._warn("Cannot open", f"{path} does not exist"))
    if not os.environ.get(EXIT_AFTER_PAINT_ENV):
        QTimer.singleShot(0, keep_out_of_collections)  # the window is made
        QTimer.singleShot(1000, window.warm_up_when_idle)

    with loop:
        loop.run_until_complete(closed.wait())
        # let the engine's HTTP clients close
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        if pending:
            loop.run_until_complete(asyncio.wait(pending, timeout=2))
    return 0
