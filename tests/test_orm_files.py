"""The ORM-specific files: each ORM renders exactly its own, and no other migration tool's.

Only the database layer, the models, the repositories, the test fixtures and the
migrations know which ORM was chosen. The table below is the specification of those files
per ORM; a rendered project must contain exactly them, whatever the other answers.
"""

from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT, Render
from tests.variants import ALL_SERVICES, ORMS, answer_set

#: Where ORM-specific files may live ({package} is the package name): a rendered file that
#: matches one of these is ORM-specific, and must be listed for its ORM below.
ORM_SPECIFIC_PLACES = [
    "alembic.ini",
    "migrations/*",
    "src/{package}/db.py",
    "src/{package}/*/models.py",
    "src/{package}/*/repository.py",
    "tests/database.py",
    "tests/test_sessions.py",
]
#: Every ORM writes its own database layer, models, repositories and fixtures.
DATABASE_LAYER = [
    "src/{package}/db.py",
    "src/{package}/items/models.py",
    "src/{package}/items/repository.py",
    "tests/database.py",
]
#: With auth, the users domain and the auth domain (refresh tokens) have their own models
#: and repositories too.
AUTH_LAYER = [
    "src/{package}/auth/models.py",
    "src/{package}/auth/repository.py",
    "src/{package}/users/models.py",
    "src/{package}/users/repository.py",
]
#: The SQLAlchemy family opens a transaction per request that may write; its test says so.
SQLALCHEMY_SESSIONS = ["tests/test_sessions.py"]
ALEMBIC = [
    "alembic.ini",
    "migrations/env.py",
    "migrations/script.py.mako",
    "migrations/versions/*.py",
]
AERICH = ["migrations/config.py", "migrations/models/*.py"]
#: Migration tool -> its migrations in order: the first creates the tables of every
#: variant, the second (auth only) adds what revokes tokens (users.token_version and the
#: refresh_tokens table).
MIGRATIONS = {
    "alembic": [
        "migrations/versions/2026_11_23_0000-*_initial_schema.py",
        "migrations/versions/2026_12_03_0000-*_token_revocation.py",
    ],
    "aerich": [
        "migrations/models/0_20261123000000_init.py",
        "migrations/models/1_20261203000000_refresh_tokens.py",
    ],
}
#: ORM -> the patterns of its ORM-specific files; each pattern matches at least one file.
ORM_FILES: dict[str, list[str]] = {
    "sqlalchemy": DATABASE_LAYER + SQLALCHEMY_SESSIONS + ALEMBIC,
    "sqlmodel": DATABASE_LAYER + SQLALCHEMY_SESSIONS + ALEMBIC,
    "tortoise": DATABASE_LAYER + AERICH,
}
#: Migration tool -> what only its ORMs may render.
MIGRATION_TOOLS = {"alembic": ALEMBIC, "aerich": AERICH}
#: ORM -> its migration tool.
MIGRATION_TOOL_OF = {"sqlalchemy": "alembic", "sqlmodel": "alembic", "tortoise": "aerich"}


def rendered_files(project: Path) -> list[str]:
    return sorted(str(path.relative_to(project)) for path in project.rglob("*") if path.is_file())


def package_of(project: Path) -> str:
    answers: dict[str, Any] = yaml.safe_load((project / ".copier-answers.yml").read_text())
    return str(answers["package_name"])


def matching(files: list[str], patterns: list[str], package: str) -> list[str]:
    """The files that match one of the patterns."""
    expanded = [pattern.format(package=package) for pattern in patterns]
    return [name for name in files if any(fnmatchcase(name, pattern) for pattern in expanded)]


def unmatched(files: list[str], patterns: list[str], package: str) -> list[str]:
    """The patterns that match none of the files."""
    return [
        pattern
        for pattern in patterns
        if not any(fnmatchcase(name, pattern.format(package=package)) for name in files)
    ]


def test_the_table_covers_every_orm_of_copier_yml() -> None:
    choices = yaml.safe_load((REPO_ROOT / "copier.yml").read_text())["orm"]["choices"]

    assert sorted(ORM_FILES) == sorted(choices.values()) == sorted(ORMS)
    assert sorted(MIGRATION_TOOL_OF) == sorted(ORMS)


@pytest.mark.parametrize("services", [[], ALL_SERVICES], ids=["no-services", "all-services"])
@pytest.mark.parametrize("auth", [True, False], ids=["auth", "noauth"])
@pytest.mark.parametrize("orm", ORMS)
def test_each_orm_renders_exactly_its_own_files(
    render: Render, orm: str, auth: bool, services: list[str]
) -> None:
    project = render(**answer_set(orm, auth, services))
    package = package_of(project)
    files = rendered_files(project)
    expected = ORM_FILES[orm] + (AUTH_LAYER if auth else [])

    orm_specific = matching(files, ORM_SPECIFIC_PLACES, package)
    unexpected = sorted(set(orm_specific) - set(matching(files, expected, package)))

    assert unmatched(files, expected, package) == [], "expected files are missing"
    assert unexpected == [], "ORM-specific files that the table does not list"


@pytest.mark.parametrize("auth", [True, False], ids=["auth", "noauth"])
@pytest.mark.parametrize("orm", ORMS)
def test_no_file_of_another_migration_tool_is_rendered(
    render: Render, orm: str, auth: bool
) -> None:
    project = render(**answer_set(orm, auth))
    package = package_of(project)
    files = rendered_files(project)
    other_tools = [tool for tool in MIGRATION_TOOLS if tool != MIGRATION_TOOL_OF[orm]]

    for tool in other_tools:
        assert matching(files, MIGRATION_TOOLS[tool], package) == [], f"{orm} renders {tool} files"


@pytest.mark.parametrize("auth", [True, False], ids=["auth", "noauth"])
@pytest.mark.parametrize("orm", ORMS)
def test_the_migrations_are_the_tools_own_and_the_second_one_needs_auth(
    render: Render, orm: str, auth: bool
) -> None:
    project = render(**answer_set(orm, auth))
    package = package_of(project)
    files = rendered_files(project)
    tool = MIGRATION_TOOL_OF[orm]
    folder = {"alembic": "migrations/versions/", "aerich": "migrations/models/"}[tool]
    migrations = [name for name in files if name.startswith(folder)]
    expected = MIGRATIONS[tool] if auth else MIGRATIONS[tool][:1]

    assert len(migrations) == len(expected)
    assert unmatched(migrations, expected, package) == []


@pytest.mark.parametrize("orm", ORMS)
def test_facts_derived_from_the_orm_are_not_stored_as_answers(render: Render, orm: str) -> None:
    project = render(**answer_set(orm, True))
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())

    assert answers["orm"] == orm
    # Hidden questions of copier.yml: recomputed from orm at every copy and update.
    assert "orm_family" not in answers
    assert "migrations_tool" not in answers
