"""The order in which the generated suites' servers are found (tests/servers.py).

These run in the fast tier without PostgreSQL, Redis or Docker: each server is a listening
socket of the test's own, and the Docker engine is replaced where a test says so.
"""

import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest

from tests import servers


@pytest.fixture
def listening_url() -> Iterator[str]:
    """A URL at which something accepts TCP connections."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield f"postgresql://postgres@127.0.0.1:{listener.getsockname()[1]}/postgres"


@pytest.fixture
def closed_url() -> str:
    """A URL at which nothing listens (a port just released by the system)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


CONTAINER_URL = "postgresql://postgres:postgres@docker-host:32768/postgres"


def server(local_url: str, started: list[str] | None = None) -> servers.Server:
    """A PostgreSQL-like server whose container start is recorded instead of run."""

    @contextmanager
    def container() -> Iterator[str]:
        if started is not None:
            started.append("started")
        yield CONTAINER_URL

    return servers.Server(
        name="PostgreSQL",
        url_variable="TEST_SERVER_URL",
        local_url=local_url,
        container=container,
        how_to_start="`docker compose up -d db`",
    )


def provided(server: servers.Server) -> str:
    with servers.provide(server) as url:
        return url


def test_the_configured_url_comes_first(
    monkeypatch: pytest.MonkeyPatch, listening_url: str, closed_url: str
) -> None:
    monkeypatch.setenv("TEST_SERVER_URL", listening_url)

    assert provided(server(local_url=closed_url)) == listening_url


def test_an_unreachable_configured_url_fails_instead_of_falling_back(
    monkeypatch: pytest.MonkeyPatch, listening_url: str, closed_url: str
) -> None:
    monkeypatch.setenv("TEST_SERVER_URL", closed_url)
    started: list[str] = []

    with pytest.raises(pytest.fail.Exception, match="from TEST_SERVER_URL is not reachable"):
        provided(server(local_url=listening_url, started=started))
    assert started == []


def test_the_local_server_comes_before_docker(
    monkeypatch: pytest.MonkeyPatch, listening_url: str
) -> None:
    monkeypatch.delenv("TEST_SERVER_URL", raising=False)
    monkeypatch.setattr(servers, "docker_engine_problem", lambda: None)
    started: list[str] = []

    assert provided(server(local_url=listening_url, started=started)) == listening_url
    assert started == []


def test_a_container_is_started_when_only_docker_answers(
    monkeypatch: pytest.MonkeyPatch, closed_url: str
) -> None:
    monkeypatch.delenv("TEST_SERVER_URL", raising=False)
    monkeypatch.setattr(servers, "docker_engine_problem", lambda: None)
    started: list[str] = []

    assert provided(server(local_url=closed_url, started=started)) == CONTAINER_URL
    assert started == ["started"]


def test_nothing_available_fails_with_every_way_to_provide_one(
    monkeypatch: pytest.MonkeyPatch, closed_url: str
) -> None:
    monkeypatch.delenv("TEST_SERVER_URL", raising=False)
    monkeypatch.setattr(servers, "docker_engine_problem", lambda: "connection refused")

    with pytest.raises(pytest.fail.Exception) as failure:
        provided(server(local_url=closed_url))

    message = str(failure.value)
    closed_port = urlsplit(closed_url).port
    assert "TEST_SERVER_URL is not set" in message
    assert f"no local server answers at 127.0.0.1:{closed_port}: " in message
    assert "no Docker engine answers for a disposable container: connection refused" in message
    assert "`docker compose up -d db`" in message


def test_without_the_docker_package_no_engine_is_assumed(monkeypatch: pytest.MonkeyPatch) -> None:
    # The fast tier does not install testcontainers (nor docker): the probe must say so.
    monkeypatch.setitem(sys.modules, "docker", None)

    assert servers.docker_engine_problem() == (
        "the docker package is not installed (the nox sessions install it)"
    )
