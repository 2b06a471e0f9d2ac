"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks.

It speaks ``GET /v1/models`` and ``POST /v1/chat/completions`` (plain JSON and SSE streaming
with ``stream_options.include_usage``), answers per debate role (read from the system prompt),
simulates a provider's prefix cache (``prompt_tokens_details.cached_tokens``), and has
switchable faults: 429 with Retry-After, 500, a 400 content-policy refusal, a hang, a
malformed stream, a dropped connection, and strict role alternation as in Gemma/Mistral chat
templates. It also misbehaves the ways proxies and small servers do (an HTML page or a body
that is not JSON with status 200, ``choices: []``, ``content: null``, an empty answer, a
stream cut cleanly before it finished), speaks the unknown-model errors of OpenAI, vLLM,
Ollama and LiteLLM, streams a reasoning model's thinking (``reasoning_content`` or inline
``<think>``), and can send no usage or refuse ``stream_options``. It runs in a daemon thread:
``with FakeServer() as srv: srv.base_url``.
"""

from __future__ import annotations

import json
import math
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

DEFAULT_ANSWERS = {
    "affirmative": "1. The scene shows a raised knife. 2. A person looks frightened. 3. It could distress viewers.",
    "negative": "1. The knife is a kitchen tool in use. 2. Nobody is threatened. 3. It is an ordinary cooking photo.",
    "judge": "No, ordinary cooking scene.",
    "critic": "The judge weighed the context well.\nAgree.",
}

Answer = str | Callable[[dict[str, Any]], str]


def role_of(body: dict[str, Any]) -> str:
    """Which debate role a request is for, read from its system prompt (our presets' wording)."""
    system = ""
    for m in body.get("messages", []):
        if m.get("role") in ("system", "developer"):
            system = _text_of(m.get("content"))
            break
    if "AFFIRMATIVE" in system:
        return "affirmative"
    if "NEGATIVE" in system:
        return "negative"
    if re.search(r"judge of", system, re.I):
        return "judge"
    if re.search(r"finished debate", system, re.I):
        return "critic"
    return "other"


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def request_units(body: dict[str, Any]) -> list[tuple[str, int]]:
    """A request as (fingerprint, tokens) units in order, the way a prefix cache sees it.

    Text counts one token per 4 characters; an image counts 765 tokens (a 1024 px image at
    OpenAI's high detail). Roles and names are part of the fingerprint, as in a real prompt.
    """
    units: list[tuple[str, int]] = []
    for m in body.get("messages", []):
        head = f"<{m.get('role')}:{m.get('name', '')}>"
        units.append((head, 4))
        content = m.get("content")
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else (content or [])
        for p in parts:
            if p.get("type") == "text":
                text = p.get("text", "")
                # Split long text into 64-character blocks so a shared beginning is cacheable.
                for i in range(0, len(text), 64):
                    block = text[i : i + 64]
                    units.append(("t:" + block, max(1, math.ceil(len(block) / 4))))
            elif p.get("type") == "image_url":
                url = p.get("image_url", {}).get("url", "")
                units.append(("i:" + str(hash(url)), 765))
    return units


# Answers that are not answers, each with status 200 (``Fault`` kinds).
BAD_ANSWERS = ("html", "not-json", "json-not-completion", "no-choices", "content-null", "empty", "cut", "empty-stream")

# How servers say they have no such model: (status, body) with the model's name as {model}.
UNKNOWN_MODEL_ERRORS: dict[str, tuple[int, Any]] = {
    # OpenAI: 404 with an error object and code model_not_found
    "openai": (
        404,
        {"error": {"message": "The model `{model}` does not exist or you do not have access to it.", "type": "invalid_request_error", "param": None, "code": "model_not_found"}},
    ),
    # vLLM: 404, a flat error object
    "vllm": (404, {"object": "error", "message": "The model `{model}` does not exist.", "type": "NotFoundError", "param": None, "code": 404}),
    # Ollama's OpenAI-compatible endpoint: 404
    "ollama": (404, {"error": {"message": "model '{model}' not found", "type": "api_error", "param": None, "code": None}}),
    # The LiteLLM gateway: 400, the message itself an object
    "litellm": (
        400,
        {
            "error": {
                "message": {"error": "/chat/completions: Invalid model name passed in model={model}. Call `/v1/models` to view available models for your key."},
                "type": "None",
                "param": "None",
                "code": "400",
            }
        },
    ),
}


@dataclass
class Fault:
    """One injected failure. ``kind``: 429, 500, 400-policy, 401, hang, malformed, disconnect,
    or one of BAD_ANSWERS."""

    kind: str
    retry_after: float | None = None  # seconds, for 429
    after_tokens: int = 2  # for malformed/disconnect: how many tokens to send first


@dataclass
class Stats:
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    server_seconds: float = 0.0  # time spent answering, from request read to last byte sent


class FakeServer:
    def __init__(
        self,
        *,
        answers: dict[str, Answer] | None = None,
        api_key: str | None = "test-key",
        models: tuple[str, ...] = ("fake-vlm", "fake-judge"),
        token_delay: float = 0.0,
        first_token_delay: float = 0.0,
        strict_alternation: bool = False,
        fault_rates: dict[str, float] | None = None,
        retry_after: float = 0.05,
        seed: int = 0,
        logprobs_yes: float | None = None,
        reject_logprobs: bool = False,
        unknown_model_style: str = "openai",
        reasoning: dict[str, str] | None = None,
        chunk_chars: int = 0,
        send_usage: bool = True,
        reject_stream_options: bool = False,
        list_models: bool = True,
    ) -> None:
        self.answers: dict[str, Answer] = dict(DEFAULT_ANSWERS)
        if answers:
            self.answers.update(answers)
        self.api_key = api_key
        self.models = models
        self.token_delay = token_delay
        self.first_token_delay = first_token_delay
        self.strict_alternation = strict_alternation
        self.fault_rates = dict(fault_rates or {})
        self.retry_after = retry_after
        self.logprobs_yes = logprobs_yes
        self.reject_logprobs = reject_logprobs  # answer 400 to a request that asks for logprobs
        self.unknown_model_style = unknown_model_style  # whose unknown-model error to send
        self.reasoning = dict(reasoning or {})  # per role: thinking streamed as delta.reasoning_content
        self.reasoning_field = "reasoning_content"  # DeepSeek, SGLang, older vLLM; newer vLLM says "reasoning"
        self.chunk_chars = chunk_chars  # >0: stream the answer in pieces of this many characters
        self.send_usage = send_usage  # False: no usage in any answer, as some servers do
        self.zero_usage = False  # True: a usage whose counts are all 0, as some servers send
        self.list_models = list_models  # False: GET /models answers 404, as some gateways do
        self.force_whole_completion = False  # True: answer stream=true with one JSON completion
        self.reject_stream_options = reject_stream_options  # 400 to a request with stream_options
        self.faults: deque[Fault] = deque()  # consumed one per chat request, before rates apply
        self.role_faults: dict[str, deque[Fault]] = {}  # consumed by requests of that role
        self.requests: list[dict[str, Any]] = []
        self.keep_requests = True  # a long benchmark turns this off to keep memory flat
        self.simulate_cache = True
        self.stats = Stats()
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._seen_prefixes: set[tuple[str, ...]] = set()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> FakeServer:
        server = self

        class Handler(_Handler):
            fake = server

        self._httpd = _HTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fakeserver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ helpers for tests
    def inject(self, *faults: Fault | str, role: str | None = None) -> None:
        for f in faults:
            fault = Fault(f) if isinstance(f, str) else f
            if role is None:
                self.faults.append(fault)
            else:
                self.role_faults.setdefault(role, deque()).append(fault)

    def roles_seen(self) -> list[str]:
        with self._lock:
            return [role_of(b) for b in self.requests]

    def _next_fault(self, role: str) -> Fault | None:
        with self._lock:
            q = self.role_faults.get(role)
            if q:
                return q.popleft()
            if self.faults:
                return self.faults.popleft()
            for kind, rate in self.fault_rates.items():
                if self._rng.random() < rate:
                    return Fault(kind)
        return None

    def _account(self, body: dict[str, Any]) -> tuple[int, int]:
        """Prompt tokens of a request and how many a prefix cache would have served."""
        units = request_units(body)
        total = sum(t for _, t in units)
        if not self.simulate_cache:
            return total, 0
        keys = tuple(k for k, _ in units)
        cached = 0
        with self._lock:
            # Longest prefix already seen, in whole units (real caches work in blocks too).
            n = len(keys)
            best = 0
            for i in range(n, 0, -1):
                if keys[:i] in self._seen_prefixes:
                    best = i
                    break
            cached = sum(t for _, t in units[:best])
            for i in range(1, n + 1):
                self._seen_prefixes.add(keys[:i])
            self.stats.prompt_tokens += total
            self.stats.cached_tokens += cached
        return total, cached

    def answer_for(self, role: str, body: dict[str, Any]) -> str:
        a = self.answers.get(role, "I have nothing to add.")
        return a(body) if callable(a) else a

    def sleep(self, seconds: float) -> bool:
        """Sleep unless the server stops first; False if it stopped."""
        return not self._stopping.wait(seconds)


class _Pace:
    """One answer's timetable: each wait ends ``seconds`` after the previous one was due, not
    after it returned, so a busy machine does not stretch every token of every stream (a real
    server generates at its own pace however many clients read)."""

    def __init__(self, fake: FakeServer) -> None:
        self.fake = fake
        self.due = time.monotonic()

    def wait(self, seconds: float) -> bool:
        """Sleep until the next step is due, unless the server stops first; False if it stopped."""
        self.due += seconds
        return not self.fake._stopping.wait(max(0.0, self.due - time.monotonic()))


class _HTTPServer(ThreadingHTTPServer):
    # Room for many clients connecting at once (a batch at concurrency 32 opens 32
    # connections in the same instant; socketserver's default backlog of 5 resets some).
    request_queue_size = 256


class _Handler(BaseHTTPRequestHandler):
    fake: FakeServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr
        pass

    # ------------------------------------------------------------------ plumbing
    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _send_raw(self, status: int, ctype: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, type_: str, code: str | None = None, headers: dict[str, str] | None = None) -> None:
        self._send_json(status, {"error": {"message": message, "type": type_, "param": None, "code": code}}, headers)

    def _chunk(self, data: bytes) -> None:
        if data == b"data: [DONE]\n\n":
            self._answered()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _authorized(self) -> bool:
        if self.fake.api_key is None:
            return True
        if self.headers.get("Authorization", "") == f"Bearer {self.fake.api_key}":
            return True
        self._error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        return False

    # ------------------------------------------------------------------ routes
    def do_GET(self) -> None:  # noqa: N802
        if self.path.rstrip("/").endswith("/models") and self.fake.list_models:
            if not self._authorized():
                return
            self._send_json(200, {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "fake"} for m in self.fake.models]})
        else:
            self._error(404, f"no route {self.path}", "invalid_request_error")

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length", "0") or 0)
        raw = self.rfile.read(length)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._error(404, f"no route {self.path}", "invalid_request_error")
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._error(400, "request body is not JSON", "invalid_request_error")
            return
        fake = self.fake
        began = time.perf_counter()
        with fake._lock:
            if fake.keep_requests:
                fake.requests.append(body)
            fake.stats.requests += 1
            fake.stats.in_flight += 1
            fake.stats.max_in_flight = max(fake.stats.max_in_flight, fake.stats.in_flight)
        self._answering = True
        try:
            self._chat(body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            self._answered()
            with fake._lock:
                fake.stats.server_seconds += time.perf_counter() - began

    def _answered(self) -> None:
        """The request leaves the in-flight count once, as its answer is complete: just before
        the final ``[DONE]`` (a client may start its next request the moment it reads it)."""
        if getattr(self, "_answering", False):
            self._answering = False
            with self.fake._lock:
                self.fake.stats.in_flight -= 1

    def _chat(self, body: dict[str, Any]) -> None:
        fake = self.fake
        pace = _Pace(fake)
        if not self._authorized():
            return
        model = body.get("model", "")
        if model not in fake.models:
            status, template = UNKNOWN_MODEL_ERRORS[fake.unknown_model_style]
            self._send_json(status, json.loads(json.dumps(template).replace("{model}", str(model))))
            return
        if fake.reject_stream_options and "stream_options" in body:
            # A server whose request schema forbids unknown fields (pydantic's wording).
            message = "[{'type': 'extra_forbidden', 'loc': ('body', 'stream_options'), 'msg': 'Extra inputs are not permitted'}]"
            self._send_json(400, {"object": "error", "message": message, "type": "BadRequestError", "param": None, "code": 400})
            return
        if fake.strict_alternation:
            problem = _alternation_problem(body.get("messages", []))
            if problem:
                self._error(400, problem, "BadRequestError")
                return
        if fake.reject_logprobs and body.get("logprobs"):
            self._error(400, "logprobs is not supported by this model", "invalid_request_error", "unsupported_parameter")
            return
        role = role_of(body)
        fault = fake._next_fault(role)
        if fault is not None and fault.kind not in ("malformed", "disconnect", "cut", "no-choices", "content-null", "empty", "content-filter", "empty-stream"):
            self._fault(fault)
            return
        prompt_tokens, cached = fake._account(body)
        text = fake.answer_for(role, body)
        if fake.chunk_chars > 0:
            tokens = [text[i : i + fake.chunk_chars] for i in range(0, len(text), fake.chunk_chars)] or [""]
        else:
            tokens = re.findall(r"\s*\S+", text) or [""]
        thinking = fake.reasoning.get(role, "")
        think_tokens = re.findall(r"\s*\S+", thinking)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(tokens),
            "total_tokens": prompt_tokens + len(tokens),
            "prompt_tokens_details": {"cached_tokens": cached},
        }
        if fake.zero_usage:
            usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        if fake.first_token_delay and not pace.wait(fake.first_token_delay):
            return
        if not body.get("stream") or fake.force_whole_completion:
            msg = {"role": "assistant", "content": text}
            if thinking:
                msg["reasoning_content"] = thinking
            choice: dict[str, Any] = {"index": 0, "message": msg, "finish_reason": "stop"}
            if body.get("logprobs"):
                choice["logprobs"] = {"content": _logprobs(tokens[:1], fake.logprobs_yes)}
            whole = {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": model, "choices": [choice]}
            if fake.send_usage:
                whole["usage"] = usage
            self._send_json(200, whole)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}

        def event(obj: dict[str, Any]) -> None:
            self._chunk(b"data: " + json.dumps({**base, **obj}).encode() + b"\n\n")

        if fault is not None and fault.kind == "empty-stream":
            self._chunk(b"")  # an event stream with no events at all
            return
        if fault is not None and fault.kind == "content-filter":
            # Azure's way of withholding an answer its filter stopped: finish_reason content_filter.
            event({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})
            event({"choices": [{"index": 0, "delta": {}, "finish_reason": "content_filter"}]})
            self._chunk(b"data: [DONE]\n\n")
            self._chunk(b"")
            return
        if fault is not None and fault.kind in ("no-choices", "content-null", "empty"):
            # A well-formed stream that carries no answer.
            if fault.kind == "no-choices":
                event({"choices": []})
            else:
                content = None if fault.kind == "content-null" else ""
                event({"choices": [{"index": 0, "delta": {"role": "assistant", "content": content}, "finish_reason": None}]})
                event({"choices": [{"index": 0, "delta": {"content": content}, "finish_reason": "stop"}]})
            self._chunk(b"data: [DONE]\n\n")
            self._chunk(b"")
            return
        event({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})
        for tok in think_tokens:
            if fake.token_delay and not pace.wait(fake.token_delay):
                return
            event({"choices": [{"index": 0, "delta": {fake.reasoning_field: tok}, "finish_reason": None}]})
        for i, tok in enumerate(tokens):
            if fault is not None and i == fault.after_tokens:
                if fault.kind == "malformed":
                    self._chunk(b'data: {"id": "chatcmpl-fake", "choices": [{"delta": {"content": "brok\n\n')
                    self._chunk(b"")
                    self.close_connection = True
                    return
                if fault.kind == "cut":
                    # end the body cleanly, as a proxy that timed out upstream does: no finish_reason, no [DONE]
                    self._chunk(b"")
                    return
                # disconnect: drop the connection without finishing the chunked body
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if i and fake.token_delay and not pace.wait(fake.token_delay):
                return
            choice = {"index": 0, "delta": {"content": tok}, "finish_reason": None}
            if i == 0 and body.get("logprobs"):
                choice["logprobs"] = {"content": _logprobs([tok], fake.logprobs_yes)}
            self._chunk(b"data: " + json.dumps({**base, "choices": [choice]}).encode() + b"\n\n")
        self._chunk(b"data: " + json.dumps({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}).encode() + b"\n\n")
        if fake.send_usage and (body.get("stream_options") or {}).get("include_usage"):
            self._chunk(b"data: " + json.dumps({**base, "choices": [], "usage": usage}).encode() + b"\n\n")
        self._chunk(b"data: [DONE]\n\n")
        self._chunk(b"")

    def _fault(self, fault: Fault) -> None:
        kind = fault.kind
        if kind == "429":
            ra = fault.retry_after if fault.retry_after is not None else self.fake.retry_after
            self._error(429, "Rate limit reached; please retry later.", "requests", "rate_limit_exceeded", {"Retry-After": f"{ra:g}"})
        elif kind == "500":
            self._error(500, "The server had an error while processing your request.", "server_error")
        elif kind == "400-policy":
            self._error(
                400,
                "Your request was rejected as a result of our safety system.",
                "invalid_request_error",
                "content_policy_violation",
            )
        elif kind == "400-roles":
            # A strict chat template's complaint (Mistral's wording), whatever the layout.
            self._error(400, "Conversation roles must alternate user/assistant/user/assistant/...", "BadRequestError")
        elif kind == "401":
            self._error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        elif kind == "html":
            self._send_raw(200, "text/html; charset=utf-8", b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body><h1>Please sign in</h1></body></html>\n")
        elif kind == "not-json":
            self._send_raw(200, "text/plain", b"upstream connect error or disconnect/reset before headers. reset reason: overflow")
        elif kind == "json-not-completion":
            self._send_json(200, {"status": "ok", "queued": True})
        elif kind == "hang":
            while self.fake.sleep(0.05):
                pass
            self.close_connection = True
        else:
            raise ValueError(f"unknown fault {kind}")


def _alternation_problem(messages: list[dict[str, Any]]) -> str | None:
    """What a strict chat template (Gemma, Mistral on vLLM) would reject, or None."""
    roles = [m.get("role") for m in messages if m.get("role") not in ("system", "developer")]
    if any("name" in m for m in messages):
        return "Conversation messages may not carry a 'name' field with this chat template"
    if not roles or roles[0] != "user":
        return "Conversation must start with a user message after the system prompt"
    for a, b in zip(roles, roles[1:], strict=False):
        if a == b:
            return "Conversation roles must alternate user/assistant/user/assistant/..."
    return None


def _logprobs(tokens: list[str], p_yes: float | None) -> list[dict[str, Any]]:
    out = []
    for tok in tokens:
        p = p_yes if p_yes is not None else 0.9
        word = tok.strip().lower().rstrip(",.")
        lp_tok = math.log(p if word == "yes" else (1 - p) if word == "no" else 0.5)
        out.append(
            {
                "token": tok,
                "logprob": lp_tok,
                "bytes": list(tok.encode()),
                "top_logprobs": [
                    {"token": "Yes", "logprob": math.log(max(p, 1e-9)), "bytes": list(b"Yes")},
                    {"token": "No", "logprob": math.log(max(1 - p, 1e-9)), "bytes": list(b"No")},
                ],
            }
        )
    return out



# --------------------------------------------------------------------------- Azure OpenAI

AZURE_API_VERSIONS = ("2024-06-01", "2024-10-21", "2025-01-01-preview")
_AZURE_BAD_KEY = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key "
    "for an active subscription and use a correct regional API endpoint for your resource."
)
_AZURE_NO_DEPLOYMENT = "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again."
_AZURE_FILTER_OK = {c: {"filtered": False, "severity": "safe"} for c in ("hate", "self_harm", "sexual", "violence")}


