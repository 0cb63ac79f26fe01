"""A private PostgreSQL cluster that a fault test may stop and start (never the shared server).

``PgCluster()`` runs ``initdb`` into a new temporary directory with the Debian binaries
(``/usr/lib/postgresql/<version>/bin``, the newest there, or ``RACE_CONTROL_PG_BIN``), on a free
port on 127.0.0.1, its unix socket in that directory, trust authentication, and small settings
(no fsync: a stop in ``immediate`` mode is a crash of the server, not of the machine, so what
was committed stays in the OS cache and is recovered from the WAL at the next start).

``initdb``, ``pg_ctl`` and ``postgres`` refuse to run as root: as root they run as the
``postgres`` OS user (``runuser -u postgres --``) and the directory is given to that user (it
is made under /tmp, not in pytest's root-only tmp dirs).  As any other user they run as that
user.

``start()``; ``stop("immediate")`` (a crash: connections are dropped, no checkpoint, recovery
at the next start) or ``stop("fast")`` (a clean shutdown); ``url`` is the superuser URL of its
``postgres`` database; ``database_url(name)`` of another one; ``create_database(name)``;
``destroy()`` stops it and removes the directory.

``pg_cluster`` is a module-scoped pytest fixture (one cluster per test module: ``initdb``
plus the first start costs about a second or two).  No PostgreSQL binaries: the test fails
under ``CI=true`` (sync tests never skip there) and skips elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest


def pg_bin() -> Path | None:
    """The directory of ``initdb``/``pg_ctl`` (newest Debian version), or None."""
    env = os.environ.get("RACE_CONTROL_PG_BIN")
    if env:
        return Path(env)
    root = Path("/usr/lib/postgresql")
    versions = sorted(
        (p for p in root.glob("*") if (p / "bin" / "initdb").exists()),
        key=lambda p: int(p.name) if p.name.isdigit() else 0,
    )
    if versions:
        return versions[-1] / "bin"
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgCluster:
    def __init__(self, bin_dir: Path | None = None) -> None:
        found = bin_dir or pg_bin()
        if found is None:
            raise FileNotFoundError("no PostgreSQL server binaries (initdb) found")
        self.bin = found
        self.as_root = os.geteuid() == 0
        self.dir = Path(tempfile.mkdtemp(prefix="faults-pg-", dir="/tmp"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = free_port()
        self.running = False
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        conf = "\n".join(
            [
                "listen_addresses = '127.0.0.1'",
                f"port = {self.port}",
                f"unix_socket_directories = '{self.dir}'",
                "fsync = off",
                "full_page_writes = off",
                "shared_buffers = 16MB",
                "max_connections = 40",
                "log_min_messages = warning",
                "",
            ]
        )
        with (self.data / "postgresql.conf").open("a") as f:
            f.write(conf)

    # ---- commands ---------------------------------------------------------------------------

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin / tool), *args]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=self.dir)
        if check and done.returncode != 0:
            raise RuntimeError(
                f"{tool} failed ({done.returncode}): {done.stdout}{done.stderr}{self.server_log()}"
            )
        return done

    def server_log(self) -> str:
        try:
            return "\n--- server.log (tail) ---\n" + self.log.read_text()[-3000:]
        except OSError:
            return ""

    def start(self) -> None:
        """Start the server and wait until it accepts connections (recovering first after an
        immediate stop)."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """``immediate``: every backend is killed at once (a crash); ``fast``: a clean shutdown
        that rolls back open transactions and disconnects the clients."""
        if mode not in ("immediate", "fast", "smart"):
            raise ValueError(f"stop mode must be immediate, fast or smart, not {mode!r}")
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")
        self.running = False

    def destroy(self) -> None:
        if self.running:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
            self.running = False
        shutil.rmtree(self.dir, ignore_errors=True)

    # ---- addresses --------------------------------------------------------------------------

    def database_url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    @property
    def url(self) -> str:
        return self.database_url("postgres")

    def connect(self, name: str = "postgres") -> psycopg2.extensions.connection:
        conn = psycopg2.connect(self.database_url(name), connect_timeout=5)
        conn.autocommit = True
        return conn

    def create_database(self, name: str) -> str:
        """A new database ``name``; its (superuser) URL."""
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return self.database_url(name)


@contextlib.contextmanager
def running_cluster() -> Iterator[PgCluster]:
    """A started private cluster, destroyed afterwards; skips (fails under CI) without binaries."""
    try:
        cluster = PgCluster()
    except FileNotFoundError as exc:
        if os.environ.get("CI") == "true":
            raise AssertionError(f"CI needs the PostgreSQL server binaries: {exc}") from exc
        pytest.skip(f"{exc}; apt-get install postgresql")
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="module")
def pg_cluster() -> Iterator[PgCluster]:
    """One private cluster per test module (import this fixture into the module)."""
    with running_cluster() as cluster:
        yield cluster
