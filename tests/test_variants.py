"""The variant tier: each variant renders, installs with uv and passes its own suite, mypy, ruff.

Select one variant with ``--variant=<name>`` (nox runs one session per variant); without it
every variant in tests/variants.py runs. Per-step timings are printed at the end.
"""

import dataclasses
import http.client
import json
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest

from tests.commands import assert_succeeded, describe, require_tool, run
from tests.conftest import RecordFuzzResult, RecordReplicas, RecordStep, RecordTestCount, Render
from tests.private_servers import private_pgbouncer
from tests.projects import (
    api_prefix,
    dotenv,
    install,
    run_generated_suite,
    suite_result,
    summary_line,
    timed_run,
)
from tests.served import (
    MIGRATE,
    access_token,
    free_port,
    libpq_url,
    scratch_database,
    served_app,
)
from tests.variants import VARIANTS

pytestmark = pytest.mark.variant

#: The generated suite must cover every endpoint's success and error paths; these floors
#: catch a suite that silently collects (far) less than it should.
MIN_TESTS_WITH_AUTH = 60
MIN_TESTS_WITHOUT_AUTH = 30

SUMMARY_COUNTS = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)")

PACKAGE = "my_service"  # the default package name, which every variant keeps
#: Examples schemathesis generates per API operation and phase, kept low so that two seeds
#: cost about what one run of 50 did; each seed makes a run repeatable (`st run ... --seed`).
FUZZ_EXAMPLES = 25
FUZZ_SEEDS = (20261130, 20261203)
#: The last lines of a schemathesis run: "Test cases:" then "1089 generated, 1089 passed"
#: or "653 generated, 16 found 16 unique failures".
FUZZ_CASES = re.compile(r"(\d+) generated")
FUZZ_FINDINGS = re.compile(r"(\d+) unique failures?")


class RunStep(Protocol):
    def __call__(
        self, step: str, args: Sequence[str], env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]: ...


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "variant" in metafunc.fixturenames:
        selected = metafunc.config.getoption("variant")
        names = [selected] if selected else list(VARIANTS)
        metafunc.parametrize("variant", names, scope="module")


