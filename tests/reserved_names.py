"""The package names copier.yml refuses, generated: `uvx nox -s reserved-names` rewrites them.

A package under src/ may not be called like a Python keyword (`import class` is a syntax
error), a standard-library module of any offered Python, a module the project's
dependencies install, or one of the project's own top-level packages: one would shadow the
other. The list sits in the `package_name` validator of copier.yml, between the lines
`{%- set reserved_names = [` and `] -%}`; tests/test_reserved_names.py fails when it differs
from what this module generates.

    python -m tests.reserved_names           # show the generated list
    python -m tests.reserved_names --check   # exit 1 if copier.yml's list is out of date
    python -m tests.reserved_names --write   # rewrite copier.yml's list
"""

import argparse
import keyword
import re
import sys
import textwrap

from stdlib_list import stdlib_list

from tests.projects import COPIER_YML, OFFERED_PYTHONS, REPO_ROOT

TEMPLATE = REPO_ROOT / "template"
GENERATED_PYPROJECT = TEMPLATE / "pyproject.toml.jinja"

#: The import names of every distribution the generated pyproject.toml can list, runtime and
#: dev. A distribution missing here stops the generator, so a new dependency gets its import
#: names on purpose (they often differ from the distribution's name).
IMPORT_NAMES: dict[str, tuple[str, ...]] = {
    "aerich": ("aerich",),
    "alembic": ("alembic",),
    "anyio": ("anyio",),
    "arq": ("arq",),
    "asgi-lifespan": ("asgi_lifespan",),
    "asyncpg": ("asyncpg",),
    "asyncpg-stubs": (),  # type stubs only: nothing importable
    "fastapi": ("fastapi", "starlette"),  # FastAPI installs Starlette, the code imports both
    "httptools": ("httptools",),
    "httpx": ("httpx",),
    "limits": ("limits",),
    "mypy": ("mypy",),
    # OpenTelemetry's distributions share one namespace package.
    "opentelemetry-exporter-otlp-proto-http": ("opentelemetry",),
    "opentelemetry-instrumentation-asyncpg": ("opentelemetry",),
    "opentelemetry-instrumentation-fastapi": ("opentelemetry",),
    "opentelemetry-instrumentation-redis": ("opentelemetry",),
    "opentelemetry-sdk": ("opentelemetry",),
    "pre-commit": ("pre_commit",),
    "prometheus-client": ("prometheus_client",),
    "pwdlib": ("pwdlib",),
    "pydantic": ("pydantic",),
    "pydantic-settings": ("pydantic_settings",),
    "pyjwt": ("jwt",),
    "pytest": ("pytest",),
    "pytest-asyncio": ("pytest_asyncio",),
    "python-multipart": ("multipart", "python_multipart"),
    "redis": ("redis",),
    "ruff": ("ruff",),
    "sentry-sdk": ("sentry_sdk",),
    "sqlalchemy": ("sqlalchemy",),
    "sqlmodel": ("sqlmodel",),
    "tortoise-orm": ("tortoise",),
    "uvicorn": ("uvicorn",),
    "uvloop": ("uvloop",),
    "watchfiles": ("watchfiles",),
}

#: A requirement on its own line of pyproject.toml.jinja: `    "pwdlib[argon2]>=0.2.1",`.
REQUIREMENT = re.compile(r'^\s+"([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*[<>=!~]', re.M)
#: The list in copier.yml, from its opening line to its closing one.
LIST_IN_COPIER_YML = re.compile(
    r"^(?P<indent> *)\{%- set reserved_names = \[\n(?P<items>.*?)^(?P=indent)\] -%\}\n",
    re.MULTILINE | re.DOTALL,
)
WIDTH = 100


class UnknownSourceError(LookupError):
    """The generator cannot tell the names: a source it reads changed in an unexpected way."""


#: The top-level modules a Python newer than stdlib-list's data adds to the version before it,
#: as its "What's New" lists them, until a stdlib-list release records the version. 3.15:
#: the `profiling` package (PEP 799); its other new module, `math.integer` (PEP 791), is a
#: submodule. stdlib-list 0.12.0, the newest release, stops at 3.14.
NEWER_THAN_STDLIB_LIST: dict[str, tuple[str, ...]] = {"3.15": ("profiling",)}


