"""The private AutoGen and openai names vhd_gui/_autogen_adapter.py relies on, one test each.

An upgrade that moves one of them fails here, with the name and what to adapt, instead of in
the middle of a debate.
"""

from __future__ import annotations

import inspect
import io
from typing import Any

import pytest
from PIL import Image as PILImage

from vhd_gui import _autogen_adapter as adapter


def _require(owner: Any, name: str, used_by: str) -> Any:
    where = getattr(owner, "__qualname__", None) or getattr(owner, "__name__", repr(owner))
    if not hasattr(owner, name):
        pytest.fail(
            f"{where}.{name} is gone from the installed version: {used_by} in vhd_gui/_autogen_adapter.py needs adapting before this upgrade",
            pytrace=False,
        )
    return getattr(owner, name)


def _client() -> Any:
    from autogen_ext.models.openai import OpenAIChatCompletionClient

    info = {"vision": True, "function_calling": False, "json_output": False, "family": "unknown", "structured_output": False}
    return OpenAIChatCompletionClient(
        model="m", api_key="not-a-key", base_url="http://127.0.0.1:9/v1", model_info=info, include_name_in_message=False, temperature=0.3
    )


def _jpeg() -> bytes:
    buf = io.BytesIO()
    PILImage.new("RGB", (8, 6), (200, 0, 0)).save(buf, format="JPEG")
    return buf.getvalue()


def test_autogen_still_builds_requests_with_process_create_args() -> None:
    from autogen_core.models import SystemMessage, UserMessage
    from autogen_ext.models.openai._openai_client import BaseOpenAIChatCompletionClient

    method = _require(BaseOpenAIChatCompletionClient, "_process_create_args", "request_arguments()")
    params = list(inspect.signature(method).parameters)
    assert params[:6] == ["self", "messages", "tools", "tool_choice", "json_output", "extra_create_args"], (
        f"BaseOpenAIChatCompletionClient._process_create_args now takes {params}: adapt request_arguments()"
    )
    image = adapter.jpeg_image_class()(_jpeg(), 8, 6)
    messages, args = adapter.request_arguments(
        _client(),
        [SystemMessage(content="sys"), UserMessage(content=["look", image], source="moderator")],
        {"stream_options": {"include_usage": True}},
    )
    assert [m["role"] for m in messages] == ["system", "user"] and all("name" not in m for m in messages)
    parts = messages[1]["content"]
    assert parts[0] == {"type": "text", "text": "look"}
    assert parts[1]["type"] == "image_url" and parts[1]["image_url"]["url"] == image.data_uri
    assert args["model"] == "m" and args["temperature"] == 0.3 and args["stream_options"] == {"include_usage": True}


def test_autogen_still_keeps_its_openai_client_in_underscore_client() -> None:
    import openai

    inner = _require(_client(), "_client", "open_chat_stream()")
    assert isinstance(inner, openai.AsyncOpenAI), f"AutoGen's _client is now a {type(inner).__name__}: adapt open_chat_stream()"


def test_openai_stream_internals_the_chunk_reader_uses() -> None:
    import openai
    from openai import AsyncStream

    _require(AsyncStream, "_iter_events", "sse_payloads() (the decoded server-sent events)")
    _require(openai.AsyncOpenAI, "_process_response_data", "sse_payloads() (the lenient chunk parser)")
    try:
        from openai._streaming_cleanup import drain_response_async
    except ImportError:
        pytest.fail("openai._streaming_cleanup.drain_response_async is gone: adapt sse_payloads() (connection reuse after [DONE])", pytrace=False)
    assert inspect.iscoroutinefunction(drain_response_async)
    assert "response" in inspect.signature(AsyncStream.__init__).parameters


def test_autogen_image_still_sends_data_uri_so_our_jpeg_goes_as_is() -> None:
    from autogen_core import Image

    _require(Image, "to_openai_format", "jpeg_image_class()")
    jpeg = _jpeg()
    image = adapter.jpeg_image_class()(jpeg, 8, 6)
    part = image.to_openai_format()
    assert part["image_url"]["url"].startswith("data:image/jpeg;base64,"), (
        "autogen_core.Image.to_openai_format no longer uses data_uri: our JPEG would be re-encoded; adapt jpeg_image_class()"
    )
    assert image._pil is None  # nothing decoded to send it
    assert image.image.size == (8, 6)  # and AutoGen code asking for pixels still gets them


def test_openai_transform_leaves_a_chat_request_as_it_is_so_posting_it_directly_is_the_same() -> None:
    """open_chat_stream() posts AutoGen's body with the client's ``post`` instead of
    ``chat.completions.create``, skipping openai's per-request transform. That is only the same
    request while the transform changes nothing in such a body: checked here on every field
    the engine sends (text and image parts, logprobs, limits, stream options)."""
    import asyncio

    import openai
    from autogen_core.models import AssistantMessage, SystemMessage, UserMessage
    from autogen_ext.models.openai import OpenAIChatCompletionClient

    try:
        from openai._utils._transform import async_maybe_transform
        from openai.types.chat.completion_create_params import CompletionCreateParamsStreaming
    except ImportError as exc:
        pytest.fail(f"openai's request transform moved ({exc}): check that open_chat_stream() still sends what create() would", pytrace=False)
    _require(openai.AsyncOpenAI, "post", "open_chat_stream()")
    info = {"vision": True, "function_calling": False, "json_output": False, "family": "unknown", "structured_output": False}
    client = OpenAIChatCompletionClient(
        model="m", api_key="not-a-key", base_url="http://127.0.0.1:9/v1", model_info=info, include_name_in_message=False,
        temperature=0.3, max_tokens=200, logprobs=True, top_logprobs=5,
    )
    image = adapter.jpeg_image_class()(_jpeg(), 8, 6)
    messages, args = adapter.request_arguments(
        client,
        [
            SystemMessage(content="sys"),
            UserMessage(content=["Example 1:", image], source="moderator"),
            AssistantMessage(content="No, a field.", source="judge"),
            UserMessage(content=["look", image, "the debate so far"], source="moderator"),
        ],
        {"stream_options": {"include_usage": True}},
    )
    assert not any(k in args for k in adapter._REQUEST_OPTIONS)
    body = {k: v for k, v in args.items() if k != "timeout"} | {"messages": messages, "stream": True}
    transformed = asyncio.run(async_maybe_transform(body, CompletionCreateParamsStreaming))
    assert transformed == body, "openai's transform now changes a chat request: open_chat_stream() must send it through create() again"
