"""The update tier: `copier update` brings template changes into a project and keeps its edits.

Each scenario works on a throwaway git copy of this template (the working tree, uncommitted
changes included) tagged v1.0.0, plus one template change tagged v1.1.0. Projects are rendered
from v1.0.0, committed, edited like a team would, and updated to v1.1.0. How long each
`copier update` takes is printed at the end.
"""

import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import copier
import pytest
import yaml

from tests.commands import assert_succeeded, describe, require_tool, run
from tests.conftest import RecordStep, RecordTestCount
from tests.projects import (
    ANSWERS_FILE,
    REPO_ROOT,
    copy_working_tree,
    install,
    render_project,
    run_generated_suite,
    stored_answers,
    suite_result,
    summary_line,
)
from tests.served import MIGRATE, libpq_url, scratch_database
from tests.variants import ORMS, PYTHON_VERSION

pytestmark = pytest.mark.update

#: Every ORM's project goes through the full update scenario, generated tests included.
UPDATED_ORMS = ORMS

PACKAGE = "my_service"  # the default package name, which every scenario keeps

# --- the template change between v1.0.0 and v1.1.0 --------------------------------------

HEALTH_ROUTER_SOURCE = "template/src/{{ package_name }}/health/router.py.jinja"
HEALTH_ROUTER = f"src/{PACKAGE}/health/router.py"
#: v1.1.0 rewrites the health router's docstring, its first line.
TEMPLATE_DOCSTRING = '"""Liveness and readiness probes for orchestrators and uptime monitors."""'
NEW_TEMPLATE_FILE_SOURCE = "template/CONTRIBUTING.md.jinja"
NEW_TEMPLATE_FILE = "CONTRIBUTING.md"
NEW_TEMPLATE_FILE_TEXT = "# Contributing to {{ project_name }}\n\nRun `uv run pytest` first.\n"
#: v1.1.0's section of the template's CHANGELOG.md, which the update job's pull request lists.
RELEASE_SECTION = "## [1.1.0] - 2026-12-03\n\n### Changed\n\n- The health router's docstring.\n"

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


def render(
    template: Path, destination: Path, ref: str, answers: Mapping[str, Any] | None = None
) -> Path:
    """Render the template at a git ref into a new git repository, committed."""
    render_project(
        template, destination, {"python_version": PYTHON_VERSION, **(answers or {})}, ref
    )
    git(destination, "init", "--quiet", "--initial-branch=main")
    commit_everything(destination, f"Render {ref}")
    return destination


def update(project: Path, ref: str, **options: Any) -> float:
    """`copier update --defaults --trust` to a git ref; return how many seconds it took.

    `--trust`, because an update across a version with `_migrations` runs them.
    """
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
    changelog = (repo / "CHANGELOG.md").read_text()
    first_release = changelog.index("\n## [") + 1
    changelog = f"{changelog[:first_release]}{RELEASE_SECTION}\n{changelog[first_release:]}"
    (repo / "CHANGELOG.md").write_text(changelog)
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
    row = f"update-edited-{orm}"

    started = time.perf_counter()
    project = render(
        template_repo, tmp_path_factory.mktemp(row) / "project", "v1.0.0", {"orm": orm}
    )
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
    require_tool("uv", "uv")
    orm = stored_answers(updated_project)["orm"]
    row = f"update-edited-{orm}"
    # A private copy: the shared project must stay free of .venv, uv.lock and caches.
    project = tmp_path / "project"
    shutil.copytree(updated_project, project)

    installed = install(project, PYTHON_VERSION, project_env)
    record_step(row, "uv sync", installed.seconds)
    assert_succeeded(installed.result)

    suite = run_generated_suite(project, {**project_env, "TEST_DATABASE_URL": postgres_url})
    record_step(row, "pytest", suite.seconds)
    result = suite.result
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


# --- the template-update job of the generated CI ----------------------------------------

UPDATE_SCRIPT = "scripts/template_update.py"
UPDATE_BRANCH = "template-update/1.1.0"


