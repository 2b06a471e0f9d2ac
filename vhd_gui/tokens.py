"""Token estimates for servers that report no usage, and for a budget's look ahead.

Text: tiktoken's ``o200k_base`` encoding (the GPT-4o family's), else ``cl100k_base`` (GPT-4's,
which the desktop bundle ships), when its BPE file is already on this machine (tiktoken
downloads it on first use; we never do: point ``TIKTOKEN_CACHE_DIR`` at a folder holding it, as
the bundle does), else one token per 4 characters, rounded up, which is OpenAI's own rule of
thumb for English text. Images: OpenAI's rule for ``detail: high`` (the
engine sends ``auto``, which is high for images this size): fit in 2048x2048, scale the short
side down to 768, then 85 tokens plus 170 per 512-pixel tile. Other providers count images
differently; an estimate is marked as one wherever it is stored.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENCODINGS = ("o200k_base", "cl100k_base")  # the first whose file is on this machine counts
_BPE_URL = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"
CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD = 4  # tokens a chat message costs besides its content (role, separators)
IMAGE_BASE_TOKENS = 85
IMAGE_TILE_TOKENS = 170
DEFAULT_ANSWER_TOKENS = 300  # a debater's turn when max_tokens is not set (our presets ask for 3 short reasons)

_encoder: Any = None
_encoder_name = ""
_encoder_checked = False
_encoder_lock = threading.Lock()


def _bpe_cache_file(encoding: str) -> Path:
    """Where tiktoken looks for an encoding's file (its own cache rule: tiktoken/load.py)."""
    folder = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR") or os.path.join(tempfile.gettempdir(), "data-gym-cache")
    return Path(folder) / hashlib.sha1(_BPE_URL.format(encoding).encode()).hexdigest()


def _encoder_or_none() -> Any:
    global _encoder, _encoder_name, _encoder_checked
    with _encoder_lock:
        if not _encoder_checked:
            _encoder_checked = True
            for name in ENCODINGS:
                if not _bpe_cache_file(name).is_file():  # else tiktoken would download it: we do not
                    continue
                try:
                    import tiktoken

                    _encoder, _encoder_name = tiktoken.get_encoding(name), name
                    break
                except Exception:  # noqa: BLE001 - a damaged file: try the next, else count by characters
                    _encoder = None
        return _encoder


def counting_method() -> str:
    """How text is counted here: ``tiktoken o200k_base`` (or ``cl100k_base``) or ``characters / 4``."""
    return f"tiktoken {_encoder_name}" if _encoder_or_none() is not None else f"characters / {CHARS_PER_TOKEN}"


def text_tokens(text: str) -> int:
    if not text:
        return 0
    enc = _encoder_or_none()
    if enc is not None:
        return len(enc.encode(text, disallowed_special=()))
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def image_tokens(width: int, height: int, detail: str = "high") -> int:
    """OpenAI's token count for one image (low detail: a flat 85)."""
    if detail == "low" or width <= 0 or height <= 0:
        return IMAGE_BASE_TOKENS
    w, h = float(width), float(height)
    if max(w, h) > 2048:
        s = 2048 / max(w, h)
        w, h = w * s, h * s
    if min(w, h) > 768:
        s = 768 / min(w, h)
        w, h = w * s, h * s
    tiles = math.ceil(w / 512) * math.ceil(h / 512)
    return IMAGE_BASE_TOKENS + IMAGE_TILE_TOKENS * tiles


def prompt_tokens(messages: Iterable[tuple[str, Iterable[str | tuple[int, int]]]]) -> int:
    """A request's prompt: (role, parts) per message, each part a text or an image's (w, h)."""
    total = 0
    for _role, parts in messages:
        total += MESSAGE_OVERHEAD
        for part in parts:
            total += text_tokens(part) if isinstance(part, str) else image_tokens(*part)
    return total


@dataclass(frozen=True, slots=True)
class Projection:
    """A debate's likely token use before it starts."""

    prompt_tokens: int
    completion_tokens: int

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def projected_debate_tokens(
    *,
    rounds: int,
    images: int,
    max_side: int,
    critic: bool = False,
    example_images: int = 0,
    answer_tokens: int | None = None,
    prompt_text_tokens: int = 600,
) -> Projection:
    """What one debate will likely cost in tokens, before it starts (for a budget's ceiling).

    Each of the ``2 * rounds + 1`` requests (+1 with the critic) sends the system prompt and
    instruction (``prompt_text_tokens``), the item's ``images`` (square at ``max_side``, the
    worst case) and the transcript so far; the judge also sends ``example_images``. Every
    answer counts ``answer_tokens`` (the role's max_tokens when set). An upper-leaning
    estimate: the real count replaces it once the debate ends.
    """
    answer = answer_tokens if answer_tokens and answer_tokens > 0 else DEFAULT_ANSWER_TOKENS
    per_image = image_tokens(max_side, max_side)
    requests = 2 * rounds + 1 + (1 if critic else 0)
    prompt = 0
    for i in range(requests):
        transcript = i * (answer + MESSAGE_OVERHEAD)
        examples = example_images * per_image if i == 2 * rounds else 0
        prompt += prompt_text_tokens + images * per_image + examples + transcript
    return Projection(prompt, requests * answer)
