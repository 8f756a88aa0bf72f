"""Run the external tools the tests drive, and fail readably when one is missing or fails."""

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

#: How much of a failing command's output an assertion message shows.
OUTPUT_TAIL_LINES = 200


def require_tool(name: str, package: str) -> str:
    """Return the path of an executable, or fail saying which package provides it."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"`{name}` is not on PATH: run the tests through nox (`uvx nox -s fast`), "
            f"which installs it, or install the `{package}` package.",
            pytrace=False,
        )
    return path


def run(
    args: Sequence[str],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 1800,
) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing stdout and stderr interleaved as one text."""
    return subprocess.run(  # noqa: S603 - the tests choose every argument
        list(args),
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )


def describe(result: subprocess.CompletedProcess[str]) -> str:
    """The command line, its exit code and the tail of its output, for assertion messages."""
    lines = result.stdout.splitlines()
    tail = "\n".join(lines[-OUTPUT_TAIL_LINES:])
    skipped = f"[... {len(lines) - OUTPUT_TAIL_LINES} lines skipped ...]\n"
    return (
        f"`{' '.join(result.args)}` exited with {result.returncode}:\n"
        f"{skipped if len(lines) > OUTPUT_TAIL_LINES else ''}{tail}"
    )


def assert_succeeded(result: subprocess.CompletedProcess[str]) -> None:
    """Fail with the command's output unless it exited with 0."""
    if result.returncode != 0:
        pytest.fail(describe(result), pytrace=False)


def check(args: Sequence[str], cwd: Path) -> None:
    """Run a command and fail with its output unless it succeeds."""
    assert_succeeded(run(args, cwd))