def run_update_job(project: Path) -> str:
    """The CI job's script in its dry run: the update committed on a branch, nothing pushed.

    It calls copier through the interpreter that runs it, as `uv run --with copier` does in CI.
    """
    result = run(
        [sys.executable, UPDATE_SCRIPT, "--dry-run"], project, {**os.environ, **GIT_IDENTITY}
    )
    assert_succeeded(result)
    return result.stdout


def current_branch(project: Path) -> str:
    return git(project, "rev-parse", "--abbrev-ref", "HEAD").strip()


def test_update_job_commits_exactly_the_update_on_a_branch(
    template_repo: Path, tmp_path: Path
) -> None:
    project = render(template_repo, tmp_path / "project", "v1.0.0")
    by_hand = tmp_path / "by-hand"
    shutil.copytree(project, by_hand)
    update(by_hand, "v1.1.0")

    description = run_update_job(project)

    assert current_branch(project) == UPDATE_BRANCH
    assert changed_paths(project) == set(), "the job left changes uncommitted"
    changed = set(git(project, "diff", "--name-only", "main", "HEAD").split())
    assert changed == {ANSWERS_FILE, HEALTH_ROUTER, NEW_TEMPLATE_FILE}
    assert comparable_tree(project) == comparable_tree(by_hand)
    assert RELEASE_SECTION.strip() in description
    assert "No conflicts" in description


def test_update_job_lists_the_conflicts_it_commits(template_repo: Path, tmp_path: Path) -> None:
    project = project_with_conflicting_edit(template_repo, tmp_path)

    description = run_update_job(project)
    conflicts = description.split("## Conflicts", 1)[1].split("## ", 1)[0]

    assert current_branch(project) == UPDATE_BRANCH
    assert f"- `{HEALTH_ROUTER}`" in conflicts.splitlines()
    assert "<<<<<<< " in git(project, "show", f"HEAD:{HEALTH_ROUTER}")


def test_update_job_does_nothing_when_the_project_is_current(
    template_repo: Path, tmp_path: Path
) -> None:
    project = render(template_repo, tmp_path / "project", "v1.1.0")

    description = run_update_job(project)

    assert description.startswith("Up to date with the template")
    assert current_branch(project) == "main"
    assert git(project, "branch", "--list").split() == ["*", "main"]


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


#: Questions renamed or removed since a release: old name -> new name, or None if removed.
#: Each rename needs a `_migrations` entry in copier.yml that moves the stored answer (see
#: docs/updating.md); the test below fails for a release question missing here whose
#: answer an update loses.
QUESTION_CHANGES: dict[str, str | None] = {}

#: Questions added since a release whose answer, on an update from before them, is set by a
#: `_migrations` entry rather than taken from the default: what keeps the project as it was.
MIGRATED_NEW_ANSWERS: dict[str, Any] = {"api_prefix": ""}

#: An answer to every question, none of them its default (nor the tier's Python): an update
#: from any release must keep each one the release asked (and offered: 0.1.0 had one ORM).
CHANGED_ANSWERS: dict[str, Any] = {
    "project_name": "Ledger Keeper",
    "project_slug": "ledger-keeper",
    "package_name": "ledger",
    "description": "Keeps the books of the shop.",
    "author_name": "Ada Lovelace",
    "author_email": "ada@example.org",
    "python_version": "3.12",
    "orm": "tortoise",
    "auth": False,
    "compose_services": ["redis", "worker"],
    "license": "Apache-2.0",
    "ci": "none",
    "observability": ["prometheus", "sentry"],
    "kubernetes": True,
    "api_prefix": "/v2",
}
ANSWER_SETS = {"default-answers": {}, "changed-answers": CHANGED_ANSWERS}


def questions_of(config: dict[str, Any]) -> set[str]:
    """The questions of a copier.yml (its other keys are copier's settings: `_...`)."""
    return {name for name in config if not name.startswith("_")}


def answered_questions(project: Path) -> set[str]:
    """The questions whose answers a project stores (all but the hidden, computed ones)."""
    return {name for name in stored_answers(project) if not name.startswith("_")}


def offered(question: dict[str, Any], answer: Any) -> bool:
    """Whether a question accepts an answer, as far as its choices tell."""
    choices = question.get("choices")
    if choices is None:
        return True
    values = list(choices.values()) if isinstance(choices, dict) else list(choices)
    return (
        all(item in values for item in answer) if question.get("multiselect") else answer in values
    )


