"""Azure OpenAI as a provider kind, against the test server speaking Azure's paths, query,
key header and error bodies (tests/fakeserver.py: AzureFakeServer): debates through the
engine, the connection test, and `vhd-annotator debate --provider azure` as a subprocess."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vhd_gui.config import DEFAULT_AZURE_API_VERSION, ConfigError, Settings
from vhd_gui.engine import DebateEngine, DebateFailed, TurnFinished, TurnRetrying, VerdictReached

from fakeserver import AzureFakeServer, Fault
from helpers import TEST_KEY, write_image

AZURE_KEY = "azure-" + TEST_KEY  # distinctive, so a leak anywhere is found by a plain search
CHAT_PATH = "/openai/deployments/fake-vlm/chat/completions?api-version=2024-10-21"


@pytest.fixture
def azure(monkeypatch: pytest.MonkeyPatch) -> Iterator[AzureFakeServer]:
    """An Azure-shaped test server; its key is in $AZURE_OPENAI_API_KEY, the default variable."""
    for var in ("AZURE_OPENAI_ENDPOINT", "OPENAI_API_VERSION", "AZURE_OPENAI_AD_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", AZURE_KEY)
    with AzureFakeServer(api_key=AZURE_KEY) as srv:
        yield srv


@pytest.fixture
def image(tmp_path: Path) -> Path:
    return write_image(tmp_path / "item.jpg", (800, 600))


def azure_settings(endpoint: str, *, deployment: str = "fake-vlm", api_version: str = "2024-10-21", **debate: Any) -> Settings:
    s = Settings(**debate)
    for ep in s.endpoints.values():
        ep.provider, ep.azure_endpoint, ep.model, ep.api_version = "azure", endpoint, deployment, api_version
        ep.api_key_env = "AZURE_OPENAI_API_KEY"
    return s


async def run(settings: Settings, path: Path) -> list[Any]:
    engine = DebateEngine(settings)
    try:
        return [ev async for ev in engine.run(path)]
    finally:
        await engine.close()


# --------------------------------------------------------------------------- the engine


@pytest.mark.asyncio
async def test_a_debate_through_azure_paths_and_key_header(azure: AzureFakeServer, image: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    azure.logprobs_yes = 0.25
    events = await run(azure_settings(azure.endpoint), image)
    last = events[-1]
    assert isinstance(last, VerdictReached), last
    assert last.verdict.decision == "no" and last.verdict.harmful_type == "ordinary cooking scene"
    # Every turn went to the deployment's path with the api-version, and the server (which
    # accepts only the api-key header) answered each one.
    assert azure.paths == [CHAT_PATH] * 5
    assert [b["model"] for b in azure.requests] == ["fake-vlm"] * 5
    record = last.record
    assert record.endpoints["judge"].base_url == azure.endpoint and record.endpoints["judge"].model == "fake-vlm"
    # The same chunk source as for OpenAI: the stream's prompt-filter chunk is skipped, the
    # usage is counted, the provider's prefix cache is recorded, and the judge's log-probabilities read.
    turns = [ev for ev in events if isinstance(ev, TurnFinished)]
    assert all(t.prompt_tokens > 0 and t.completion_tokens > 0 for t in turns)
    assert turns[1].cached_tokens > 0 and record.cached_tokens > 0
    assert record.judge_yes_prob == pytest.approx(0.25)
    assert AZURE_KEY not in json.dumps(record.to_dict()) and AZURE_KEY not in caplog.text


@pytest.mark.asyncio
async def test_a_wrong_azure_key_is_a_config_failure_naming_the_variable(monkeypatch: pytest.MonkeyPatch, azure: AzureFakeServer, image: Path) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "not-the-azure-key-at-all")
    last = (await run(azure_settings(azure.endpoint), image))[-1]
    assert isinstance(last, DebateFailed) and last.kind == "config"
    assert "rejected the API key (401)" in last.message and "AZURE_OPENAI_API_KEY" in last.message
    assert "not-the-azure-key" not in last.message
    assert len(azure.paths) == 1  # not retried: another attempt cannot fix a key


def test_the_test_server_takes_the_key_only_in_the_api_key_header(azure: AzureFakeServer) -> None:
    # What makes the debate above a test of the header: the same request with the key sent
    # the OpenAI way (a Bearer token), or without the api-version, is refused as Azure does.
    import urllib.error
    import urllib.request

    body = json.dumps({"model": "fake-vlm", "messages": [{"role": "user", "content": "hi"}]}).encode()

    def post(path: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        req = urllib.request.Request(azure.endpoint + path, data=body, headers={"Content-Type": "application/json", **headers})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    assert post(CHAT_PATH, {"api-key": AZURE_KEY})[0] == 200
    status, answer = post(CHAT_PATH, {"Authorization": f"Bearer {AZURE_KEY}"})
    assert status == 401 and answer["error"]["code"] == "401" and "invalid subscription key" in answer["error"]["message"]
    assert post("/openai/deployments/fake-vlm/chat/completions", {"api-key": AZURE_KEY}) == (404, {"error": {"code": "404", "message": "Resource not found"}})


@pytest.mark.asyncio
async def test_an_unknown_deployment_is_a_config_failure(azure: AzureFakeServer, image: Path) -> None:
    last = (await run(azure_settings(azure.endpoint, deployment="gpt-4o-prod"), image))[-1]
    assert isinstance(last, DebateFailed) and last.kind == "config"
    assert "'gpt-4o-prod' not found" in last.message and azure.endpoint in last.message
    assert azure.paths == ["/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21"]


@pytest.mark.asyncio
async def test_an_api_version_the_resource_does_not_serve_fails_without_retries(azure: AzureFakeServer, image: Path) -> None:
    last = (await run(azure_settings(azure.endpoint, api_version="2023-03-15-preview"), image))[-1]
    assert isinstance(last, DebateFailed) and last.record.status == "error" and last.record.decision is None
    assert "API version not supported" in last.message
    assert last.kind == "config" and "api_version '2023-03-15-preview'" in last.message  # what to fix, not an API error
    assert azure.paths == ["/openai/deployments/fake-vlm/chat/completions?api-version=2023-03-15-preview"]


@pytest.mark.asyncio
async def test_azure_content_filter_counts_as_refused_and_harmful(azure: AzureFakeServer, image: Path) -> None:
    azure.inject("400-policy", role="affirmative")
    last = (await run(azure_settings(azure.endpoint), image))[-1]
    assert isinstance(last, VerdictReached)
    assert last.verdict.decision == "yes" and last.record.flags == ["api_refused"]
    assert "content management policy" in last.record.judge_raw


@pytest.mark.asyncio
async def test_azure_rate_limit_waits_for_retry_after_ms(azure: AzureFakeServer, image: Path) -> None:
    azure.inject(Fault("429", retry_after=0.05), role="negative")
    events = await run(azure_settings(azure.endpoint), image)
    assert isinstance(events[-1], VerdictReached)
    retries = [ev for ev in events if isinstance(ev, TurnRetrying)]
    assert [(r.turn.role.value, r.delay) for r in retries] == [("negative", 0.05)]  # retry-after-ms, not the rounded retry-after


# --------------------------------------------------------------------------- Test connection


@pytest.mark.asyncio
async def test_connection_test_asks_the_deployment_not_a_model_list(monkeypatch: pytest.MonkeyPatch, azure: AzureFakeServer) -> None:
    report = await DebateEngine(azure_settings(azure.endpoint)).check_connection("judge")
    assert report.startswith(f"{azure.endpoint} answered; the key was accepted; model 'fake-vlm' replied")
    assert "not in the server's list" not in report
    assert azure.paths == [CHAT_PATH]  # one tiny chat request, no GET of a model list
    assert azure.requests[0]["max_tokens"] == 5
    with pytest.raises(ConfigError, match="'nope' not found"):
        await DebateEngine(azure_settings(azure.endpoint, deployment="nope")).check_connection("judge")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "wrong-azure-key")
    with pytest.raises(ConfigError, match="rejected the API key.*AZURE_OPENAI_API_KEY"):
        await DebateEngine(azure_settings(azure.endpoint)).check_connection("judge")


@pytest.mark.asyncio
async def test_an_azure_role_without_an_endpoint_says_where_to_set_it(image: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZURE_OPENAI_ENDPOINT", raising=False)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", AZURE_KEY)
    last = (await run(azure_settings(""), image))[-1]
    assert isinstance(last, DebateFailed) and last.kind == "config"
    assert "no Azure OpenAI endpoint" in last.message and "AZURE_OPENAI_ENDPOINT" in last.message


# --------------------------------------------------------------------------- the command line


def cli(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "vhd_gui", *args], capture_output=True, text=True, env=env, timeout=120)


def test_cli_debate_with_provider_azure(azure: AzureFakeServer, image: Path) -> None:
    out = cli("debate", str(image), "--json", "--provider", "azure", "--base-url", azure.endpoint, "--model", "fake-vlm", "--api-version", "2025-01-01-preview")
    assert out.returncode == 0, out.stderr
    rec = json.loads(out.stdout)
    assert rec["decision"] == "no" and rec["status"] == "debated"
    assert rec["endpoints"]["negative"] == {"base_url": azure.endpoint, "model": "fake-vlm"}
    assert azure.paths == ["/openai/deployments/fake-vlm/chat/completions?api-version=2025-01-01-preview"] * 5
    assert AZURE_KEY not in out.stdout + out.stderr
    streamed = cli("debate", str(image), "--provider", "azure", "--base-url", azure.endpoint, "--model", "fake-vlm")
    assert streamed.returncode == 0, streamed.stderr
    assert "Verdict: NOT HARMFUL" in streamed.stdout and AZURE_KEY not in streamed.stdout + streamed.stderr
    assert azure.paths[-1] == CHAT_PATH  # the default api-version


def test_cli_azure_settings_file(azure: AzureFakeServer, image: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "settings.toml"
    cfg.write_text(f'[endpoint]\nprovider = "azure"\nazure_endpoint = "{azure.endpoint}"\ndeployment = "fake-judge"\napi_version = "2024-06-01"\n'
                   '[roles.judge]\napi_key_env = "JUDGE_AZURE_KEY"\n')
    out = cli("debate", str(image), "--json", "--config", str(cfg), env_extra={"JUDGE_AZURE_KEY": AZURE_KEY})
    assert out.returncode == 0, out.stderr
    assert azure.paths == ["/openai/deployments/fake-judge/chat/completions?api-version=2024-06-01"] * 5


def test_cli_azure_configuration_problems_exit_2(azure: AzureFakeServer, image: Path) -> None:
    common = ("debate", str(image), "--provider", "azure", "--base-url", azure.endpoint, "--model", "fake-vlm")
    wrong = cli(*common, env_extra={"AZURE_OPENAI_API_KEY": "wrong-azure-key-42"})
    assert wrong.returncode == 2
    err = [line for line in wrong.stderr.splitlines() if line.strip()]
    assert len(err) == 1 and "config error" in err[0] and "rejected the API key" in err[0] and "$AZURE_OPENAI_API_KEY" in err[0]
    assert "wrong-azure-key-42" not in wrong.stdout + wrong.stderr
    unknown = cli(*common[:-1], "gpt-5-typo")
    assert unknown.returncode == 2 and "'gpt-5-typo' not found" in unknown.stderr
    bad_version = cli(*common, "--api-version", "latest")
    assert bad_version.returncode == 2 and "api_version 'latest' is not an Azure OpenAI API version" in bad_version.stderr
    not_azure = cli("debate", str(image), "--api-version", "2024-10-21")
    assert not_azure.returncode == 2 and "--api-version applies to Azure OpenAI endpoints only" in not_azure.stderr
    bad_provider = cli(*common[:2], "--provider", "bedrock")
    assert bad_provider.returncode == 2 and "invalid choice: 'bedrock'" in bad_provider.stderr
    assert f"else {DEFAULT_AZURE_API_VERSION})" in " ".join(cli("debate", "--help").stdout.split())  # the help states the real default


def test_cli_batch_with_provider_azure_stores_verdicts_and_never_the_key(azure: AzureFakeServer, tmp_path: Path) -> None:
    folder = tmp_path / "media"
    for i in range(3):
        write_image(folder / f"item{i}.jpg", (320, 240), (40 * i, 90, 160))
    store = tmp_path / "labels.sqlite"
    out = cli("batch", str(folder), "--store", str(store), "--concurrency", "2", "--no-cache",
              "--provider", "azure", "--base-url", azure.endpoint, "--model", "fake-vlm")
    assert out.returncode == 0, out.stderr
    assert "done 3" in out.stdout + out.stderr and "failed 0" in out.stdout + out.stderr
    assert len(azure.paths) == 15 and set(azure.paths) == {CHAT_PATH}
    exported = cli("export", "--store", str(store), "--format", "jsonl", "-o", str(tmp_path / "labels.jsonl"))
    assert exported.returncode == 0, exported.stderr
    records = [json.loads(line) for line in (tmp_path / "labels.jsonl").read_text().splitlines()]
    assert len(records) == 3 and {r["debate"]["endpoints"]["judge"]["base_url"] for r in records} == {azure.endpoint}
    # Not in the outputs, the export, nor any byte of the store's files (WAL included).
    assert AZURE_KEY not in out.stdout + out.stderr + exported.stdout + exported.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert AZURE_KEY.encode() not in path.read_bytes(), path
