"""One VHD11K debate as an async stream of plain events (asyncio, no Qt).

Our own loop drives the turn order (exact order, openai's exception types intact). Each turn's
request is described with AutoGen's message types and built by AutoGen's OpenAI client; the
answer stream is read here, so that only a complete answer counts (a stream cut before the
server said it finished, an empty answer or a page that is not a completion is a failed
attempt) and a reasoning model's thinking stays apart from its argument. Every private
AutoGen/openai name the engine needs lives in ``_autogen_adapter``. AutoGen and openai are
imported when the first debate starts, never at module import.

Requests are laid out so that what repeats comes first: the role's system prompt, then the
judge's in-context examples, then the item's media, and only then the transcript that grows.
Providers' prefix caches (OpenAI, vLLM) then serve the repeated part.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import json
import logging
import os
import random
import re
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from vhd_gui import tokens
from vhd_gui.config import ConfigError, RoleEndpoint, Settings
from vhd_gui.protocol import (
    BUILTIN_PRESETS,
    Flag,
    Preset,
    PresetError,
    Role,
    Said,
    ThinkSplitter,
    Turn,
    Verdict,
    api_refused_verdict,
    final_verdict,
    is_refusal,
    media_caption,
    resolve_preset,
    split_thinking,
    transcript_text,
    turn_order,
    unparsed_note,
)
from vhd_gui.record import STATUS_DEBATED, STATUS_ERROR, DebateRecord, EndpointInfo, TurnRecord

if TYPE_CHECKING:
    from vhd_gui.cache import ResponseCache
    from vhd_gui.media import PreparedMedia


class RequestGate(Protocol):
    """Something a request waits on before it is sent (a requests-per-minute limiter)."""

    async def acquire(self) -> None: ...

log = logging.getLogger(__name__)

# Failure kinds of DebateFailed
FAIL_CONFIG = "config"  # wrong key, unknown model, unreachable server, bad preset: fix the settings
FAIL_MEDIA = "media"  # the file cannot be read
FAIL_API = "api"  # the server kept failing, or rejected the request
FAIL_TIMEOUT = "timeout"  # a turn missed its overall deadline


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class DebateStarted:
    path: str
    kind: str
    turns: tuple[Turn, ...]
    preset_name: str
    preset_hash: str
    frames_sent: tuple[int, ...]
    models: dict[str, str]


@dataclass(frozen=True, slots=True)
class TurnStarted:
    turn: Turn
    model: str
    attempt: int


@dataclass(frozen=True, slots=True)
class TokenReceived:
    turn: Turn
    text: str


@dataclass(frozen=True, slots=True)
class ThinkingReceived:
    """A piece of a reasoning model's thinking (``reasoning_content`` or an inline
    ``<think>`` block): shown apart from the argument, never part of it."""

    turn: Turn
    text: str


@dataclass(frozen=True, slots=True)
class TurnRetrying:
    """The turn failed and will start over after ``delay``: drop what it streamed so far."""

    turn: Turn
    attempt: int  # the attempt that failed, 1-based
    delay: float
    reason: str


@dataclass(frozen=True, slots=True)
class TurnFinished:
    turn: Turn
    text: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    seconds: float
    refused: bool
    from_cache: bool = False  # answered by the response cache: no request was sent
    thinking: str = ""  # the model's thinking, kept apart from ``text``
    usage_estimated: bool = False  # the server reported no usage: the token counts are estimates


@dataclass(frozen=True, slots=True)
class VerdictReached:
    verdict: Verdict
    record: DebateRecord


@dataclass(frozen=True, slots=True)
class DebateFailed:
    kind: str
    message: str
    turn: Turn | None
    record: DebateRecord


Event = DebateStarted | TurnStarted | TokenReceived | ThinkingReceived | TurnRetrying | TurnFinished | VerdictReached | DebateFailed


# --------------------------------------------------------------------------- errors


class TurnError(Exception):
    """A turn that failed for good, with its failure kind."""

    def __init__(self, kind: str, message: str, *, unknown_model: bool = False) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.unknown_model = unknown_model


class BadAnswer(Exception):
    """The server answered 200 but not with a complete answer (empty, cut, not a completion).
    A failed attempt, retried like a 5xx: never a verdict, never cached."""


class ProviderRefused(Exception):
    """The provider refused the content (HTTP 400 content policy): harmful under the protocol."""


@dataclass
class _Classified:
    retry: bool
    kind: str
    message: str
    retry_after: float | None = None
    refused: bool = False
    unknown_model: bool = False


def classify_error(exc: BaseException, endpoint: RoleEndpoint, *, layout: str = "flat") -> _Classified:
    """Sort an exception from a turn into retry / config / api / refused, with a plain reason."""
    import openai

    httpx = _httpx()
    url = endpoint.resolved_base_url()
    model = endpoint.resolved_model()
    if isinstance(exc, BadAnswer):
        return _Classified(True, FAIL_API, str(exc))
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        code, message = _error_fields(exc)
        if status == 400 and (code == "content_policy_violation" or "content management policy" in message.lower() or "safety system" in message.lower()):
            return _Classified(False, FAIL_API, f"the provider refused the content: {message}", refused=True)
        if status == 401:
            return _Classified(False, FAIL_CONFIG, f"the server at {url} rejected the API key (401): check the key in ${endpoint.api_key_env}")
        if status == 404 and code == "DeploymentNotFound":  # Azure OpenAI: the model name is a deployment
            return _Classified(False, FAIL_CONFIG, f"deployment {model!r} not found at {url}: check the deployment name (the model setting) and the endpoint", unknown_model=True)
        if status == 400 and endpoint.is_azure and "api version" in message.lower():
            return _Classified(False, FAIL_CONFIG, f"{url} does not serve api_version {endpoint.resolved_api_version()!r}: {message}")
        if status in (400, 404) and _is_unknown_model(code, message):
            return _Classified(False, FAIL_CONFIG, f"model {model!r} not found at {url} ({status}: {message})", unknown_model=True)
        if status == 403:
            return _Classified(False, FAIL_CONFIG, f"the key has no access to model {model!r} at {url} (403): {message}")
        if status == 404:
            return _Classified(False, FAIL_CONFIG, f"the server at {url} answered 404 (not found): check the base URL ({message})")
        if status == 429:
            if code == "insufficient_quota" or "quota" in message.lower():
                return _Classified(False, FAIL_CONFIG, f"the account behind this key has no quota left at {url}: {message}")
            return _Classified(True, FAIL_API, f"rate limited (429): {message}", _retry_after(exc.response))
        if status >= 500 or status in (408, 409):
            return _Classified(True, FAIL_API, f"server error ({status}): {message}", _retry_after(exc.response))
        hint = ""
        if layout == "chat" and _ROLES_PROBLEM_RE.search(message):
            hint = " (a strict chat template? try the flat message layout)"
        return _Classified(False, FAIL_API, f"the server rejected the request ({status}): {message}{hint}")
    if isinstance(exc, openai.APITimeoutError):
        return _Classified(True, FAIL_TIMEOUT, f"no answer from {url} within the read timeout")
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        if isinstance(cause, (httpx.ConnectError, httpx.UnsupportedProtocol, httpx.InvalidURL)):
            return _Classified(False, FAIL_CONFIG, f"cannot reach the server at {url}: {cause or exc}")
        return _Classified(True, FAIL_API, f"connection to {url} broke: {cause or exc}")
    if isinstance(exc, (httpx.TransportError, httpx.StreamError)):
        return _Classified(True, FAIL_API, f"connection to {url} broke: {exc}")
    if isinstance(exc, (ValueError, openai.APIError)):
        # A stream that cannot be decoded (bad JSON in an SSE event) or an error event mid-stream.
        return _Classified(True, FAIL_API, f"malformed answer from {url}: {exc}")
    return _Classified(False, FAIL_API, f"unexpected error: {type(exc).__name__}: {exc}")


# What servers say about a model they do not have: OpenAI (404, code model_not_found), vLLM
# (404 "The model `x` does not exist."), Ollama (404 "model 'x' not found"), the LiteLLM
# gateway (400 "Invalid model name passed in model=x").
_UNKNOWN_MODEL_RE = re.compile(
    r"model\b.{0,120}?\b(?:does not exist|not found|is not (?:available|supported|served))|invalid model name|unknown model|no such model",
    re.IGNORECASE | re.DOTALL,
)
# What a strict chat template says when messages do not alternate user/assistant.
_ROLES_PROBLEM_RE = re.compile(r"alternat|\broles?\b|\b(?:user|assistant) message", re.IGNORECASE)


def _is_unknown_model(code: str, message: str) -> bool:
    return code == "model_not_found" or bool(_UNKNOWN_MODEL_RE.search(message))


def _rejects_stream_options(exc: BaseException) -> bool:
    import openai

    if not isinstance(exc, openai.APIStatusError) or exc.status_code not in (400, 422):
        return False
    code, message = _error_fields(exc)
    return "stream_options" in message.lower() or "include_usage" in message.lower() or code == "stream_options"


async def offered_models(endpoint: RoleEndpoint, timeout: float = 10.0) -> list[str] | None:
    """The model names the endpoint's server lists at GET /models, or None if it does not say."""
    import openai

    try:
        client = openai.AsyncOpenAI(api_key=endpoint.resolve_key(), base_url=endpoint.resolved_base_url(), timeout=timeout, max_retries=0)
    except (ConfigError, openai.OpenAIError):
        return None
    try:
        return sorted({m.id async for m in client.models.list()})
    except Exception:  # noqa: BLE001 - the list is a courtesy; the failure stands without it
        return None
    finally:
        await client.close()


