"""A throwaway PostgreSQL server on loopback, from Debian's ``postgresql`` package (tests, benchmarks).

``PostgresServer`` runs ``initdb`` in a temporary folder, starts ``postgres`` on 127.0.0.1 and
a free port, creates a role with a password (password authentication, as on a real server) and
a database, and stops and removes everything on ``stop()``. As root, the server runs as the
``postgres`` user (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["PostgresServer", "find_pg_bin"]


def find_pg_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding ``pg_ctl``, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """``with PostgresServer() as pg: pg.url`` (password in the URL) or ``pg.url_without_password``."""

    def __init__(self, user: str = "hardsearch", password: str = "s3cret-Pa55word",
                 database: str = "hardsearch") -> None:
        self.user, self.password, self.database = user, password, database
        self.bin = find_pg_bin()
        if self.bin is None:
            raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install postgresql; "
                               "./dev.sh test installs it)")
        self.port = _free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="hardsearch-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self.running = False

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.database}"

    @property
    def url_without_password(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        command = [str(a) for a in args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, check=True, capture_output=True, text=True, timeout=120, **kwargs)

    def start(self) -> PostgresServer:
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        superuser_pw = self.folder / "pw"
        superuser_pw.write_text(self.password + "\n")
        if os.geteuid() == 0:
            os.chown(superuser_pw, pwd.getpwnam("postgres").pw_uid, -1)
        self._run(self.bin / "initdb", "-D", self.data, "-U", "postgres", "--auth-local=trust",
                  "--auth-host=scram-sha-256", f"--pwfile={superuser_pw}", "-E", "UTF8", "--no-instructions")
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c max_connections=200 " \
                  "-c fsync=off -c synchronous_commit=off"
        self._run(self.bin / "pg_ctl", "-D", self.data, "-l", self.log, "-o", options, "-w", "-t", "60",
                  "start")
        self.running = True
        psql = [self.bin / "psql", "-h", str(self.folder), "-p", str(self.port), "-U", "postgres", "-v",
                "ON_ERROR_STOP=1", "-d", "postgres", "-c"]
        self._run(*psql, f"CREATE ROLE {self.user} LOGIN PASSWORD '{self.password}'")
        self._run(*psql, f"CREATE DATABASE {self.database} OWNER {self.user}")
        return self

    def stop(self) -> None:
        if self.running:
            try:
                self._run(self.bin / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
            finally:
                self.running = False
        shutil.rmtree(self.folder, ignore_errors=True)

    def sql(self, statement: str) -> str:
        """Run one statement as the superuser; its output (unaligned, tuples only)."""
        return self._run(self.bin / "psql", "-h", str(self.folder), "-p", str(self.port), "-U", "postgres",
                         "-d", self.database, "-At", "-c", statement).stdout

    def __enter__(self) -> PostgresServer:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":  # a quick manual check: start, connect, stop
    with PostgresServer() as server:
        started = time.perf_counter()
        print(server.url_without_password, server.sql("SELECT version()").strip())
