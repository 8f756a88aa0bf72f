"""The update tier: `copier update` brings template changes into a project and keeps its edits.

Each scenario works on a throwaway git copy of this template (the working tree, uncommitted
changes included) tagged v1.0.0, plus one template change tagged v1.1.0. Projects are rendered
from v1.0.0, committed, edited like a team would, and updated to v1.1.0. How long each
`copier update` takes is printed at the end.
"""

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import copier
import pytest
import yaml

from tests.commands import assert_succeeded, describe, require_tool, run
from tests.conftest import (
    GENERATED_PYTEST,
    REPO_ROOT,
    RecordStep,
    RecordTestCount,
    copy_working_tree,
    suite_result,
    summary_line,
)
from tests.variants import ORMS, PYTHON_VERSION

pytestmark = pytest.mark.update

#: Every ORM's project goes through the full update scenario, generated tests included.
UPDATED_ORMS = ORMS

ANSWERS_FILE = ".copier-answers.yml"
PACKAGE = "my_service"  # the default package name, which every scenario keeps

# --- the template change between v1.0.0 and v1.1.0 --------------------------------------

HEALTH_ROUTER_SOURCE = "template/src/{{ package_name }}/health/router.py.jinja"
HEALTH_ROUTER = f"src/{PACKAGE}/health/router.py"
#: v1.1.0 rewrites the health router's docstring, its first line.
TEMPLATE_DOCSTRING = '"""Liveness and readiness probes for orchestrators and uptime monitors."""'
NEW_TEMPLATE_FILE_SOURCE = "template/CONTRIBUTING.md.jinja"
NEW_TEMPLATE_FILE = "CONTRIBUTING.md"
NEW_TEMPLATE_FILE_TEXT = "# Contributing to {{ project_name }}\n\nRun `uv run pytest` first.\n"

# --- the team's edits to its project -----------------------------------------------------

ITEMS_ROUTER = f"src/{PACKAGE}/items/router.py"
TEAM_DOCSTRING = '"""HTTP endpoints of the items resource, maintained by the catalogue team."""'
TEAM_FILE = f"src/{PACKAGE}/items/pricing.py"
TEAM_FILE_TEXT = '"""Prices of items, in cents."""\n\nDEFAULT_PRICE_CENTS = 100\n'
TEAM_DEPENDENCY = '    "humanize>=4.9",'
DELETED_FILE = ".pre-commit-config.yaml"
#: The same health router line as the template change, edited differently: a real conflict.
CONFLICTING_DOCSTRING = '"""Health probes, polled by the load balancer of the platform team."""'

#: Every name and address git needs to commit, whatever the machine's git configuration.
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Update Tier",
    "GIT_AUTHOR_EMAIL": "update-tier@example.com",
    "GIT_COMMITTER_NAME": "Update Tier",
    "GIT_COMMITTER_EMAIL": "update-tier@example.com",
}


def git(repo: Path, *args: str) -> str:
    """Run git in a repository and return its output; fail with it unless git succeeds."""
    result = run(
        ["git", "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false", *args],
        repo,
        {**os.environ, **GIT_IDENTITY},
    )
    assert_succeeded(result)
    return result.stdout


def commit_everything(repo: Path, message: str) -> None:
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--allow-empty", "--message", message)


def replace_first_line(path: Path, line: str) -> None:
    """Replace a Python module's one-line docstring, its first line."""
    first, *rest = path.read_text().splitlines(keepends=True)
    one_line_docstring = re.fullmatch(r'""".*"""\n', first) is not None
    assert one_line_docstring, f"{path} no longer starts with a one-line docstring"
    path.write_text("".join([f"{line}\n", *rest]))


def render(template: Path, destination: Path, ref: str, **answers: Any) -> Path:
    """Render the template at a git ref into a new git repository, committed."""
    copier.run_copy(
        str(template),
        str(destination),
        data={"python_version": PYTHON_VERSION, **answers},
        defaults=True,
        unsafe=True,
        vcs_ref=ref,
        quiet=True,
    )
    git(destination, "init", "--quiet", "--initial-branch=main")
    commit_everything(destination, f"Render {ref}")
    return destination


def update(project: Path, ref: str, **options: Any) -> float:
    """`copier update --defaults --trust` to a git ref; return how many seconds it took."""
    started = time.perf_counter()
    copier.run_update(
        str(project),
        defaults=True,
        overwrite=True,
        unsafe=True,
        skip_answered=True,
        vcs_ref=ref,
        quiet=True,
        **options,
    )
    return time.perf_counter() - started


