"""The project's lint and type gates (ruff and mypy, configured in pyproject.toml), run with the
tests so CI sees them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_is_clean() -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is missing: install the test extras (pip install -e '.[test]')")
    out = subprocess.run([ruff, "check", "vhd_gui", "tests", "benchmarks", "docs"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy_is_clean() -> None:
    out = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_layer_contracts_hold() -> None:
    """The import-linter contracts in pyproject.toml: Qt only in vhd_gui/ui, sqlite3 only in the
    store and the cache, a core that never imports the CLI or the UI, a store that runs nothing
    and an engine that persists nothing."""
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if lint is None:
        pytest.fail("lint-imports is missing: install the test extras (pip install -e '.[test]')")
    out = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_module_has_a_layer() -> None:
    """A new top-level module must be placed: in the core contract's list, or as part of the CLI."""
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    core = next(c for c in contracts if c["id"] == "core-knows-no-screen")
    placed = {m.split(".")[1] for m in core["source_modules"] + core["forbidden_modules"]}
    modules = {p.stem for p in (ROOT / "vhd_gui").glob("*.py")} | {p.name for p in (ROOT / "vhd_gui").iterdir() if (p / "__init__.py").exists()}
    unplaced = sorted(modules - placed - {"__init__", "__main__", "resources"})
    assert not unplaced, f"name these modules in pyproject.toml's core-knows-no-screen contract (core or CLI): {unplaced}"
