"""Free-text answers never break the rendered files: each is escaped for its file or refused."""

import ast
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.commands import check, require_tool
from tests.projects import render_project

#: Answers that must render into files that parse, lint and keep the text exactly.
ACCEPTED: list[dict[str, str]] = [
    {
        "project_name": 'My "Quoted" Service',
        "description": 'Ends with """ oops',
        "author_name": 'Ann "The Admin" O\'Hara',
    },
    {
        "project_name": "It's Ours",
        "description": 'Quotes at the end"',
        "author_name": "Back\\slash",
    },
    {
        "project_name": "Mixed \"double\" and 'single' quotes",
        "description": "Ends with a backslash \\",
        "author_name": "Zoë Ünïcode-Ørsted",
    },
    {
        "project_name": "Back\\slash \\ Service",
        "description": "{{ not_jinja }} {% raw %} ${HOME} %s %(name)s $1 `tick`",
        "author_name": "{{ author }} $USER %d",
    },
    {
        "project_name": "Café Ünïcode — naïve 東京",
        "description": "A very long description " + "that goes on and on " * 12 + "and ends.",
        "author_name": "  Surrounded by spaces  ",
    },
]

#: Answers that must stop the render before any file is written, with the expected message.
REFUSED: list[tuple[dict[str, str], str]] = [
    ({"project_name": "Two\nLines"}, "must be one line of text"),
    ({"project_name": "Tab\there"}, "must be one line of text"),
    ({"project_name": "x" * 75}, "The project name is too long"),
    ({"project_name": "Line\u2028separator"}, "must be one line of text"),
    ({"description": "first line\nsecond line"}, "must be one line of text"),
    ({"description": "NUL \x00 inside"}, "must be one line of text"),
    ({"author_name": "Carriage\rReturn"}, "must be one line of text"),
    ({"author_name": "   "}, "The author name must not be empty"),
    ({"author_email": 'a"b@example.com'}, "is not a valid email address"),
    ({"author_email": "a\\b@example.com"}, "is not a valid email address"),
    ({"author_email": "Name <a@example.com>"}, "is not a valid email address"),
    ({"author_email": "a@example"}, "is not a valid email address"),
    ({"api_prefix": '/a"b'}, "is not a valid API prefix"),
    ({"api_prefix": "/a\\b"}, "is not a valid API prefix"),
    ({"api_prefix": "/{{ x }}"}, "is not a valid API prefix"),
    ({"api_prefix": "/${HOME}"}, "is not a valid API prefix"),
    ({"api_prefix": "/a\u2028b"}, "is not a valid API prefix"),
]


def render(template: Path, destination: Path, **answers: Any) -> None:
    render_project(template, destination, {"project_slug": "hostile", **answers})


def class_attribute(source: str, class_name: str, attribute: str) -> object:
    """The literal value assigned to `attribute` in the body of `class_name`."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            for statement in node.body:
                if (
                    isinstance(statement, ast.AnnAssign)
                    and isinstance(statement.target, ast.Name)
                    and statement.target.id == attribute
                    and statement.value is not None
                ):
                    return ast.literal_eval(statement.value)
    pytest.fail(f"{class_name}.{attribute} is not assigned a literal")


@pytest.mark.parametrize("answers", ACCEPTED, ids=lambda answers: answers["project_name"])
def test_hostile_answers_are_escaped_for_every_file_they_land_in(
    template_copy: Path, tmp_path: Path, answers: dict[str, str]
) -> None:
    render(template_copy, tmp_path, **answers)

    package = tmp_path / "src" / "hostile"
    pyproject = tomllib.loads((tmp_path / "pyproject.toml").read_text())
    docstring = ast.get_docstring(ast.parse((package / "__init__.py").read_text()))
    settings = (package / "settings.py").read_text()
    readme = (tmp_path / "README.md").read_text().splitlines()
    assert pyproject["project"]["description"] == answers["description"]
    assert pyproject["project"]["authors"] == [
        {"name": answers["author_name"], "email": "you@example.com"}
    ]
    assert class_attribute(settings, "Settings", "project_name") == answers["project_name"]
    # The docstring is wrapped at whitespace: compare it word by word.
    assert (
        docstring or ""
    ).split() == f"{answers['project_name']}: {answers['description']}".split()
    assert readme[0] == f"# {answers['project_name']}"
    assert readme[2] == answers["description"]
    ruff = require_tool("ruff", "ruff")
    check([ruff, "check", "--no-cache", "."], cwd=tmp_path)
    check([ruff, "format", "--check", "--no-cache", "."], cwd=tmp_path)


@pytest.mark.parametrize(
    ("answers", "message"),
    REFUSED,
    ids=lambda value: repr(value)[:40] if isinstance(value, dict) else "",
)
def test_answers_that_cannot_be_escaped_are_refused_before_any_file_is_written(
    template_copy: Path, tmp_path: Path, answers: dict[str, str], message: str
) -> None:
    destination = tmp_path / "project"

    with pytest.raises(ValueError, match=message):
        render(template_copy, destination, **answers)

    assert not destination.exists() or not any(destination.iterdir())
