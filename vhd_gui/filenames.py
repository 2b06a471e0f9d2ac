"""File names that are not valid UTF-8: how they are kept, stored, shown and exported.

A POSIX file name is bytes. Python reads one that is not valid UTF-8 with ``surrogateescape``
(each undecodable byte 0xHH becomes the lone surrogate U+DCHH), which opens the right file but
cannot be written to SQLite, a UTF-8 export or the terminal. So the app keeps two forms:

- the **file-system form**, a ``str`` as :func:`os.fsdecode` gives it, used only to open the
  file (the bytes round-trip exactly);
- the **key**, valid Unicode text, used everywhere else: the store's ``path`` column, the list
  in the window, the CLI's output and every export.

A name that is valid UTF-8 is its own key (almost always: see the exception below). For any
other name the key is escaped: each undecodable byte is written ``\\xhh`` (a backslash, ``x``
and two lowercase hex digits, ``80`` to ``ff``) and each backslash that was in the name is
doubled. For example the bytes ``b"caf\\xe9.png"`` (Latin-1 café) are stored and exported as
the ten characters ``caf\\xe9.png``.

Unambiguous: a key is escaped exactly when it contains ``\\x`` followed by two hex digits from
``80`` to ``ff``, which no other key contains, because a valid UTF-8 name that happens to hold
that text literally is escaped too (its backslashes doubled). To read a key back: ``\\\\`` is
one backslash, ``\\xhh`` is the byte 0xhh, every other character is itself.
"""

from __future__ import annotations

import os
import re

__all__ = ["has_undecodable", "is_escaped", "to_fs", "to_key"]

_ESCAPE_RE = re.compile(r"\\x[89a-f][0-9a-f]")
_TOKEN_RE = re.compile(r"\\\\|\\x([89a-f][0-9a-f])")
_SURROGATES_RE = re.compile("[\udc80-\udcff]")


def has_undecodable(text: str) -> bool:
    """True when ``text`` holds bytes that were not UTF-8 (as surrogate escapes)."""
    return _SURROGATES_RE.search(text) is not None


def is_escaped(key: str) -> bool:
    """True for a key written in the escaped form (see the module docstring)."""
    return "\\x" in key and _ESCAPE_RE.search(key) is not None


def to_key(name: str | bytes | os.PathLike[str] | os.PathLike[bytes]) -> str:
    """The key of a file-system name or path: valid Unicode, unique for every name."""
    text = os.fsdecode(name)
    if text.isascii() and "\\" not in text:
        return text  # the common case, checked cheaply
    if not has_undecodable(text) and not is_escaped(text):
        return text
    text = text.replace("\\", "\\\\")
    return _SURROGATES_RE.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", text)


def to_fs(key: str) -> str:
    """The file-system form of a key (what :func:`os.fsencode` turns into the real bytes)."""
    if not is_escaped(key):
        return key
    return _TOKEN_RE.sub(lambda m: "\\" if m.group(1) is None else chr(0xDC00 + int(m.group(1), 16)), key)