def working_tree_tag() -> str:
    """The version the working tree is tagged as: the major after the latest release.

    Copier runs a `_migrations` entry only between two versions it can read from tags
    (`from < entry <= to`), so the working tree must be newer than every release.
    """
    major = max(int(version.split(".")[0]) for version in released_versions())
    return f"v{major + 1}.0.0"


def template_with_history(destination: Path) -> Path:
    """The repository's history, every release tagged, and the working tree tagged on top.

    A release found by its CHANGELOG commit gets its tag here, so copier knows the version
    a project came from and which `_migrations` entries an update crosses.
    """
    git(REPO_ROOT, "clone", "--quiet", "--no-local", str(REPO_ROOT), str(destination))
    for version in released_versions():
        if not git(destination, "tag", "--list", f"v{version}").strip():
            git(destination, "tag", f"v{version}", str(release_ref(version)))
    for name in git(destination, "ls-files", "-z").split("\0"):
        if name:
            (destination / name).unlink()
    copy_working_tree(destination)
    commit_everything(destination, "Working tree")
    git(destination, "tag", working_tree_tag())
    return destination


def test_changed_answers_change_every_answer(template_repo: Path, tmp_path: Path) -> None:
    """Otherwise the update from each release below would not cover every question."""
    project = render(template_repo, tmp_path / "defaults", "v1.0.0")
    defaults, questions = stored_answers(project), answered_questions(project)
    unchanged = {q: defaults.get(q) for q in questions if CHANGED_ANSWERS.get(q) == defaults.get(q)}

    assert sorted(questions - set(CHANGED_ANSWERS)) == [], "questions CHANGED_ANSWERS misses"
    assert unchanged == {}, "CHANGED_ANSWERS keeps these defaults"


@pytest.mark.parametrize("answer_set", list(ANSWER_SETS))
@pytest.mark.parametrize("version", released_versions())
def test_project_of_each_release_keeps_its_answers_and_updates_to_a_fresh_render(
    version: str, answer_set: str, tmp_path: Path, record_step: RecordStep
) -> None:
    template = template_with_history(tmp_path / "template")
    release, current = f"v{version}", working_tree_tag()
    release_config = yaml.safe_load(git(template, "show", f"{release}:copier.yml"))
    # The answer sets name the questions as they are now; a release may know them by another.
    current_names = {q: QUESTION_CHANGES.get(q, q) for q in questions_of(release_config)}
    answers = {
        question: ANSWER_SETS[answer_set][name]
        for question, name in current_names.items()
        if name in ANSWER_SETS[answer_set]
        and offered(release_config[question], ANSWER_SETS[answer_set][name])
    }

    project = render(template, tmp_path / "updated", release, answers)
    given, answered = stored_answers(project), answered_questions(project)
    row = f"update-from-{version}-{answer_set}"
    record_step(row, "copier update", update(project, current))
    kept = stored_answers(project)
    expected = {
        name: given[question]
        for question in answered
        if (name := current_names[question]) is not None
    }
    migrated = {q: a for q, a in MIGRATED_NEW_ANSWERS.items() if q not in expected}
    expected |= migrated
    fresh = render(template, tmp_path / "fresh", current, expected)

    # A question renamed without a `_migrations` entry falls back to its default here.
    assert {q: kept.get(q) for q in expected} == expected, "the update lost answers"
    updated_tree, fresh_tree = comparable_tree(project), comparable_tree(fresh)
    assert sorted(updated_tree) == sorted(fresh_tree)
    assert [name for name in fresh_tree if updated_tree[name] != fresh_tree[name]] == []
    if "api_prefix" in migrated:
        # Released before the prefix: its routes stay at the root paths.
        routing = (project / "src" / given["package_name"] / "routing.py").read_text()
        assert 'API_PREFIX = ""' in routing.splitlines()


# --- a release project's database migrates forward -------------------------------------

