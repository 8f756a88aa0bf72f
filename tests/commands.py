"""Run the external tools the tests drive, and fail readably when one is missing or fails."""

import hashlib
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


def content_digest(cwd: Path, inputs: Sequence[str]) -> str:
    """A hash of the named files' contents (a missing file counts as absent)."""
    digest = hashlib.sha256()
    for name in inputs:
        path = cwd / name
        data = path.read_bytes() if path.is_file() else None
        size = "absent" if data is None else str(len(data))
        digest.update(f"{name}\0{size}\0".encode())
        digest.update(data or b"")
    return digest.hexdigest()


class ChecksByContent:
    """Static checks run once per distinct input; renders with identical files share the result.

    A result is keyed by the command line and the content of every file the checker reads,
    so a check runs again exactly when something it could see differs. Each test still
    fails on its own when the shared result is a failure.
    """

    def __init__(self) -> None:
        self._results: dict[tuple[tuple[str, ...], str], subprocess.CompletedProcess[str]] = {}
        #: checker name -> [checks the tests asked for, checks actually run].
        self.counts: dict[str, list[int]] = {}

    def check(self, args: Sequence[str], cwd: Path, inputs: Sequence[str]) -> None:
        """Fail with the checker's output unless it passes `inputs` (relative to `cwd`)."""
        counts = self.counts.setdefault(Path(args[0]).name, [0, 0])
        counts[0] += 1
        key = (tuple(args), content_digest(cwd, inputs))
        if key not in self._results:
            counts[1] += 1
            self._results[key] = run(args, cwd)
        assert_succeeded(self._results[key])

    def summary(self) -> str:
        """ "hadolint 4 runs for 48 checks, ..." """
        return ", ".join(
            f"{name} {runs} runs for {asked} checks"
            for name, (asked, runs) in sorted(self.counts.items())
        )
