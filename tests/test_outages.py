"""The outage tier: a served variant while its PostgreSQL and its Redis stop, freeze and return.

Each variant of OUTAGE_VARIANTS (one per ORM, with Redis) is rendered, installed, migrated
and served by uvicorn against a private PostgreSQL and Redis (tests/private_servers.py).
Each server in turn is stopped, then frozen with SIGSTOP, and brought back; meanwhile
readiness must answer 503 within a second, every request must answer within the app's
timeouts (503 JSON when it needs the missing server), and everything must work again
within two seconds of the server's return. The figures are printed at the end.
"""

import json
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.commands import assert_succeeded, require_tool, run
from tests.conftest import RecordOutage, Render
from tests.private_servers import PrivatePostgres, PrivateRedis, private_servers
from tests.projects import api_prefix, dotenv, install
from tests.served import MIGRATE, access_token, scratch_database, served_app
from tests.variants import OUTAGE_VARIANTS

pytestmark = pytest.mark.outage

PACKAGE = "my_service"
#: The app's timeouts during the tier (DATABASE_*, REDIS_TIMEOUT), in seconds.
TIMEOUT = 1.0
#: What a request may take: one timeout, plus the answer's own time.
REQUEST_LIMIT = TIMEOUT + 0.5
READY_LIMIT = 1.0
RECOVERY_LIMIT = 2.0
#: How long the client waits before calling an answer a hang.
HANG = 30.0
POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Call:
    """One request of the service, and which servers it needs."""

    name: str
    method: str
    path: str
    needs: frozenset[str]
    body: dict[str, object] | None = None
    form: dict[str, str] | None = None


@dataclass(frozen=True)
class Answer:
    status: int
    body: object
    retry_after: str | None
    seconds: float


@dataclass
class Client:
    base_url: str
    headers: dict[str, str] = field(default_factory=dict)

    def send(self, call: Call) -> Answer:
        data, headers = None, dict(self.headers)
        if call.body is not None:
            data, headers["Content-Type"] = json.dumps(call.body).encode(), "application/json"
        if call.form is not None:
            data = urllib.parse.urlencode(call.form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        request = urllib.request.Request(  # noqa: S310 - a local http URL
            self.base_url + call.path, data=data, headers=headers, method=call.method
        )
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=HANG) as response:  # noqa: S310
                status, raw, retry = response.status, response.read(), None
        except urllib.error.HTTPError as error:
            status, raw, retry = error.code, error.read(), error.headers.get("Retry-After")
        seconds = time.perf_counter() - started
        try:
            body: object = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        return Answer(status, body, retry, seconds)


def calls_of(
    answers: dict[str, object], api: str, email: str, password: str, item_id: str
) -> list[Call]:
    """The requests the tier sends during an outage, per the variant's options.

    `api` is the project's API prefix: every path but the probes' starts with it.
    """
    services = answers["compose_services"]
    assert isinstance(services, list)
    database, redis = frozenset({"database"}), frozenset({"redis"})
    # With auth, every request but the probes loads its user from the database.
    signed_in = database if answers["auth"] else frozenset()
    calls = [
        Call("GET /health/live", "GET", "/health/live", frozenset()),
        Call("GET /health/ready", "GET", "/health/ready", database | redis),
    ]
    calls.append(Call("GET /items", "GET", f"{api}/items", database))
    if answers["auth"]:
        sign_in = {"username": email, "password": password}
        calls.append(
            Call("POST /auth/token", "POST", f"{api}/auth/token", database | redis, form=sign_in)
        )
        calls.append(Call("GET /users/me", "GET", f"{api}/users/me", database))
    else:
        # Cached before the outage, so only Redis's outage keeps it from being answered.
        calls.append(Call("GET /items/{id}", "GET", f"{api}/items/{item_id}", redis))
    if "worker" in services:
        job = {"titles": ["imported"]}
        calls.append(
            Call("POST /items/import", "POST", f"{api}/items/import", signed_in | redis, body=job)
        )
    return calls


@dataclass
class Figures:
    """What one outage measured, in seconds."""

    ready: float = 0.0
    longest: float = 0.0
    recovery: float = 0.0


