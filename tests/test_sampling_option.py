"""The video frame sampling option from the settings file and the command line to the frames a
debate sends (real subprocesses, the real test server, clips made by the ffmpeg command line)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vhd_gui import config, media
from vhd_gui.config import ConfigError, Settings, apply_overrides, settings_from_data, settings_to_toml

import mediagen as gen
from fakeserver import FakeServer
from helpers import TEST_KEY

needs_ffmpeg = pytest.mark.skipif(gen.FFMPEG is None, reason="needs the ffmpeg command line (Debian package ffmpeg)")


def test_the_settings_file_holds_the_sampling_mode() -> None:
    assert Settings().sampling == "exact"
    assert config.SAMPLING_MODES == media.SAMPLING_MODES
    s = settings_from_data({"debate": {"sampling": "keyframes"}})
    assert s.sampling == "keyframes"
    assert 'sampling = "keyframes"' in settings_to_toml(s).split("[roles.")[0]  # under [debate]
    with pytest.raises(ConfigError, match="sampling must be 'exact' or 'keyframes', not 'fast'"):
        settings_from_data({"debate": {"sampling": "fast"}}, "my.toml")


def test_the_command_line_overrides_the_file() -> None:
    s = settings_from_data({"debate": {"sampling": "keyframes"}})
    assert apply_overrides(s, argparse.Namespace(sampling=None)).sampling == "keyframes"
    assert apply_overrides(s, argparse.Namespace(sampling="exact")).sampling == "exact"


def _debate(clip: Path, server: FakeServer, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLI_KEY": TEST_KEY}
    return subprocess.run(
        [sys.executable, "-m", "vhd_gui", "debate", str(clip), "--json", "--rounds", "1", "--base-url", server.base_url,
         "--model", "fake-vlm", "--api-key-env", "CLI_KEY", *extra],
        capture_output=True, text=True, env=env, timeout=180,
    )


@needs_ffmpeg
def test_a_debate_sends_the_keyframes_when_asked(server: FakeServer, tmp_path: Path) -> None:
    clip = gen.write_ffmpeg_video(tmp_path / "clip.mp4", 100, gop=20)
    assert gen.keyframe_indices(clip) == [0, 20, 40, 60, 80]
    exact = _debate(clip, server)
    assert exact.returncode == 0, exact.stderr
    assert json.loads(exact.stdout)["frames_sent"] == [10, 30, 50, 70, 90]
    fast = _debate(clip, server, "--sampling", "keyframes")
    assert fast.returncode == 0, fast.stderr
    assert json.loads(fast.stdout)["frames_sent"] == [0, 20, 40, 60, 80]  # spots 10, 30, ... → the keyframe before (ties: earlier)
    settings = tmp_path / "settings.toml"
    settings.write_text('[debate]\nsampling = "keyframes"\n')
    from_file = _debate(clip, server, "--config", str(settings))
    assert from_file.returncode == 0, from_file.stderr
    assert json.loads(from_file.stdout)["frames_sent"] == [0, 20, 40, 60, 80]
    overridden = _debate(clip, server, "--config", str(settings), "--sampling", "exact")
    assert json.loads(overridden.stdout)["frames_sent"] == [10, 30, 50, 70, 90]


def test_an_unknown_sampling_mode_is_a_usage_error(server: FakeServer, tmp_path: Path) -> None:
    out = _debate(tmp_path / "whatever.mp4", server, "--sampling", "fast")
    assert out.returncode == 2
    assert "--sampling" in out.stderr and "keyframes" in out.stderr
