"""`vhd-annotator debate` and the CLI's start-up, run as real subprocesses."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from fakeserver import FakeServer
from helpers import TEST_KEY, write_image, write_video

KEY = TEST_KEY


def cli(*args: str, env_extra: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "vhd_gui", *args], capture_output=True, text=True, env=env, timeout=timeout)


def test_version_is_instant_and_imports_nothing_heavy() -> None:
    out = cli("--version")
    assert out.returncode == 0 and out.stdout.startswith("vhd-annotator ")
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, vhd_gui.cli, vhd_gui.engine, vhd_gui.store, vhd_gui.media, vhd_gui.formats, vhd_gui.config;"
         "print(sorted(m for m in ('openai', 'autogen_core', 'autogen_agentchat', 'autogen_ext', 'PySide6', 'qasync') if m in sys.modules))"],
        capture_output=True, text=True, check=True,
    )
    assert probe.stdout.strip() == "[]"


def test_core_imports_with_qt_blocked() -> None:
    # The core knows no screen (docs/ARCHITECTURE.md#layers): nothing outside vhd_gui/ui imports Qt. Every core module must import (and so
    # the CLI, batch and metrics must run) on a machine where Qt cannot load at all.
    code = (
        "import sys, pkgutil, importlib, vhd_gui\n"
        "for name in ('PySide6', 'shiboken6', 'qasync', 'PyQt5', 'PyQt6'): sys.modules[name] = None\n"
        "mods = [m.name for m in pkgutil.iter_modules(vhd_gui.__path__) if m.name not in ('ui', '__main__')]\n"
        "for m in mods: importlib.import_module('vhd_gui.' + m)\n"
        "print(len(mods))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) >= 14  # protocol, engine, media, store, formats, batch, metrics, cache, config, cli, ...


def test_debate_streams_turns_under_headers(server: FakeServer, tmp_path: Path) -> None:
    img = write_image(tmp_path / "knife.jpg")
    out = cli("debate", str(img), "--base-url", server.base_url, "--model", "fake-vlm", "--api-key-env", "CLI_KEY", env_extra={"CLI_KEY": KEY})
    assert out.returncode == 0, out.stderr
    text = out.stdout
    headers = ["── Affirmative, round 1", "── Negative, round 1", "── Affirmative, round 2", "── Negative, round 2", "── Judge"]
    positions = [text.index(h) for h in headers]
    assert positions == sorted(positions)
    assert "Verdict: NOT HARMFUL: ordinary cooking scene" in text
    assert KEY not in out.stdout + out.stderr


def test_debate_prints_thinking_apart_and_marks_estimated_usage(make_server: Any, tmp_path: Path) -> None:
    srv = make_server(api_key=KEY, reasoning={"judge": "The knife lies beside vegetables on a board."}, send_usage=False)
    img = write_image(tmp_path / "knife.jpg")
    out = cli("debate", str(img), "--base-url", srv.base_url, "--model", "fake-vlm", "--api-key-env", "CLI_KEY", env_extra={"CLI_KEY": KEY})
    assert out.returncode == 0, out.stderr
    judge = out.stdout[out.stdout.index("── Judge"):]
    # the thinking comes first, marked as such, and the answer after its own marker
    assert judge.index("[thinking] ") < judge.index("beside vegetables") < judge.index("[answer] ") < judge.index("No, ordinary cooking scene")
    assert "Verdict: NOT HARMFUL: ordinary cooking scene" in out.stdout
    assert re.search(r"\(\d+\.\d s, ~\d+ in / ~\d+ out\)", out.stdout)  # no usage from the server: our estimate, marked ~


def test_debate_json_prints_one_record(server: FakeServer, tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.avi", frames=40)
    out = cli("debate", str(video), "--json", "--rounds", "1", "--critic", "--base-url", server.base_url, "--model", "fake-vlm",
              "--api-key-env", "CLI_KEY", env_extra={"CLI_KEY": KEY})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1
    rec = json.loads(lines[0])
    assert rec["kind"] == "video" and rec["decision"] == "no" and rec["harmful_type"] == "ordinary cooking scene"
    assert [(t["role"], t["round"]) for t in rec["turns"]] == [("affirmative", 0), ("negative", 0), ("judge", 0), ("critic", 0)]
    assert len(rec["frames_sent"]) == 5 and rec["preset_name"] == "vhd11k-video" and rec["preset_hash"]
    assert rec["endpoints"]["judge"] == {"base_url": server.base_url, "model": "fake-vlm"}
    assert rec["prompt_tokens"] > 0 and rec["completion_tokens"] > 0 and rec["seconds"] > 0
    assert KEY not in out.stdout


def test_bad_media_exits_1_with_one_line(server: FakeServer, tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    out = cli("debate", str(broken), "--base-url", server.base_url, "--model", "fake-vlm", "--api-key-env", "CLI_KEY", env_extra={"CLI_KEY": KEY})
    assert out.returncode == 1
    err = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(err) == 1 and "media error" in err[0] and "broken.png" in err[0]


def test_configuration_problems_exit_2(server: FakeServer, tmp_path: Path) -> None:
    img = write_image(tmp_path / "a.jpg")
    missing = cli("debate", str(tmp_path / "nope.jpg"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    wrong_key = cli("debate", str(img), "--base-url", server.base_url, "--model", "fake-vlm", "--api-key-env", "CLI_KEY", env_extra={"CLI_KEY": "wrong"})
    assert wrong_key.returncode == 2 and "rejected the API key" in wrong_key.stderr
    assert "wrong" not in wrong_key.stderr.replace("rejected", "")
    bad_usage = cli("debate")
    assert bad_usage.returncode == 2
    bad_rounds = cli("debate", str(img), "--rounds", "0")
    assert bad_rounds.returncode == 2 and "at least 1" in bad_rounds.stderr
    assert server.stats.requests == 1
