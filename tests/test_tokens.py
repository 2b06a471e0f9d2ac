"""Token estimates for servers that report no usage (vhd_gui/tokens.py)."""

from __future__ import annotations

from pathlib import Path


def test_image_tokens_follow_openais_tile_rule() -> None:
    from vhd_gui import tokens

    assert tokens.image_tokens(1024, 1024) == 765  # OpenAI's own example
    assert tokens.image_tokens(2048, 4096) == 1105  # fit 2048, short side 768: 2 x 3 tiles
    assert tokens.image_tokens(1024, 768) == 765
    assert tokens.image_tokens(512, 512) == 255
    assert tokens.image_tokens(4000, 3000, detail="low") == 85


def test_text_is_counted_offline_without_tiktokens_download(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    code = "from vhd_gui import tokens; print(tokens.counting_method()); print(tokens.text_tokens('abcdefghi'))"
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(tmp_path / "empty")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["characters / 4", "3"]
    assert not (tmp_path / "empty").exists()  # nothing fetched, nothing written


def test_the_bundles_cl100k_file_counts_text_when_o200k_is_absent(tmp_path: Path) -> None:
    """The desktop bundle ships cl100k_base (no registry package has o200k_base in tiktoken's
    form): the estimate then counts with it, still without any download."""
    import os
    import subprocess
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "packaging"))
    try:
        import tiktoken_files
    finally:
        sys.path.pop(0)
    cache = tmp_path / "cache"
    assert tiktoken_files.fill_cache(cache) == ["cl100k_base"]
    code = "from vhd_gui import tokens; print(tokens.counting_method()); print(tokens.text_tokens('hello world'))"
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(cache)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["tiktoken cl100k_base", "2"]
    assert sorted(p.name for p in cache.iterdir()) == [tiktoken_files.cache_name("cl100k_base")]  # nothing fetched