@pytest.fixture(scope="module")
def installed_project(
    variant: str,
    render: Render,
    project_env: dict[str, str],
    record_step: RecordStep,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """The variant rendered into its own directory and installed with `uv sync`."""
    require_tool("uv", "uv")
    answers = VARIANTS[variant]

    started = time.perf_counter()
    # A private copy: the shared render must stay free of .venv, uv.lock and caches.
    project = tmp_path_factory.mktemp(variant) / "project"
    shutil.copytree(render(**answers), project)
    record_step(variant, "render", time.perf_counter() - started)

    installed = install(project, answers["python_version"], project_env)
    record_step(variant, "uv sync", installed.seconds)
    assert_succeeded(installed.result)
    return project


@pytest.fixture(scope="module")
def run_step(
    variant: str, installed_project: Path, project_env: dict[str, str], record_step: RecordStep
) -> RunStep:
    """Run one timed step of this variant in its installed project."""

    def _run(
        step: str, args: Sequence[str], env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """`env` adds to the project's environment (the test servers' URLs)."""
        timed = timed_run(args, installed_project, {**project_env, **(env or {})})
        record_step(variant, step, timed.seconds)
        return timed.result

    return _run


@pytest.fixture(scope="module")
def database_server(variant: str, postgres_url: str) -> Iterator[str]:
    """Where the variant connects to PostgreSQL: through a PgBouncer of its own when chosen.

    A PgBouncer in transaction pooling mode, started on a free port with its own
    configuration in a temporary directory, in front of the test server.
    """
    if "pgbouncer" not in VARIANTS[variant]["compose_services"]:
        yield postgres_url
        return
    with private_pgbouncer(libpq_url(postgres_url)) as pgbouncer:
        yield pgbouncer.url
        # The clients did go through it (PgBouncer logs every sign-in).
        assert "login attempt" in pgbouncer.log.read_text(), "nothing connected to PgBouncer"


def through(server_url: str, database_url: str) -> str:
    """`database_url` reached at the host and port of `server_url` (PgBouncer's)."""
    server = urllib.parse.urlsplit(server_url)
    return urllib.parse.urlsplit(database_url)._replace(netloc=server.netloc).geturl()


def pgbouncer_settings(variant: str) -> dict[str, str]:
    """The app's setting for a PostgreSQL URL that points at PgBouncer."""
    return (
        {"DATABASE_PGBOUNCER": "true"}
        if "pgbouncer" in VARIANTS[variant]["compose_services"]
        else {}
    )


def collected_tests(output: str) -> int:
    """The number of tests in pytest's final summary line ("61 passed, 1 skipped in 3.2s")."""
    return sum(int(count) for count, _ in SUMMARY_COUNTS.findall(summary_line(output)))


def delete_keys(url: str, pattern: str) -> None:
    import redis  # installed by the variant sessions only, so imported here

    with redis.Redis.from_url(url) as client:
        for key in client.scan_iter(match=pattern, count=1000):
            client.delete(key)


def redis_keys(url: str) -> set[str]:
    """Every key on the generated suites' Redis database."""
    import redis  # installed by the variant sessions only, so imported here

    with redis.Redis.from_url(url, decode_responses=True) as client:
        return set(client.scan_iter(count=1000))


def leftover_databases(url: str, package: str) -> list[str]:
    """The databases a generated suite created on the test server and has not dropped."""
    import psycopg  # installed by the variant sessions only, so imported here

    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        rows = connection.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (f"{package}\\_test\\_%",)
        ).fetchall()
    return sorted(row[0] for row in rows)


def test_generated_test_suite_passes_and_cleans_up(
    variant: str,
    installed_project: Path,
    project_env: dict[str, str],
    record_step: RecordStep,
    record_test_count: RecordTestCount,
    postgres_url: str,
    request: pytest.FixtureRequest,
) -> None:
    package = PACKAGE
    servers = {"TEST_DATABASE_URL": request.getfixturevalue("database_server")}
    servers |= pgbouncer_settings(variant)
    uses_redis = "redis" in VARIANTS[variant]["compose_services"]
    if uses_redis:
        servers["TEST_REDIS_URL"] = request.getfixturevalue("redis_url")
    before = leftover_databases(postgres_url, package)
    keys_before = redis_keys(servers["TEST_REDIS_URL"]) if uses_redis else set()

    suite = run_generated_suite(installed_project, {**project_env, **servers})
    record_step(variant, "pytest", suite.seconds)
    result = suite.result
    tests_run = collected_tests(result.stdout)
    record_test_count(variant, suite_result(result.stdout))
    minimum = MIN_TESTS_WITH_AUTH if VARIANTS[variant]["auth"] else MIN_TESTS_WITHOUT_AUTH
    summary = summary_line(result.stdout)

    assert_succeeded(result)
    assert tests_run >= minimum, f"expected at least {minimum} tests\n{describe(result)}"
    assert "skipped" not in summary, f"no generated test may be skipped\n{describe(result)}"
    assert leftover_databases(postgres_url, package) == before, (
        "the generated suite left a database behind"
    )
    if uses_redis:
        leftover_keys = sorted(redis_keys(servers["TEST_REDIS_URL"]) - keys_before)
        assert leftover_keys == [], "the generated suite left keys behind in Redis"


def served_environment(
    base: dict[str, str],
    answers: dict[str, Any],
    request: pytest.FixtureRequest,
    redis_key_prefix: str,
) -> tuple[dict[str, str], str | None]:
    """The environment of an app the tier serves, and its Redis URL (None without Redis).

    With auth, passwords hash cheaply (as in the suites) and no sign-in limit stands in the
    way of many sign-ins from one address; Redis keys get a prefix of the run's own.
    """
    env = dict(base)
    if answers["auth"]:
        env |= {
            "ARGON2_TIME_COST": "1",
            "ARGON2_MEMORY_COST": "8",
            "ARGON2_PARALLELISM": "1",
            "LOGIN_RATE_LIMIT": "1000000/minute",
            "LOGIN_ADDRESS_RATE_LIMIT": "1000000/minute",
        }
    if "redis" not in answers["compose_services"]:
        return env, None
    redis_url: str = request.getfixturevalue("redis_url")
    return env | {"REDIS_URL": redis_url, "REDIS_KEY_PREFIX": redis_key_prefix}, redis_url


def fuzz_result(output: str) -> str:
    """What a schemathesis run reports, for the summary table: "1089 cases, 0 findings"."""
    cases = FUZZ_CASES.findall(output)
    findings = FUZZ_FINDINGS.findall(output)
    return f"{cases[-1] if cases else '?'} cases, {findings[-1] if findings else 0} findings"


def test_api_answers_every_request_as_its_schema_says(
    variant: str,
    installed_project: Path,
    project_env: dict[str, str],
    postgres_url: str,
    record_step: RecordStep,
    record_fuzz_result: RecordFuzzResult,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    """Every answer of the app served by uvicorn is one its OpenAPI schema documents.

    For each seed, at once, the project's own migration command builds a fresh database,
    uvicorn serves the app on it (signing in as the first superuser with auth), and
    schemathesis calls every operation of its OpenAPI schema with generated valid and
    invalid input, with all its
    checks: no server error, only documented statuses and bodies, valid input accepted and
    invalid input refused, 405 with a full Allow header for undocumented methods. The seeds
    are fixed, so a run is repeatable; it samples inputs rather than proving their absence,
    which is why what it found (NUL in text, offsets beyond bigint, nullable fields that
    refuse null) also has tests of its own in the generated suites.
    """
    schemathesis = require_tool("schemathesis", "schemathesis")
    answers = VARIANTS[variant]
    run_id = uuid.uuid4().hex[:8]
    prefix = f"{PACKAGE}:fuzz-{run_id}:"
    env, redis_url = served_environment(
        {**project_env, "ENVIRONMENT": "dev"}, answers, request, prefix
    )
    env |= pgbouncer_settings(variant)
    server = request.getfixturevalue("database_server")

    def fuzz(seed: int) -> tuple[subprocess.CompletedProcess[str], str]:
        """One seed against an app and a database of its own; its result and the app's log.

        Seeds sharing one app would be concurrent clients of it: one deleting the items
        another has just created fails checks that assume a single client.
        """
        # schemathesis keeps its example database in its working directory.
        directory = tmp_path / f"seed-{seed}"
        directory.mkdir()
        log = directory / "app.log"
        seed_env = dict(env)
        if redis_url is not None:
            seed_env["REDIS_KEY_PREFIX"] = f"{prefix}{seed}:"
        with scratch_database(postgres_url, f"{PACKAGE}_fuzz_{run_id}_{seed}") as database_url:
            seed_env["DATABASE_URL"] = through(server, database_url)
            migrate = ["uv", "run", "--no-sync", *MIGRATE[answers["orm"]]]
            assert_succeeded(run(migrate, installed_project, seed_env))
            with served_app(installed_project, PACKAGE, seed_env, log) as base_url:
                headers = []
                if answers["auth"]:
                    secrets = dotenv(installed_project / ".env")
                    token = access_token(
                        base_url + api_prefix(installed_project),
                        secrets["FIRST_SUPERUSER_EMAIL"],
                        secrets["FIRST_SUPERUSER_PASSWORD"],
                    )
                    headers = ["--header", f"Authorization: Bearer {token}"]
                command = [
                    schemathesis,
                    "run",
                    f"{base_url}/openapi.json",
                    "--checks",
                    "all",
                    "--max-examples",
                    str(FUZZ_EXAMPLES),
                    "--seed",
                    str(seed),
                    "--workers",
                    "1",
                    *headers,
                ]
                return run(command, directory, project_env), log.read_text()

    failed: list[str] = []
    started = time.perf_counter()
    try:
        # The seeds run at once: schemathesis generating input is most of the time.
        with ThreadPoolExecutor(len(FUZZ_SEEDS)) as pool:
            results = list(pool.map(fuzz, FUZZ_SEEDS))
        for seed, (result, app_log) in zip(FUZZ_SEEDS, results, strict=True):
            record_fuzz_result(variant, seed, fuzz_result(result.stdout))
            if result.returncode != 0:
                failed.append(
                    f"--- seed {seed} ---\n{result.stdout}\n--- its app's log ---\n{app_log}"
                )
    finally:
        if redis_url is not None:
            delete_keys(redis_url, f"*{prefix}*")
    record_step(variant, "fuzz", time.perf_counter() - started)

    assert not failed, "\n".join(failed)


def test_mypy_passes(run_step: RunStep) -> None:
    result = run_step("mypy", ["uv", "run", "--no-sync", "mypy"])
    assert_succeeded(result)


def test_ruff_check_passes(run_step: RunStep) -> None:
    result = run_step("ruff check", ["uv", "run", "--no-sync", "ruff", "check"])
    assert_succeeded(result)


def test_ruff_format_check_passes(run_step: RunStep) -> None:
    result = run_step("ruff format", ["uv", "run", "--no-sync", "ruff", "format", "--check"])
    assert_succeeded(result)


# --- several replicas at once -------------------------------------------------------------

#: Requests of the load spread over the replicas, and the threads that send them.
REPLICA_REQUESTS = 240
REPLICA_CLIENTS = 8
#: Import jobs enqueued while the replicas serve; each must run exactly once.
REPLICA_JOBS = 12
TITLES_PER_JOB = 5
#: How long all jobs may take to complete, and a replica to become ready.
JOBS_TIMEOUT = 60
READY_TIMEOUT = 60
#: What betrays a failed start or request in a replica's log.
LOG_ERRORS = re.compile(r"Traceback|\bERROR\b|\bCRITICAL\b|exited with")


@dataclass
class Replica:
    """One process of the service: an API (with its base URL) or a worker."""

    process: subprocess.Popen[bytes]
    log: Path
    base_url: str | None = None


def is_log_record(line: str) -> bool:
    """Whether the line is one of the service's JSON log records."""
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return isinstance(record, dict) and {"time", "level", "logger", "message"} <= record.keys()


def start_replica(project: Path, command: list[str], env: Mapping[str, str], log: Path) -> Replica:
    in_project = ["uv", "run", "--no-sync", *command]
    with log.open("w") as output:
        process = subprocess.Popen(  # noqa: S603 - the tests choose every argument
            in_project,
            cwd=project,
            env=dict(env),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    return Replica(process, log)


def start_api(project: Path, env: Mapping[str, str], log: Path) -> Replica:
    port = free_port()
    command = ["uvicorn", "--factory", f"{PACKAGE}.main:create_app", "--port", str(port)]
    replica = start_replica(project, command, env, log)
    replica.base_url = f"http://127.0.0.1:{port}"
    return replica


def wait_until_ready(replica: Replica) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if replica.process.poll() is not None:
            pytest.fail(
                f"a replica exited with {replica.process.returncode}:\n{replica.log.read_text()}"
            )
        try:
            with urllib.request.urlopen(f"{replica.base_url}/health/ready", timeout=2):  # noqa: S310
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    pytest.fail(f"a replica was not ready within {READY_TIMEOUT} s:\n{replica.log.read_text()}")


def call(
    base_url: str, method: str, path: str, token: str | None, body: object = None
) -> tuple[int, Any]:
    """One request on a connection of its own (as a load balancer opens them)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base_url}{path}", data=data, method=method)  # noqa: S310
    request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@dataclass
class LoadResult:
    answered: int = 0
    #: Requests sent to the other replica because this one was draining or refused them.
    rerouted: int = 0
    errors: list[str] = dataclasses.field(default_factory=list)


@dataclass
class Balancer:
    """Spreads requests over the replicas in turn, as a Service's endpoints do.

    A replica in `draining` gets no new request (Kubernetes removes a terminating pod from
    the endpoints); a refused connection goes to the next replica.
    """

    urls: Sequence[str]
    #: The path the API's routes sit under (the project's `api_prefix`).
    prefix: str = ""
    draining: set[str] = dataclasses.field(default_factory=set)

    def targets(self, index: int) -> list[str]:
        turn = [self.urls[(index + step) % len(self.urls)] for step in range(len(self.urls))]
        return [url for url in turn if url not in self.draining]


def balanced_request(balancer: Balancer, index: int, token: str | None, result: LoadResult) -> None:
    """Create an item through the balancer; a request a replica accepted must be answered."""
    targets = balancer.targets(index)
    if targets and targets[0] != balancer.urls[index % len(balancer.urls)]:
        result.rerouted += 1
    for base_url in targets:
        try:
            path = f"{balancer.prefix}/items"
            status, body = call(base_url, "POST", path, token, {"title": f"load {index}"})
        except urllib.error.URLError as error:
            if isinstance(error.reason, ConnectionRefusedError):
                result.rerouted += 1
                continue
            result.errors.append(f"request {index} to {base_url}: {error!r}")
            return
        except (ConnectionError, OSError) as error:
            result.errors.append(f"request {index} to {base_url}: {error!r}")
            return
        if status != 201:
            result.errors.append(f"request {index} to {base_url}: {status} {body}")
        else:
            result.answered += 1
        return
    result.errors.append(f"request {index}: no replica took it")


def run_load(
    balancer: Balancer, token: str | None, during: Callable[[], object] | None = None
) -> LoadResult:
    """REPLICA_REQUESTS requests through the balancer; `during` starts when a third is sent."""
    result = LoadResult()
    with ThreadPoolExecutor(REPLICA_CLIENTS + 1) as pool:
        futures = []
        for index in range(REPLICA_REQUESTS):
            futures.append(pool.submit(balanced_request, balancer, index, token, result))
            if during is not None and index == REPLICA_REQUESTS // 3:
                futures.append(pool.submit(during))
        for future in futures:
            future.result()
    return result


#: Kubernetes' preStop delay, scaled down: the time between a pod's removal from the
#: endpoints and its SIGTERM, in which the connections already sent to it are accepted.
PRE_STOP_SECONDS = 0.5


def terminate_like_kubernetes(
    balancer: Balancer, replica: Replica, token: str | None
) -> tuple[int, object]:
    """Drain `replica` as Kubernetes does, with one request in flight across its SIGTERM.

    The replica leaves the endpoints; a request whose body is only half sent is in flight
    on it; after the preStop delay it gets SIGTERM; then the rest of the body is sent. The
    answer to that request is returned: a graceful shutdown completes it.
    """
    assert replica.base_url is not None
    balancer.draining.add(replica.base_url)
    address = urllib.parse.urlsplit(replica.base_url)
    body = json.dumps({"title": "in flight across SIGTERM"}).encode()
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    try:
        connection.putrequest("POST", f"{balancer.prefix}/items")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(len(body)))
        if token is not None:
            connection.putheader("Authorization", f"Bearer {token}")
        connection.endheaders(body[: len(body) // 2])
        time.sleep(PRE_STOP_SECONDS)
        replica.process.send_signal(signal.SIGTERM)
        time.sleep(PRE_STOP_SECONDS)
        connection.send(body[len(body) // 2 :])
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def import_jobs(api_url: str, token: str | None) -> dict[str, list[str]]:
    """Enqueue REPLICA_JOBS imports of distinct titles; job id -> its titles."""
    jobs = {}
    for job in range(REPLICA_JOBS):
        titles = [f"job {job} item {item}" for item in range(TITLES_PER_JOB)]
        status, body = call(api_url, "POST", "/items/import", token, {"titles": titles})
        assert status == 202, body
        jobs[body["job_id"]] = titles
    return jobs


def wait_for_jobs(api_url: str, token: str | None, jobs: Iterable[str]) -> None:
    pending = set(jobs)
    deadline = time.monotonic() + JOBS_TIMEOUT
    while pending and time.monotonic() < deadline:
        for job_id in sorted(pending):
            status, body = call(api_url, "GET", f"/items/imports/{job_id}", token)
            assert status == 200, body
            assert body["status"] != "failed", body
            if body["status"] == "complete":
                pending.discard(job_id)
        time.sleep(0.2)
    assert not pending, f"{len(pending)} jobs did not complete within {JOBS_TIMEOUT} s"


def title_counts(database_url: str) -> dict[str, int]:
    import psycopg  # installed by the variant sessions only, so imported here

    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        rows = connection.execute("SELECT title, count(*) FROM items GROUP BY title").fetchall()
    return dict(rows)


@pytest.mark.replicas
def test_replicas_start_together_share_the_load_run_each_job_once_and_drain(
    variant: str,
    installed_project: Path,
    project_env: dict[str, str],
    postgres_url: str,
    database_server: str,
    record_step: RecordStep,
    record_replicas: RecordReplicas,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    """Two API processes (and two workers) started at the same moment on one fresh database.

    The migration runs first, once, as the Kubernetes Job does; then every process starts at
    once: each API bootstraps the same first superuser. Both become ready with no error in
    their logs, a load spread over both is answered without an error, each imported job
    runs exactly once, and one API stopped during the load as Kubernetes stops a pod (out of
    the endpoints, a preStop delay, SIGTERM) loses no request: a request in flight across
    its SIGTERM is answered, the new ones go to the other API.
    """
    answers = VARIANTS[variant]
    run_id = uuid.uuid4().hex[:8]
    uses_worker = "worker" in answers["compose_services"]
    prefix = f"{PACKAGE}:replicas-{run_id}:"
    # JSON log lines, as in production: every line of every process must be one.
    base = {
        **project_env,
        "ENVIRONMENT": "dev",
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "json",
        **pgbouncer_settings(variant),
    }
    env, redis_url = served_environment(base, answers, request, prefix)
    replicas: list[Replica] = []

    started = time.perf_counter()
    try:
        with scratch_database(postgres_url, f"{PACKAGE}_replicas_{run_id}") as database_url:
            env["DATABASE_URL"] = through(database_server, database_url)
            assert_succeeded(
                run(["uv", "run", "--no-sync", *MIGRATE[answers["orm"]]], installed_project, env)
            )
            apis = [start_api(installed_project, env, tmp_path / f"api-{n}.log") for n in (1, 2)]
            replicas += apis
            if uses_worker:
                command = ["python", "-m", f"{PACKAGE}.worker"]
                replicas += [
                    start_replica(installed_project, command, env, tmp_path / f"worker-{n}.log")
                    for n in (1, 2)
                ]
            for api in apis:
                wait_until_ready(api)
            urls = [api.base_url for api in apis if api.base_url is not None]
            routes_prefix = api_prefix(installed_project)
            api_urls = [f"{url}{routes_prefix}" for url in urls]
            token = None
            if answers["auth"]:
                secrets = dotenv(installed_project / ".env")
                email, password = (
                    secrets["FIRST_SUPERUSER_EMAIL"],
                    secrets["FIRST_SUPERUSER_PASSWORD"],
                )
                token = access_token(api_urls[0], email, password)
                assert access_token(api_urls[1], email, password)

            jobs = import_jobs(api_urls[1], token) if uses_worker else {}
            balancer = Balancer(urls, routes_prefix)
            load = run_load(balancer, token)
            stopping = apis[0]
            in_flight: list[tuple[int, object]] = []
            drained = run_load(
                balancer,
                token,
                during=lambda: in_flight.append(
                    terminate_like_kubernetes(balancer, stopping, token)
                ),
            )
            stopped_with = stopping.process.wait(timeout=30)
            if uses_worker:
                wait_for_jobs(api_urls[1], token, jobs)
            counts = title_counts(database_url)
    finally:
        for replica in replicas:
            if replica.process.poll() is None:
                replica.process.terminate()
                replica.process.wait(timeout=30)
        if redis_url is not None:
            delete_keys(redis_url, f"*{prefix}*")
    record_step(variant, "replicas", time.perf_counter() - started)
    job_titles = [title for titles in jobs.values() for title in titles]
    once = sum(counts.get(title) == 1 for title in job_titles)
    record_replicas(
        variant,
        {
            "requests": str(2 * REPLICA_REQUESTS),
            "errors": str(len(load.errors) + len(drained.errors)),
            "sent to the other during the drain": str(drained.rerouted),
            "in flight across SIGTERM": str(in_flight[0][0] if in_flight else "-"),
            "jobs run once": f"{once // TITLES_PER_JOB}/{len(jobs)}" if jobs else "-",
        },
    )
    logs = {replica.log.name: replica.log.read_text() for replica in replicas}

    assert load.errors == [], load.errors
    assert drained.errors == [], drained.errors
    assert load.answered == drained.answered == REPLICA_REQUESTS
    assert [status for status, _ in in_flight] == [201], in_flight
    # uvicorn re-raises the SIGTERM once it has shut down: the exit status is the signal's.
    assert stopped_with in {0, 128 + signal.SIGTERM}, logs[stopping.log.name]
    assert "Finished server process" in logs[stopping.log.name]
    assert [counts.get(title) for title in job_titles] == [1] * len(job_titles)
    for name, text in logs.items():
        assert not LOG_ERRORS.search(text), f"{name}:\n{text}"
        # From the first line on: uvicorn's and arq's start-up lines are the service's too.
        assert [line for line in text.splitlines() if not is_log_record(line)] == [], name
