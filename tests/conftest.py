"""Shared test machinery: cached renders, static checks by content, --variant and step timings."""

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests import servers
from tests.commands import ChecksByContent
from tests.projects import REPO_ROOT as REPO_ROOT  # re-exported: test modules import it here
from tests.projects import copy_working_tree, project_environment, render_project
from tests.variants import REPLICA_VARIANTS, VARIANTS

#: variant name -> step name -> seconds, filled by the variant tier, printed at the end.
STEP_TIMINGS = pytest.StashKey[dict[str, dict[str, float]]]()
#: variant name -> number of tests its generated suite ran.
GENERATED_TESTS = pytest.StashKey[dict[str, str]]()
#: variant name -> fuzz seed -> what schemathesis reported ("1089 cases, 0 findings").
FUZZ_RESULTS = pytest.StashKey[dict[str, dict[int, str]]]()
#: The static checks of the session, run once per distinct input.
STATIC_CHECKS = pytest.StashKey[ChecksByContent]()
#: variant name -> figure -> value of the multi-replica test (tests/test_variants.py).
REPLICA_FIGURES = pytest.StashKey[dict[str, dict[str, str]]]()
#: variant name -> outage -> (readiness answer, longest request, recovery) in seconds.
OUTAGE_FIGURES = pytest.StashKey[dict[str, dict[str, tuple[float, float, float]]]]()

Render = Callable[..., Path]
RecordStep = Callable[[str, str, float], None]
RecordTestCount = Callable[[str, str], None]
RecordFuzzResult = Callable[[str, int, str], None]
RecordOutage = Callable[[str, str, tuple[float, float, float]], None]
RecordReplicas = Callable[[str, dict[str, str]], None]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--variant",
        choices=sorted(VARIANTS),
        default=None,
        help="run the variant tier for this variant only (default: every variant)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[STEP_TIMINGS] = {}
    config.stash[GENERATED_TESTS] = {}
    config.stash[FUZZ_RESULTS] = {}
    config.stash[STATIC_CHECKS] = ChecksByContent()
    config.stash[OUTAGE_FIGURES] = {}
    config.stash[REPLICA_FIGURES] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The multi-replica test runs for the variants of REPLICA_VARIANTS only (deselected
    elsewhere, not skipped: it does not apply there)."""
    deselected = [
        item
        for item in items
        if item.get_closest_marker("replicas") is not None
        and getattr(item, "callspec", None) is not None
        and item.callspec.params.get("variant") not in REPLICA_VARIANTS
    ]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item not in deselected]


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
def render(template_copy: Path, tmp_path_factory: pytest.TempPathFactory) -> Render:
    """Render the template (uncommitted changes included) with the given answers.

    Unanswered questions take their defaults. Each answer set is rendered once per
    session and shared, so tests must treat the returned directory as read-only.
    """
    rendered: dict[str, Path] = {}

    def _render(**answers: Any) -> Path:
        # Answers may be lists (compose_services), so the key is their canonical JSON.
        key = json.dumps(answers, sort_keys=True)
        if key not in rendered:
            destination = tmp_path_factory.mktemp("render") / "project"
            rendered[key] = render_project(template_copy, destination, answers)
        return rendered[key]

    return _render


@pytest.fixture(scope="session")
def checks_by_content(pytestconfig: pytest.Config) -> ChecksByContent:
    """Run a static checker once per distinct content of the files it reads."""
    return pytestconfig.stash[STATIC_CHECKS]


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


@pytest.fixture(scope="session")
def project_env() -> dict[str, str]:
    return project_environment()


Key = TypeVar("Key")
Value = TypeVar("Value")


def recorder(table: dict[str, dict[Key, Value]]) -> Callable[[str, Key, Value], None]:
    """A function that files one value of one variant under its key, in `table`."""

    def _record(variant: str, key: Key, value: Value) -> None:
        table.setdefault(variant, {})[key] = value

    return _record


@pytest.fixture(scope="session")
def record_step(pytestconfig: pytest.Config) -> RecordStep:
    """Record how long one step of one variant took, for the summary table."""
    return recorder(pytestconfig.stash[STEP_TIMINGS])


@pytest.fixture(scope="session")
def record_test_count(pytestconfig: pytest.Config) -> RecordTestCount:
    """Record what a generated suite reported (see suite_result), for the summary table."""
    results = pytestconfig.stash[GENERATED_TESTS]

    def _record(variant: str, result: str) -> None:
        results[variant] = result

    return _record


@pytest.fixture(scope="session")
def record_fuzz_result(pytestconfig: pytest.Config) -> RecordFuzzResult:
    """Record what one schemathesis run found for one variant and seed, for the summary table."""
    return recorder(pytestconfig.stash[FUZZ_RESULTS])


@pytest.fixture(scope="session")
def record_replicas(pytestconfig: pytest.Config) -> RecordReplicas:
    """Record the figures of one variant's multi-replica test, for the summary table."""
    figures = pytestconfig.stash[REPLICA_FIGURES]

    def _record(variant: str, measured: dict[str, str]) -> None:
        figures[variant] = measured

    return _record