def stored_answers(project: Path) -> dict[str, Any]:
    answers: dict[str, Any] = yaml.safe_load((project / ANSWERS_FILE).read_text())
    return answers


def project_files(project: Path) -> Iterator[Path]:
    """Every file of a project, outside .git."""
    for path in sorted(project.rglob("*")):
        if path.is_file() and ".git" not in path.relative_to(project).parts[:1]:
            yield path


def comparable_tree(project: Path) -> dict[str, bytes]:
    """A project's files by name, minus .env (random secrets) and the answers' `_commit`."""
    files = {}
    for path in project_files(project):
        name = path.relative_to(project).as_posix()
        if name == ".env":
            continue
        content = path.read_bytes()
        if name == ANSWERS_FILE:
            content = re.sub(rb"(?m)^_commit: .*\n", b"", content)
        files[name] = content
    return files


def changed_paths(project: Path) -> set[str]:
    """The paths `git status` reports as modified, added, deleted or untracked."""
    status = git(project, "status", "--porcelain", "--untracked-files=all")
    return {line[3:] for line in status.splitlines()}


def unmerged_paths(project: Path) -> list[str]:
    return git(project, "diff", "--name-only", "--diff-filter=U").split()


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git copy of this template: the working tree as v1.0.0, one change later as v1.1.0."""
    repo = tmp_path_factory.mktemp("template")
    copy_working_tree(repo)
    git(repo, "init", "--quiet", "--initial-branch=main")
    commit_everything(repo, "Template as in the working tree")
    git(repo, "tag", "v1.0.0")

    replace_first_line(repo / HEALTH_ROUTER_SOURCE, TEMPLATE_DOCSTRING)
    (repo / NEW_TEMPLATE_FILE_SOURCE).write_text(NEW_TEMPLATE_FILE_TEXT)
    commit_everything(repo, "Template change: health docstring, CONTRIBUTING.md")
    git(repo, "tag", "v1.1.0")
    return repo


@pytest.fixture(scope="module", params=UPDATED_ORMS)
def updated_project(
    request: pytest.FixtureRequest,
    template_repo: Path,
    tmp_path_factory: pytest.TempPathFactory,
    record_step: RecordStep,
) -> Path:
    """A v1.0.0 project with a team's committed edits, updated to v1.1.0 (read-only)."""
    orm = request.param
    assert orm in ORMS, f"{orm} is not an ORM of tests/variants.py"
    row = f"update-edited-{orm}"

    started = time.perf_counter()
    project = render(template_repo, tmp_path_factory.mktemp(row) / "project", "v1.0.0", orm=orm)
    record_step(row, "copier copy", time.perf_counter() - started)

    replace_first_line(project / ITEMS_ROUTER, TEAM_DOCSTRING)
    (project / TEAM_FILE).write_text(TEAM_FILE_TEXT)
    pyproject = project / "pyproject.toml"
    opening = "dependencies = [\n"
    pyproject.write_text(pyproject.read_text().replace(opening, f"{opening}{TEAM_DEPENDENCY}\n"))
    (project / DELETED_FILE).unlink()
    commit_everything(project, "Team edits")

    record_step(row, "copier update", update(project, "v1.1.0"))
    return project


# --- a project with a team's edits ------------------------------------------------------


def test_update_records_the_new_template_version(updated_project: Path) -> None:
    assert stored_answers(updated_project)["_commit"] == "v1.1.0"


def test_template_change_arrives(updated_project: Path) -> None:
    health_router = (updated_project / HEALTH_ROUTER).read_text()
    new_file = updated_project / NEW_TEMPLATE_FILE

    assert health_router.splitlines()[0] == TEMPLATE_DOCSTRING
    assert new_file.read_text() == "# Contributing to My Service\n\nRun `uv run pytest` first.\n"


def test_team_edits_survive(updated_project: Path) -> None:
    items_router = (updated_project / ITEMS_ROUTER).read_text()
    pyproject = (updated_project / "pyproject.toml").read_text()

    assert items_router.splitlines()[0] == TEAM_DOCSTRING
    assert (updated_project / TEAM_FILE).read_text() == TEAM_FILE_TEXT
    assert TEAM_DEPENDENCY in pyproject.splitlines()


def test_deleted_file_stays_deleted(updated_project: Path) -> None:
    assert not (updated_project / DELETED_FILE).exists()


