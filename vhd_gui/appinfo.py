"""Where the app's desktop files live: the icon, the .desktop entry and the AppStream metainfo.

They have one source, the top-level ``resources/`` folder of a checkout. A wheel carries that
folder as ``vhd_gui/_appdata`` (pyproject.toml maps it), and so does the PyInstaller bundle
(packaging/vhd-annotator.spec), so the window's icon and ``vhd-annotator desktop install``
read the same files in every kind of install. Standard library only.
"""

from __future__ import annotations

from pathlib import Path

APP_ID = "io.github.vhd_annotator.VhdAnnotator"
ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)


class AppDataMissing(FileNotFoundError):
    """The desktop files are not where an install puts them (a broken install)."""


def appdata_dir() -> Path:
    """The folder that holds ``<APP_ID>.desktop``, the metainfo and ``icons/hicolor``."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "_appdata", package.parent / "resources"):
        if (candidate / f"{APP_ID}.desktop").is_file():
            return candidate
    raise AppDataMissing(f"the desktop files ({APP_ID}.desktop, icons) are missing beside {package}: reinstall vhd-annotator")


def desktop_file() -> Path:
    return appdata_dir() / f"{APP_ID}.desktop"


def metainfo_file() -> Path:
    return appdata_dir() / f"{APP_ID}.metainfo.xml"


def icon_svg() -> Path:
    return appdata_dir() / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"


def icon_png(size: int) -> Path:
    if size not in ICON_SIZES:
        raise ValueError(f"no {size}px icon; sizes: {', '.join(map(str, ICON_SIZES))}")
    return appdata_dir() / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"


def icon_files() -> list[tuple[str, Path]]:
    """(hicolor theme folder such as ``48x48`` or ``scalable``, file) for every icon."""
    out = [(f"{n}x{n}", icon_png(n)) for n in ICON_SIZES]
    out.append(("scalable", icon_svg()))
    return out