def _httpx() -> Any:
    """The HTTP library the installed openai uses (openai 3 moved to httpx2)."""
    try:
        import httpx2

        return httpx2
    except ImportError:  # pragma: no cover - older openai
        import httpx

        return httpx


def _rejects_logprobs(exc: BaseException) -> bool:
    import openai

    if not isinstance(exc, openai.APIStatusError) or exc.status_code not in (400, 422):
        return False
    code, message = _error_fields(exc)
    return "logprob" in message.lower() or "logprob" in code.lower()


def _error_fields(exc: Any) -> tuple[str, str]:
    """(code, message) of an error body in any of the shapes servers use: OpenAI's
    ``{"error": {...}}``, vLLM's flat ``{"object": "error", "message": ...}``, Ollama's
    ``{"error": "text"}`` and LiteLLM's ``{"error": {"message": {"error": "text"}}}``."""
    body = getattr(exc, "body", None)
    code = str(getattr(exc, "code", "") or "")
    message = str(getattr(exc, "message", "") or exc)
    if isinstance(body, str) and body.strip():
        message = body
    elif isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, str) and err.strip():
            message = err
        elif isinstance(err, dict):
            code = str(err.get("code") or code or "")
            inner = err.get("message")
            if isinstance(inner, dict):
                inner = inner.get("error") or inner.get("message") or json.dumps(inner)
            message = str(inner or message)
    return code, message.strip()


def _retry_after(response: Any) -> float | None:
    if response is None:
        return None
    headers = response.headers
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        if parsed is None:
            return None
        return max(0.0, (parsed - datetime.now(UTC)).total_seconds())


def backoff_delay(attempt: int, retry_after: float | None, *, base: float = 0.5, cap: float = 30.0) -> float:
    """Seconds to wait before the next attempt: the server's Retry-After when it gave one,
    else exponential backoff with jitter."""
    if retry_after is not None:
        return min(retry_after, 120.0)
    return min(cap, base * (2 ** (attempt - 1))) * (0.75 + 0.5 * random.random())