def standard_library() -> set[str]:
    """The top-level standard-library modules of every offered Python (stdlib-list's data).

    Only one Python runs here, so the lists of the others come from the stdlib-list package,
    which records `sys.stdlib_module_names` for each version (a test checks it against the
    running interpreter's); a version it does not know yet takes NEWER_THAN_STDLIB_LIST's
    additions on top of the versions before it.
    """
    names: set[str] = set()
    for version in sorted(OFFERED_PYTHONS, key=lambda v: tuple(map(int, v.split(".")))):
        try:
            modules = stdlib_list(version)
        except ValueError as error:
            if version not in NEWER_THAN_STDLIB_LIST:
                message = f"stdlib-list has no module list for Python {version}: upgrade it"
                raise UnknownSourceError(message) from error
            modules = list(NEWER_THAN_STDLIB_LIST[version])
        names |= {module.partition(".")[0] for module in modules}
    return names


def normalized(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def dependency_import_names() -> set[str]:
    """What the distributions the generated pyproject.toml can list install for import."""
    requirements = REQUIREMENT.findall(GENERATED_PYPROJECT.read_text())
    distributions = {normalized(name) for name in requirements}
    unknown = sorted(distributions - set(IMPORT_NAMES))
    if unknown:
        raise UnknownSourceError(f"add the import names of {unknown} to IMPORT_NAMES in {__file__}")
    return {name for distribution in distributions for name in IMPORT_NAMES[distribution]}


def own_packages() -> set[str]:
    """The generated project's top-level directories of Python modules, besides src/.

    A directory rendered for some answers only is named by its conditional's output.
    """
    return {
        re.sub(r"\{%.*?%\}", "", directory.name)
        for directory in TEMPLATE.iterdir()
        if directory.is_dir()
        and directory.name != "src"
        and any(".py" in path.name for path in directory.rglob("*"))
    }


def reserved_names() -> list[str]:
    """Every name the validator refuses, sorted."""
    return sorted(
        set(keyword.kwlist) | standard_library() | dependency_import_names() | own_packages()
    )


def jinja_list(names: list[str], indent: str) -> str:
    """The list as copier.yml holds it: several quoted names a line, wrapped at WIDTH."""
    items = textwrap.fill(
        " ".join(f"'{name}'," for name in names),
        width=WIDTH,
        initial_indent=indent + "  ",
        subsequent_indent=indent + "  ",
        break_on_hyphens=False,
    )
    return f"{indent}{{%- set reserved_names = [\n{items}\n{indent}] -%}}\n"


def current_list(copier_yml: str) -> re.Match[str]:
    found = LIST_IN_COPIER_YML.search(copier_yml)
    if found is None:
        raise UnknownSourceError(f"{COPIER_YML} has no `{{%- set reserved_names = [` ... `] -%}}`")
    return found


def listed_names(copier_yml: str) -> list[str]:
    """The names copier.yml's list holds, in its order."""
    return re.findall(r"'([^']+)'", current_list(copier_yml)["items"])


def updated_copier_yml(copier_yml: str) -> str:
    """copier.yml with its list replaced by the generated one."""
    found = current_list(copier_yml)
    generated = jinja_list(reserved_names(), found["indent"])
    return copier_yml[: found.start()] + generated + copier_yml[found.end() :]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--check", action="store_true", help="exit 1 if copier.yml is stale")
    action.add_argument("--write", action="store_true", help="rewrite the list in copier.yml")
    options = parser.parse_args()
    text = COPIER_YML.read_text()
    try:
        updated = updated_copier_yml(text)
    except UnknownSourceError as error:
        sys.exit(str(error))
    if options.write:
        COPIER_YML.write_text(updated)
        print(f"{COPIER_YML.name}: {len(reserved_names())} reserved names")
    elif options.check:
        if updated != text:
            sys.exit(f"{COPIER_YML.name} is out of date: run `uvx nox -s reserved-names`")
    else:
        print("\n".join(reserved_names()))


if __name__ == "__main__":
    main()
