"""Every place the engine leans on a private name of AutoGen or openai, in one module.

What AutoGen still does for the engine: its message types (``SystemMessage``, ``UserMessage``,
``AssistantMessage``, ``Image``) describe a request, and its OpenAI client turns them and the
role's settings (model, temperature, max_tokens, logprobs, the model's capabilities, whether
a message carries a ``name``) into the arguments of an openai chat-completions call, and owns
the openai HTTP client. The engine reads the answer stream itself (see :func:`sse_payloads`),
because AutoGen's stream handling mixes a reasoning model's thinking into the answer's text
chunks, accepts a stream cut before its end, and turns an empty answer into ``""``.

Each function below names the private thing it uses and why; ``tests/test_autogen_adapter.py``
checks each one still exists in the installed versions, so an upgrade that moves one fails
there with a clear message instead of in the middle of a debate.
"""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

# The stream ended with the server's own end marker.
DONE = object()


def request_arguments(client: Any, messages: Sequence[Any], extra: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """The openai ``messages`` and keyword arguments AutoGen would send for ``messages``.

    Uses ``BaseOpenAIChatCompletionClient._process_create_args`` (private): it is the one place
    AutoGen converts its message types (merging system messages, images as ``image_url``
    parts, no ``name`` field when ``include_name_in_message`` is off) and merges the client's
    settings with per-request ones. Calling it directly, instead of ``create_stream``, lets the
    engine read the stream itself.
    """
    params = client._process_create_args(messages, [], "auto", None, dict(extra))
    return list(params.messages), dict(params.create_args)


# Keyword arguments of openai's ``create`` that are request options, not fields of the body
# (AutoGen passes the client's ``timeout`` with every request; the others are sent by ``create``).
_REQUEST_OPTIONS = ("extra_headers", "extra_query", "extra_body")


async def open_chat_stream(client: Any, messages: list[Any], create_args: dict[str, Any]) -> Any:
    """Send the request with streaming on; returns openai's ``AsyncStream``.

    Uses ``BaseOpenAIChatCompletionClient._client`` (private): the ``openai.AsyncOpenAI`` (or
    ``AsyncAzureOpenAI``) AutoGen built from the role's settings. Reusing it keeps one
    connection pool per role, as ``create_stream`` does.

    The request goes through that client's public ``post`` with the body AutoGen built,
    instead of ``chat.completions.create``: ``create`` walks the whole body through openai's
    typed-dict transform on every request (every message part, every image's data URI), which
    changes nothing in a chat request (no aliases, no formats) but cost a batch's event loop
    about 3 ms per request at concurrency 32. Auth headers, retries, the Azure deployment path
    and the stream are the client's own, as with ``create``; ``tests/test_autogen_adapter.py``
    checks that the transform still leaves such a body as it is.
    """
    from openai import AsyncStream
    from openai.types.chat import ChatCompletion, ChatCompletionChunk

    if any(k in create_args for k in _REQUEST_OPTIONS):
        # Options that are not body fields: let ``create`` sort them out.
        return await client._client.chat.completions.create(messages=messages, stream=True, **create_args)
    body = {k: v for k, v in create_args.items() if k != "timeout"}
    body.update(messages=messages, stream=True)
    options: dict[str, Any] = {"security": {"bearer_auth": True}}
    if "timeout" in create_args:
        options["timeout"] = create_args["timeout"]
    return await client._client.post(
        "/chat/completions",
        body=body,
        options=options,
        cast_to=ChatCompletion,
        stream=True,
        stream_cls=AsyncStream[ChatCompletionChunk],
    )


async def sse_payloads(stream: Any) -> AsyncIterator[Any]:
    """The events of a chat-completions stream: each a ``ChatCompletionChunk``, then
    :data:`DONE` if the server sent ``[DONE]``.

    Replaces openai's ``AsyncStream.__aiter__`` for three reasons: it parses each chunk with
    pydantic-core in one call (20x faster than openai's per-field construction; a batch's
    event loop spent a third of its time there), it tells the caller whether ``[DONE]``
    arrived (openai ends the iteration the same way whether the server finished or the
    connection was closed early), and an error event mid-stream still raises
    ``openai.APIError`` as the library does. Private names used:
    ``AsyncStream._iter_events`` (the decoded server-sent events),
    ``AsyncStream._client._process_response_data`` (openai's lenient parser, for chunks
    pydantic rejects) and ``openai._streaming_cleanup.drain_response_async`` (reads the rest
    of an HTTP/1.1 body after ``[DONE]`` so the connection is reused for the next turn).
    """
    import openai
    import pydantic
    from openai._streaming_cleanup import drain_response_async
    from openai.types.chat import ChatCompletionChunk

    response = stream.response
    async for sse in stream._iter_events():
        data = sse.data
        if data.startswith("[DONE]"):
            if response.http_version == "HTTP/1.1":
                await drain_response_async(response)
            yield DONE
            return
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


def jpeg_image_class() -> Any:
    """An AutoGen ``Image`` that sends our prepared JPEG as it is.

    Overrides ``autogen_core.Image.__init__`` (which decodes to PIL and keeps only the pixels)
    and ``to_base64``/``data_uri`` (which re-encode those pixels as PNG on every request: a
    1080p image froze the window for 1.5 s). AutoGen builds the ``image_url`` part from
    ``data_uri`` in ``Image.to_openai_format``; ``.image`` still decodes on demand for any
    AutoGen code that asks for the pixels.
    """
    global _IMAGE_CLASS
    if _IMAGE_CLASS is not None:
        return _IMAGE_CLASS
    from autogen_core import Image
    from PIL import Image as PILImage

    class _JpegImage(Image):
        def __init__(self, jpeg: bytes, width: int = 0, height: int = 0) -> None:
            self._jpeg = jpeg
            self._b64 = base64.b64encode(jpeg).decode("ascii")
            self._uri = "data:image/jpeg;base64," + self._b64
            self._pil: Any = None
            self.width = width
            self.height = height

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
