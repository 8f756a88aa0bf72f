"""The variant tier: each variant renders, installs with uv and passes its own suite, mypy, ruff.

Select one variant with ``--variant=<name>`` (nox runs one session per variant); without it
every variant in tests/variants.py runs. Per-step timings are printed at the end.
"""

import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import pytest

from tests.commands import assert_succeeded, describe, require_tool, run
from tests.conftest import RecordFuzzResult, RecordStep, RecordTestCount, Render
from tests.projects import (
    api_prefix,
    dotenv,
    install,
    run_generated_suite,
    suite_result,
    summary_line,
    timed_run,
)
from tests.served import MIGRATE, access_token, libpq_url, scratch_database, served_app
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
    servers = {"TEST_DATABASE_URL": postgres_url}
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

    The project's own migration command builds a fresh database, uvicorn serves the app
    (signing in as the first superuser with auth), and schemathesis calls every operation of
    its OpenAPI schema with generated valid and invalid input, once per seed, with all its
    checks: no server error, only documented statuses and bodies, valid input accepted and
    invalid input refused, 405 with a full Allow header for undocumented methods. The seeds
    are fixed, so a run is repeatable; it samples inputs rather than proving their absence,
    which is why what it found (NUL in text, offsets beyond bigint, nullable fields that
    refuse null) also has tests of its own in the generated suites.
    """
    schemathesis = require_tool("schemathesis", "schemathesis")
    answers = VARIANTS[variant]
    run_id = uuid.uuid4().hex[:8]
    env = {**project_env, "ENVIRONMENT": "dev"}
    if answers["auth"]:
        # The fuzzer creates many users: hash their passwords cheaply, as the suites do; and
        # it signs in as the superuser from one address: no sign-in limit may stand in its way.
        env |= {
            "ARGON2_TIME_COST": "1",
            "ARGON2_MEMORY_COST": "8",
            "ARGON2_PARALLELISM": "1",
            "LOGIN_RATE_LIMIT": "1000000/minute",
            "LOGIN_ADDRESS_RATE_LIMIT": "1000000/minute",
        }
    redis_url = None
    if "redis" in answers["compose_services"]:
        redis_url = request.getfixturevalue("redis_url")
        prefix = f"{PACKAGE}:fuzz-{run_id}:"
        env |= {"REDIS_URL": redis_url, "REDIS_KEY_PREFIX": prefix}
    log = tmp_path / "app.log"
    failed: list[str] = []

    started = time.perf_counter()
    try:
        with scratch_database(postgres_url, f"{PACKAGE}_fuzz_{run_id}") as database_url:
            env["DATABASE_URL"] = database_url
            assert_succeeded(
                run(["uv", "run", "--no-sync", *MIGRATE[answers["orm"]]], installed_project, env)
            )
            with served_app(installed_project, PACKAGE, env, log) as base_url:
                headers = []
                if answers["auth"]:
                    secrets = dotenv(installed_project / ".env")
                    token = access_token(
                        base_url + api_prefix(installed_project),
                        secrets["FIRST_SUPERUSER_EMAIL"],
                        secrets["FIRST_SUPERUSER_PASSWORD"],
                    )
                    headers = ["--header", f"Authorization: Bearer {token}"]
                # schemathesis keeps its example database in its working directory, tmp_path.
                for seed in FUZZ_SEEDS:
                    result = run(
                        [
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
                        ],
                        tmp_path,
                        project_env,
                    )
                    record_fuzz_result(variant, seed, fuzz_result(result.stdout))
                    if result.returncode != 0:
                        failed.append(f"--- seed {seed} ---\n{result.stdout}")
    finally:
        if redis_url is not None:
            delete_keys(redis_url, f"*{prefix}*")
    record_step(variant, "fuzz", time.perf_counter() - started)

    assert not failed, "\n".join([*failed, "--- the app's log ---", log.read_text()])


def test_mypy_passes(run_step: RunStep) -> None:
    result = run_step("mypy", ["uv", "run", "--no-sync", "mypy"])
    assert_succeeded(result)


def test_ruff_check_passes(run_step: RunStep) -> None:
    result = run_step("ruff check", ["uv", "run", "--no-sync", "ruff", "check"])
    assert_succeeded(result)


def test_ruff_format_check_passes(run_step: RunStep) -> None:
    result = run_step("ruff format", ["uv", "run", "--no-sync", "ruff", "format", "--check"])
    assert_succeeded(result)
