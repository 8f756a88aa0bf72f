"""Installability on every offered Python: each dependency has a wheel (needs the package index).

Only Python 3.11 runs here, so for the other offered versions the check is that uv resolves
every dependency of the project and its dev group to wheels (the slim image has no
compiler). This is the one check that needs PyPI, so it has its own marker and nox session
(`wheels`), and the fast tier stays offline.
"""

from pathlib import Path

import pytest

from tests.commands import check, require_tool
from tests.conftest import Render
from tests.projects import NEWEST_PYTHON, OFFERED_PYTHONS
from tests.variants import ALL_SERVICES, ORMS, answer_set

pytestmark = pytest.mark.wheels

#: The platforms of the official python images the Dockerfile builds on.
DOCKER_PLATFORMS = ("x86_64-manylinux_2_28", "aarch64-manylinux_2_28")
#: The newest Python, the default, on both image platforms; the others on x86_64.
WHEEL_CHECKS = [
    pytest.param(orm, python, platform, id=f"{orm}-py{python}-{platform.split('-')[0]}")
    for orm in ORMS
    for python in OFFERED_PYTHONS
    for platform in (DOCKER_PLATFORMS if python == NEWEST_PYTHON else DOCKER_PLATFORMS[:1])
]


@pytest.mark.parametrize(("orm", "python", "platform"), WHEEL_CHECKS)
def test_every_dependency_has_a_wheel_for_each_offered_python(
    render: Render, orm: str, python: str, platform: str, tmp_path: Path
) -> None:
    """Resolves the project's and its dev group's dependencies, wheels only."""
    uv = require_tool("uv", "uv")
    project = render(**answer_set(orm, True, ALL_SERVICES, python))
    requirements = tmp_path / "requirements.txt"
    check(
        [
            uv,
            "pip",
            "compile",
            "pyproject.toml",
            "--group",
            "dev",
            "--python-version",
            python,
            "--python-platform",
            platform,
            "--only-binary",
            ":all:",
            "--quiet",
            "--no-header",
            "--output-file",
            str(requirements),
        ],
        cwd=project,
    )

    assert "asyncpg==" in requirements.read_text()
