"""The server half of `vhd-annotator doctor`: what each role's endpoint really does.

For every distinct endpoint (roles that share server, model and key variable are asked once)
it sends real requests with the openai client, built as the engine builds it (the role's base
URL, the key from the role's variable, no client-side retries):

1. ``GET /models``: the server answers, the key is accepted, the model is listed;
2. a tiny PNG with a 5-token answer: the model takes images;
3. a streamed request asking for usage: streaming works and usage is reported;
4. the same request again: the server reports cached prompt tokens on a repeat;
5. for the judge, a request with ``logprobs``: the server offers log-probabilities.

A key is never printed: every message is scrubbed of it before it is shown.
"""

from __future__ import annotations

import base64
import os
import re
import struct
import time
import zlib
from dataclasses import dataclass
from typing import Any

from vhd_gui.checks import FAIL, OK, SKIP, WARN, Report
from vhd_gui.config import DEFAULT_KEY_ENV, RoleEndpoint, Settings, is_local_url
from vhd_gui.protocol import Role

# Long enough (over 1024 tokens) that hosted APIs with prompt caching cache it on a repeat.
_CACHE_PROBE_PREFIX = "You check that a server caches prompts. " + " ".join(f"Line {i}: this text only fills the prompt." for i in range(160))


def tiny_png(width: int = 8, height: int = 8, rgb: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    """A solid-colour PNG, made with zlib so that this module needs no imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes(rgb) * width
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def scrub(text: str, key: str | None) -> str:
    """``text`` with the key (and anything that looks like a secret key) blanked out."""
    if key:
        text = text.replace(key, "[key]")
        if len(key) > 12:
            text = text.replace(key[:8], "[key]").replace(key[-6:], "[key]")
    return re.sub(r"\b(sk|key|api)[-_][A-Za-z0-9_\-*]{6,}", r"\1-…", text)


@dataclass
class _Target:
    roles: list[str]
    endpoint: RoleEndpoint

    @property
    def label(self) -> str:
        return "+".join(self.roles)


def distinct_endpoints(settings: Settings) -> list[_Target]:
    roles = [Role.AFFIRMATIVE, Role.NEGATIVE, Role.JUDGE] + ([Role.CRITIC] if settings.critic else [])
    out: list[_Target] = []
    for role in roles:
        ep = settings.endpoint(role)
        ident = (ep.resolved_base_url(), ep.resolved_model(), ep.api_key_env, ep.api_key)
        for t in out:
            other = t.endpoint
            if (other.resolved_base_url(), other.resolved_model(), other.api_key_env, other.api_key) == ident:
                t.roles.append(role.value)
                break
        else:
            out.append(_Target([role.value], ep))
    return out


def _describe(exc: BaseException, url: str, key_env: str, key: str | None) -> str:
    import openai

    if isinstance(exc, openai.APITimeoutError):
        text = f"no answer from {url} in time"
    elif isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        text = f"cannot reach {url}: {type(cause).__name__}: {cause}"
    elif isinstance(exc, openai.AuthenticationError):
        text = f"the server refused the key from ${key_env} (HTTP 401)"
    elif isinstance(exc, openai.APIStatusError):
        message = exc.message
        body = exc.body
        if isinstance(body, dict):
            message = str((body.get("error") or body).get("message") if isinstance(body.get("error") or body, dict) else message)
        text = f"HTTP {exc.status_code}: {message}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return scrub(text, key)


def check_endpoint(report: Report, target: _Target, settings: Settings, *, judge: bool) -> None:
    """Run the probes for one endpoint and add one line per finding to ``report``."""
    import openai

    ep = target.endpoint
    url = ep.resolved_base_url()
    model = ep.resolved_model()
    who = target.label
    key_env = ep.api_key_env or DEFAULT_KEY_ENV
    key: str | None = ep.api_key or os.environ.get(key_env, "").strip() or None
    if ep.api_key:
        report.add(f"{who}: key", OK, "a key is held in memory (from the config file or the window), not printed")
    elif key:
        report.add(f"{who}: key", OK, f"${key_env} is set ({len(key)} characters, not printed)")
    elif is_local_url(url):
        report.add(f"{who}: key", OK, f"${key_env} is not set; {url} is local, so a placeholder key is sent")
        key = None
    else:
        report.add(f"{who}: key", FAIL, f"${key_env} is not set: export it (or pick another variable with --api-key-env) for {url}")
        report.add(f"{who}: server", SKIP, f"{url} not asked without a key")
        return
    client = openai.OpenAI(api_key=key or "no-key-needed", base_url=url, timeout=min(30.0, settings.read_timeout), max_retries=0)
    try:
        _probe(report, client, who, url, model, key_env, key, judge=judge)
    finally:
        client.close()


def _probe(report: Report, client: Any, who: str, url: str, model: str, key_env: str, key: str | None, *, judge: bool) -> None:
    import openai

    def describe(exc: BaseException) -> str:
        return _describe(exc, url, key_env, key)

    # 1. reachable, key accepted, model listed
    started = time.perf_counter()
    try:
        listed = [m.id for m in client.models.list()]
    except openai.AuthenticationError as exc:
        report.add(f"{who}: server", OK, f"{url} answers")
        report.add(f"{who}: key accepted", FAIL, describe(exc))
        return
    except openai.NotFoundError:
        listed = None
        report.add(f"{who}: server", OK, f"{url} answers (it has no /models list)")
    except openai.APIStatusError as exc:
        report.add(f"{who}: server", FAIL, describe(exc))
        return
    except openai.APIError as exc:
        report.add(f"{who}: server", FAIL, describe(exc))
        return
    else:
        report.add(f"{who}: server", OK, f"{url} answers ({(time.perf_counter() - started) * 1000:.0f} ms)")
        report.add(f"{who}: key accepted", OK, "the server accepted the key" if key else "the server needs no key")
    if listed is not None:
        if model in listed:
            report.add(f"{who}: model listed", OK, f"{model!r} is among the {len(listed)} models the server lists")
        else:
            some = ", ".join(listed[:5]) + (", …" if len(listed) > 5 else "")
            report.add(f"{who}: model listed", FAIL, f"{model!r} is not among the server's models: {some or '(none)'}")

    # 2. an image
    image = "data:image/png;base64," + base64.b64encode(tiny_png()).decode()
    try:
        client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": [
                {"type": "text", "text": "What colour is this image? One word."},
                {"type": "image_url", "image_url": {"url": image}},
            ]}],
            max_tokens=5,
        )
    except openai.APIError as exc:
        report.add(f"{who}: accepts an image", FAIL, describe(exc))
        return
    report.add(f"{who}: accepts an image", OK, f"{model!r} answered a request with an 8x8 image")

    # 3 + 4. streaming with usage, then the same request again for cached tokens
    messages = [{"role": "system", "content": _CACHE_PROBE_PREFIX}, {"role": "user", "content": "Reply with the single word: ok"}]
    usages: list[Any] = []
    for attempt in range(2):
        try:
            stream = client.chat.completions.create(
                model=model, messages=messages, max_tokens=5, stream=True, stream_options={"include_usage": True}
            )
            chunks = 0
            text = ""
            usage = None
            for chunk in stream:
                chunks += 1
                if chunk.choices and chunk.choices[0].delta and chunk.choices[0].delta.content:
                    text += chunk.choices[0].delta.content
                if getattr(chunk, "usage", None):
                    usage = chunk.usage
        except openai.APIError as exc:
            report.add(f"{who}: streaming", FAIL, describe(exc))
            return
        usages.append(usage)
        if attempt == 0:
            if chunks and text:
                report.add(f"{who}: streaming", OK, f"{chunks} chunks streamed")
            else:
                report.add(f"{who}: streaming", FAIL, f"the stream ended with no text ({chunks} chunks)")
            if usage is not None:
                report.add(f"{who}: usage reported", OK, f"{usage.prompt_tokens} prompt + {usage.completion_tokens} completion tokens")
            else:
                report.add(f"{who}: usage reported", WARN, "the server reports no token usage: costs and budgets will read 0")
                break
    if len(usages) == 2:
        details = getattr(usages[1], "prompt_tokens_details", None) if usages[1] is not None else None
        cached = getattr(details, "cached_tokens", None) if details is not None else None
        if cached:
            report.add(f"{who}: cached tokens", OK, f"{cached} of {usages[1].prompt_tokens} prompt tokens served from the server's cache on a repeat")
        else:
            report.add(f"{who}: cached tokens", WARN, "a repeated prompt reported no cached tokens (no prompt caching, or the server does not say)")

    # 5. log-probabilities, which only the judge asks for
    if judge:
        try:
            reply = client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "Answer Yes or No: is the sky blue?"}], max_tokens=3, logprobs=True, top_logprobs=5
            )
        except openai.BadRequestError as exc:
            report.add(f"{who}: logprobs", WARN, f"refused ({describe(exc)}); the judge's confidence will be missing")
            return
        except openai.APIError as exc:
            report.add(f"{who}: logprobs", FAIL, describe(exc))
            return
        lp = reply.choices[0].logprobs if reply.choices else None
        if lp is not None and getattr(lp, "content", None):
            report.add(f"{who}: logprobs", OK, "offered: the judge's verdicts get a confidence")
        else:
            report.add(f"{who}: logprobs", WARN, "accepted but none returned; the judge's confidence will be missing")


def check_endpoints(report: Report, settings: Settings) -> None:
    for target in distinct_endpoints(settings):
        check_endpoint(report, target, settings, judge=Role.JUDGE.value in target.roles)
