"""The desktop files in resources/ (icon, .desktop entry, AppStream metainfo), the wheel's copy
of them, and `vhd-annotator desktop install|uninstall` under a temporary XDG data folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from PIL import Image

from vhd_gui import appinfo, desktop

ROOT = Path(__file__).resolve().parents[1]
RESOURCES = ROOT / "resources"


def _run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vhd_gui", *args], capture_output=True, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, timeout=120,
    )


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils is not installed")
def test_the_desktop_entry_validates() -> None:
    out = subprocess.run(["desktop-file-validate", str(RESOURCES / f"{appinfo.APP_ID}.desktop")], capture_output=True, text=True)
    assert out.returncode == 0 and not out.stdout.strip(), out.stdout + out.stderr


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="appstream is not installed")
def test_the_metainfo_validates() -> None:
    out = subprocess.run(["appstreamcli", "validate", "--no-net", str(RESOURCES / f"{appinfo.APP_ID}.metainfo.xml")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_icon_size_is_a_png_of_that_size() -> None:
    for size in appinfo.ICON_SIZES:
        path = appinfo.icon_png(size)
        assert path.is_relative_to(RESOURCES), path  # in a checkout, the source files themselves
        with Image.open(path) as im:
            assert im.format == "PNG" and im.size == (size, size) and im.mode == "RGBA"
            # a drawn icon: transparent corners, opaque middle
            assert im.getpixel((0, 0))[3] == 0 and im.getpixel((size // 2, size // 2))[3] == 255
    assert appinfo.icon_svg().read_text(encoding="utf-8").lstrip().startswith("<?xml")
    with pytest.raises(ValueError, match="sizes"):
        appinfo.icon_png(100)


def test_the_wheel_lists_every_package_and_maps_resources() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "vhd_gui").rglob("__init__.py")}
    assert on_disk <= set(config["packages"]), f"add to [tool.setuptools] packages: {sorted(on_disk - set(config['packages']))}"
    assert config["package-dir"] == {"vhd_gui._appdata": "resources"}


def test_desktop_entry_points_at_this_install_and_quotes_spaces() -> None:
    entry = desktop.desktop_entry(["/opt/my apps/vhd-annotator"])
    assert 'Exec="/opt/my apps/vhd-annotator" %f' in entry
    assert "TryExec=/opt/my apps/vhd-annotator" in entry
    assert desktop.INSTALLED_MARK in entry
    assert "Icon=" + appinfo.APP_ID in entry


@pytest.mark.slow
def test_desktop_install_then_uninstall_under_the_xdg_data_folder(_isolated_dirs: Path) -> None:
    data_home = Path(os.environ["XDG_DATA_HOME"])
    out = _run_cli("desktop", "install")
    assert out.returncode == 0, out.stderr
    entry = data_home / "applications" / f"{appinfo.APP_ID}.desktop"
    assert entry.is_file() and str(entry) in out.stdout
    for size in ("16x16", "48x48", "512x512"):
        assert (data_home / "icons" / "hicolor" / size / "apps" / f"{appinfo.APP_ID}.png").is_file()
    assert (data_home / "icons" / "hicolor" / "scalable" / "apps" / f"{appinfo.APP_ID}.svg").is_file()
    assert (data_home / "metainfo" / f"{appinfo.APP_ID}.metainfo.xml").is_file()
    text = entry.read_text(encoding="utf-8")
    exec_line = next(line for line in text.splitlines() if line.startswith("Exec="))
    assert Path(sys.executable).name in exec_line or "vhd-annotator" in exec_line
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout

    # a file of the same name someone else wrote is left alone
    other = data_home / "applications" / "unrelated.desktop"
    other.write_text("[Desktop Entry]\nName=x\n", encoding="utf-8")
    out = _run_cli("desktop", "uninstall")
    assert out.returncode == 0, out.stderr
    assert not entry.exists() and other.exists()
    assert not list((data_home / "icons").rglob(f"{appinfo.APP_ID}.*"))
    assert not (data_home / "metainfo" / f"{appinfo.APP_ID}.metainfo.xml").exists()
    assert "nothing to remove" in _run_cli("desktop", "uninstall").stdout


def test_uninstall_keeps_a_menu_entry_it_did_not_write(tmp_path: Path) -> None:
    entry = tmp_path / "applications" / f"{appinfo.APP_ID}.desktop"
    entry.parent.mkdir(parents=True)
    entry.write_text("[Desktop Entry]\nType=Application\nName=Hand-made\nExec=true\n", encoding="utf-8")
    removed, kept = desktop.uninstall(tmp_path)
    assert kept == [entry] and removed == [] and entry.exists()


def test_install_into_a_read_only_folder_is_a_one_line_error(tmp_path: Path) -> None:
    blocked = tmp_path / "ro"
    blocked.mkdir()
    (blocked / "applications").write_text("a file where a folder should be", encoding="utf-8")
    out = _run_cli("desktop", "install", env={"XDG_DATA_HOME": str(blocked)})
    assert out.returncode == 2
    assert out.stderr.startswith("vhd-annotator desktop: cannot write under") and out.stderr.count("\n") == 1
