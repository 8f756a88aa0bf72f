"""The questions: defaults render, derived names are valid, bad answers stop the render."""

import keyword
import re
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Render
from tests.projects import copier_config, dotenv, render_project, stored_answers
from tests.variants import OBSERVABILITY, SERVICES

SLUG = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
SECRETS = ("SECRET_KEY", "FIRST_SUPERUSER_PASSWORD", "POSTGRES_PASSWORD")


def test_defaults_render_and_are_stored_for_updates(render: Render) -> None:
    project = render()

    expected = {
        "project_name": "My Service",
        "project_slug": "my-service",
        "package_name": "my_service",
        "python_version": "3.15",
        "orm": "sqlalchemy",
        "auth": True,
        "compose_services": [],
        "license": "MIT",
        "observability": [],
        "ci": "github",
        "api_prefix": "/api/v1",
    }
    assert {name: stored_answers(project).get(name) for name in expected} == expected
    assert (project / "src" / "my_service" / "main.py").is_file()


@pytest.mark.parametrize(
    ("answers", "problem"),
    [
        pytest.param({"project_name": ""}, "must not be empty", id="empty-project-name"),
        pytest.param({"project_name": "   "}, "must not be empty", id="blank-project-name"),
        pytest.param(
            {"project_slug": "My Slug"}, '"My Slug" is not a valid slug', id="slug-spaces"
        ),
        pytest.param({"project_slug": "-x"}, '"-x" is not a valid slug', id="slug-leading-hyphen"),
        pytest.param({"project_slug": "x-"}, '"x-" is not a valid slug', id="slug-trailing-hyphen"),
        pytest.param(
            {"project_slug": "a--b"}, '"a--b" is not a valid slug', id="slug-double-hyphen"
        ),
        pytest.param(
            {"package_name": "class"}, '"class" clashes with a Python keyword', id="package-keyword"
        ),
        pytest.param(
            {"package_name": "json"},
            '"json" clashes with a Python keyword, a standard-library',
            id="package-stdlib",
        ),
        # The reserved names come from tests/reserved_names.py: the standard library of
        # every offered Python (new in 3.14 and 3.15, gone after 3.11), dependencies, own packages.
        *(
            pytest.param({"package_name": name}, f'"{name}" clashes with', id=f"package-{why}")
            for name, why in [
                ("annotationlib", "stdlib-new-in-3.14"),
                ("profiling", "stdlib-new-in-3.15"),
                ("distutils", "stdlib-gone-in-3.12"),
                ("fastapi", "dependency"),
                ("jwt", "dependency-import-name"),
                ("pytest_asyncio", "dev-dependency"),
                ("migrations", "own-top-level-package"),
            ]
        ),
        pytest.param(
            {"package_name": "1abc"}, '"1abc" is not a valid package name', id="package-digit-first"
        ),
        pytest.param(
            {"package_name": "my-pkg"}, '"my-pkg" is not a valid package name', id="package-hyphen"
        ),
        pytest.param(
            {"author_email": "not-an-email"},
            '"not-an-email" is not a valid email address',
            id="bad-email",
        ),
        pytest.param({"python_version": "2.7"}, "'2.7' is not in", id="unsupported-python"),
        pytest.param({"license": "GPL-3.0"}, "'GPL-3.0' is not in", id="unknown-license"),
        pytest.param(
            {"compose_services": ["worker"]},
            'The worker runs its jobs through Redis: select "redis" as well',
            id="worker-without-redis",
        ),
        pytest.param(
            {"compose_services": ["worker", "adminer"]},
            'The worker runs its jobs through Redis: select "redis" as well',
            id="worker-and-adminer-without-redis",
        ),
        pytest.param(
            {"compose_services": ["redis", "mongo"]}, "'mongo' is not in", id="unknown-service"
        ),
        pytest.param(
            {"observability": ["sentry", "datadog"]}, "'datadog' is not in", id="unknown-telemetry"
        ),
        pytest.param({"ci": "jenkins"}, "'jenkins' is not in", id="unknown-ci"),
        *(
            pytest.param({"api_prefix": prefix}, "is not a valid API prefix", id=f"prefix-{name}")
            for name, prefix in [
                ("no-leading-slash", "api/v1"),
                ("trailing-slash", "/api/v1/"),
                ("slash-only", "/"),
                ("double-slash", "/api//v1"),
                ("space", "/api v1"),
                ("dot-segment", "/api/../v1"),
                ("newline", "/api\n"),
                ("query", "/api?v=1"),
            ]
        ),
    ],
)
def test_invalid_answer_is_rejected_before_any_file_is_written(
    template_copy: Path, tmp_path: Path, answers: dict[str, Any], problem: str
) -> None:
    destination = tmp_path / "project"
    [question] = answers

    with pytest.raises(ValueError, match=re.escape(problem)) as rejection:
        render_project(template_copy, destination, answers)

    assert f"'{question}'" in str(rejection.value), "the message names the question"
    assert not destination.exists() or not any(destination.iterdir())


