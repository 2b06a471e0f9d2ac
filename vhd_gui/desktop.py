"""`vhd-annotator desktop install|uninstall`: the menu entry and icons for this user.

Files go under the XDG data folder (``$XDG_DATA_HOME``, else ``~/.local/share``):
``applications/<app id>.desktop`` (its Exec line names the program that ran this command, so
a pipx, venv or bundle install each start themselves), ``icons/hicolor/<size>/apps/<app id>.*``
and ``metainfo/<app id>.metainfo.xml``. Uninstall removes only files with our app id, and the
menu entry only when it carries the mark install writes.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from vhd_gui._cli_common import EXIT_OK, UsageError
from vhd_gui.appinfo import APP_ID, AppDataMissing, desktop_file, icon_files, metainfo_file
from vhd_gui.checks import frozen

INSTALLED_MARK = "X-VhdAnnotator-Installed-By=vhd-annotator desktop install"


def xdg_data_home() -> Path:
    value = os.environ.get("XDG_DATA_HOME", "").strip()
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / ".local" / "share"


def launcher_command() -> list[str]:
    """The command that starts this install's window."""
    if frozen():
        return [sys.executable]
    script = Path(sys.executable).parent / "vhd-annotator"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    found = shutil.which("vhd-annotator")
    if found:
        return [found]
    return [sys.executable, "-m", "vhd_gui"]


def _exec_quote(arg: str) -> str:
    """Quote one argument for a .desktop Exec line (the spec's rules, not the shell's)."""
    if arg and not any(c in arg for c in ' \t\n"\'\\><~|&;$*?#()`%'):
        return arg
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`").replace("$", "\\$")
    return f'"{escaped}"'.replace("%", "%%")


def desktop_entry(command: list[str]) -> str:
    """Our .desktop file with Exec/TryExec pointing at ``command`` and the install mark."""
    exec_line = " ".join(_exec_quote(a) for a in command) + " %f"
    out = []
    for line in desktop_file().read_text(encoding="utf-8").splitlines():
        if line.startswith("Exec="):
            line = f"Exec={exec_line}"
        elif line.startswith("TryExec="):
            line = f"TryExec={command[0]}"
        out.append(line)
    out.append(INSTALLED_MARK)
    return "\n".join(out) + "\n"


def targets(data_home: Path) -> dict[str, Path]:
    return {
        "desktop": data_home / "applications" / f"{APP_ID}.desktop",
        "metainfo": data_home / "metainfo" / f"{APP_ID}.metainfo.xml",
        **{f"icon {size}": data_home / "icons" / "hicolor" / size / "apps" / src.name for size, src in icon_files()},
    }


def _refresh_caches(data_home: Path) -> None:
    """Tell the desktop about the change when the usual tools exist (they are optional)."""
    for cmd in (
        ["update-desktop-database", "-q", str(data_home / "applications")],
        ["gtk-update-icon-cache", "-q", "-t", "-f", str(data_home / "icons" / "hicolor")],
    ):
        if shutil.which(cmd[0]):
            subprocess.run(cmd, capture_output=True, check=False)


def install(data_home: Path | None = None) -> list[Path]:
    home = data_home or xdg_data_home()
    t = targets(home)
    written: list[Path] = []
    entry = desktop_entry(launcher_command())
    t["desktop"].parent.mkdir(parents=True, exist_ok=True)
    tmp = t["desktop"].with_name(t["desktop"].name + ".tmp")
    tmp.write_text(entry, encoding="utf-8")
    os.replace(tmp, t["desktop"])
    written.append(t["desktop"])
    t["metainfo"].parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(metainfo_file(), t["metainfo"])
    written.append(t["metainfo"])
    for size, src in icon_files():
        dst = t[f"icon {size}"]
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        written.append(dst)
    _refresh_caches(home)
    return written


def uninstall(data_home: Path | None = None) -> tuple[list[Path], list[Path]]:
    """Remove what install wrote; (removed, left alone because someone else wrote it)."""
    home = data_home or xdg_data_home()
    removed: list[Path] = []
    kept: list[Path] = []
    for name, path in targets(home).items():
        if not path.exists():
            continue
        if name == "desktop" and INSTALLED_MARK not in path.read_text(encoding="utf-8", errors="replace"):
            kept.append(path)
            continue
        path.unlink()
        removed.append(path)
    _refresh_caches(home)
    return removed, kept


def run_desktop(args: argparse.Namespace) -> int:
    if not sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        raise UsageError(f"desktop entries are a Linux/freedesktop feature; on {sys.platform} use the app bundle instead")
    try:
        if args.action == "install":
            written = install()
            entry = written[0]
            print(f"installed the menu entry {entry}")
            print(f"  starts: {' '.join(shlex.quote(a) for a in launcher_command())}")
            print(f"  and {len(written) - 1} icon and metainfo files under {xdg_data_home()}")
        else:
            removed, kept = uninstall()
            if not removed and not kept:
                print(f"nothing to remove under {xdg_data_home()}")
            for path in removed:
                print(f"removed {path}")
            for path in kept:
                print(f"left {path} alone: vhd-annotator desktop install did not write it")
    except AppDataMissing as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot write under {xdg_data_home()}: {exc.strerror or exc}") from None
    return EXIT_OK