def test_update_merges_cleanly(updated_project: Path) -> None:
    markers = [
        f"{path.relative_to(updated_project)}: {line}"
        for path in project_files(updated_project)
        for line in path.read_text(errors="replace").splitlines()
        if line.startswith(("<<<<<<< ", ">>>>>>> "))
    ]
    rejections = [path.name for path in project_files(updated_project) if path.suffix == ".rej"]

    assert markers == []
    assert rejections == []
    assert unmerged_paths(updated_project) == []
    assert changed_paths(updated_project) == {ANSWERS_FILE, HEALTH_ROUTER, NEW_TEMPLATE_FILE}


def test_generated_tests_pass_after_the_update(
    updated_project: Path,
    project_env: dict[str, str],
    postgres_url: str,
    tmp_path: Path,
    record_step: RecordStep,
    record_test_count: RecordTestCount,
) -> None:
    uv = require_tool("uv", "uv")
    orm = stored_answers(updated_project)["orm"]
    row = f"update-edited-{orm}"
    # A private copy: the shared project must stay free of .venv, uv.lock and caches.
    project = tmp_path / "project"
    shutil.copytree(updated_project, project)

    started = time.perf_counter()
    result = run([uv, "sync", "--python", PYTHON_VERSION], project, project_env)
    record_step(row, "uv sync", time.perf_counter() - started)
    assert_succeeded(result)

    started = time.perf_counter()
    result = run(GENERATED_PYTEST, project, {**project_env, "TEST_DATABASE_URL": postgres_url})
    record_step(row, "pytest", time.perf_counter() - started)
    summary = summary_line(result.stdout)
    record_test_count(row, suite_result(result.stdout))

    assert_succeeded(result)
    assert "passed" in summary, describe(result)


# --- an unmodified project --------------------------------------------------------------


def test_unmodified_project_updates_to_a_fresh_render(
    template_repo: Path, tmp_path: Path, record_step: RecordStep
) -> None:
    project = render(template_repo, tmp_path / "updated", "v1.0.0")
    record_step("update-unmodified", "copier update", update(project, "v1.1.0"))
    fresh = render(template_repo, tmp_path / "fresh", "v1.1.0")

    updated_tree, fresh_tree = comparable_tree(project), comparable_tree(fresh)
    assert sorted(updated_tree) == sorted(fresh_tree)
    assert [name for name in fresh_tree if updated_tree[name] != fresh_tree[name]] == []


# --- a conflicting edit -----------------------------------------------------------------


def project_with_conflicting_edit(template_repo: Path, tmp_path: Path) -> Path:
    """A v1.0.0 project whose team changed the very line that v1.1.0 changes."""
    project = render(template_repo, tmp_path / "project", "v1.0.0")
    replace_first_line(project / HEALTH_ROUTER, CONFLICTING_DOCSTRING)
    commit_everything(project, "Team edit of the health docstring")
    return project


def test_conflicting_edit_is_left_as_inline_markers(
    template_repo: Path, tmp_path: Path, record_step: RecordStep
) -> None:
    project = project_with_conflicting_edit(template_repo, tmp_path)

    record_step("update-conflict-inline", "copier update", update(project, "v1.1.0"))
    lines = (project / HEALTH_ROUTER).read_text().splitlines()

    # Both versions stay in the file between markers, and git lists it as unmerged.
    assert unmerged_paths(project) == [HEALTH_ROUTER]
    assert any(line.startswith("<<<<<<< ") for line in lines)
    assert CONFLICTING_DOCSTRING in lines, "the team's line was lost"
    assert TEMPLATE_DOCSTRING in lines, "the template's line is not offered"


def test_conflicting_edit_is_left_as_a_rej_file(
    template_repo: Path, tmp_path: Path, record_step: RecordStep
) -> None:
    project = project_with_conflicting_edit(template_repo, tmp_path)

    record_step("update-conflict-rej", "copier update", update(project, "v1.1.0", conflict="rej"))
    rejected = project / f"{HEALTH_ROUTER}.rej"

    # The template's version is applied; the team's hunk that did not apply waits in the
    # .rej file, which `git status` shows, for the team to re-apply by hand.
    assert rejected.is_file(), "the conflict left no .rej file"
    assert f"+{CONFLICTING_DOCSTRING}" in rejected.read_text().splitlines(), "the edit was lost"
    assert (project / HEALTH_ROUTER).read_text().splitlines()[0] == TEMPLATE_DOCSTRING
    assert f"{HEALTH_ROUTER}.rej" in changed_paths(project)


# --- a renamed question -----------------------------------------------------------------

