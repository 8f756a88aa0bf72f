"""Servers of the tests' own: a PostgreSQL and a Redis that the outage tests stop, freeze and
resume, and a PgBouncer in front of the test server for the PgBouncer variant.

The shared servers (tests/servers.py) are never signalled: these run from a temporary
directory on free ports and are removed, processes and files, when the block ends.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from tests.commands import assert_succeeded, run
from tests.served import free_port

#: How long a server may take to start.
START_TIMEOUT = 30
#: PostgreSQL refuses to run as root; as root, the tests run it as this account.
POSTGRES_ACCOUNT = "postgres"


def postgres_bin() -> Path:
    """The directory of initdb and pg_ctl: on PATH, else the newest Debian/Ubuntu install."""
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).parent
    installed = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3])
    )
    if not installed:
        pytest.fail("the outage tests need PostgreSQL's initdb and pg_ctl", pytrace=False)
    return installed[-1].parent


def _signal_all(pids: Sequence[int], signum: signal.Signals) -> None:
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(pid, signum)


def _children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in found.read_text().split()] if found.exists() else []


class PrivatePostgres:
    """A PostgreSQL cluster in `directory`, trusting local connections, on a free port."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._bin = postgres_bin()
        self._as_account = [] if os.geteuid() else ["runuser", "-u", POSTGRES_ACCOUNT, "--"]

    def _run(self, *args: str) -> None:
        assert_succeeded(run([*self._as_account, *args], self.directory, timeout=START_TIMEOUT))

    def create(self) -> None:
        if self._as_account:
            shutil.chown(self.directory, POSTGRES_ACCOUNT)
        self._run(str(self._bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = self.directory / "postgres.log"
        self._pg_ctl("-l", str(log), "-o", options, "start")

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "stop")

    def _pg_ctl(self, *args: str) -> None:
        self._run(str(self._bin / "pg_ctl"), "-D", str(self.data), "-w", *args)

    def processes(self) -> list[int]:
        """The postmaster and its children (the backends and the background processes)."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        return [postmaster, *_children(postmaster)]

    def freeze(self) -> list[int]:
        """SIGSTOP every process: connections are accepted by the kernel, never answered."""
        frozen = self.processes()
        _signal_all(frozen, signal.SIGSTOP)
        return frozen

    @staticmethod
    def thaw(frozen: Sequence[int]) -> None:
        _signal_all(frozen, signal.SIGCONT)

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with suppress(Exception):
                self.thaw(self.processes())
            with suppress(Exception):
                self._pg_ctl("-m", "immediate", "stop")


class PrivateRedis:
    """A redis-server without persistence on a free port."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        server = shutil.which("redis-server")
        if server is None:
            pytest.fail("the outage tests need redis-server on PATH", pytrace=False)
        command = [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--dir", str(self.directory)]
        self._process = subprocess.Popen(  # noqa: S603 - the tests choose every argument
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._wait_until_listening()

    def _wait_until_listening(self) -> None:
        import redis  # installed by the outage session only

        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
        deadline = time.monotonic() + START_TIMEOUT
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None

    def freeze(self) -> list[int]:
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)
        return [self._process.pid]

    @staticmethod
    def thaw(frozen: Sequence[int]) -> None:
        _signal_all(frozen, signal.SIGCONT)


@contextmanager
def private_servers() -> Iterator[tuple[PrivatePostgres, PrivateRedis]]:
    """Start both servers; stop them and delete their files however the block ends.

    Their directory is made directly under the system's temporary directory: pytest's own
    is private to the current user, which PostgreSQL may not run as.
    """
    directory = Path(tempfile.mkdtemp(prefix="outage-servers-"))
    directory.chmod(0o711)  # PostgreSQL's account must reach its own directory inside
    postgres, redis = PrivatePostgres(directory / "postgres"), PrivateRedis(directory / "redis")
    postgres.directory.mkdir()
    redis.directory.mkdir()
    try:
        postgres.create()
        postgres.start()
        redis.start()
        yield postgres, redis
    finally:
        redis.stop()
        postgres.remove()
        shutil.rmtree(directory, ignore_errors=True)


#: PgBouncer refuses to run as root; as root, the tests run it as this account.
PGBOUNCER_ACCOUNT = POSTGRES_ACCOUNT


def _pgbouncer_config(upstream_url: str, port: int, directory: Path) -> str:
    """Transaction pooling in front of the upstream server, for any database and user."""
    upstream = urllib.parse.urlsplit(upstream_url)
    return "\n".join(
        [
            "[databases]",
            f"* = host={upstream.hostname} port={upstream.port or 5432}",
            "[pgbouncer]",
            "listen_addr = 127.0.0.1",
            f"listen_port = {port}",
            f"unix_socket_dir = {directory}",
            # The upstream trusts local connections; PgBouncer passes them through.
            "auth_type = trust",
            f"auth_file = {directory / 'userlist.txt'}",
            "pool_mode = transaction",
            "max_client_conn = 500",
            "default_pool_size = 20",
            f"logfile = {directory / 'pgbouncer.log'}",
            "",
        ]
    )


class PrivatePgBouncer:
    """A PgBouncer of the tests' own, on a free port, in front of `upstream_url`'s server."""

    def __init__(self, directory: Path, upstream_url: str) -> None:
        self.directory = directory
        self.port = free_port()
        upstream = urllib.parse.urlsplit(upstream_url)
        user = upstream.username or "postgres"
        self.url = upstream._replace(netloc=f"{user}@127.0.0.1:{self.port}").geturl()
        # PgBouncer signs in to the upstream server with the password of its user list.
        password = upstream.password or ""
        self.log = directory / "pgbouncer.log"
        self._config = directory / "pgbouncer.ini"
        self._config.write_text(_pgbouncer_config(upstream_url, self.port, directory))
        (directory / "userlist.txt").write_text(f'"{user}" "{password}"\n')
        self._as_account = [] if os.geteuid() else ["runuser", "-u", PGBOUNCER_ACCOUNT, "--"]
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin")
        if binary is None:
            pytest.fail(
                "the PgBouncer variant needs pgbouncer: apt-get install pgbouncer "
                "(the variant session installs it when it runs as root)",
                pytrace=False,
            )
        if self._as_account:
            shutil.chown(self.directory, PGBOUNCER_ACCOUNT)
        self._process = subprocess.Popen(  # noqa: S603 - the tests choose every argument
            [*self._as_account, binary, str(self._config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_until_listening()

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                log = self.log.read_text() if self.log.exists() else ""
                pytest.fail(f"pgbouncer exited with {self._process.returncode}:\n{log}")
            with suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1):
                return
            time.sleep(0.05)
        pytest.fail(f"pgbouncer did not listen within {START_TIMEOUT} s")

    def stop(self) -> None:
        if self._process is not None:
            # SIGINT: PgBouncer's immediate shutdown (SIGTERM waits for every client).
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
            self._process = None


@contextmanager
def private_pgbouncer(upstream_url: str) -> Iterator[PrivatePgBouncer]:
    """Start a PgBouncer in front of the upstream server; stop it and delete its files after."""
    directory = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    directory.chmod(0o711)
    pgbouncer = PrivatePgBouncer(directory, upstream_url)
    try:
        pgbouncer.start()
        yield pgbouncer
    finally:
        pgbouncer.stop()
        shutil.rmtree(directory, ignore_errors=True)
