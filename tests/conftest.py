"""Shared test machinery: the template location, cached renders, --variant and step timings."""

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import servers
from tests.variants import VARIANTS

REPO_ROOT = Path(__file__).resolve().parent.parent

#: variant name -> step name -> seconds, filled by the variant tier, printed at the end.
STEP_TIMINGS = pytest.StashKey[dict[str, dict[str, float]]]()
#: variant name -> number of tests its generated suite ran.
GENERATED_TESTS = pytest.StashKey[dict[str, str]]()

Render = Callable[..., Path]
RecordStep = Callable[[str, str, float], None]
RecordTestCount = Callable[[str, str], None]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--variant",
        choices=sorted(VARIANTS),
        default=None,
        help="run the variant tier for this variant only (default: every variant)",
    )


def pytest_configure(config: pytest.Config) -> None:
    # pytest-copie renders the template given by --template (default: the current
    # directory); point it at this repository wherever pytest is started from.
    if not (Path(config.option.template) / "copier.yml").is_file():
        config.option.template = str(REPO_ROOT)
    config.stash[STEP_TIMINGS] = {}
    config.stash[GENERATED_TESTS] = {}


def copy_working_tree(destination: Path) -> None:
    """Copy this repository's files as they are on disk: tracked and new, minus the ignored."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],  # noqa: S607
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in sorted(set(listing.split("\0")) - {""}):
        source = REPO_ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is not copied
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


@pytest.fixture(scope="session")
def template_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The working tree, uncommitted changes included, copied out of git.

    Copier clones a git template before every render, which costs about a third of the
    render; rendering this plain copy gives the same files, without the clone.
    """
    template = tmp_path_factory.mktemp("template")
    copy_working_tree(template)
    return template


@pytest.fixture(scope="session")
def render(copie_session: Any, template_copy: Path) -> Render:
    """Render the template (uncommitted changes included) with the given answers.

    Unanswered questions take their defaults. Each answer set is rendered once per
    session and shared, so tests must treat the returned directory as read-only.
    """
    rendered: dict[str, Path] = {}

    def _render(**answers: Any) -> Path:
        # Answers may be lists (compose_services), so the key is their canonical JSON.
        key = json.dumps(answers, sort_keys=True)
        if key not in rendered:
            result = copie_session.copy(extra_answers=answers, template_dir=template_copy)
            if result.exception is not None:
                message = f"rendering with {answers} failed: {result.exception}"
                raise RuntimeError(message) from result.exception
            rendered[key] = result.project_dir
        return rendered[key]

    return _render


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The PostgreSQL server of the generated suites (see tests/servers.py for the order)."""
    with servers.provide(servers.POSTGRES) as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The Redis server of the generated suites (see tests/servers.py for the order)."""
    with servers.provide(servers.REDIS) as url:
        yield url


def project_environment() -> dict[str, str]:
    """The environment of a generated project's commands (add the test servers' URLs).

    nox points UV_PROJECT_ENVIRONMENT at its session's virtualenv; left in place, `uv sync`
    would install the project there (removing nox's own tools) instead of into its .venv.
    """
    leaks = {"VIRTUAL_ENV", "PYTHONPATH", "UV_PROJECT_ENVIRONMENT"}
    env = {k: v for k, v in os.environ.items() if k not in leaks}
    env["UV_PYTHON_DOWNLOADS"] = "never"
    return env


@pytest.fixture(scope="session")
def project_env() -> dict[str, str]:
    return project_environment()


@pytest.fixture(scope="session")
def record_step(pytestconfig: pytest.Config) -> RecordStep:
    """Record how long one step of one variant took, for the summary table."""
    timings = pytestconfig.stash[STEP_TIMINGS]

    def _record(variant: str, step: str, seconds: float) -> None:
        timings.setdefault(variant, {})[step] = seconds

    return _record


@pytest.fixture(scope="session")
def record_test_count(pytestconfig: pytest.Config) -> RecordTestCount:
    """Record what a generated suite reported (see suite_result), for the summary table."""
    results = pytestconfig.stash[GENERATED_TESTS]

    def _record(variant: str, result: str) -> None:
        results[variant] = result

    return _record


#: A generated project's own test suite, run in its installed .venv.
GENERATED_PYTEST = ["uv", "run", "--no-sync", "pytest", "-q", "-p", "no:cacheprovider"]


def summary_line(pytest_output: str) -> str:
    """A pytest run's last line without its "=" frame: "97 passed in 2.31s", or ""."""
    lines = pytest_output.strip().splitlines()
    return lines[-1].strip("= ") if lines else ""


def suite_result(pytest_output: str) -> str:
    """ "97 passed in 2.31s" from a pytest run's last line: its tests and its own run time."""
    return summary_line(pytest_output) or "-"


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    timings = config.stash.get(STEP_TIMINGS, {})
    if not timings:
        return
    counts = config.stash.get(GENERATED_TESTS, {})
    steps = list(dict.fromkeys(step for row in timings.values() for step in row))
    header = ["project", *steps, "total", "generated suite"]
    rows = [
        [
            variant,
            *(_seconds(row.get(step)) for step in steps),
            _seconds(sum(row.values())),
            str(counts.get(variant, "-")),
        ]
        for variant, row in timings.items()
    ]
    widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]
    terminalreporter.write_sep("=", "timings per rendered project (seconds)")
    for line in [header, *rows]:
        cells = [line[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(line[1:], widths[1:], strict=True)]
        terminalreporter.write_line("  ".join(cells))


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
