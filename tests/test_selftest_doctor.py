"""`vhd-annotator --self-test` and `vhd-annotator doctor`, run as a person runs them: real
subprocesses, the real test server on 127.0.0.1, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from vhd_gui.checks import DEBIAN_PACKAGE_OF, Report, missing_libraries, packages_for
from vhd_gui.doctor import scrub, tiny_png

from fakeserver import FakeServer
from helpers import TEST_KEY, TEST_KEY_ENV

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    full_env.pop("DISPLAY", None)
    full_env.pop("WAYLAND_DISPLAY", None)
    return subprocess.run([sys.executable, "-m", "vhd_gui", *args], capture_output=True, text=True, cwd=ROOT, env=full_env, timeout=300)


def by_name(report: dict[str, object]) -> dict[str, dict[str, str]]:
    checks = report["checks"]
    assert isinstance(checks, list)
    return {c["name"]: c for c in checks}


@pytest.mark.slow
def test_self_test_passes_here_and_reports_each_part(_isolated_dirs: Path) -> None:
    out = cli("--self-test")
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout)
    assert report["ok"] is True and report["version"] and report["bundle"] is False
    checks = by_name(report)
    for name in ("Qt platform (this process)", "media backend", "image decode (Qt)", "video decode (Qt)", "image decode (core)",
                 "video decode (core)", "agent libraries", "CA certificates", "config folder", "cache folder", "data folder"):
        assert checks[name]["status"] == "ok", checks[name]
    assert checks["Qt platform xcb"]["status"] == "skip" and "DISPLAY is unset" in checks["Qt platform xcb"]["detail"]
    assert int(checks["media backend"]["detail"].split()[0]) > 0
    assert checks["config folder"]["detail"].startswith(str(_isolated_dirs))
    assert checks["tiktoken"]["status"] in ("ok", "warn")  # outside the bundle the file may be absent: never a download


@pytest.mark.slow
def test_self_test_fails_when_a_folder_cannot_be_written(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    out = cli("--self-test", env={"XDG_CACHE_HOME": str(blocker)})
    assert out.returncode == 1
    report = json.loads(out.stdout)
    assert report["ok"] is False
    assert by_name(report)["cache folder"]["status"] == "fail"


@pytest.mark.slow
def test_self_test_starts_the_xcb_plugin_on_a_real_display(_isolated_dirs: Path) -> None:
    import shutil

    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb is not installed")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = "import json,sys; from vhd_gui.checks import Report; from vhd_gui.ui._qt_checks import check_platform_plugin; " \
           "r=Report([]); check_platform_plugin(r, 'xcb'); print(json.dumps(r.as_dict()))"
    out = subprocess.run(["xvfb-run", "-a", sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    check = json.loads(out.stdout.strip().splitlines()[-1])["checks"][0]
    assert check["status"] == "ok" and check["detail"].startswith("starts on display"), check


def test_missing_libraries_name_their_debian_packages(tmp_path: Path) -> None:
    # a real ELF file linked against a library that does not exist here
    import shutil

    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build a test library")
    # (a made-up name: every real xcb library is installed on the test machine)
    stub = tmp_path / "libxcb-vhdtest.so.0"
    subprocess.run([cc, "-shared", "-o", str(stub), "-x", "c", "-", "-Wl,-soname,libxcb-vhdtest.so.0"], input="int f(void){return 0;}", text=True, check=True)
    plugin = tmp_path / "libqfake.so"
    subprocess.run([cc, "-shared", "-o", str(plugin), "-x", "c", "-", f"-L{tmp_path}", "-Wl,--no-as-needed", "-l:libxcb-vhdtest.so.0", f"-Wl,-rpath,{tmp_path}"], input="int g(void){return 1;}", text=True, check=True)
    assert missing_libraries(plugin) == []
    stub.unlink()
    missing = missing_libraries(plugin)
    assert missing == ["libxcb-vhdtest.so.0"]
    assert packages_for(missing + ["libxcb-cursor.so.0", "libxkbcommon-x11.so.0"]) == ["libxcb-cursor0", "libxcb-vhdtest.so.0", "libxkbcommon-x11-0"]
    assert all(pkg.startswith("lib") for pkg in DEBIAN_PACKAGE_OF.values())


def test_report_summary_counts_and_fails_on_any_cross() -> None:
    r = Report([])
    r.add("a", "ok", "fine")
    r.add("b", "warn", "hm")
    assert not r.failed and r.summary().startswith("works, with warnings")
    r.add("c", "fail", "broken")
    assert r.failed and "1 failed" in r.summary() and r.checks[-1].line() == "✗ c: broken"


def test_the_probe_image_is_a_valid_png() -> None:
    from io import BytesIO

    from PIL import Image

    with Image.open(BytesIO(tiny_png(8, 8, (1, 2, 3)))) as im:
        assert im.size == (8, 8) and im.convert("RGB").getpixel((4, 4)) == (1, 2, 3)


def test_scrub_blanks_the_key_and_its_pieces() -> None:
    key = "sk-abcdefghijklmnopqrstuvwxyz012345"
    text = scrub(f"Incorrect API key provided: {key} / {key[:8]}****{key[-6:]}", key)
    assert key not in text and key[:8] not in text and key[-6:] not in text


# ------------------------------------------------------------------ doctor against the test server


def doctor(server: FakeServer, *extra: str, model: str = "fake-vlm", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return cli("doctor", "--base-url", server.base_url, "--model", model, "--api-key-env", TEST_KEY_ENV, *extra, env=env)


@pytest.mark.slow
def test_doctor_passes_against_a_working_server(server: FakeServer) -> None:
    out = doctor(server)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout
    for what in ("server", "key accepted", "model listed", "accepts an image", "streaming", "usage reported", "cached tokens", "logprobs"):
        assert f"✓ affirmative+negative+judge: {what}:" in lines, what
    assert "✓ Qt platform (this process)" in lines and "✓ media backend" in lines
    assert "✗" not in lines and TEST_KEY not in lines + out.stderr
    assert lines.rstrip().splitlines()[-1].startswith("✓ ")
    # the image really went to the server
    assert any(isinstance(m.get("content"), list) and any(p.get("type") == "image_url" for p in m["content"])
               for body in server.requests for m in body["messages"])


@pytest.mark.slow
def test_doctor_names_a_wrong_key_without_printing_it(make_server: Callable[..., FakeServer]) -> None:
    srv = make_server()
    wrong = "sk-wrong-0123456789abcdefghijklmnop"
    out = doctor(srv, env={TEST_KEY_ENV: wrong})
    assert out.returncode == 1
    assert f"✗ affirmative+negative+judge: key accepted: the server refused the key from ${TEST_KEY_ENV} (HTTP 401)" in out.stdout
    assert wrong not in out.stdout + out.stderr and TEST_KEY not in out.stdout + out.stderr
    assert "accepts an image" not in out.stdout  # nothing more is sent with a rejected key


@pytest.mark.slow
def test_doctor_names_a_wrong_model_and_what_the_server_has(server: FakeServer) -> None:
    out = doctor(server, "--json", model="gpt-nonexistent")
    assert out.returncode == 1
    report = json.loads(out.stdout)
    checks = by_name(report)
    assert checks["affirmative+negative+judge: model listed"]["status"] == "fail"
    assert "fake-vlm" in checks["affirmative+negative+judge: model listed"]["detail"]
    assert checks["affirmative+negative+judge: accepts an image"]["status"] == "fail"
    assert "404" in checks["affirmative+negative+judge: accepts an image"]["detail"]


@pytest.mark.slow
def test_doctor_without_a_key_for_a_hosted_server_says_which_variable(_isolated_dirs: Path) -> None:
    out = cli("doctor", "--base-url", "https://api.example.invalid/v1", "--api-key-env", "NO_SUCH_KEY_VAR")
    assert out.returncode == 1
    assert "✗ affirmative+negative+judge: key: $NO_SUCH_KEY_VAR is not set" in out.stdout


@pytest.mark.slow
def test_doctor_warns_when_the_judge_refuses_logprobs_and_on_an_unreachable_server(make_server: Callable[..., FakeServer]) -> None:
    srv = make_server(reject_logprobs=True)
    out = doctor(srv)
    assert out.returncode == 0, out.stdout
    assert "! affirmative+negative+judge: logprobs: refused" in out.stdout
    port = srv.base_url.rsplit(":", 1)[1].split("/")[0]
    srv.stop()
    out = cli("doctor", "--base-url", f"http://127.0.0.1:{port}/v1", "--model", "fake-vlm", "--api-key-env", TEST_KEY_ENV)
    assert out.returncode == 1
    assert "✗ affirmative+negative+judge: server: cannot reach" in out.stdout


@pytest.mark.slow
def test_doctor_reports_a_broken_settings_file_and_missing_examples(tmp_path: Path) -> None:
    bad = tmp_path / "settings.toml"
    bad.write_text("[debate\nrounds = 2\n", encoding="utf-8")
    out = cli("doctor", "--config", str(bad), "--no-network")
    assert out.returncode == 1 and "✗ settings file:" in out.stdout and "not valid TOML" in out.stdout

    examples = tmp_path / "icl"
    examples.mkdir()
    good = tmp_path / "ok.toml"
    good.write_text(f'[debate]\nexamples_folder = "{examples}"\n', encoding="utf-8")
    out = cli("doctor", "--config", str(good), "--no-network", "--json")
    checks = by_name(json.loads(out.stdout))
    assert checks["in-context examples (image)"]["status"] == "fail"
    assert "not found" in checks["in-context examples (image)"]["detail"]
    assert checks["endpoints"]["status"] == "skip"
