"""Shared test set-up: every test gets its own config, data and cache folders, and no test
can read a real API key or a user's settings."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fakeserver import FakeServer
from helpers import TEST_KEY, TEST_KEY_ENV
from pgserver import PgServer


def pytest_configure(config: pytest.Config) -> None:
    # GUI tests run without a screen; the one real-window smoke test starts xvfb-run itself.
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["QT_API"] = "pyside6"


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("home")
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        (home / var.lower()).mkdir()
        monkeypatch.setenv(var, str(home / var.lower()))
    monkeypatch.setenv("HOME", str(home))
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "OPENAI_API_VERSION"):
        monkeypatch.delenv(var, raising=False)
    for var in [v for v in os.environ if v.startswith("PG")]:  # libpq's settings (host, password, sslmode...)
        monkeypatch.delenv(var)
    return home


@pytest.fixture
def make_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., FakeServer]]:
    """Start OpenAI-compatible test servers on 127.0.0.1 (keyword arguments go to FakeServer);
    the key they expect is put in $VHD_TEST_KEY. All of them stop after the test."""
    started: list[FakeServer] = []

    def make(**options: Any) -> FakeServer:
        options.setdefault("api_key", TEST_KEY)
        monkeypatch.setenv(TEST_KEY_ENV, options["api_key"])
        srv = FakeServer(**options).start()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


@pytest.fixture
def server(make_server: Callable[..., FakeServer]) -> FakeServer:
    """The default test server: scripted answers, the test key."""
    return make_server()


# --------------------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One real PostgreSQL server for the session (see tests/pgserver.py). Missing in CI
    (``CI`` set, as .ci/run does) it is a failure; elsewhere the tests that need it skip."""
    try:
        srv = PgServer().start()
    except (OSError, RuntimeError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is needed for the store tests in CI: {exc}")
        pytest.skip(f"no PostgreSQL server to test against: {exc}")
    yield srv
    srv.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """The URL of a new empty database for this test."""
    return pg_server.new_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a test's store goes, once per backend: an SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "s.sqlite")
    return str(request.getfixturevalue("pg_url"))