class AzureFakeServer(FakeServer):
    """The same scripted server in Azure OpenAI's shape: ``POST
    /openai/deployments/{deployment}/chat/completions?api-version=V`` with the key in the
    ``api-key`` header (a Bearer token is refused), the deployment named by the path (the
    ``models`` are the deployments), no listing of deployments, Azure's error bodies (401,
    404 DeploymentNotFound, 404 Resource not found, 400 API version not supported, the
    content filter's 400, 429 with retry-after-ms) and the prompt-filter chunk a stream
    starts with. ``endpoint`` (also ``base_url``) is what a user sets as azure_endpoint."""

    def __init__(self, *, api_versions: tuple[str, ...] = AZURE_API_VERSIONS, **options: Any) -> None:
        super().__init__(**options)
        self.api_versions = api_versions
        self.paths: list[str] = []  # path and query of every chat request, as sent

    @property
    def endpoint(self) -> str:
        return super().base_url.removesuffix("/v1")

    @property
    def base_url(self) -> str:
        return self.endpoint

    def start(self) -> AzureFakeServer:
        super().start()
        server = self

        class Handler(_AzureHandler):
            fake = server

        assert self._httpd is not None
        self._httpd.RequestHandlerClass = Handler  # before anyone knows the port
        return self


class _AzureHandler(_Handler):
    fake: AzureFakeServer
    _deployment = ""
    _stream_started = False

    def _azure_error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        self._send_json(status, {"error": {"code": code, "message": message}}, headers)

    def _key_ok(self) -> bool:
        return self.fake.api_key is None or self.headers.get("api-key", "") == self.fake.api_key

    def _authorized(self) -> bool:
        if self._key_ok():
            return True
        self._azure_error(401, "401", _AZURE_BAD_KEY)
        return False

    def do_GET(self) -> None:  # noqa: N802 - Azure lists no deployments
        self._azure_error(404, "404", "Resource not found")

    def do_POST(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        match = re.fullmatch(r"/openai/deployments/([^/]+)/chat/completions", url.path)
        version = (parse_qs(url.query).get("api-version") or [""])[0]
        with self.fake._lock:
            self.fake.paths.append(self.path)
        if match is None or not version:
            problem: tuple[int, str, str] | None = (404, "404", "Resource not found")
        elif not self._key_ok():
            problem = (401, "401", _AZURE_BAD_KEY)
        elif version not in self.fake.api_versions:
            problem = (400, "BadRequest", "API version not supported")
        elif match.group(1) not in self.fake.models:
            problem = (404, "DeploymentNotFound", _AZURE_NO_DEPLOYMENT)
        else:
            problem = None
        if problem is not None:
            self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))  # keep the connection usable
            self._azure_error(*problem)
            return
        assert match is not None
        self._deployment = match.group(1)
        self._stream_started = False
        self.path = url.path  # the rest is the OpenAI-shaped server's work
        super().do_POST()

    def _chat(self, body: dict[str, Any]) -> None:
        super()._chat({**body, "model": self._deployment})  # Azure answers for the path's deployment

    def _chunk(self, data: bytes) -> None:
        if not self._stream_started and data.startswith(b"data: "):
            # Azure's streams open with the prompt's content-filter results and no choices.
            self._stream_started = True
            first = {"choices": [], "created": 0, "id": "", "model": "", "object": "",
                     "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": _AZURE_FILTER_OK}]}
            super()._chunk(b"data: " + json.dumps(first).encode() + b"\n\n")
        super()._chunk(data)

    def _fault(self, fault: Fault) -> None:
        if fault.kind == "400-policy":
            self._send_json(400, {"error": {
                "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. "
                           "Please modify your prompt and retry.",
                "type": None, "param": "prompt", "code": "content_filter", "status": 400,
                "innererror": {"code": "ResponsibleAIPolicyViolation",
                               "content_filter_result": {**_AZURE_FILTER_OK, "violence": {"filtered": True, "severity": "high"}}},
            }})
        elif fault.kind == "429":
            ra = fault.retry_after if fault.retry_after is not None else self.fake.retry_after
            self._azure_error(
                429, "429",
                f"Requests to the ChatCompletions_Create Operation under Azure OpenAI API version {AZURE_API_VERSIONS[1]} have exceeded "
                f"token rate limit of your current AIServices S0 pricing tier. Please retry after {math.ceil(ra)} seconds.",
                {"retry-after-ms": str(int(ra * 1000)), "retry-after": str(math.ceil(ra))},
            )
        elif fault.kind == "401":
            self._azure_error(401, "401", _AZURE_BAD_KEY)
        else:
            super()._fault(fault)


def _words(text: str, n: int) -> str:
    """``text`` repeated or cut to ``n`` words: a longer or shorter answer of the same kind."""
    words = text.split()
    return " ".join(words[i % len(words)] for i in range(n))


def main() -> None:
    """Serve from the command line (benchmarks run it in a process of its own)."""
    import argparse
    import sys

    ap = argparse.ArgumentParser(description="OpenAI-compatible test server on 127.0.0.1")
    ap.add_argument("--token-delay", type=float, default=0.0)
    ap.add_argument("--first-token-delay", type=float, default=0.0)
    ap.add_argument("--api-key", default=None)
    ap.add_argument("--answer-words", type=int, default=0, help="debaters answer with this many words (0: the default answers)")
    args = ap.parse_args()
    answers = {role: _words(DEFAULT_ANSWERS[role], args.answer_words) for role in ("affirmative", "negative")} if args.answer_words > 0 else None
    srv = FakeServer(api_key=args.api_key, token_delay=args.token_delay, first_token_delay=args.first_token_delay, answers=answers)
    srv.keep_requests = False
    srv.simulate_cache = False
    srv.start()
    print(srv.base_url, flush=True)
    try:
        sys.stdin.read()  # serve until the parent closes our stdin
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
