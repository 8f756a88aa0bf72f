"""The PostgreSQL and Redis servers that generated test suites run against.

Each is found in this order, and a missing one is a failure, never a skip:

1. the URL in TEST_DATABASE_URL / TEST_REDIS_URL, if set (it must answer: a configured
   server is never silently replaced by another);
2. the local server on its usual port (127.0.0.1:5432 / 127.0.0.1:6379);
3. where a Docker engine answers, a disposable container started for the test session and
   removed after it (testcontainers);
4. otherwise a failure saying how to provide one.
"""

import os
import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest


@dataclass(frozen=True)
class Server:
    """A server the generated suites need, and the ways to get one."""

    name: str
    #: The variable that names the server, read by the template's and the projects' tests.
    url_variable: str
    #: The local server tried when the variable is unset.
    local_url: str
    #: Starts a disposable server in Docker; yields its URL and removes it on exit.
    container: Callable[[], AbstractContextManager[str]]
    #: How to start one by hand, for the failure message.
    how_to_start: str


@contextmanager
def postgres_container() -> Iterator[str]:
    from testcontainers.community.postgres import PostgresContainer  # variant sessions only

    image = PostgresContainer(
        "postgres:17-alpine",
        username="postgres",
        password="postgres",  # noqa: S106 - the account of a throwaway container
        dbname="postgres",
    )
    with image as container:
        yield container.get_connection_url(driver=None)


@contextmanager
def redis_container() -> Iterator[str]:
    from testcontainers.community.redis import RedisContainer  # variant sessions only

    with RedisContainer("redis:7-alpine") as container:
        host, port = container.get_container_host_ip(), container.get_exposed_port(6379)
        yield f"redis://{host}:{port}/0"


POSTGRES = Server(
    name="PostgreSQL",
    url_variable="TEST_DATABASE_URL",
    local_url="postgresql://postgres@127.0.0.1:5432/postgres",
    container=postgres_container,
    how_to_start="`docker compose up -d db` in a generated project",
)
REDIS = Server(
    name="Redis",
    url_variable="TEST_REDIS_URL",
    local_url="redis://127.0.0.1:6379/0",
    container=redis_container,
    how_to_start="`docker compose up -d redis` in a generated project",
)


def connection_problem(url: str) -> str | None:
    """Why nothing accepts TCP connections at the URL's host and port, or None if it does."""
    parts = urlsplit(url)
    default_port = 6379 if parts.scheme.startswith("redis") else 5432
    address = (parts.hostname or "127.0.0.1", parts.port or default_port)
    try:
        socket.create_connection(address, timeout=3).close()
    except OSError as error:
        return f"{address[0]}:{address[1]}: {error}"
    return None


def docker_engine_problem() -> str | None:
    """Why no Docker engine answers (the way testcontainers finds it), or None if one does."""
    try:
        import docker  # installed with testcontainers, in the variant sessions only
    except ImportError:
        return "the docker package is not installed (the nox sessions install it)"
    try:
        docker.from_env(timeout=5).ping()
    except Exception as error:  # any failure means no usable engine
        return str(error) or type(error).__name__
    return None


@contextmanager
def provide(server: Server) -> Iterator[str]:
    """Yield the URL of a server to test against, found in the order of this module."""
    configured = os.environ.get(server.url_variable)
    if configured:
        problem = connection_problem(configured)
        if problem is not None:
            pytest.fail(
                f"{server.name} from {server.url_variable} is not reachable at {problem}.\n"
                f"Start that server, point {server.url_variable} at one that runs, or unset it "
                f"to use the local server ({server.local_url}) or a Docker container.",
                pytrace=False,
            )
        yield configured
        return
    local_problem = connection_problem(server.local_url)
    if local_problem is None:
        yield server.local_url
        return
    engine_problem = docker_engine_problem()
    if engine_problem is None:
        with server.container() as url:
            yield url
        return
    pytest.fail(
        f"No {server.name} to run the generated tests against:\n"
        f"- {server.url_variable} is not set;\n"
        f"- no local server answers at {local_problem};\n"
        f"- no Docker engine answers for a disposable container: {engine_problem}.\n"
        f"Start one ({server.how_to_start}) or set {server.url_variable}.",
        pytrace=False,
    )
