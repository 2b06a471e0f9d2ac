"""A real PostgreSQL server for the tests: Debian's binaries, a temporary data directory, a unix
socket in it and a free port on 127.0.0.1. As root the server runs as an unprivileged user
(``postgres``, which the Debian package creates, else ``nobody``), because PostgreSQL refuses
to run as root.

Local connections are trusted, except for the role ``secret_user``, which must give its
password (the tests of credentials use it).
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SECRET_USER = "secret_user"
SECRET_PASSWORD = "s3cr%t:pa@ss/word"


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian keeps each version apart)."""
    found = []
    for entry in glob.glob("/usr/lib/postgresql/*/bin"):
        m = re.search(r"/postgresql/(\d+)/bin$", entry)
        if m and Path(entry, "initdb").is_file():
            found.append((int(m.group(1)), Path(entry)))
    if not found and shutil.which("initdb"):
        return Path(shutil.which("initdb") or "").parent
    return max(found)[1] if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """initdb + pg_ctl start in a temporary folder; :meth:`new_database` gives each test its own."""

    def __init__(self) -> None:
        bindir = postgres_bin()
        if bindir is None:
            raise FileNotFoundError("no PostgreSQL server installed (Debian: apt-get install postgresql)")
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="vhd-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = "postgres"
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                self.user = "nobody"
            entry = pwd.getpwnam(self.user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        self.superuser = "vhd_test_admin"
        self._counter = 0

    def _run(self, *cmd: str) -> subprocess.CompletedProcess[str]:
        full = list(cmd)
        if self.user is not None:
            full = ["runuser", "-u", self.user, "--", *full]
        return subprocess.run(full, capture_output=True, text=True, check=False, cwd=self.dir, env={**os.environ, "LC_ALL": "C.UTF-8"})

    def start(self) -> PgServer:
        done = self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", self.superuser, "-A", "trust", "-E", "UTF8", "--no-sync")
        if done.returncode:
            raise RuntimeError(f"initdb failed: {done.stderr.strip()}")
        hba = self.data / "pg_hba.conf"
        text = hba.read_text()
        hba.write_text(f"host all {SECRET_USER} 127.0.0.1/32 scram-sha-256\nlocal all {SECRET_USER} scram-sha-256\n" + text)
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off -c synchronous_commit=off"
            " -c full_page_writes=off -c max_connections=200"
        )
        done = self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.dir / "log"), "-w", "start")
        if done.returncode:
            log = (self.dir / "log").read_text() if (self.dir / "log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {done.stderr.strip()} {log[-2000:]}")
        self.admin(f"CREATE ROLE {SECRET_USER} LOGIN PASSWORD '{SECRET_PASSWORD}'")
        return self

    def url(self, database: str, user: str | None = None) -> str:
        return f"postgresql://{user or self.superuser}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str, database: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def new_database(self, owner: str | None = None) -> str:
        """A new empty database; returns its URL (as the superuser)."""
        self._counter += 1
        name = f"t{os.getpid()}_{self._counter}_{int(time.time() * 1000) % 100000}"
        self.admin(f"CREATE DATABASE {name}" + (f" OWNER {owner}" if owner else ""))
        return self.url(name)

    def stop(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)
