"""Benchmark: how long each variant takes to render, install and run its own test suite.

Run through nox: `uvx nox -s bench` (every variant of tests/variants.py) or
`uvx nox -s bench -- sqlalchemy-auth tortoise-auth` (some), with `--runs N` to repeat each
generated suite N times (default 3). Prints one table; asserts nothing. The suites run
against the servers the variant tier uses (tests/servers.py).
"""

import argparse
import re
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests import servers
from tests.commands import describe
from tests.projects import (
    Timed,
    copy_working_tree,
    install,
    project_environment,
    render_project,
    run_generated_suite,
    summary_line,
)
from tests.variants import VARIANTS

#: pytest's own run time in its last line: "97 passed in 1.64s".
PYTEST_TIME = re.compile(r"(\d+) passed.* in (\d+(?:\.\d+)?)s")


def succeeded(step: Timed) -> Timed:
    """The step, if its command succeeded; otherwise stop the benchmark with its output."""
    if step.result.returncode != 0:
        sys.exit(describe(step.result))
    return step


def suite_runs(project: Path, env: dict[str, str], runs: int) -> tuple[int, list[float]]:
    """The number of tests and pytest's own time for each of `runs` runs."""
    times = []
    tests = 0
    for _ in range(runs):
        result = succeeded(run_generated_suite(project, env)).result
        match = PYTEST_TIME.search(summary_line(result.stdout))
        if match is None:
            sys.exit(describe(result))
        tests, seconds = int(match.group(1)), float(match.group(2))
        times.append(seconds)
    return tests, times


def bench(
    name: str,
    answers: dict[str, Any],
    template: Path,
    workdir: Path,
    env: dict[str, str],
    runs: int,
) -> list[str]:
    started = time.perf_counter()
    project = render_project(template, workdir / name, answers)
    render = time.perf_counter() - started
    sync = succeeded(install(project, answers["python_version"], env)).seconds
    tests, times = suite_runs(project, env, runs)
    return [
        name,
        f"{render:.2f}",
        f"{sync:.2f}",
        str(tests),
        f"{statistics.median(times):.2f}",
        f"{min(times):.2f}",
        f"{max(times):.2f}",
    ]


def print_table(rows: list[list[str]], runs: int) -> None:
    header = ["variant", "render", "uv sync", "tests", f"pytest median of {runs}", "min", "max"]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    print(f"\nSeconds; pytest times are pytest's own, {runs} runs each.")
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        print("  ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="*", metavar="VARIANT", help="default: all")
    parser.add_argument("--runs", type=int, default=3, help="runs of each suite (default: 3)")
    options = parser.parse_args()
    names = options.variants or list(VARIANTS)
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")

    env = project_environment()
    rows = []
    with ExitStack() as stack:
        try:
            env["TEST_DATABASE_URL"] = stack.enter_context(servers.provide(servers.POSTGRES))
            if any("redis" in VARIANTS[name]["compose_services"] for name in names):
                env["TEST_REDIS_URL"] = stack.enter_context(servers.provide(servers.REDIS))
        except pytest.fail.Exception as error:
            sys.exit(str(error))
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        template = workdir / "template"
        copy_working_tree(template)
        for name in names:
            rows.append(bench(name, VARIANTS[name], template, workdir, env, options.runs))
            print(f"{name}: done", flush=True)
    print_table(rows, options.runs)


if __name__ == "__main__":
    main()
