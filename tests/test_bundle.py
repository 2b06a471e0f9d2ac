"""The PyInstaller bundle that packaging/build.sh makes (dist/vhd-annotator/), run as a person
with no Python would run it: an empty environment, no display, the tarball's install.sh.

CI builds the bundle first (.ci/run), so there a missing bundle fails; on a developer's
machine these tests skip until `bash packaging/build.sh` has run.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sqlite3
import subprocess
import tarfile
from pathlib import Path

import pytest

from vhd_gui import __version__

from fakeserver import FakeServer
from helpers import TEST_KEY, TEST_KEY_ENV, write_image

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "dist" / "vhd-annotator"
EXE = BUNDLE / "vhd-annotator"
TARBALL = ROOT / "dist" / f"vhd-annotator-{__version__}-linux-{platform.machine()}.tar.gz"
# Libraries a bundled plugin may link that every desktop with GTK 3 has (Qt's GTK theme plugin).
DESKTOP_LIBRARIES = {"libgtk-3.so.0", "libgdk-3.so.0", "libatk-1.0.so.0", "libgdk_pixbuf-2.0.so.0", "libpango-1.0.so.0",
                     "libpangocairo-1.0.so.0", "libcairo.so.2", "libcairo-gobject.so.2"}


@pytest.fixture(scope="module")
def bundle() -> Path:
    if not EXE.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{EXE} is missing: CI builds it with bash packaging/build.sh before the tests")
        pytest.skip("no bundle: run bash packaging/build.sh first")
    return EXE


def bare_env(home: Path, **extra: str) -> dict[str, str]:
    """What `env -i HOME=... PATH=/usr/bin:/bin` leaves: no Python, no display, no key."""
    return {"HOME": str(home), "PATH": "/usr/bin:/bin", **extra}


def test_version_in_an_empty_environment(bundle: Path, tmp_path: Path) -> None:
    out = subprocess.run([str(bundle), "--version"], env=bare_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"vhd-annotator {__version__}"


def test_the_bundle_walks_a_folder_as_the_window_s_scan_helper(bundle: Path, tmp_path: Path) -> None:
    # The window starts the bundle's own binary to walk a big folder (see vhd_gui.scanning).
    from PIL import Image

    Image.new("RGB", (4, 4)).save(tmp_path / "m.png")
    out = subprocess.run([str(bundle), "--scan-folder", str(tmp_path)], env=bare_env(tmp_path / "home"), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert lines[0]["found"][0][1:3] == ["m.png", "image"] and lines[-1] == {"done": 1}


def test_self_test_in_an_empty_environment(bundle: Path, tmp_path: Path) -> None:
    out = subprocess.run([str(bundle), "--self-test"], env=bare_env(tmp_path), capture_output=True, text=True, timeout=300)
    report = json.loads(out.stdout)
    assert out.returncode == 0 and report["ok"], json.dumps(report, indent=1)
    assert report["bundle"] is True
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["tiktoken"]["status"] == "ok" and str(BUNDLE) in checks["tiktoken"]["detail"]
    assert int(checks["media backend"]["detail"].split()[0]) > 0
    assert checks["video decode (Qt)"]["status"] == "ok"
    assert checks["agent libraries"]["status"] == "ok"
    assert checks["CA certificates"]["detail"].startswith(str(BUNDLE))
    assert checks["config folder"]["detail"].startswith(str(tmp_path))


def test_self_test_starts_xcb_on_a_virtual_display(bundle: Path, tmp_path: Path) -> None:
    xvfb_run = shutil.which("xvfb-run")
    if xvfb_run is None:
        if os.environ.get("CI"):
            pytest.fail("xvfb-run is missing (see .ci/run)")
        pytest.skip("xvfb is not installed")
    inner = f'exec env -i HOME="{tmp_path}" PATH=/usr/bin:/bin DISPLAY="$DISPLAY" XAUTHORITY="$XAUTHORITY" "{bundle}" --self-test'
    out = subprocess.run([xvfb_run, "-a", "sh", "-c", inner], capture_output=True, text=True, timeout=300)
    report = json.loads(out.stdout)
    xcb = next(c for c in report["checks"] if c["name"] == "Qt platform xcb")
    assert out.returncode == 0 and xcb["status"] == "ok", xcb


def test_the_window_paints_from_the_bundle(bundle: Path, tmp_path: Path) -> None:
    xvfb_run = shutil.which("xvfb-run")
    if xvfb_run is None:
        pytest.skip("xvfb is not installed")
    inner = (f'exec env -i HOME="{tmp_path}" PATH=/usr/bin:/bin DISPLAY="$DISPLAY" XAUTHORITY="$XAUTHORITY" '
             f'VHD_ANNOTATOR_EXIT_AFTER_PAINT=1 "{bundle}"')
    out = subprocess.run([xvfb_run, "-a", "sh", "-c", inner], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert any(line.startswith("first-paint ") for line in out.stdout.splitlines()), out.stdout


def test_no_bundled_library_misses_a_dependency(bundle: Path) -> None:
    missing: dict[str, set[str]] = {}
    for path in BUNDLE.rglob("*.so*"):
        if not path.is_file() or path.is_symlink():
            continue
        out = subprocess.run(["ldd", str(path)], capture_output=True, text=True)
        for line in out.stdout.splitlines():
            if "=> not found" in line:
                missing.setdefault(line.split()[0], set()).add(path.name)
    unexpected = {lib: users for lib, users in missing.items() if lib not in DESKTOP_LIBRARIES}
    assert not unexpected, f"bundled libraries need what a desktop does not have: {unexpected}"


def test_a_batch_from_the_bundle_debates_and_keeps_the_decision(bundle: Path, tmp_path: Path, server: FakeServer) -> None:
    folder = tmp_path / "media"
    write_image(folder / "knife.jpg")
    env = bare_env(tmp_path, **{TEST_KEY_ENV: TEST_KEY})
    out = subprocess.run(
        [str(bundle), "batch", str(folder), "--base-url", server.base_url, "--model", "fake-vlm", "--api-key-env", TEST_KEY_ENV],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert TEST_KEY not in out.stdout + out.stderr
    db = folder / ".vhd-annotator" / "annotations.sqlite"
    with sqlite3.connect(db) as con:
        tables = [r[0] for r in con.execute("select name from sqlite_master where type='table'")]
        assert tables
        dumped = "\n".join(con.iterdump())
    assert "knife.jpg" in dumped and TEST_KEY not in dumped
    assert server.roles_seen()[-1] == "judge"

    doctor = subprocess.run(
        [str(bundle), "doctor", "--base-url", server.base_url, "--model", "fake-vlm", "--api-key-env", TEST_KEY_ENV],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "✓ affirmative+negative+judge: streaming" in doctor.stdout


def test_tarball_holds_the_bundle_and_install_sh(bundle: Path) -> None:
    assert TARBALL.is_file(), f"{TARBALL} is missing"
    assert TARBALL.stat().st_size < 200 * 1024 * 1024
    with tarfile.open(TARBALL) as tar:
        names = set(tar.getnames())
        assert {"vhd-annotator/vhd-annotator", "vhd-annotator/install.sh"} <= names
        assert tar.getmember("vhd-annotator/install.sh").mode & 0o111
        assert any(n.endswith(".VhdAnnotator.desktop") for n in names)


def test_install_sh_adds_and_removes_the_menu_entry(bundle: Path, tmp_path: Path) -> None:
    data = tmp_path / "share"
    env = bare_env(tmp_path, XDG_DATA_HOME=str(data))
    out = subprocess.run(["sh", str(BUNDLE / "install.sh")], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    entry = data / "applications" / "io.github.vhd_annotator.VhdAnnotator.desktop"
    assert f"Exec={EXE} %f" in entry.read_text(encoding="utf-8")
    link = tmp_path / ".local" / "bin" / "vhd-annotator"
    assert link.is_symlink() and link.resolve() == EXE.resolve()
    assert (data / "icons" / "hicolor" / "256x256" / "apps" / "io.github.vhd_annotator.VhdAnnotator.png").is_file()
    out = subprocess.run(["sh", str(BUNDLE / "install.sh"), "--uninstall"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert not entry.exists() and not link.exists()
