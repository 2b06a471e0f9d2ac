"""Settings: files, OAI_CONFIG_LIST import, command-line overrides, and keys kept out of files."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest

from vhd_gui.config import (
    DEFAULT_AZURE_API_VERSION,
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


# --------------------------------------------------------------------------- Azure OpenAI


def test_an_azure_role_in_the_settings_file(tmp_path: Path) -> None:
    f = tmp_path / "settings.toml"
    f.write_text(
        """
[endpoint]
base_url = "http://127.0.0.1:8000/v1"
model = "qwen-vl"
[roles.judge]
provider = "azure"
azure_endpoint = "https://contoso-eu.openai.azure.com/"
api_version = "2025-01-01-preview"
deployment = "judge-gpt4o"
"""
    )
    s = load_settings(f)
    judge = s.endpoint("judge")
    assert judge.is_azure and judge.resolved_base_url() == "https://contoso-eu.openai.azure.com"
    assert (judge.resolved_model(), judge.resolved_api_version(), judge.api_key_env) == ("judge-gpt4o", "2025-01-01-preview", "AZURE_OPENAI_API_KEY")
    assert judge.public() == {"base_url": "https://contoso-eu.openai.azure.com", "model": "judge-gpt4o"}
    debater = s.endpoint("affirmative")  # the other roles keep the OpenAI-compatible server
    assert not debater.is_azure and debater.resolved_base_url() == "http://127.0.0.1:8000/v1" and debater.api_key_env == "OPENAI_API_KEY"
    assert "provider='azure'" in repr(judge) and "2025-01-01-preview" in repr(judge)


def test_azure_defaults_follow_the_openai_library(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AZURE_OPENAI_ENDPOINT", "OPENAI_API_VERSION"):
        monkeypatch.delenv(var, raising=False)
    ep = RoleEndpoint(provider="azure", api_key_env="AZURE_OPENAI_API_KEY")
    assert ep.resolved_api_version() == DEFAULT_AZURE_API_VERSION and ep.resolved_base_url() == ""
    with pytest.raises(ConfigError, match="no Azure OpenAI endpoint.*AZURE_OPENAI_ENDPOINT"):
        ep.resolve_key()
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://from-env.openai.azure.com/")
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-06-01")
    assert (ep.resolved_base_url(), ep.resolved_api_version()) == ("https://from-env.openai.azure.com", "2024-06-01")
    with pytest.raises(ConfigError, match="set the environment variable AZURE_OPENAI_API_KEY"):
        ep.resolve_key()
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-key-from-env")
    assert ep.resolve_key() == "azure-key-from-env"


def test_deployment_is_the_model_and_the_more_specific_section_wins(tmp_path: Path) -> None:
    f = tmp_path / "s.toml"
    f.write_text('[endpoint]\nprovider = "azure"\nazure_endpoint = "https://x.openai.azure.com"\ndeployment = "shared"\n[roles.judge]\nmodel = "judge-only"\n')
    s = load_settings(f)
    assert s.endpoint("negative").resolved_model() == "shared" and s.endpoint("judge").resolved_model() == "judge-only"
    f.write_text('[endpoint]\nprovider = "azure"\ndeployment = "a"\nmodel = "b"\n')
    with pytest.raises(ConfigError, match=r"\[endpoint\] gives both deployment and model"):
        load_settings(f)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[endpoint]\nprovider = 'bedrock'\n", "provider must be 'openai' or 'azure', not 'bedrock'"),
        ("[endpoint]\nprovider = 'azure'\nazure_endpoint = 'contoso.openai.azure.com'\n", "azure_endpoint must start with https://"),
        ("[endpoint]\nprovider = 'azure'\nazure_endpoint = 'https://x.openai.azure.com'\napi_version = 'latest'\n",
         "api_version 'latest' is not an Azure OpenAI API version"),
        ("[roles.judge]\nprovider = 'azure'\napi_key = 'azure-secret'\n", "holds an api_key"),
    ],
)
def test_bad_azure_settings_are_refused_plainly(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "s.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(f)


def test_azure_settings_round_trip_without_keys(tmp_path: Path) -> None:
    s = Settings()
    judge = s.endpoint("judge")
    judge.provider, judge.azure_endpoint, judge.api_version, judge.model = "azure", "https://x.openai.azure.com", "2024-10-21", "dep-1"
    judge.api_key_env, judge.api_key = "AZURE_OPENAI_API_KEY", "azure-typed-key-0123456789"
    text = settings_to_toml(s)
    assert 'provider = "azure"' in text and 'deployment = "dep-1"' in text and 'azure_endpoint = "https://x.openai.azure.com"' in text
    assert "azure-typed-key" not in text and text.count("provider =") == 1  # OpenAI roles stay as before
    back = load_settings(save_settings(s, tmp_path / "s.toml"))
    assert back.endpoint("judge") == judge and back.endpoint("judge").api_key is None
    assert back.endpoint("critic") == RoleEndpoint()


def _cli_args(**given: object) -> argparse.Namespace:
    names = ("base_url", "model", "api_key_env", "provider", "api_version", "rounds", "frames", "max_side", "layout", "preset",
             "examples_folder", "timeout", "critic")
    return argparse.Namespace(**{n: given.get(n) for n in names})


def test_provider_azure_on_the_command_line() -> None:
    s = apply_overrides(Settings(), _cli_args(provider="azure", base_url="https://x.openai.azure.com", model="dep", api_version="2024-06-01"))
    for ep in s.endpoints.values():
        assert (ep.provider, ep.azure_endpoint, ep.base_url, ep.model, ep.api_version) == ("azure", "https://x.openai.azure.com", "", "dep", "2024-06-01")
        assert ep.api_key_env == "AZURE_OPENAI_API_KEY"  # the default variable follows the provider
    # A variable named on the command line, or in the settings, is kept.
    s = apply_overrides(Settings(), _cli_args(provider="azure", api_key_env="TEAM_AZURE_KEY"))
    assert {ep.api_key_env for ep in s.endpoints.values()} == {"TEAM_AZURE_KEY"}
    named = Settings()
    named.endpoint("judge").api_key_env = "JUDGE_KEY"
    s = apply_overrides(named, _cli_args(provider="azure"))
    assert s.endpoint("judge").api_key_env == "JUDGE_KEY" and s.endpoint("critic").api_key_env == "AZURE_OPENAI_API_KEY"
    # And back: --provider openai on top of an Azure settings file.
    s = apply_overrides(s, _cli_args(provider="openai", base_url="http://127.0.0.1:1/v1"))
    assert s.endpoint("critic").api_key_env == "OPENAI_API_KEY" and s.endpoint("critic").resolved_base_url() == "http://127.0.0.1:1/v1"
    with pytest.raises(ConfigError, match="--api-version applies to Azure OpenAI endpoints only"):
        apply_overrides(Settings(), _cli_args(api_version="2024-06-01"))
    with pytest.raises(ConfigError, match="api_version 'v1' is not an Azure OpenAI API version"):
        apply_overrides(Settings(), _cli_args(provider="azure", api_version="v1"))


def test_an_azure_entry_of_an_oai_config_list(tmp_path: Path) -> None:
    f = tmp_path / "OAI_CONFIG_LIST"
    f.write_text(json.dumps([{"model": "gpt-4o", "api_key": "azure-list-key-0123456789", "base_url": "https://x.openai.azure.com/",
                              "api_type": "azure", "api_version": "2024-06-01"}]))
    judge = load_settings(f).endpoint("judge")
    assert (judge.provider, judge.resolved_base_url(), judge.resolved_model(), judge.resolved_api_version()) == (
        "azure", "https://x.openai.azure.com", "gpt-4o", "2024-06-01")
    assert judge.resolve_key() == "azure-list-key-0123456789" and "azure-list-key" not in repr(judge)


def test_the_reviewer_comes_from_the_settings_file_else_the_system_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vhd_gui.config import check_reviewer, default_reviewer, save_settings

    monkeypatch.setenv("LOGNAME", "ana")
    assert default_reviewer() == "ana" and Settings().resolved_reviewer() == "ana"
    monkeypatch.setenv("LOGNAME", "bad\x01name")  # unusable: a stand-in that is never blank
    assert default_reviewer() == (f"uid{os.getuid()}" if hasattr(os, "getuid") else "unnamed")
    s = Settings()
    s.reviewer = "Bo Ng"
    path = save_settings(s, tmp_path / "settings.toml")
    assert path.read_text(encoding="utf-8").count('reviewer = "Bo Ng"') == 1
    again = load_settings(path)
    assert again.reviewer == "Bo Ng" and again.resolved_reviewer() == "Bo Ng"
    assert "reviewer" not in settings_to_toml(Settings())
    for bad, why in (("  ", "blank"), (" x", "spaces"), ("a\tb", "control"), ("x" * 101, "at most")):
        with pytest.raises(ConfigError, match=why):
            check_reviewer(bad)
    (tmp_path / "bad.toml").write_text("reviewer = 7\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="reviewer must be a text"):
        load_settings(tmp_path / "bad.toml")


def test_the_windows_command_line_names_the_reviewer() -> None:
    from vhd_gui.cli import build_gui_parser

    args, unknown = build_gui_parser().parse_known_args(["photos", "--reviewer", "Ana Li"])
    assert unknown == [] and apply_overrides(Settings(), args).resolved_reviewer() == "Ana Li"
    args, _ = build_gui_parser().parse_known_args(["--reviewer", "a\nb"])
    with pytest.raises(ConfigError, match="--reviewer: a reviewer name cannot hold control characters"):
        apply_overrides(Settings(), args)
