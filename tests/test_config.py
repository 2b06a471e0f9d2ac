"""Settings: files, OAI_CONFIG_LIST import, command-line overrides, and keys kept out of files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from vhd_gui.config import (
    ConfigError,
    RoleEndpoint,
    Settings,
    apply_overrides,
    load_settings,
    save_settings,
    settings_path,
    settings_to_toml,
)


def test_defaults_follow_the_openai_library(monkeypatch: pytest.MonkeyPatch) -> None:
    ep = Settings().endpoint("judge")
    assert ep.resolved_base_url() == "https://api.openai.com/v1"
    assert ep.api_key_env == "OPENAI_API_KEY"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1/")
    assert ep.resolved_base_url() == "http://127.0.0.1:8000/v1"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    assert ep.resolve_key() == "sk-from-env"


def test_a_missing_key_names_the_variable() -> None:
    ep = RoleEndpoint(base_url="https://api.openai.com/v1", api_key_env="MY_KEY")
    with pytest.raises(ConfigError, match=r"set the environment variable MY_KEY"):
        ep.resolve_key()
    # A server on this machine (vLLM, Ollama, llama.cpp) usually needs no key.
    assert RoleEndpoint(base_url="http://localhost:11434/v1").resolve_key()


def test_settings_file_with_a_section_per_role(tmp_path: Path) -> None:
    f = tmp_path / "settings.toml"
    f.write_text(
        """
[endpoint]
base_url = "http://127.0.0.1:8000/v1"
model = "qwen-vl"
[roles.judge]
model = "gpt-4o"
base_url = "https://api.openai.com/v1"
api_key_env = "JUDGE_KEY"
temperature = 0.0
max_tokens = 64
[debate]
rounds = 3
frames = 8
layout = "chat"
critic = true
"""
    )
    s = load_settings(f)
    assert s.endpoint("affirmative").model == "qwen-vl" and s.endpoint("negative").resolved_base_url() == "http://127.0.0.1:8000/v1"
    judge = s.endpoint("judge")
    assert (judge.model, judge.api_key_env, judge.temperature, judge.max_tokens) == ("gpt-4o", "JUDGE_KEY", 0.0, 64)
    assert (s.rounds, s.frames, s.layout, s.critic) == (3, 8, "chat", True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[endpoint]\napi_key = 'sk-123'\n", "holds an api_key"),
        ("[roles.jury]\nmodel = 'x'\n", "unknown role"),
        ("[debate]\nrounds = 0\n", "rounds must be at least 1"),
        ("[debate]\nlayout = 'tree'\n", "layout must be"),
        ("[debate]\ncolour = 'red'\n", "unknown \\[debate\\] setting"),
        ("[endpoint]\nbase_url = 'ftp://x'\n", "must start with http"),
        ("= nope", "not valid TOML"),
    ],
)
def test_bad_settings_are_refused_plainly(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "s.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(f)


def test_save_and_load_round_trip_without_keys(tmp_path: Path) -> None:
    s = Settings(rounds=3, critic=True)
    s.endpoint("judge").model = "judge-model"
    s.endpoint("judge").api_key = "sk-typed-in-dialog-0123456789"
    written = save_settings(s)
    assert written == settings_path() and written.exists()
    text = written.read_text()
    assert "sk-typed" not in text and "api_key =" not in text
    back = load_settings()
    assert back.rounds == 3 and back.critic and back.endpoint("judge").model == "judge-model"
    assert back.endpoint("judge").api_key is None
    assert "sk-typed" not in repr(s.endpoint("judge")) and "sk-typed" not in settings_to_toml(s)


def test_oai_config_list_import(tmp_path: Path) -> None:
    f = tmp_path / "OAI_CONFIG_LIST"
    f.write_text(json.dumps([{"model": "gpt-4-vision-preview", "api_key": "sk-list-0123456789abcdef"}, {"model": "llava", "base_url": "http://127.0.0.1:9000/v1"}]))
    s = load_settings(f)
    judge = s.endpoint("judge")
    assert judge.model == "gpt-4-vision-preview" and judge.resolve_key() == "sk-list-0123456789abcdef"
    assert "sk-list" not in settings_to_toml(s) and "sk-list" not in repr(judge)
    f.write_text("{}")
    with pytest.raises(ConfigError, match="non-empty JSON list"):
        load_settings(f)


def test_command_line_overrides() -> None:
    args = argparse.Namespace(base_url="http://127.0.0.1:1/v1", model="m", api_key_env="K", rounds=4, frames=3, max_side=512,
                              layout="chat", preset=None, examples_folder=None, timeout=9.0, critic=True)
    s = apply_overrides(Settings(), args)
    assert all(ep.model == "m" and ep.api_key_env == "K" for ep in s.endpoints.values())
    assert (s.rounds, s.frames, s.max_side, s.layout, s.turn_timeout, s.critic) == (4, 3, 512, "chat", 9.0, True)


def test_cost_estimate_prices_cached_tokens_apart() -> None:
    s = Settings(price_in_per_1k=1.0, price_cached_in_per_1k=0.5, price_out_per_1k=2.0)
    assert s.cost_usd(prompt_tokens=3000, cached_tokens=1000, completion_tokens=500) == pytest.approx(2.0 + 0.5 + 1.0)
