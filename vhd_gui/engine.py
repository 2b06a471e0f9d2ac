"""One VHD11K debate as an async stream of plain events (asyncio, no Qt).

Built on AutoGen AgentChat: every turn is an ``AssistantAgent`` with a streaming
``OpenAIChatCompletionClient``, but the turn order is driven by our own loop (not a team),
so the order is exact and the openai exception types reach us intact (DESIGN §3).
AutoGen and openai are imported when the first debate starts, never at module import.

Requests are laid out so that what repeats comes first: the role's system prompt, then the
judge's in-context examples, then the item's media, and only then the transcript that grows.
Providers' prefix caches (OpenAI, vLLM) then serve the repeated part.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import email.utils
import logging
import random
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from vhd_gui.config import ConfigError, RoleEndpoint, Settings
from vhd_gui.protocol import (
    Preset,
    PresetError,
    Role,
    Said,
    Turn,
    Verdict,
    api_refused_verdict,
    final_verdict,
    is_refusal,
    media_caption,
    resolve_preset,
    transcript_text,
    turn_order,
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


Event = DebateStarted | TurnStarted | TokenReceived | TurnRetrying | TurnFinished | VerdictReached | DebateFailed


# --------------------------------------------------------------------------- errors


class TurnError(Exception):
    """A turn that failed for good, with its failure kind."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class ProviderRefused(Exception):
    """The provider refused the content (HTTP 400 content policy): harmful under the protocol."""


@dataclass
class _Classified:
    retry: bool
    kind: str
    message: str
    retry_after: float | None = None
    refused: bool = False


def classify_error(exc: BaseException, endpoint: RoleEndpoint) -> _Classified:
    """Sort an exception from a turn into retry / config / api / refused, with a plain reason."""
    import openai

    httpx = _httpx()
    url = endpoint.resolved_base_url()
    model = endpoint.resolved_model()
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        code, message = _error_fields(exc)
        if status == 400 and (code == "content_policy_violation" or "content management policy" in message.lower() or "safety system" in message.lower()):
            return _Classified(False, FAIL_API, f"the provider refused the content: {message}", refused=True)
        if status == 401:
            return _Classified(False, FAIL_CONFIG, f"the server at {url} rejected the API key (401): check the key in ${endpoint.api_key_env}")
        if status == 403:
            return _Classified(False, FAIL_CONFIG, f"the key has no access to model {model!r} at {url} (403): {message}")
        if status == 404:
            return _Classified(False, FAIL_CONFIG, f"model {model!r} not found at {url} (404): check the model name or the base URL")
        if status == 429:
            if code == "insufficient_quota" or "quota" in message.lower():
                return _Classified(False, FAIL_CONFIG, f"the account behind this key has no quota left at {url}: {message}")
            return _Classified(True, FAIL_API, f"rate limited (429): {message}", _retry_after(exc.response))
        if status >= 500 or status in (408, 409):
            return _Classified(True, FAIL_API, f"server error ({status}): {message}", _retry_after(exc.response))
        hint = ""
        if "alternate" in message.lower() or "name" in message.lower():
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
    body = getattr(exc, "body", None)
    code = str(getattr(exc, "code", "") or "")
    message = str(getattr(exc, "message", "") or exc)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            code = str(err.get("code") or code or "")
            message = str(err.get("message") or message)
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


# --------------------------------------------------------------------------- AutoGen glue

# Per request: what the usage chunk said about cached prompt tokens. A context variable, so
# that concurrent debates (batch) sharing one client never mix their numbers.
_usage_details: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("vhd_usage_details", default=None)

_CLIENT_CLASS: Any = None


def _client_class() -> Any:
    """Our subclass of AutoGen's OpenAI client (built on first use: lazy import)."""
    global _CLIENT_CLASS
    if _CLIENT_CLASS is not None:
        return _CLIENT_CLASS
    from autogen_ext.models.openai import OpenAIChatCompletionClient

    class _Client(OpenAIChatCompletionClient):
        # AutoGen 0.7.5 drops prompt_tokens_details and leaves the HTTP stream to the garbage
        # collector when cancelled. This replacement of its chunk source reads the cached
        # tokens and closes the stream at once on cancel (pinned version: see pyproject).
        async def _create_stream_chunks(self, tool_params: Any, oai_messages: Any, create_args: Any, cancellation_token: Any) -> Any:  # noqa: ARG002
            stream = await self._client.chat.completions.create(messages=oai_messages, stream=True, **create_args)
            sink = _usage_details.get()
            try:
                async for chunk in _fast_chunks(stream):
                    usage = chunk.usage
                    if usage is not None and sink is not None:
                        details = usage.prompt_tokens_details
                        sink["cached_tokens"] = int(getattr(details, "cached_tokens", 0) or 0)
                    if sink is not None and "first_logprob" not in sink and chunk.choices:
                        lp = chunk.choices[0].logprobs
                        if lp is not None and lp.content:
                            sink["first_logprob"] = lp.content[0]
                    yield chunk
            finally:
                await stream.close()

    _CLIENT_CLASS = _Client
    return _Client