# --------------------------------------------------------------------------- answers

_THINKING = "thinking"
_TEXT = "text"

# Endpoints (base URLs) that refused stream_options: asked without it for the rest of the process.
_NO_STREAM_OPTIONS: set[str] = set()


def _shorten(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class _Answer:
    """One answer as it arrives, and the check that it is complete before it counts.

    The argument text and the thinking (``reasoning_content`` deltas, inline ``<think>``
    blocks) are kept apart from the first byte on.
    """

    def __init__(self) -> None:
        self._text: list[str] = []
        self._thinking: list[str] = []
        self._splitter = ThinkSplitter()
        self.chunks = 0
        self.choice_chunks = 0
        self.saw_content = False
        self.finish: str | None = None
        self.done = False  # the server sent [DONE], or a whole completion
        self.usage_reported = False
        self.prompt_tokens = self.completion_tokens = self.cached_tokens = 0
        self.first_logprob: Any = None

    def _content(self, content: Any, reasoning: Any) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if isinstance(reasoning, str) and reasoning:
            self._thinking.append(reasoning)
            out.append((_THINKING, reasoning))
        if isinstance(content, str):
            self.saw_content = True
            out.extend(self._split(self._splitter.feed(content)))
        return out

    def _split(self, pieces: list[tuple[bool, str]]) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for thinking, text in pieces:
            (self._thinking if thinking else self._text).append(text)
            out.append((_THINKING if thinking else _TEXT, text))
        return out

    def _usage(self, prompt: Any, completion: Any, cached: Any) -> None:
        self.prompt_tokens = int(prompt or 0)
        self.completion_tokens = int(completion or 0)
        self.cached_tokens = int(cached or 0)
        # A usage of all zeros (some servers send one) says nothing: it is estimated instead.
        self.usage_reported = self.prompt_tokens + self.completion_tokens > 0

    def feed(self, chunk: Any) -> list[tuple[str, str]]:
        """One ChatCompletionChunk of a stream."""
        self.chunks += 1
        usage = chunk.usage
        if usage is not None:
            details = getattr(usage, "prompt_tokens_details", None)
            self._usage(usage.prompt_tokens, usage.completion_tokens, getattr(details, "cached_tokens", 0))
        if not chunk.choices:
            return []
        self.choice_chunks += 1
        choice = chunk.choices[0]
        if choice.finish_reason:
            self.finish = str(choice.finish_reason)
        if self.first_logprob is None and choice.logprobs is not None and choice.logprobs.content:
            self.first_logprob = choice.logprobs.content[0]
        delta = choice.delta
        if delta is None:  # a lenient parse of a chunk without one
            return []
        extra = getattr(delta, "model_extra", None) or {}
        return self._content(delta.content, extra.get("reasoning_content") or extra.get("reasoning"))

    def flush(self) -> list[tuple[str, str]]:
        return self._split(self._splitter.flush())

    def feed_body(self, body: bytes, status: int, ctype: str) -> list[tuple[str, str]]:
        """A whole body that is not an event stream: a completion, or what a proxy sent instead."""
        text = body.decode("utf-8", "replace")
        head = text.lstrip()[:300].lower()
        if "html" in ctype.lower() or head.startswith(("<!doctype html", "<html")):
            raise BadAnswer(f"the server sent an HTML page (status {status}) instead of a chat completion")
        if not text.strip():
            raise BadAnswer(f"the server sent an empty body (status {status}, {ctype}) instead of a chat completion")
        try:
            obj = json.loads(text)
        except ValueError:
            raise BadAnswer(f"the server sent a body that is not JSON (status {status}, {ctype}) instead of a chat completion: {_shorten(text)!r}") from None
        if isinstance(obj, dict) and obj.get("error"):
            err = obj["error"]
            message = err.get("message") if isinstance(err, dict) else err
            raise BadAnswer(f"the server sent an error with status {status}: {_shorten(str(message))}")
        if not isinstance(obj, dict) or not isinstance(obj.get("choices"), list):
            raise BadAnswer(f"the server sent JSON that is not a chat completion (status {status}): {_shorten(text)}")
        # A server that ignored stream=true and sent the whole completion: as good as a stream.
        self.done = True
        self.chunks = 1
        usage = obj.get("usage")
        if isinstance(usage, dict):
            details = usage.get("prompt_tokens_details")
            self._usage(usage.get("prompt_tokens"), usage.get("completion_tokens"), details.get("cached_tokens") if isinstance(details, dict) else 0)
        if not obj["choices"]:
            return []
        self.choice_chunks = 1
        choice = obj["choices"][0] if isinstance(obj["choices"][0], dict) else {}
        self.finish = str(choice.get("finish_reason") or "") or None
        message = choice.get("message")
        if not isinstance(message, dict):
            message = {}
        out = self._content(message.get("content"), message.get("reasoning_content") or message.get("reasoning"))
        return out + self.flush()

    def text_so_far(self) -> str:
        """The argument text received so far, without thinking, unchecked."""
        return split_thinking("".join(self._text))[0].strip()

    def result(self) -> tuple[str, str]:
        """(argument text, thinking) of a complete answer; BadAnswer or ProviderRefused if not."""
        if not self.done and self.finish is None:
            if self.chunks == 0:
                raise BadAnswer("the server sent no answer: the stream ended before its first event")
            raise BadAnswer(
                f"the answer was cut off: the stream ended after {self.chunks} chunk(s) before the server said it finished"
                " (no finish_reason, no [DONE])"
            )
        text, thinking = split_thinking("".join(self._text))
        thinking = ("".join(self._thinking) + ("\n" + thinking if thinking else "")).strip()
        text = text.strip()
        if self.finish == "content_filter":
            raise ProviderRefused("the provider's content filter withheld the answer (finish_reason content_filter)")
        if not text:
            if self.choice_chunks == 0:
                raise BadAnswer('the server sent a completion with no choices ("choices": [])')
            if thinking:
                raise BadAnswer(f"the model only thought and gave no answer (finish_reason {self.finish or 'none'})")
            if not self.saw_content:
                raise BadAnswer("the server sent no content (content: null)")
            raise BadAnswer("the server sent an empty answer")
        return text, thinking


def _estimate_prompt_tokens(messages: Sequence[Any]) -> int:
    """A request's prompt tokens by our estimate (tokens.py), for a server that reports none."""
    parts: list[tuple[str, list[str | tuple[int, int]]]] = []
    for m in messages:
        content = m.content
        items = [content] if isinstance(content, str) else list(content)
        parts.append(
            (
                type(m).__name__,
                [x if isinstance(x, str) else (int(getattr(x, "width", 0) or 1024), int(getattr(x, "height", 0) or 1024)) for x in items],
            )
        )
    return tokens.prompt_tokens(parts)


# --------------------------------------------------------------------------- AutoGen glue


def _client_class() -> Any:
    """AutoGen's OpenAI client: it turns our messages and a role's settings into a request."""
    from autogen_ext.models.openai import OpenAIChatCompletionClient

    return OpenAIChatCompletionClient


def _azure_client(ep: RoleEndpoint, config: dict[str, Any]) -> Any:
    """AutoGen's Azure OpenAI client for a role whose provider is "azure". Its openai
    ``AsyncAzureOpenAI`` sends the model name (the deployment) in the path
    /openai/deployments/{deployment}/chat/completions, ``api-version`` in the query and the key in
    the ``api-key`` header; the answer stream is read by the engine as for any other server."""
    from autogen_ext.models.openai import AzureOpenAIChatCompletionClient

    args = {k: v for k, v in config.items() if k != "base_url"}  # ep.resolve_key() has checked that the endpoint is known
    return AzureOpenAIChatCompletionClient(azure_endpoint=ep.resolved_base_url(), api_version=ep.resolved_api_version(), **args)


def _image_class() -> Any:
    from vhd_gui._autogen_adapter import jpeg_image_class

    return jpeg_image_class()


_CLIENT_BUILDER: concurrent.futures.ThreadPoolExecutor | None = None


def _client_builder() -> concurrent.futures.ThreadPoolExecutor:
    """The one thread that builds HTTP clients (see DebateEngine._build_off_loop)."""
    global _CLIENT_BUILDER
    if _CLIENT_BUILDER is None:
        _CLIENT_BUILDER = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="vhd-clients")
    return _CLIENT_BUILDER