#: One ORM per migration tool: the later migrations must apply to a database that a
#: release's migrations made, data in it.
FORWARD_MIGRATED_ORMS = ["sqlalchemy", "tortoise"]
#: Every column, constraint and index of the public schema's tables, migration tools' own
#: tables included (their rows differ, not their shape).
SCHEMA_QUERY = """
    SELECT c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
        || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE ' NULL' END
        || coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT c.relname || ': ' || pg_get_constraintdef(con.oid)
    FROM pg_constraint con
    JOIN pg_class c ON c.oid = con.conrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public'
    UNION ALL
    SELECT pg_get_indexdef(i.indexrelid)
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public'
"""


def latest_release() -> str:
    return max(released_versions(), key=lambda version: tuple(map(int, version.split("."))))


def schema_of(database_url: str) -> list[str]:
    import psycopg  # installed by the update and variant sessions only, so imported here

    with psycopg.connect(libpq_url(database_url)) as connection:
        return sorted(str(row[0]) for row in connection.execute(SCHEMA_QUERY))


def execute(database_url: str, statement: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        cursor = connection.execute(statement)
        return cursor.fetchall() if cursor.description else []


def migrate(project: Path, env: Mapping[str, str], database_url: str, orm: str) -> None:
    command = ["uv", "run", "--no-sync", *MIGRATE[orm]]
    assert_succeeded(run(command, project, {**env, "DATABASE_URL": database_url}))


@pytest.mark.parametrize("orm", FORWARD_MIGRATED_ORMS)
def test_database_of_the_latest_release_migrates_forward_with_its_data(
    orm: str, tmp_path: Path, project_env: dict[str, str], postgres_url: str
) -> None:
    """The migrations added since the release apply on top of its schema and keep its rows."""
    require_tool("uv", "uv")
    template = template_with_history(tmp_path / "template")
    project = render(template, tmp_path / "project", f"v{latest_release()}", {"orm": orm})
    assert_succeeded(install(project, PYTHON_VERSION, project_env).result)
    commit_everything(project, "Lock the dependencies")  # copier updates clean trees only
    run_id = uuid.uuid4().hex[:8]

    with (
        scratch_database(postgres_url, f"{PACKAGE}_released_{run_id}") as released,
        scratch_database(postgres_url, f"{PACKAGE}_fresh_{run_id}") as fresh,
    ):
        # Given a database made by the release's migrations, with a user in it
        migrate(project, project_env, released, orm)
        execute(
            released,
            "INSERT INTO users (id, email, hashed_password, created_at, updated_at)"
            " VALUES (gen_random_uuid(), 'kept@example.com', 'a hash', now(), now())",
        )

        # When the project is updated to the working tree and migrated again
        update(project, working_tree_tag())
        assert_succeeded(install(project, PYTHON_VERSION, project_env).result)
        migrate(project, project_env, released, orm)

        # Then its schema is the one a fresh database gets, and the user is still there
        migrate(project, project_env, fresh, orm)
        assert schema_of(released) == schema_of(fresh)
        assert execute(released, "SELECT email FROM users") == [("kept@example.com",)]


# --- the logging arrives in a release's project -----------------------------------------

#: What the always-on logging adds to every project: request ids, the log check of the suite.
LOGGING_FILES = [f"src/{PACKAGE}/request_logging.py", "tests/log_capture.py"]


def test_update_from_the_latest_release_adds_the_logging_without_conflicts(
    tmp_path: Path,
) -> None:
    """Files the team did not touch take the new logging as they are; the team's edit stays."""
    template = template_with_history(tmp_path / "template")
    project = render(template, tmp_path / "project", f"v{latest_release()}")
    replace_first_line(project / ITEMS_ROUTER, TEAM_DOCSTRING)
    commit_everything(project, "Team edit")

    update(project, working_tree_tag())

    markers = [
        path.relative_to(project).as_posix()
        for path in project_files(project)
        if any(line.startswith(("<<<<<<< ", ">>>>>>> ")) for line in path.read_text().splitlines())
    ]
    assert markers == []
    assert [path.name for path in project_files(project) if path.suffix == ".rej"] == []
    assert unmerged_paths(project) == []
    assert all((project / name).is_file() for name in LOGGING_FILES)
    assert "RequestLoggingMiddleware" in (project / f"src/{PACKAGE}/main.py").read_text()
    assert (project / ITEMS_ROUTER).read_text().splitlines()[0] == TEAM_DOCSTRING
