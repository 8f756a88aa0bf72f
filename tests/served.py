"""A generated project's app served for real: its own database, migrated, and uvicorn.

The variant tier fuzzes each variant's HTTP API through this (test_variants.py).
"""

import json
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

#: How each ORM's migrations are applied (the projects' `make migrate`).
MIGRATE = {
    "sqlalchemy": ["alembic", "upgrade", "head"],
    "sqlmodel": ["alembic", "upgrade", "head"],
    "tortoise": ["aerich", "upgrade"],
}
#: How long the app may take to answer /health/live after it was started.
START_TIMEOUT = 60


def libpq_url(url: str) -> str:
    """psycopg takes libpq URLs; the generated projects also accept a driver suffix."""
    scheme, rest = url.split("://", 1)
    return "postgresql://" + rest if scheme.startswith("postgres") else url


@contextmanager
def scratch_database(server_url: str, name: str) -> Iterator[str]:
    """Create a database on the server, yield its URL, and drop it afterwards."""
    import psycopg  # installed by the variant sessions only, so imported here
    from psycopg import sql

    server_url = libpq_url(server_url)
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urllib.parse.urlsplit(server_url)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(server_url, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port: int = listener.getsockname()[1]
        return port


@contextmanager
def served_app(project: Path, package: str, env: Mapping[str, str], log: Path) -> Iterator[str]:
    """Serve the project's app with uvicorn; yield its base URL; stop it afterwards.

    Its output goes to `log`, for the failure messages.
    """
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = [
        "uv",
        "run",
        "--no-sync",
        "uvicorn",
        "--factory",
        f"{package}.main:create_app",
        "--port",
        str(port),
    ]
    with log.open("w") as output:
        server = subprocess.Popen(  # noqa: S603 - the tests choose every argument
            command, cwd=project, env=dict(env), stdout=output, stderr=subprocess.STDOUT
        )
        try:
            wait_until_live(server, base_url, log)
            yield base_url
        finally:
            server.terminate()
            server.wait(timeout=30)


def wait_until_live(server: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the app exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{base_url}/health/live", timeout=2):  # noqa: S310
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    pytest.fail(f"the app did not answer within {START_TIMEOUT} s:\n{log.read_text()}")


def access_token(api_url: str, email: str, password: str) -> str:
    """Sign in through the OAuth2 password flow; `api_url` is the base URL and the API prefix."""
    form = urllib.parse.urlencode({"username": email, "password": password}).encode()
    request = urllib.request.Request(f"{api_url}/auth/token", data=form, method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        token: str = json.load(response)["access_token"]
    return token
