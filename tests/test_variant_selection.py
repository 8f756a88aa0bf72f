"""The variant tier's answer sets: named by their answers, valid, and covering every option."""

import ast
from typing import Any

import pytest
import yaml

from tests.projects import OFFERED_PYTHONS, REPO_ROOT
from tests.variants import (
    CODE_SERVICES,
    OBSERVABILITY,
    OPTION_NAMES,
    ORMS,
    PYTHON_VERSION,
    SERVICES,
    VARIANTS,
    variant_name,
)

ANSWER_SETS = list(VARIANTS.values())


def services_of(answers: dict[str, Any]) -> set[str]:
    return set(answers["compose_services"])


def observability_of(answers: dict[str, Any]) -> set[str]:
    return set(answers["observability"])


def test_variant_names_state_their_answers() -> None:
    for name, answers in VARIANTS.items():
        orm, auth, *rest = name.split("-")
        options = {OPTION_NAMES[part] for part in rest if part in OPTION_NAMES}

        assert name == variant_name(answers)
        assert orm == answers["orm"]
        assert auth == ("auth" if answers["auth"] else "noauth")
        assert {part for part in rest if part in SERVICES} == services_of(answers)
        assert {part for part in rest if part in OBSERVABILITY} == observability_of(answers)
        assert set(rest) <= set(SERVICES) | set(OBSERVABILITY) | set(OPTION_NAMES)
        assert options == {(q, v) for q, v in OPTION_NAMES.values() if answers.get(q) == v}


def noxfile_python() -> str:
    """`PYTHON` of noxfile.py, the interpreter of every session, read without importing nox."""
    tree = ast.parse((REPO_ROOT / "noxfile.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "PYTHON":
            python: str = ast.literal_eval(node.value)
            return python
    pytest.fail("noxfile.py does not set PYTHON")


def test_variants_run_on_the_python_that_nox_and_ci_install() -> None:
    """`uv sync --python` of each variant finds only the interpreter nox and CI set up."""
    workflow = yaml.safe_load((REPO_ROOT / ".github" / "workflows" / "ci.yml").read_text())

    assert PYTHON_VERSION in OFFERED_PYTHONS
    assert noxfile_python() == PYTHON_VERSION
    assert workflow["env"]["PYTHON_VERSION"] == PYTHON_VERSION
    assert {answers["python_version"] for answers in VARIANTS.values()} == {PYTHON_VERSION}


def test_every_variant_is_a_valid_answer_set() -> None:
    for name, answers in VARIANTS.items():
        assert answers["orm"] in ORMS, name
        assert services_of(answers) <= set(SERVICES), name
        assert "worker" not in services_of(answers) or "redis" in services_of(answers), name


@pytest.mark.parametrize("orm", ORMS)
def test_every_orm_runs_with_auth_on_and_off(orm: str) -> None:
    auths = {answers["auth"] for answers in ANSWER_SETS if answers["orm"] == orm}

    assert auths == {True, False}


@pytest.mark.parametrize("service", CODE_SERVICES)
@pytest.mark.parametrize("orm", ORMS)
def test_every_orm_runs_with_every_service(orm: str, service: str) -> None:
    assert any(answers["orm"] == orm and service in services_of(answers) for answers in ANSWER_SETS)


@pytest.mark.parametrize("orm", ORMS)
def test_every_orm_runs_redis_as_rate_limit_and_as_cache(orm: str) -> None:
    """With auth Redis limits sign-ins; without it, Redis caches items."""
    auths = {
        answers["auth"]
        for answers in ANSWER_SETS
        if answers["orm"] == orm and "redis" in services_of(answers)
    }

    assert auths == {True, False}


def test_redis_runs_without_the_worker_and_the_worker_with_auth_on_and_off() -> None:
    redis_only = [answers for answers in ANSWER_SETS if services_of(answers) == {"redis"}]
    worker_auths = {answers["auth"] for answers in ANSWER_SETS if "worker" in services_of(answers)}

    assert redis_only
    assert worker_auths == {True, False}


def test_projects_without_services_run_with_auth_on_and_off() -> None:
    plain = {
        (answers["orm"], answers["auth"]) for answers in ANSWER_SETS if not services_of(answers)
    }

    assert {auth for _, auth in plain} == {True, False}


def test_one_variant_runs_every_observability_option_and_others_none() -> None:
    """Each option is exercised by its generated tests once; most projects choose none."""
    telemetry = [observability_of(answers) for answers in ANSWER_SETS]

    assert set(OBSERVABILITY) in telemetry
    assert set() in telemetry
    assert all(chosen in ({*OBSERVABILITY}, set()) for chosen in telemetry)


def test_every_observability_option_runs_with_the_worker_and_redis() -> None:
    """The jobs' counters and spans, and the Redis spans, are exercised too."""
    assert any(
        observability_of(answers) == set(OBSERVABILITY)
        and {"redis", "worker"} <= services_of(answers)
        for answers in ANSWER_SETS
    )


def test_pgbouncer_runs_with_each_orm_family_and_with_the_worker() -> None:
    """Statements are prepared by SQLAlchemy's engine or by Tortoise: each behind PgBouncer.

    The worker's jobs and the app's requests share PgBouncer's pool once.
    """
    pooled = [answers for answers in ANSWER_SETS if "pgbouncer" in services_of(answers)]
    families = {"tortoise" if answers["orm"] == "tortoise" else "sqlalchemy" for answers in pooled}

    assert families == {"sqlalchemy", "tortoise"}
    assert any("worker" in services_of(answers) for answers in pooled)


def test_gitlab_ci_and_both_api_layouts_run() -> None:
    """GitLab CI once; the default prefix (/api/v1) and the root paths ("") both."""
    cis = [answers.get("ci", "github") for answers in ANSWER_SETS]
    prefixes = {answers.get("api_prefix", "/api/v1") for answers in ANSWER_SETS}

    assert cis.count("gitlab") == 1
    assert "github" in cis
    assert prefixes == {"/api/v1", ""}
