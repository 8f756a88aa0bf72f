"""Every observability combination of every ORM type-checks: the render's own `mypy --strict`.

The variant tier type-checks ten variants in their own environments; this tier covers the
rest of the observability question: each combination of its choices (none included) with
each ORM, auth on and off and the services alternating, as the fast tier renders them.
Installing each render would take minutes, so the renders of one ORM share an environment:
that of the ORM's render with every option and every service, whose dependencies include
those of every other render of the ORM. mypy runs from it in each render's directory, with
the render's configuration, and keeps one cache per ORM, so only a combination's own
modules are checked anew.
"""

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.commands import assert_succeeded, run
from tests.projects import REPO_ROOT, install, project_environment, render_project
from tests.variants import (
    ALL_OBSERVABILITY,
    ALL_SERVICES,
    OBSERVABILITY_SETS,
    ORMS,
    PYTHON_VERSION,
    answer_set,
    variant_name,
)

pytestmark = pytest.mark.types


def combination(orm: str, index: int, observability: list[str]) -> Any:
    """One observability combination; auth and the services alternate with its index."""
    answers = answer_set(
        orm,
        auth=index % 2 == 0,
        services=ALL_SERVICES if index % 2 == 0 else ["redis"],
        observability=observability,
    )
    # One xdist worker checks all of an ORM's renders: they share its environment and cache.
    return pytest.param(answers, id=variant_name(answers), marks=pytest.mark.xdist_group(orm))


@pytest.fixture(scope="module")
def environments() -> dict[str, Path]:
    """ORM -> its render with every option and service, installed; filled on first use."""
    return {}


def environment_of(orm: str, environments: dict[str, Path], work: Path) -> Path:
    if orm not in environments:
        answers = answer_set(orm, True, ALL_SERVICES, observability=ALL_OBSERVABILITY)
        project = render_project(REPO_ROOT, work / f"{orm}-every-option", answers)
        assert_succeeded(install(project, PYTHON_VERSION, project_environment()).result)
        environments[orm] = project
    return environments[orm]


@pytest.mark.parametrize(
    "answers",
    [
        combination(orm, index, observability)
        for orm in ORMS
        for index, observability in enumerate(OBSERVABILITY_SETS)
    ],
)
def test_every_observability_combination_type_checks(
    answers: dict[str, Any],
    environments: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
) -> None:
    """mypy --strict passes on the render, with the render's own mypy configuration."""
    work = tmp_path_factory.getbasetemp() / "typed"
    work.mkdir(exist_ok=True)
    environment = environment_of(answers["orm"], environments, work)
    project = render_project(REPO_ROOT, tmp_path / "project", answers)
    mypy = environment / ".venv" / "bin" / "mypy"
    cache = work / f"{answers['orm']}-mypy-cache"

    result = run([str(mypy), "--cache-dir", str(cache)], project, project_environment())

    assert_succeeded(result)
    shutil.rmtree(project)
