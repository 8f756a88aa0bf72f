"""The package names copier.yml refuses: the generated list, kept current, applied by copier."""

import sys
from collections.abc import Callable

import pytest
from jinja2.sandbox import SandboxedEnvironment
from jinja2_ansible_filters import AnsibleCoreFiltersExtension
from stdlib_list import stdlib_list

from tests import reserved_names
from tests.projects import COPIER_YML, copier_config

#: Names the validator must let through: near misses of reserved names, and a soft keyword
#: (`import match` is valid Python; only the hard keywords are reserved).
ACCEPTED_NAMES = ["my_service", "json_api", "typing_service", "tests_app", "_private", "match"]

Validate = Callable[[str], str]


@pytest.fixture(scope="module")
def validate_package_name() -> Validate:
    """copier.yml's package_name validator, rendered as copier renders it.

    Copier's Jinja environment is sandboxed with the Ansible filters (`regex_search`) and
    whatever copier.yml adds, which is nothing (test_questions.py checks that). The returned
    function gives the error message for a name, or "" for a valid one. Rendering this way
    takes a millisecond a name; test_questions.py renders a few refused names for real.
    """
    environment = SandboxedEnvironment(extensions=[AnsibleCoreFiltersExtension])
    validator = environment.from_string(copier_config()["package_name"]["validator"])
    return lambda name: validator.render(package_name=name).strip()


def test_copier_yml_holds_the_generated_list() -> None:
    text = COPIER_YML.read_text()
    listed, generated = reserved_names.listed_names(text), reserved_names.reserved_names()
    stale = "out of date: run `uvx nox -s reserved-names`"

    assert sorted(set(generated) - set(listed)) == [], f"names missing, {stale}"
    assert sorted(set(listed) - set(generated)) == [], f"names to remove, {stale}"
    assert reserved_names.updated_copier_yml(text) == text, f"list layout {stale}"


def test_stdlib_list_has_every_module_of_the_running_python() -> None:
    """The lists of the Pythons not installed come from stdlib-list: check it where we can."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    known = {module.partition(".")[0] for module in stdlib_list(version)}

    assert sorted(set(sys.stdlib_module_names) - known) == []


def test_every_reserved_name_is_refused(validate_package_name: Validate) -> None:
    # Most clash; the few with capitals (False, cProfile) already fail the format check.
    accepted = [name for name in reserved_names.reserved_names() if not validate_package_name(name)]

    assert accepted == []


@pytest.mark.parametrize("name", ACCEPTED_NAMES)
def test_a_name_that_clashes_with_nothing_is_accepted(
    validate_package_name: Validate, name: str
) -> None:
    assert validate_package_name(name) == ""
