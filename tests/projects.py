"""Generated projects: render the template, read what a render stored, install it, run its suite.

Every test tier and the benchmark render, read and run projects through these functions only.
"""

import os
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import copier
import yaml
from dotenv import dotenv_values

from tests.commands import run

REPO_ROOT = Path(__file__).resolve().parent.parent
COPIER_YML = REPO_ROOT / "copier.yml"
ANSWERS_FILE = ".copier-answers.yml"

#: A generated project's own test suite, run in its installed .venv.
GENERATED_PYTEST = ["uv", "run", "--no-sync", "pytest", "-q", "-p", "no:cacheprovider"]


# --- the template -----------------------------------------------------------------------


def copier_config() -> dict[str, Any]:
    """copier.yml: the questions and copier's settings."""
    config: dict[str, Any] = yaml.safe_load(COPIER_YML.read_text())
    return config


#: The python_version choices of copier.yml, newest (the default) first.
OFFERED_PYTHONS: list[str] = copier_config()["python_version"]["choices"]
OLDEST_PYTHON, NEWEST_PYTHON = OFFERED_PYTHONS[-1], OFFERED_PYTHONS[0]


# --- rendering --------------------------------------------------------------------------


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


def render_project(
    template: Path,
    destination: Path,
    answers: Mapping[str, Any] | None = None,
    vcs_ref: str | None = None,
) -> Path:
    """Render like `copier copy --defaults --data NAME=VALUE ... TEMPLATE DESTINATION` does.

    Unanswered questions take their defaults, and every given answer goes through its
    question's validator: an invalid one raises ValueError before any file is written.
    There is no `--trust`, as for the template's users: a render must not need it.
    `vcs_ref` picks a tag or commit of a git template (default: a plain directory as it is).
    """
    copier.run_copy(
        str(template),
        str(destination),
        data=dict(answers or {}),
        defaults=True,
        vcs_ref=vcs_ref,
        quiet=True,
    )
    return destination


# --- what a render stored ---------------------------------------------------------------


def stored_answers(project: Path) -> dict[str, Any]:
    """The answers a project keeps in .copier-answers.yml for `copier update`."""
    answers: dict[str, Any] = yaml.safe_load((project / ANSWERS_FILE).read_text())
    return answers


def api_prefix(project: Path) -> str:
    """The path a project's API routes sit under ("" for the root paths); health stays at /."""
    prefix: str = stored_answers(project).get("api_prefix", "")
    return prefix


def dotenv(path: Path) -> dict[str, str]:
    """The variables a .env-style file assigns, read by python-dotenv as the app's settings are.

    pydantic-settings reads .env with python-dotenv, so the tests parse by the same rules
    (comments, quotes, `export`). A name without `=` has no value: it maps to "".
    """
    return {name: value or "" for name, value in dotenv_values(path).items()}


# --- installing a render and running its own suite --------------------------------------


def project_environment() -> dict[str, str]:
    """The environment of a generated project's commands (add the test servers' URLs).

    nox points UV_PROJECT_ENVIRONMENT at its session's virtualenv; left in place, `uv sync`
    would install the project there (removing nox's own tools) instead of into its .venv.
    """
    leaks = {"VIRTUAL_ENV", "PYTHONPATH", "UV_PROJECT_ENVIRONMENT"}
    env = {k: v for k, v in os.environ.items() if k not in leaks}
    env["UV_PYTHON_DOWNLOADS"] = "never"
    return env


@dataclass(frozen=True)
class Timed:
    """A finished command and how long it took."""

    result: subprocess.CompletedProcess[str]
    seconds: float


def timed_run(args: Sequence[str], project: Path, env: Mapping[str, str]) -> Timed:
    started = time.perf_counter()
    result = run(args, project, env)
    return Timed(result, time.perf_counter() - started)


def install(project: Path, python_version: str, env: Mapping[str, str]) -> Timed:
    """`uv sync`: the project and its dev group into its own .venv (writes uv.lock)."""
    return timed_run(["uv", "sync", "--python", python_version], project, env)


def run_generated_suite(project: Path, env: Mapping[str, str]) -> Timed:
    """The project's own pytest suite in its installed .venv; `env` names the test servers."""
    return timed_run(GENERATED_PYTEST, project, env)


def summary_line(pytest_output: str) -> str:
    """A pytest run's last line without its "=" frame: "97 passed in 2.31s", or ""."""
    lines = pytest_output.strip().splitlines()
    return lines[-1].strip("= ") if lines else ""


def suite_result(pytest_output: str) -> str:
    """ "97 passed in 2.31s" from a pytest run's last line: its tests and its own run time."""
    return summary_line(pytest_output) or "-"
