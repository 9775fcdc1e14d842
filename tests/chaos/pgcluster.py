"""A private PostgreSQL cluster for the tests that stop or pause the server.

The shared server on 5432 is never stopped or paused: a test that must do so gets a cluster of
its own (initdb in a temporary folder, run as the ``postgres`` OS user since the tests run as
root, its own free port on 127.0.0.1, trust authentication), stopped and removed afterwards.
Skipped when initdb is missing, unless ZAPJOBS_REQUIRE_POSTGRES=1.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo


def find_bindir() -> Path | None:
    """The PostgreSQL server binaries: ``pg_config --bindir``, else the newest Debian layout."""
    candidates: list[str] = []
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        found = subprocess.run(
            ["pg_config", "--bindir"], check=True, capture_output=True, text=True
        )
        candidates.append(found.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for folder in candidates:
        if (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgCluster:
    """One throwaway cluster: ``start``/``stop`` it, make databases, pause backends."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="zapjobs-pgcluster-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0
        self.paused: set[int] = set()
        if self._as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.root}'\nfsync = off\n"
                "synchronous_commit = off\nfull_page_writes = off\nmax_connections = 100\n"
            )

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bindir / tool), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def url(self, dbname: str = "postgres", **params: str) -> str:
        return make_conninfo(
            host="127.0.0.1", port=str(self.port), user="postgres", dbname=dbname, **params
        )

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    @property
    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """Stopped inside the block, running again after it, whatever happened inside."""
        self.stop()
        try:
            yield
        finally:
            if not self.running:
                self.start()

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; ``fast`` terminates every connection, like a crash for clients."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def create_database(self) -> str:
        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def backends(self, application_name: str) -> set[int]:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                (application_name,),
            ).fetchall()
        return {int(r[0]) for r in rows}

    def pause(self, pids: set[int]) -> None:
        """SIGSTOP server processes: their kernel still acknowledges, nothing answers."""
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
            self.paused.add(pid)

    def resume(self) -> None:
        for pid in list(self.paused):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
            self.paused.discard(pid)

    def destroy(self) -> None:
        self.resume()
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            if self.running:
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def private_cluster() -> Iterator[PgCluster]:
    bindir = find_bindir()
    if bindir is None:
        if os.environ.get("ZAPJOBS_REQUIRE_POSTGRES") == "1":
            pytest.fail("initdb not found, and ZAPJOBS_REQUIRE_POSTGRES=1")
        pytest.skip("initdb not found: these tests start a private PostgreSQL cluster")
    cluster = PgCluster(bindir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()