@pytest.fixture(scope="session")
def record_outage(pytestconfig: pytest.Config) -> RecordOutage:
    """Record what one outage of one variant measured, for the summary table."""
    return recorder(pytestconfig.stash[OUTAGE_FIGURES])


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    checks = config.stash.get(STATIC_CHECKS, None)
    if checks is not None and checks.counts:
        terminalreporter.write_line(f"static checks, identical files once: {checks.summary()}")
    outages = config.stash.get(OUTAGE_FIGURES, {})
    if outages:
        header = ["project", "outage", "ready answered", "longest request", "recovered in"]
        rows = [
            [variant, outage, *(_seconds(value) for value in measured)]
            for variant, row in outages.items()
            for outage, measured in row.items()
        ]
        title = "outages per served project (seconds)"
        _write_table(terminalreporter, title, header, rows, text_columns=2)
    replicas = config.stash.get(REPLICA_FIGURES, {})
    if replicas:
        header = ["project", *next(iter(replicas.values()))]
        rows = [[variant, *row.values()] for variant, row in replicas.items()]
        _write_table(terminalreporter, "replicas started together", header, rows)
    timings = config.stash.get(STEP_TIMINGS, {})
    if not timings:
        return
    counts = config.stash.get(GENERATED_TESTS, {})
    fuzz = config.stash.get(FUZZ_RESULTS, {})
    steps = list(dict.fromkeys(step for row in timings.values() for step in row))
    header = ["project", *steps, "total", "generated suite", "fuzz per seed"]
    rows = [
        [
            variant,
            *(_seconds(row.get(step)) for step in steps),
            _seconds(sum(row.values())),
            str(counts.get(variant, "-")),
            _per_seed(fuzz.get(variant, {})),
        ]
        for variant, row in timings.items()
    ]
    _write_table(terminalreporter, "timings per rendered project (seconds)", header, rows)


def _write_table(
    terminalreporter: Any,
    title: str,
    header: list[str],
    rows: list[list[str]],
    text_columns: int = 1,
) -> None:
    """The first `text_columns` columns left-aligned, the figures after them right-aligned."""
    widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]
    terminalreporter.write_sep("=", title)
    for line in [header, *rows]:
        cells = [
            cell.ljust(width)
            for cell, width in zip(line[:text_columns], widths[:text_columns], strict=True)
        ]
        cells += [
            cell.rjust(width)
            for cell, width in zip(line[text_columns:], widths[text_columns:], strict=True)
        ]
        terminalreporter.write_line("  ".join(cells))


def _per_seed(results: dict[int, str]) -> str:
    return "; ".join(f"seed {seed}: {result}" for seed, result in results.items()) or "-"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