def outage_of(
    client: Client,
    calls: list[Call],
    server: str,
    cut: Callable[[], object],
    restore: Callable[[object], None],
    request_limit: float,
) -> Figures:
    """Cut `server`, check every answer during the outage, restore it, time the recovery."""
    wait_until_working(client, calls, HANG)
    handle = cut()
    figures = Figures()
    try:
        # All at once: a request stuck on the missing server must not hold up the others.
        with ThreadPoolExecutor(max_workers=len(calls)) as senders:
            answers = list(senders.map(client.send, calls))
        for call, answer in zip(calls, answers, strict=True):
            figures.longest = max(figures.longest, answer.seconds)
            if call.name == "GET /health/ready":
                figures.ready = answer.seconds
                assert answer.status == 503, answer
                checks = answer.body["checks"]  # type: ignore[index]
                assert checks[server] == "unavailable", answer
                assert answer.seconds <= READY_LIMIT, answer
                continue
            assert answer.seconds <= request_limit, (call.name, answer)
            if server in call.needs:
                assert answer.status == 503, (call.name, answer)
                assert isinstance(answer.body, dict), (call.name, answer)
                assert "unavailable" in str(answer.body["detail"]), (call.name, answer)
                assert answer.retry_after is not None, (call.name, answer)
            else:
                assert answer.status < 500, (call.name, answer)
    finally:
        restore(handle)
    started = time.perf_counter()
    wait_until_working(client, calls, RECOVERY_LIMIT + HANG)
    figures.recovery = time.perf_counter() - started
    assert figures.recovery <= RECOVERY_LIMIT, f"{server} recovered in {figures.recovery:.2f} s"
    return figures


def wait_until_working(client: Client, calls: list[Call], seconds: float) -> None:
    deadline = time.perf_counter() + seconds
    pending = list(calls)
    while pending:
        pending = [call for call in pending if client.send(call).status >= 500]
        if pending and time.perf_counter() > deadline:
            pytest.fail(f"still failing after {seconds} s: {[call.name for call in pending]}")
        if pending:
            time.sleep(POLL_SECONDS)


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[PrivatePostgres, PrivateRedis]]:
    with private_servers() as both:
        yield both


@pytest.mark.parametrize("variant", list(OUTAGE_VARIANTS))
def test_outages_answer_fast_and_recover(
    variant: str,
    render: Render,
    project_env: dict[str, str],
    servers: tuple[PrivatePostgres, PrivateRedis],
    record_outage: RecordOutage,
    tmp_path: Path,
) -> None:
    require_tool("uv", "uv")
    postgres, redis = servers
    answers = OUTAGE_VARIANTS[variant]
    project = tmp_path / "project"
    shutil.copytree(render(**answers), project)
    assert_succeeded(install(project, str(answers["python_version"]), project_env).result)
    env = {
        **project_env,
        "ENVIRONMENT": "dev",
        "REDIS_URL": redis.url,
        "REDIS_KEY_PREFIX": f"{PACKAGE}:{variant}:",
        "DATABASE_TIMEOUT": str(TIMEOUT),
        "DATABASE_STATEMENT_TIMEOUT": str(TIMEOUT),
        "DATABASE_POOL_TIMEOUT": str(TIMEOUT),
        "REDIS_TIMEOUT": str(TIMEOUT),
        "LOGIN_RATE_LIMIT": "1000000/minute",
        "LOGIN_ADDRESS_RATE_LIMIT": "1000000/minute",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_COST": "8",
        "ARGON2_PARALLELISM": "1",
    }
    log = tmp_path / "app.log"
    database_name = f"{PACKAGE}_{variant.replace('-', '_')}"
    with scratch_database(postgres.url, database_name) as database_url:
        env["DATABASE_URL"] = database_url
        assert_succeeded(run(["uv", "run", "--no-sync", *MIGRATE[answers["orm"]]], project, env))
        with served_app(project, PACKAGE, env, log) as base_url:
            client = Client(base_url)
            secrets = dotenv(project / ".env")
            email = secrets.get("FIRST_SUPERUSER_EMAIL", "")
            password = secrets.get("FIRST_SUPERUSER_PASSWORD", "")
            api = api_prefix(project)
            if answers["auth"]:
                token = access_token(base_url + api, email, password)
                client.headers["Authorization"] = f"Bearer {token}"
            created = client.send(
                Call("POST /items", "POST", f"{api}/items", frozenset(), body={"title": "kept"})
            )
            assert created.status == 201, created
            item_id = str(created.body["id"])  # type: ignore[index]
            calls = calls_of(answers, api, email, password, item_id)
            outages: dict[str, tuple[str, Callable[[], object], Callable[[object], None]]] = {
                "database stopped": ("database", postgres.stop, lambda _: postgres.start()),
                "database frozen": ("database", postgres.freeze, postgres.thaw),
                "redis stopped": ("redis", redis.stop, lambda _: redis.start()),
                "redis frozen": ("redis", redis.freeze, redis.thaw),
            }
            try:
                for outage, (server, cut, restore) in outages.items():
                    figures = outage_of(client, calls, server, cut, restore, REQUEST_LIMIT)
                    record_outage(
                        variant, outage, (figures.ready, figures.longest, figures.recovery)
                    )
            except BaseException:
                print(f"--- the app's log ---\n{log.read_text()}")
                raise