def _model_info() -> dict[str, Any]:
    return {"vision": True, "function_calling": False, "json_output": False, "family": "unknown", "structured_output": False, "multiple_system_messages": False}


# --------------------------------------------------------------------------- the engine


@dataclass
class _RoleRuntime:
    endpoint: RoleEndpoint
    client: Any


@dataclass
class _DebateState:
    said: list[Said] = field(default_factory=list)
    turns: list[TurnRecord] = field(default_factory=list)


class DebateEngine:
    """Runs debates with one set of settings. Reuse one engine for many debates (a batch):
    its HTTP clients and the prepared in-context examples are shared."""

    def __init__(
        self,
        settings: Settings,
        *,
        preset: Preset | None = None,
        cache: ResponseCache | None = None,
        gate: RequestGate | None = None,
    ) -> None:
        self.settings = settings
        self._preset = preset
        self.cache = cache
        self.gate = gate
        self._runtimes: dict[str, _RoleRuntime] = {}
        self._logprobs = settings.request_logprobs  # off once the judge's server refuses them
        self._retired: list[Any] = []  # clients replaced while other debates may still use them
        self._building: asyncio.Future[None] | None = None  # the clients being built (see run)
        self._presets: dict[tuple[str, str, tuple[int, int] | None, str], Preset] = {}  # see preset_for
        self._runtime_lock = threading.Lock()
        self._examples: dict[str, list[tuple[list[Any], str]]] = {}
        self._examples_lock = asyncio.Lock()

    # ------------------------------------------------------------------ set-up
    def preset_for(self, kind: str) -> Preset:
        """The preset a debate of a ``kind`` item uses. Read once per engine and kind (a batch
        parsed the built-in TOML for every item, 3% of its event loop at concurrency 32); a
        preset file of the user's is read again when it changed on disk."""
        spec = self.settings.preset or ""
        stamp: tuple[int, int] | None = None
        if spec and spec not in BUILTIN_PRESETS:
            try:
                st = os.stat(spec)
            except OSError:
                return self._read_preset(kind)  # let the reading name the problem
            stamp = (st.st_mtime_ns, st.st_size)
        key = (kind, spec, stamp, self.settings.examples_folder)
        preset = self._presets.get(key)
        if preset is None:
            preset = self._presets[key] = self._read_preset(kind)
        return preset

    def _read_preset(self, kind: str) -> Preset:
        preset = self._preset if self._preset is not None and self._preset.kind == kind else None
        if preset is None:
            spec = self.settings.preset or None
            preset = resolve_preset(spec, kind)
            if spec and preset.kind != kind:
                # A user preset for the other media kind: fall back to our built-in one.
                preset = resolve_preset(None, kind)
        if self.settings.examples_folder:
            preset = preset.with_examples_folder(self.settings.examples_folder)
        return preset

    async def _build_off_loop(self, roles: Sequence[Role]) -> None:
        """Build the roles' clients in a thread of their own. Building an HTTP client loads the
        system's CA certificates (~20 ms each): off the loop, so the window's first debate does
        not stutter, and not in the loop's default executor, where a batch's first debates would
        wait behind every media item queued there. Debates that start together share one build."""
        building = self._building
        if building is None or building.done():
            loop = asyncio.get_running_loop()
            building = self._building = asyncio.ensure_future(loop.run_in_executor(_client_builder(), self._build_runtimes, list(roles)))
            building.add_done_callback(lambda f: f.cancelled() or f.exception())  # each waiting debate reports it
        await asyncio.shield(building)

    def _build_runtimes(self, roles: Sequence[Role]) -> None:
        for role in roles:
            self._runtime(role)

    def _runtime(self, role: Role) -> _RoleRuntime:
        with self._runtime_lock:  # worker threads of concurrent debates may build at once
            return self._runtime_locked(role)

    def _runtime_locked(self, role: Role) -> _RoleRuntime:
        rt = self._runtimes.get(role.value)
        if rt is not None:
            return rt
        ep = self.settings.endpoint(role)
        key = ep.resolve_key()  # raises ConfigError with a plain reason
        config: dict[str, Any] = {
            "model": ep.resolved_model(),
            "base_url": ep.resolved_base_url(),
            "api_key": key,
            "timeout": self.settings.read_timeout,
            "max_retries": 0,  # we retry ourselves, within the turn's deadline
            "model_info": _model_info(),
            "include_name_in_message": False,  # strict chat templates reject 'name'
        }
        if ep.temperature is not None:
            config["temperature"] = ep.temperature
        if ep.max_tokens is not None:
            config["max_tokens"] = ep.max_tokens
        if role is Role.JUDGE and self._logprobs:
            config["logprobs"] = True
            config["top_logprobs"] = 5
        client = _azure_client(ep, config) if ep.is_azure else _client_class()(**config)
        del key, config
        rt = _RoleRuntime(ep, client)
        self._runtimes[role.value] = rt
        return rt

    async def close(self) -> None:
        runtimes, self._runtimes = self._runtimes, {}
        clients = [rt.client for rt in runtimes.values()] + self._retired
        self._retired = []
        for client in clients:
            try:
                await client.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                log.debug("closing a model client failed", exc_info=True)

    async def _example_images(self, preset: Preset) -> list[tuple[list[Any], str]]:
        """The judge's in-context examples, prepared once per engine and preset."""
        if not preset.examples_enabled:
            return []
        async with self._examples_lock:
            cached = self._examples.get(preset.content_hash)
            if cached is not None:
                return cached
            from vhd_gui.media import prepare_async

            jpeg_cls = _image_class()
            out: list[tuple[list[Any], str]] = []
            for paths, answer in preset.example_paths():
                images: list[Any] = []
                for p in paths:
                    prepared = await prepare_async(p, max_side=self.settings.max_side, frames=1)
                    images.extend(jpeg_cls(im.jpeg, im.width, im.height) for im in prepared.images)
                out.append((images, answer))
            self._examples[preset.content_hash] = out
            return out

    async def prepare_media(self, path: str | Path) -> PreparedMedia:
        """The item's media as a debate with these settings sends it (decoded, downscaled, and
        encoded once), prepared in a worker thread; raises MediaError. A batch prepares the next
        items this way while others debate, and hands each to :meth:`run`."""
        from vhd_gui.media import prepare_async

        s = self.settings
        return await prepare_async(path, max_side=s.max_side, frames=s.frames, sampling=s.sampling)

    def projected_usage(self, kind: str) -> tokens.Projection:
        """The likely token use of one debate of a ``kind`` item with these settings, before
        it starts: what a budget counts for a debate in flight (tokens.projected_debate_tokens)."""
        s = self.settings
        try:
            preset = self.preset_for(kind)
            example_images = sum(len(ex.files) for ex in preset.examples) if preset.examples_enabled else 0
        except PresetError:
            example_images = 0
        limits = [ep.max_tokens for ep in s.endpoints.values() if ep.max_tokens]
        return tokens.projected_debate_tokens(
            rounds=s.rounds,
            images=1 if kind == "image" else s.frames,
            max_side=s.max_side,
            critic=s.critic,
            example_images=example_images,
            answer_tokens=max(limits) if limits else None,
        )

    # ------------------------------------------------------------------ one debate
    async def run(
        self, path: str | Path, *, media: PreparedMedia | None = None, label: str | None = None, use_cache: bool = True,
        token_events: bool = True,
    ) -> AsyncIterator[Event]:
        """Debate one item. Yields events; the last one is VerdictReached or DebateFailed.

        Cancelling the consuming task stops the debate at once (the HTTP stream is closed).
        With ``use_cache`` (and an engine built with a cache) a turn asked before with the
        very same request is answered from the cache without a request. ``token_events=False``
        leaves out TokenReceived and ThinkingReceived (a batch, which shows no text): each piece
        of an answer then stops where it is read instead of passing up four generators (6% of a
        batch's event-loop time per item at 32 debates at once); the turns' texts are the same.
        """
        from vhd_gui.media import MediaError, kind_of

        started = time.monotonic()
        s = self.settings
        path = Path(path)
        kind = media.kind if media is not None else (kind_of(path) or "image")
        record = DebateRecord(
            path=label or str(path),
            kind=kind,
            status=STATUS_ERROR,
            rounds=s.rounds,
            layout=s.layout,
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )

        def failed(kind_: str, message: str, turn: Turn | None = None) -> DebateFailed:
            record.status = STATUS_ERROR
            record.error_kind = kind_
            record.error = message
            record.seconds = round(time.monotonic() - started, 3)
            return DebateFailed(kind_, message, turn, record)

        try:
            preset = self.preset_for(kind)
            record.preset_name, record.preset_hash = preset.name, preset.content_hash
            turns = turn_order(s.rounds, s.critic)
            if any(t.role.value not in self._runtimes for t in turns):
                await self._build_off_loop([t.role for t in turns])
            runtimes = {t.role.value: self._runtime(t.role) for t in turns}
        except (ConfigError, PresetError, ValueError) as exc:
            yield failed(FAIL_CONFIG, str(exc))
            return
        record.endpoints = {r: EndpointInfo(**rt.endpoint.public()) for r, rt in runtimes.items()}

        if media is None:
            if kind_of(path) is None:
                yield failed(FAIL_MEDIA, f"{path.name}: not a supported image or video file")
                return
            try:
                media = await self.prepare_media(path)
            except MediaError as exc:
                yield failed(FAIL_MEDIA, str(exc))
                return
        record.kind = kind = media.kind
        record.frames_sent = list(media.frame_indices)
        record.media_sha256 = media.sha256
        try:
            examples = await self._example_images(preset) if any(t.role is Role.JUDGE for t in turns) else []
        except (PresetError, MediaError) as exc:
            yield failed(FAIL_CONFIG, str(exc))
            return

        jpeg_cls = _image_class()
        media_images = [jpeg_cls(im.jpeg, im.width, im.height) for im in media.images]
        frames = len(media_images)
        yield DebateStarted(
            path=record.path,
            kind=kind,
            turns=tuple(turns),
            preset_name=preset.name,
            preset_hash=preset.content_hash,
            frames_sent=tuple(media.frame_indices),
            models={r: rt.endpoint.resolved_model() for r, rt in runtimes.items()},
        )

        state = _DebateState()
        cache_base = self._cache_base(preset, media) if (self.cache is not None and use_cache) else None
        for turn in turns:
            rt = runtimes[turn.role.value]
            turn_started = time.monotonic()
            outcome: dict[str, Any] = {}
            try:
                key = self._cache_key(cache_base, turn, rt, preset, state, frames) if cache_base is not None else None
                hit = self.cache.get(key) if (self.cache is not None and key is not None) else None
                if hit is not None:
                    yield TurnStarted(turn, rt.endpoint.resolved_model(), 1)
                    if hit.thinking and token_events:
                        yield ThinkingReceived(turn, hit.thinking)
                    if token_events:
                        yield TokenReceived(turn, hit.text)
                    outcome.update(text=hit.text, thinking=hit.thinking, prompt_tokens=0, completion_tokens=0, cached_tokens=0, attempts=0, from_cache=True)
                else:
                    async for ev in self._run_turn(turn, rt, preset, media_images, examples if turn.role is Role.JUDGE else [], state, frames, outcome,
                                                   token_events):
                        yield ev
                    if self.cache is not None and key is not None:
                        # Only a checked, complete answer gets here: _run_turn raises otherwise.
                        self.cache.put(key, outcome["text"], outcome["prompt_tokens"], outcome["completion_tokens"], thinking=outcome["thinking"])
            except ProviderRefused as exc:
                verdict = api_refused_verdict()
                self._finish_record(record, verdict, state, started)
                record.judge_raw = str(exc)
                yield VerdictReached(verdict, record)
                return
            except TurnError as exc:
                record.turns = list(state.turns)
                self._sum_usage(record)
                message = exc.message
                if exc.unknown_model:
                    offered = await offered_models(rt.endpoint)
                    if offered:
                        shown = ", ".join(offered[:20]) + (f" and {len(offered) - 20} more" if len(offered) > 20 else "")
                        message += f"; it offers: {shown}"
                yield failed(exc.kind, f"{turn.label}: {message}", turn)
                return
            text = outcome["text"]
            refused = turn.role.is_debater and is_refusal(text)
            tr = TurnRecord(
                role=turn.role.value,
                round=turn.round,
                text=text,
                model=rt.endpoint.resolved_model(),
                prompt_tokens=outcome["prompt_tokens"],
                completion_tokens=outcome["completion_tokens"],
                cached_tokens=outcome["cached_tokens"],
                seconds=round(time.monotonic() - turn_started, 3),
                attempts=outcome["attempts"],
                refused=refused,
                from_cache=bool(outcome.get("from_cache")),
                thinking=outcome.get("thinking", ""),
                usage_estimated=bool(outcome.get("usage_estimated")),
            )
            state.turns.append(tr)
            state.said.append(Said(turn, text))
            if turn.role is Role.JUDGE:
                record.judge_raw = text
                record.judge_yes_prob = outcome.get("yes_prob")
            yield TurnFinished(
                turn, text, tr.prompt_tokens, tr.completion_tokens, tr.cached_tokens, tr.seconds, refused, tr.from_cache, tr.thinking, tr.usage_estimated
            )

        debater_texts = [s_.text for s_ in state.said if s_.turn.role.is_debater]
        verdict = final_verdict(record.judge_raw, debater_texts)
        self._finish_record(record, verdict, state, started)
        if Flag.JUDGE_UNPARSED.value in verdict.flags:
            record.verdict_note = unparsed_note(record.judge_raw)
        yield VerdictReached(verdict, record)

    # ------------------------------------------------------------------ response cache
    def _cache_base(self, preset: Preset, media: PreparedMedia) -> dict[str, Any]:
        s = self.settings
        return {
            "v": 2,  # 2: answers are checked complete and kept apart from their thinking
            "preset": preset.content_hash,
            "layout": s.layout,
            "rounds": s.rounds,
            "media": media.sha256,
            "frames": list(media.frame_indices),
            "max_side": s.max_side,
        }

    def _cache_key(self, base: dict[str, Any], turn: Turn, rt: _RoleRuntime, preset: Preset, state: _DebateState, frames: int) -> str:
        from vhd_gui.cache import cache_key

        ep, s = rt.endpoint, self.settings
        return cache_key(
            {
                **base,
                "base_url": ep.resolved_base_url(),
                "model": ep.resolved_model(),
                "temperature": ep.temperature,
                "max_tokens": ep.max_tokens,
                "logprobs": turn.role is Role.JUDGE and self._logprobs,
                "system": preset.system_prompt(turn.role, s.rounds, frames),
                "instruction": preset.instruction(turn, s.rounds, frames),
                "transcript": [[x.turn.role.value, x.turn.round, x.text] for x in state.said],
            }
        )

    @staticmethod
    def _sum_usage(record: DebateRecord) -> None:
        record.prompt_tokens = sum(t.prompt_tokens for t in record.turns)
        record.completion_tokens = sum(t.completion_tokens for t in record.turns)
        record.cached_tokens = sum(t.cached_tokens for t in record.turns)
        record.usage_estimated = any(t.usage_estimated for t in record.turns)

    def _finish_record(self, record: DebateRecord, verdict: Verdict, state: _DebateState, started: float) -> None:
        record.status = STATUS_DEBATED
        record.decision = verdict.decision
        record.harmful_type = verdict.harmful_type
        record.flags = list(verdict.flags)
        record.turns = list(state.turns)
        record.error_kind = record.error = ""
        self._sum_usage(record)
        record.seconds = round(time.monotonic() - started, 3)

    # ------------------------------------------------------------------ one turn
    async def _run_turn(
        self,
        turn: Turn,
        rt: _RoleRuntime,
        preset: Preset,
        media_images: Sequence[Any],
        examples: Sequence[tuple[list[Any], str]],
        state: _DebateState,
        frames: int,
        outcome: dict[str, Any],
        token_events: bool = True,
    ) -> AsyncIterator[Event]:
        """Stream one turn, retrying 429/5xx/timeouts and broken, cut or empty answers within
        the deadline. Only a complete answer ends the turn well."""
        s = self.settings
        loop = asyncio.get_running_loop()
        deadline = loop.time() + s.turn_timeout
        model = rt.endpoint.resolved_model()
        messages = self._build_messages(turn, preset, media_images, examples, state, frames)
        attempt = 0
        while True:
            attempt += 1
            if self.gate is not None:
                async with asyncio.timeout_at(deadline):
                    await self.gate.acquire()
            yield TurnStarted(turn, model, attempt)
            url = rt.endpoint.resolved_base_url()
            ask_usage = url not in _NO_STREAM_OPTIONS
            answer = _Answer()
            try:
                async with asyncio.timeout_at(deadline):
                    async for kind, text in self._stream(rt, messages, ask_usage, answer, token_events):
                        yield ThinkingReceived(turn, text) if kind == _THINKING else TokenReceived(turn, text)
                text, thinking = answer.result()  # raises BadAnswer or ProviderRefused
            except TimeoutError:
                raise TurnError(FAIL_TIMEOUT, f"no complete answer within the {s.turn_timeout:g} s turn deadline (attempt {attempt})") from None
            except (asyncio.CancelledError, ProviderRefused):
                raise
            except Exception as exc:  # noqa: BLE001 - sorted below; unknown errors end the debate
                if ask_usage and _rejects_stream_options(exc):
                    # Some servers refuse stream_options: ask again without it, and never again
                    # at this endpoint; the usage is then estimated.
                    log.info("the server at %s refused stream_options; asking without it from now on", url)
                    _NO_STREAM_OPTIONS.add(url)
                    attempt -= 1
                    continue
                if turn.role is Role.JUDGE and self._logprobs and _rejects_logprobs(exc):
                    # Not every server offers log-probabilities: ask again without them.
                    log.info("the judge's server refused logprobs; asking without them from now on")
                    self._logprobs = False
                    old = self._runtimes.pop(Role.JUDGE.value, None)
                    if old is not None:
                        self._retired.append(old.client)
                    rt = self._runtime(Role.JUDGE)
                    attempt -= 1
                    continue
                c = classify_error(exc, rt.endpoint, layout=s.layout)
                if c.refused:
                    raise ProviderRefused(c.message) from None
                if not c.retry:
                    raise TurnError(c.kind, c.message, unknown_model=c.unknown_model) from None
                if attempt >= s.attempts:
                    raise TurnError(c.kind, f"{c.message} (gave up after {attempt} attempt{'s' if attempt != 1 else ''})") from None
                delay = backoff_delay(attempt, c.retry_after, base=s.retry_base_delay)
                if loop.time() + delay >= deadline:
                    raise TurnError(FAIL_TIMEOUT, f"{c.message}; the next attempt would pass the {s.turn_timeout:g} s turn deadline") from None
                log.info("%s: attempt %d failed (%s); retrying in %.2f s", turn.label, attempt, c.message, delay)
                yield TurnRetrying(turn, attempt, delay, c.message)
                await asyncio.sleep(delay)
                continue
            estimated = not answer.usage_reported
            if estimated:
                prompt_tokens = _estimate_prompt_tokens(messages)
                completion_tokens = tokens.text_tokens(text) + tokens.text_tokens(thinking)
            else:
                prompt_tokens, completion_tokens = answer.prompt_tokens, answer.completion_tokens
            outcome.update(
                text=text,
                thinking=thinking,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                cached_tokens=answer.cached_tokens,
                usage_estimated=estimated,
                attempts=attempt,
                yes_prob=_yes_probability(answer.first_logprob),
            )
            return

    async def _stream(
        self, rt: _RoleRuntime, messages: list[Any], ask_usage: bool, answer: _Answer, token_events: bool = True
    ) -> AsyncIterator[tuple[str, str]]:
        """Send one request and read its answer into ``answer``, yielding (kind, text) pieces
        (none with ``token_events=False``: the answer is only read)."""
        from vhd_gui import _autogen_adapter as adapter

        extra: dict[str, Any] = {"stream_options": {"include_usage": True}} if ask_usage else {}
        oai_messages, create_args = adapter.request_arguments(rt.client, messages, extra)
        stream = await adapter.open_chat_stream(rt.client, oai_messages, create_args)
        try:
            response = stream.response
            ctype = str(response.headers.get("content-type", ""))
            if ctype and "event-stream" not in ctype.lower():
                # Not a stream: a proxy's error page, a server that ignored stream=true, ...
                body = await response.aread()
                pieces = answer.feed_body(body, response.status_code, ctype)
                for piece in pieces if token_events else ():
                    yield piece
                return
            async for payload in adapter.sse_payloads(stream):
                if payload is adapter.DONE:
                    answer.done = True
                    break
                pieces = answer.feed(payload)
                for piece in pieces if token_events else ():
                    yield piece
            pieces = answer.flush()
            for piece in pieces if token_events else ():
                yield piece
        finally:
            await stream.close()

    def _build_messages(
        self,
        turn: Turn,
        preset: Preset,
        media_images: Sequence[Any],
        examples: Sequence[tuple[list[Any], str]],
        state: _DebateState,
        frames: int,
    ) -> list[Any]:
        """The AutoGen messages of one turn's request.

        flat: system + ONE user message [examples…, media…, caption, transcript, instruction].
        chat: system, example user/assistant pairs, a user message with the media, then the
              debate as messages (this agent's own turns as assistant), then the instruction.
        The transcript holds the arguments only, never an agent's thinking.
        """
        from autogen_core.models import AssistantMessage, SystemMessage, UserMessage

        s = self.settings
        system = preset.system_prompt(turn.role, s.rounds, frames)
        instruction = preset.instruction(turn, s.rounds, frames)
        item_parts = _media_parts(media_images, preset.kind) + [media_caption(preset.kind, frames) + "\n" + preset.question.strip()]
        messages: list[Any] = [SystemMessage(content=system)]
        if s.layout == "flat":
            content: list[Any] = []
            if examples:
                content.append(f"Examples of items and the answer the judge should give ({len(examples)}):")
                for i, (images, answer) in enumerate(examples, 1):
                    content.append(f"Example {i}:")
                    content.extend(images)
                    content.append(f"Answer for example {i}: {answer}")
                content.append("End of examples. The item under review follows.")
            content.extend(item_parts)
            content.append(transcript_text(state.said) + "\n\n" + instruction)
            messages.append(UserMessage(content=content, source="moderator"))
            return messages
        for i, (images, answer) in enumerate(examples, 1):
            messages.append(UserMessage(content=[f"Example {i}:", *images], source="moderator"))
            messages.append(AssistantMessage(content=answer, source=turn.role.value))
        messages.append(UserMessage(content=item_parts, source="moderator"))
        for said in state.said:
            if said.turn.role is turn.role:
                messages.append(AssistantMessage(content=said.text, source=turn.role.value))
            else:
                messages.append(UserMessage(content=f"[{said.turn.label}]\n{said.text}", source=said.turn.role.value))
        messages.append(UserMessage(content=instruction, source="moderator"))
        return messages

    # ------------------------------------------------------------------ connection test
    async def check_connection(self, role: Role | str = Role.JUDGE) -> str:
        """Ask the role's server for its models and one tiny completion; a plain-words report.

        Raises ConfigError with a reason a person can act on.
        """
        import openai

        role = Role(role)
        ep = self.settings.endpoint(role)
        key = ep.resolve_key()
        timeout = min(20.0, self.settings.read_timeout)
        client: openai.AsyncOpenAI
        if ep.is_azure:
            client = openai.AsyncAzureOpenAI(api_key=key, azure_endpoint=ep.resolved_base_url(), api_version=ep.resolved_api_version(), timeout=timeout, max_retries=0)
        else:
            client = openai.AsyncOpenAI(api_key=key, base_url=ep.resolved_base_url(), timeout=timeout, max_retries=0)
        del key
        models: list[str] = []
        answer = _Answer()
        try:
            try:
                # Azure lists models, not deployments: there the tiny completion alone decides.
                models = [] if ep.is_azure else [m.id async for m in client.models.list()]
            except openai.NotFoundError:
                models = []  # some servers have no /models; the completion below decides
            except (openai.APIStatusError, openai.APIConnectionError):
                raise
            except Exception:  # noqa: BLE001 - a list that is not a model list: the completion below decides
                models = []
            raw = await client.chat.completions.with_raw_response.create(
                model=ep.resolved_model(), messages=[{"role": "user", "content": "Reply with the single word: ok"}], max_tokens=5
            )
            http = raw.http_response
            # Read as the engine reads any answer: a proxy's HTML page is named, not a crash.
            answer.feed_body(http.content, http.status_code, str(http.headers.get("content-type", "")))
        except BadAnswer as exc:
            raise ConfigError(f"{ep.resolved_base_url()}: {exc} (is the base URL right?)") from None
        except Exception as exc:  # noqa: BLE001
            c = classify_error(exc, ep)
            offered = f"; it offers: {', '.join(sorted(models)[:20])}" if c.unknown_model and models else ""
            raise ConfigError(c.message + offered) from None
        finally:
            await client.close()
        listed = "" if not models or ep.resolved_model() in models else f" (note: not in the server's list of {len(models)} models)"
        reply = answer.text_so_far()
        return f"{ep.resolved_base_url()} answered; the key was accepted; model {ep.resolved_model()!r} replied {reply[:40]!r}{listed}"


def _media_parts(images: Sequence[Any], kind: str) -> list[Any]:
    if kind == "image" or len(images) == 1:
        return list(images)
    parts: list[Any] = []
    for i, im in enumerate(images, 1):
        parts.append(f"Frame {i} of {len(images)}:")
        parts.append(im)
    return parts


def _yes_probability(first: Any) -> float | None:
    """P(yes) / (P(yes) + P(no)) from the judge's first token's top log-probabilities."""
    if first is None:
        return None
    import math

    p_yes = p_no = 0.0
    candidates = list(getattr(first, "top_logprobs", None) or [])
    for cand in candidates:
        tok = str(getattr(cand, "token", "") or bytes(getattr(cand, "bytes", b"") or b"").decode("utf-8", "ignore")).strip().lower()
        p = math.exp(float(getattr(cand, "logprob", -100.0)))
        if tok.startswith("yes"):
            p_yes += p
        elif tok.startswith("no"):
            p_no += p
    if p_yes + p_no == 0:
        return None
    return round(p_yes / (p_yes + p_no), 4)