async def _fast_chunks(stream: Any) -> Any:
    """The chunks of an openai AsyncStream, parsed by pydantic-core instead of openai's
    per-field Python construction (20x faster per chunk; the batch's event loop spent a third
    of its time there). Anything unusual takes openai's own lenient path, and an error event
    mid-stream raises openai.APIError exactly as the library does."""
    import openai
    import pydantic
    from openai._streaming_cleanup import drain_response_async
    from openai.types.chat import ChatCompletionChunk

    response = stream.response
    async for sse in stream._iter_events():  # pinned openai: see pyproject
        data = sse.data
        if data.startswith("[DONE]"):
            # Read the rest, as openai does, so the connection is reused for the next turn.
            if response.http_version == "HTTP/1.1":
                await drain_response_async(response)
            break
        try:
            yield ChatCompletionChunk.model_validate_json(data)
            continue
        except pydantic.ValidationError:
            pass
        obj = sse.json()  # malformed JSON raises ValueError here: the turn is retried
        if isinstance(obj, dict) and obj.get("error"):
            err = obj["error"]
            message = err.get("message") if isinstance(err, dict) else None
            raise openai.APIError(message if isinstance(message, str) and message else "An error occurred during streaming", request=response.request, body=err)
        yield stream._client._process_response_data(data=obj, cast_to=ChatCompletionChunk, response=response)


_IMAGE_CLASS: Any = None