#: A small template whose v2.0.0 renames the question `team` to `owner_team`. A `before`
#: migration renames the stored answer, so the update neither asks again nor falls back
#: to the default (the pattern to follow when this template renames a question).
RENAMING_TEMPLATE_V1 = {
    "copier.yml": "_answers_file: .copier-answers.yml\nteam:\n  type: str\n  default: platform\n",
    "{{ _copier_conf.answers_file }}.jinja": "{{ _copier_answers | to_nice_yaml -}}\n",
    "OWNERS.jinja": "Owned by {{ team }}\n",
}
RENAMING_TEMPLATE_V2 = {
    "copier.yml": """\
_answers_file: .copier-answers.yml
_migrations:
  - version: v2.0.0
    when: "{{ _stage == 'before' }}"
    command:
      - "{{ _copier_python }}"
      - "-c"
      - |
        from pathlib import Path
        import yaml
        path = Path(".copier-answers.yml")
        answers = yaml.safe_load(path.read_text())
        if "team" in answers:
            answers["owner_team"] = answers.pop("team")
        path.write_text(yaml.safe_dump(answers))
owner_team:
  type: str
  default: platform
""",
    "OWNERS.jinja": "Owned by {{ owner_team }}\n",
}


def write_files(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).write_text(text)


def test_renamed_question_keeps_its_answer_through_migrations(
    tmp_path: Path, record_step: RecordStep
) -> None:
    template = tmp_path / "template"
    template.mkdir()
    git(template, "init", "--quiet", "--initial-branch=main")
    write_files(template, RENAMING_TEMPLATE_V1)
    commit_everything(template, "v1: question `team`")
    git(template, "tag", "v1.0.0")
    write_files(template, RENAMING_TEMPLATE_V2)
    commit_everything(template, "v2: `team` renamed to `owner_team`")
    git(template, "tag", "v2.0.0")
    project = tmp_path / "project"
    copier.run_copy(
        str(template),
        str(project),
        data={"team": "payments"},
        defaults=True,
        vcs_ref="v1.0.0",
        quiet=True,
    )
    git(project, "init", "--quiet", "--initial-branch=main")
    commit_everything(project, "Render v1.0.0")

    record_step("update-renamed-question", "copier update", update(project, "v2.0.0"))
    answers = stored_answers(project)

    assert answers["_commit"] == "v2.0.0"
    assert answers.get("owner_team") == "payments"
    assert "team" not in answers
    assert (project / "OWNERS").read_text() == "Owned by payments\n"


# --- from the releases of this template ------------------------------------------------

RELEASE_HEADING = re.compile(r"^## \[(\d+\.\d+\.\d+)\]", re.MULTILINE)


def release_ref(version: str) -> str | None:
    """The git ref of a release: its tag, else the commit that added its CHANGELOG heading.

    A release is tagged vX.Y.Z, but a clone may come without tags; the heading `## [X.Y.Z]`
    is added to CHANGELOG.md by the release commit, so the history finds it either way.
    """
    if git(REPO_ROOT, "tag", "--list", f"v{version}").strip():
        return f"v{version}"
    added_by = git(
        REPO_ROOT,
        "log",
        "--format=%H",
        "--reverse",
        f"-S## [{version}]",
        "--",
        "CHANGELOG.md",
    ).split()
    return added_by[0] if added_by else None


def released_versions() -> list[str]:
    """The versions CHANGELOG.md lists whose release is in the history (not just edited in)."""
    changelog = (REPO_ROOT / "CHANGELOG.md").read_text()
    return [v for v in RELEASE_HEADING.findall(changelog) if release_ref(v) is not None]


def test_changelog_lists_a_committed_release() -> None:
    """Without one the test below would have nothing to update from."""
    assert released_versions(), "CHANGELOG.md lists no release committed to the history"


@pytest.mark.parametrize("version", released_versions())
def test_project_of_each_release_updates_to_a_fresh_render(
    version: str, tmp_path: Path, record_step: RecordStep
) -> None:
    release = release_ref(version)
    assert release is not None
    # The repository's history with its tags, and the working tree committed on top of it.
    template = tmp_path / "template"
    git(REPO_ROOT, "clone", "--quiet", "--no-local", str(REPO_ROOT), str(template))
    for name in git(template, "ls-files", "-z").split("\0"):
        if name:
            (template / name).unlink()
    copy_working_tree(template)
    commit_everything(template, "Working tree")

    project = render(template, tmp_path / "updated", release)
    record_step(f"update-from-{version}", "copier update", update(project, "HEAD"))
    fresh = render(template, tmp_path / "fresh", "HEAD")

    updated_tree, fresh_tree = comparable_tree(project), comparable_tree(fresh)
    assert sorted(updated_tree) == sorted(fresh_tree)
    assert [name for name in fresh_tree if updated_tree[name] != fresh_tree[name]] == []