@pytest.mark.parametrize(
    ("project_name", "slug", "package"),
    [
        ("My  Fancy_Service!", "my-fancy-service", "my_fancy_service"),
        ("Ünïcode & Co. Straße API", "unicode-co-strasse-api", "unicode_co_strasse_api"),
        ("  Padded Name  ", "padded-name", "padded_name"),
    ],
)
def test_slug_and_package_derived_from_any_project_name_are_valid(
    render: Render, project_name: str, slug: str, package: str
) -> None:
    project = render(project_name=project_name)
    answers = stored_answers(project)

    assert (answers["project_slug"], answers["package_name"]) == (slug, package)
    assert SLUG.match(answers["project_slug"]), answers["project_slug"]
    assert answers["package_name"].isidentifier()
    assert not keyword.iskeyword(answers["package_name"])
    assert (project / "src" / answers["package_name"] / "__init__.py").is_file()


def test_secrets_go_to_dotenv_only_and_differ_per_render(
    template_copy: Path, tmp_path: Path
) -> None:
    # Two fresh renders: the cached `render` fixture would return the same one twice.
    first = render_project(template_copy, tmp_path / "first")
    second = render_project(template_copy, tmp_path / "second")

    first_env = dotenv(first / ".env")
    second_env = dotenv(second / ".env")
    answers_file = (first / ".copier-answers.yml").read_text()
    example = (first / ".env.example").read_text()

    for name in SECRETS:
        secret = first_env.get(name, "")
        assert len(secret) >= 32, f"{name} in .env is missing or shorter than 32 characters"
        assert secret != second_env.get(name), f"{name} is the same in two renders"
        assert secret not in answers_file, f"{name} leaked into .copier-answers.yml"
        assert secret not in example, f"{name} leaked into .env.example"
        assert name not in answers_file, f"{name} is stored as an answer"
        assert name in example, f".env.example does not document {name}"


def test_dotenv_is_git_ignored_and_env_example_is_not(template_copy: Path, tmp_path: Path) -> None:
    # Its own render: `git init` must not touch the renders other tests share.
    project = render_project(template_copy, tmp_path / "project")
    subprocess.run(["git", "init", "--quiet"], cwd=project, check=True)  # noqa: S607

    def ignored(name: str) -> bool:
        check = subprocess.run(["git", "check-ignore", "--quiet", name], cwd=project)  # noqa: S603, S607
        return check.returncode == 0

    assert ignored(".env")
    assert not ignored(".env.example")
    assert not ignored(".copier-answers.yml")


def test_service_choices_are_the_ones_the_tests_know() -> None:
    """tests/variants.py names variants after the services, in copier.yml's order."""
    questions = copier_config()

    assert tuple(questions["compose_services"]["choices"].values()) == SERVICES


def test_observability_choices_are_the_ones_the_tests_know() -> None:
    questions = copier_config()

    assert tuple(questions["observability"]["choices"].values()) == OBSERVABILITY


def test_copier_runs_no_tasks_so_nothing_needs_trust() -> None:
    """Users render without --trust: no task, no Jinja extension (`_migrations` run on updates)."""
    config = copier_config()

    assert [key for key in ("_tasks", "_jinja_extensions") if key in config] == []


def test_render_needs_no_network(
    tmp_path: Path, template_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every name resolution and connection fails; a render must not notice."""

    def no_network(*args: object, **kwargs: object) -> None:
        raise OSError(f"network access during the render: {args}")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", no_network)

    project = render_project(
        template_copy, tmp_path / "project", {"compose_services": list(SERVICES)}
    )

    assert (project / "pyproject.toml").is_file()


@pytest.mark.parametrize("prefix", ["", "/v2", "/internal-api/v1.2_beta~x"])
def test_api_prefix_is_where_the_api_routes_sit(render: Render, prefix: str) -> None:
    project = render(api_prefix=prefix)
    routing = (project / "src" / "my_service" / "routing.py").read_text()

    assert f'API_PREFIX = "{prefix}"' in routing.splitlines()
    assert stored_answers(project)["api_prefix"] == prefix