def _image_class() -> Any:
    """An AutoGen Image that sends our prepared JPEG as is, instead of re-encoding it as PNG
    on every request (which froze the GUI for 1.5 s on a 1080p image: DESIGN §3)."""
    global _IMAGE_CLASS
    if _IMAGE_CLASS is not None:
        return _IMAGE_CLASS
    import io

    from autogen_core import Image
    from PIL import Image as PILImage

    class _JpegImage(Image):
        def __init__(self, jpeg: bytes) -> None:
            # Keep a lazily decoded PIL image for AutoGen code that asks for .image.
            self._jpeg = jpeg
            self._b64 = base64.b64encode(jpeg).decode("ascii")
            self._uri = "data:image/jpeg;base64," + self._b64
            self._pil: Any = None

        @property
        def image(self) -> Any:  # type: ignore[override]  # AutoGen sets it in __init__; ours decodes on demand
            if self._pil is None:
                self._pil = PILImage.open(io.BytesIO(self._jpeg)).convert("RGB")
            return self._pil

        def to_base64(self) -> str:
            return self._b64

        @property
        def data_uri(self) -> str:
            return self._uri

    _IMAGE_CLASS = _JpegImage
    return _JpegImage


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
        self._runtime_lock = threading.Lock()
        self._examples: dict[str, list[tuple[list[Any], str]]] = {}
        self._examples_lock = asyncio.Lock()

    # ------------------------------------------------------------------ set-up
    def preset_for(self, kind: str) -> Preset:
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
            "stream_options": {"include_usage": True},
        }
        if ep.temperature is not None:
            config["temperature"] = ep.temperature
        if ep.max_tokens is not None:
            config["max_tokens"] = ep.max_tokens
        if role is Role.JUDGE and self._logprobs:
            config["logprobs"] = True
            config["top_logprobs"] = 5
        client = _client_class()(**config)
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
                    images.extend(jpeg_cls(im.jpeg) for im in prepared.images)
                out.append((images, answer))
            self._examples[preset.content_hash] = out
            return out

    # ------------------------------------------------------------------ one debate
    async def run(
        self, path: str | Path, *, media: PreparedMedia | None = None, label: str | None = None, use_cache: bool = True
    ) -> AsyncIterator[Event]:
        """Debate one item. Yields events; the last one is VerdictReached or DebateFailed.

        Cancelling the consuming task stops the debate at once (the HTTP stream is closed).
        With ``use_cache`` (and an engine built with a cache) a turn asked before with the
        very same request is answered from the cache without a request.
        """
        from vhd_gui.media import MediaError, kind_of, prepare_async

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
                # Building an HTTP client loads the system's CA certificates (~20 ms each):
                # done in a worker thread so the GUI's first debate does not stutter.
                await asyncio.get_running_loop().run_in_executor(None, self._build_runtimes, [t.role for t in turns])
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
                media = await prepare_async(path, max_side=s.max_side, frames=s.frames, sampling=s.sampling)
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
        media_images = [jpeg_cls(im.jpeg) for im in media.images]
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
                    yield TokenReceived(turn, hit.text)
                    outcome.update(text=hit.text, prompt_tokens=0, completion_tokens=0, cached_tokens=0, attempts=0, from_cache=True)
                else:
                    async for ev in self._run_turn(turn, rt, preset, media_images, examples if turn.role is Role.JUDGE else [], state, frames, outcome):
                        yield ev
                    if self.cache is not None and key is not None:
                        self.cache.put(key, outcome["text"], outcome["prompt_tokens"], outcome["completion_tokens"])
            except ProviderRefused as exc:
                verdict = api_refused_verdict()
                self._finish_record(record, verdict, state, started)
                record.judge_raw = str(exc)
                yield VerdictReached(verdict, record)
                return
            except TurnError as exc:
                record.turns = list(state.turns)
                self._sum_usage(record)
                yield failed(exc.kind, f"{turn.label}: {exc.message}", turn)
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
            )
            state.turns.append(tr)
            state.said.append(Said(turn, text))
            if turn.role is Role.JUDGE:
                record.judge_raw = text
                record.judge_yes_prob = outcome.get("yes_prob")
            yield TurnFinished(turn, text, tr.prompt_tokens, tr.completion_tokens, tr.cached_tokens, tr.seconds, refused, bool(outcome.get("from_cache")))

        debater_texts = [s_.text for s_ in state.said if s_.turn.role.is_debater]
        verdict = final_verdict(record.judge_raw, debater_texts)
        self._finish_record(record, verdict, state, started)
        yield VerdictReached(verdict, record)

    # ------------------------------------------------------------------ response cache
    def _cache_base(self, preset: Preset, media: PreparedMedia) -> dict[str, Any]:
        s = self.settings
        return {
            "v": 1,
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
    ) -> AsyncIterator[Event]:
        """Stream one turn, retrying 429/5xx/timeouts/broken streams within the deadline."""
        s = self.settings
        loop = asyncio.get_running_loop()
        deadline = loop.time() + s.turn_timeout
        model = rt.endpoint.resolved_model()
        attempt = 0
        while True:
            attempt += 1
            if self.gate is not None:
                async with asyncio.timeout_at(deadline):
                    await self.gate.acquire()
            yield TurnStarted(turn, model, attempt)
            sink: dict[str, Any] = {}
            token = _usage_details.set(sink)
            try:
                async with asyncio.timeout_at(deadline):
                    agent, messages = self._build_agent(turn, rt, preset, media_images, examples, state, frames)
                    text, usage = None, None
                    async for item in agent.on_messages_stream(messages, _cancellation_token()):
                        chunk = _chunk_text(item)
                        if chunk is not None:
                            yield TokenReceived(turn, chunk)
                            continue
                        chat_message = getattr(item, "chat_message", None)
                        if chat_message is not None:
                            text = _message_text(chat_message)
                            usage = getattr(chat_message, "models_usage", None)
                if text is None:
                    raise ValueError("the stream ended without a final answer")
                outcome.update(
                    text=text.strip(),
                    prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                    completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
                    cached_tokens=int(sink.get("cached_tokens", 0)),
                    attempts=attempt,
                    yes_prob=_yes_probability(sink.get("first_logprob")),
                )
                return
            except TimeoutError:
                raise TurnError(FAIL_TIMEOUT, f"no complete answer within the {s.turn_timeout:g} s turn deadline (attempt {attempt})") from None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - sorted below; unknown errors end the debate
                c = classify_error(exc, rt.endpoint)
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
                if c.refused:
                    raise ProviderRefused(c.message) from None
                if not c.retry:
                    raise TurnError(c.kind, c.message) from None
                if attempt >= s.attempts:
                    raise TurnError(c.kind, f"{c.message} (gave up after {attempt} attempt{'s' if attempt != 1 else ''})") from None
                delay = backoff_delay(attempt, c.retry_after, base=s.retry_base_delay)
                if loop.time() + delay >= deadline:
                    raise TurnError(FAIL_TIMEOUT, f"{c.message}; the next attempt would pass the {s.turn_timeout:g} s turn deadline") from None
                log.info("%s: attempt %d failed (%s); retrying in %.2f s", turn.label, attempt, c.message, delay)
                yield TurnRetrying(turn, attempt, delay, c.message)
                await asyncio.sleep(delay)
            finally:
                _usage_details.reset(token)

    def _build_agent(
        self,
        turn: Turn,
        rt: _RoleRuntime,
        preset: Preset,
        media_images: Sequence[Any],
        examples: Sequence[tuple[list[Any], str]],
        state: _DebateState,
        frames: int,
    ) -> tuple[Any, list[Any]]:
        """A fresh agent for this turn and the message(s) to hand it.

        flat: system + ONE user message [examples…, media…, caption, transcript, instruction].
        chat: system, example user/assistant pairs, a user message with the media, then the
              debate as messages (this agent's own turns as assistant), then the instruction.
        """
        from autogen_agentchat.agents import AssistantAgent
        from autogen_agentchat.messages import MultiModalMessage, TextMessage
        from autogen_core.model_context import UnboundedChatCompletionContext
        from autogen_core.models import AssistantMessage, UserMessage

        s = self.settings
        system = preset.system_prompt(turn.role, s.rounds, frames)
        instruction = preset.instruction(turn, s.rounds, frames)
        item_parts = _media_parts(media_images, preset.kind) + [media_caption(preset.kind, frames) + "\n" + preset.question.strip()]
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
            context = UnboundedChatCompletionContext()
            messages: list[Any] = [MultiModalMessage(content=content, source="moderator")]
        else:
            initial: list[Any] = []
            for i, (images, answer) in enumerate(examples, 1):
                initial.append(UserMessage(content=[f"Example {i}:", *images], source="moderator"))
                initial.append(AssistantMessage(content=answer, source=turn.role.value))
            initial.append(UserMessage(content=item_parts, source="moderator"))
            for said in state.said:
                if said.turn.role is turn.role:
                    initial.append(AssistantMessage(content=said.text, source=turn.role.value))
                else:
                    initial.append(UserMessage(content=f"[{said.turn.label}]\n{said.text}", source=said.turn.role.value))
            context = UnboundedChatCompletionContext(initial_messages=initial)
            messages = [TextMessage(content=instruction, source="moderator")]
        agent = AssistantAgent(
            name=turn.role.value,
            model_client=rt.client,
            system_message=system,
            model_client_stream=True,
            model_context=context,
        )
        return agent, messages

    # ------------------------------------------------------------------ connection test
    async def check_connection(self, role: Role | str = Role.JUDGE) -> str:
        """Ask the role's server for its models and one tiny completion; a plain-words report.

        Raises ConfigError with a reason a person can act on.
        """
        import openai

        role = Role(role)
        ep = self.settings.endpoint(role)
        key = ep.resolve_key()
        client = openai.AsyncOpenAI(api_key=key, base_url=ep.resolved_base_url(), timeout=min(20.0, self.settings.read_timeout), max_retries=0)
        del key
        try:
            try:
                models = [m.id async for m in client.models.list()]
            except openai.NotFoundError:
                models = []  # some servers have no /models; the completion below decides
            reply = await client.chat.completions.create(
                model=ep.resolved_model(), messages=[{"role": "user", "content": "Reply with the single word: ok"}], max_tokens=5
            )
        except Exception as exc:  # noqa: BLE001
            c = classify_error(exc, ep)
            raise ConfigError(c.message) from None
        finally:
            await client.close()
        listed = "" if not models or ep.resolved_model() in models else f" (note: not in the server's list of {len(models)} models)"
        answer = (reply.choices[0].message.content or "").strip() if reply.choices else ""
        return f"{ep.resolved_base_url()} answered; the key was accepted; model {ep.resolved_model()!r} replied {answer[:40]!r}{listed}"


def _cancellation_token() -> Any:
    from autogen_core import CancellationToken

    return CancellationToken()


def _media_parts(images: Sequence[Any], kind: str) -> list[Any]:
    if kind == "image" or len(images) == 1:
        return list(images)
    parts: list[Any] = []
    for i, im in enumerate(images, 1):
        parts.append(f"Frame {i} of {len(images)}:")
        parts.append(im)
    return parts


def _chunk_text(item: Any) -> str | None:
    from autogen_agentchat.messages import ModelClientStreamingChunkEvent

    if isinstance(item, ModelClientStreamingChunkEvent):
        return item.content
    return None


def _message_text(message: Any) -> str:
    content = getattr(message, "content", "")
    return content if isinstance(content, str) else str(content)


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
