"""The CI files besides the GitHub workflow: GitLab CI, Dependabot, Renovate, the update job."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.commands import ChecksByContent, require_tool
from tests.conftest import Render
from tests.projects import stored_answers
from tests.test_workflows import GENERATED_JOBS
from tests.variants import ALL_SERVICES, answer_set, variant_name

GITLAB_VARIANTS = [
    answer_set("sqlalchemy", auth=True, ci="gitlab"),
    answer_set("tortoise", auth=False, services=["redis"], ci="gitlab"),
    answer_set("sqlmodel", auth=True, services=ALL_SERVICES, ci="gitlab"),
]
#: The GitHub workflow's jobs, plus the scheduled template update.
GITLAB_JOBS = {*GENERATED_JOBS, "template-update"}
UPDATE_SCRIPT = "scripts/template_update.py"


@pytest.fixture(params=GITLAB_VARIANTS, ids=[variant_name(a) for a in GITLAB_VARIANTS])
def gitlab_project(render: Render, request: pytest.FixtureRequest) -> Path:
    return render(**request.param)


def pipeline_of(project: Path) -> dict[str, Any]:
    pipeline: dict[str, Any] = yaml.safe_load((project / ".gitlab-ci.yml").read_text())
    return pipeline


def jobs_of(pipeline: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The jobs, with what they extend merged in (hidden `.name` keys are templates)."""
    jobs = {}
    for name, job in pipeline.items():
        if isinstance(job, dict) and "script" in job and not name.startswith("."):
            jobs[name] = {**pipeline.get(job.get("extends", ""), {}), **job}
    return jobs


def check_schema(project: Path, schema: str, name: str, checks: ChecksByContent) -> None:
    check_jsonschema = require_tool("check-jsonschema", "check-jsonschema")
    checks.check([check_jsonschema, "--builtin-schema", schema, name], project, [name])


# --- GitLab CI --------------------------------------------------------------------------


def test_gitlab_pipeline_matches_the_gitlab_ci_schema(
    gitlab_project: Path, checks_by_content: ChecksByContent
) -> None:
    check_schema(gitlab_project, "vendor.gitlab-ci", ".gitlab-ci.yml", checks_by_content)


def test_gitlab_pipeline_runs_the_jobs_of_the_github_workflow(gitlab_project: Path) -> None:
    jobs = jobs_of(pipeline_of(gitlab_project))

    assert set(jobs) == GITLAB_JOBS
    assert all("timeout" in job for job in jobs.values())
    assert any("ruff check" in line for line in jobs["lint"]["script"])
    assert any("mypy" in line for line in jobs["typecheck"]["script"])
    assert jobs["test"]["script"][-1] == "uv run --no-sync pytest"


def test_gitlab_jobs_use_the_python_and_the_uv_of_the_dockerfile(gitlab_project: Path) -> None:
    variables = pipeline_of(gitlab_project)["variables"]
    dockerfile = (gitlab_project / "Dockerfile").read_text()

    assert variables["PYTHON_VERSION"] == stored_answers(gitlab_project)["python_version"]
    assert f"FROM python:{variables['PYTHON_VERSION']}-slim-trixie" in dockerfile
    assert f"COPY --from=ghcr.io/astral-sh/uv:{variables['UV_VERSION']} " in dockerfile


def test_gitlab_tests_run_against_postgres_and_redis_when_selected(gitlab_project: Path) -> None:
    test_job = jobs_of(pipeline_of(gitlab_project))["test"]
    services = {service["alias"]: service for service in test_job["services"]}
    uses_redis = "redis" in stored_answers(gitlab_project)["compose_services"]

    assert services["postgres"]["name"] == "postgres:17"
    assert test_job["variables"]["TEST_DATABASE_URL"].startswith(
        "postgresql://postgres:postgres@postgres:5432/"
    )
    assert ("redis" in services) == uses_redis
    assert ("TEST_REDIS_URL" in test_job["variables"]) == uses_redis


def test_gitlab_pushes_the_image_from_the_default_branch_only(gitlab_project: Path) -> None:
    script = "\n".join(jobs_of(pipeline_of(gitlab_project))["docker"]["script"])
    build, push = script.index("docker build"), script.index("docker push")

    assert build < script.index('"$CI_COMMIT_BRANCH" = "$CI_DEFAULT_BRANCH"') < push


def test_scheduled_gitlab_pipeline_runs_only_the_template_update(gitlab_project: Path) -> None:
    jobs = jobs_of(pipeline_of(gitlab_project))
    update = jobs.pop("template-update")

    assert update["rules"] == [
        {"if": "$TEMPLATE_UPDATE && $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"}
    ]
    assert f"{UPDATE_SCRIPT} --platform gitlab" in update["script"][-1]
    for name, job in jobs.items():
        assert job["rules"][0] == {"if": "$TEMPLATE_UPDATE", "when": "never"}, name


# --- dependency updates -----------------------------------------------------------------


def test_renovate_config_matches_its_schema(
    gitlab_project: Path, checks_by_content: ChecksByContent
) -> None:
    check_schema(gitlab_project, "vendor.renovate", "renovate.json", checks_by_content)


def test_renovate_updates_the_lock_the_images_and_the_pipeline_weekly(
    gitlab_project: Path,
) -> None:
    config = yaml.safe_load((gitlab_project / "renovate.json").read_text())
    grouped = {rule["groupName"] for rule in config["packageRules"] if "groupName" in rule}

    assert "schedule:weekly" in config["extends"]
    assert set(config["enabledManagers"]) == {"pep621", "dockerfile", "gitlabci"}
    assert config["lockFileMaintenance"]["enabled"] is True
    assert grouped == {"Python dependencies", "Docker images"}


def test_dependabot_config_matches_its_schema(
    render: Render, checks_by_content: ChecksByContent
) -> None:
    check_schema(render(), "vendor.dependabot", ".github/dependabot.yml", checks_by_content)


def test_dependabot_updates_the_lock_the_actions_and_the_image_weekly_grouped(
    render: Render,
) -> None:
    config = yaml.safe_load((render() / ".github" / "dependabot.yml").read_text())
    updates = {update["package-ecosystem"]: update for update in config["updates"]}

    assert set(updates) == {"uv", "github-actions", "docker"}
    assert all(update["schedule"]["interval"] == "weekly" for update in updates.values())
    assert all(update["groups"] for update in updates.values())


# --- which files each choice renders ----------------------------------------------------


@pytest.mark.parametrize(
    ("ci", "present", "absent"),
    [
        (
            "github",
            {".github/workflows/ci.yml", ".github/workflows/template-update.yml"}
            | {".github/dependabot.yml", UPDATE_SCRIPT},
            {".gitlab-ci.yml", "renovate.json"},
        ),
        ("gitlab", {".gitlab-ci.yml", "renovate.json", UPDATE_SCRIPT}, {".github"}),
        ("none", set(), {".github", ".gitlab-ci.yml", "renovate.json", "scripts"}),
    ],
)
def test_each_ci_renders_its_own_files_only(
    render: Render, ci: str, present: set[str], absent: set[str]
) -> None:
    project = render(ci=ci)

    assert sorted(name for name in present if not (project / name).is_file()) == []
    assert sorted(name for name in absent if (project / name).exists()) == []
