"""The named answer sets that the variant tier renders, installs and tests end to end.

Both noxfile.py (one session per variant) and tests/test_variants.py read this module,
so a variant is declared in exactly one place. A variant's name is built from its answers.
"""

from collections.abc import Sequence
from itertools import combinations
from typing import Any

#: Only Python 3.11 is available on the CI machines, so every variant pins it.
PYTHON_VERSION = "3.11"

ORMS = ("sqlalchemy", "sqlmodel", "tortoise")
#: The choices of the `compose_services` question, in the order copier.yml lists them
#: (a test checks that they match); variant names list the services in this order.
SERVICES = ("redis", "worker", "adminer", "pgbouncer")
#: The services that change the Python code. PgBouncer changes only compose.yaml, the
#: manifests and the documentation: DATABASE_PGBOUNCER is a setting of every project.
CODE_SERVICES = ("redis", "worker", "adminer")
#: Every valid answer to `compose_services` that renders distinct code: each subset of
#: CODE_SERVICES in which the worker has Redis (copier.yml refuses the worker without it).
SERVICE_SETS: list[list[str]] = [
    list(subset)
    for size in range(len(CODE_SERVICES) + 1)
    for subset in combinations(CODE_SERVICES, size)
    if "worker" not in subset or "redis" in subset
]
ALL_SERVICES = list(SERVICES)
ALL_CODE_SERVICES = list(CODE_SERVICES)
#: The choices of the `observability` question, in the order copier.yml lists them (a test
#: checks that they match); variant names list them after the services, in this order.
OBSERVABILITY = ("prometheus", "opentelemetry", "sentry")
ALL_OBSERVABILITY = list(OBSERVABILITY)
#: Every answer to `observability`: each subset of its choices, none first.
OBSERVABILITY_SETS: list[list[str]] = [
    list(subset)
    for size in range(len(OBSERVABILITY) + 1)
    for subset in combinations(OBSERVABILITY, size)
]


def answer_set(
    orm: str,
    auth: bool,
    services: Sequence[str] = (),
    python_version: str = PYTHON_VERSION,
    observability: Sequence[str] = (),
    **options: str,
) -> dict[str, Any]:
    """The answers that decide what code is rendered, in one canonical form.

    The tests render through a cache keyed by the answers, so building every answer set
    here lets the test modules share renders. `options` are other answers (`ci`,
    `api_prefix`); unnamed, they take their defaults (GitHub CI, the prefix /api/v1).
    """
    return {
        "orm": orm,
        "auth": auth,
        "compose_services": list(services),
        "python_version": python_version,
        "observability": list(observability),
        **options,
    }


#: The option combinations the variant tier covers; names are derived from these. Each
#: variant takes about 40 seconds, so rather than all 36 valid combinations of ORM, auth
#: and services, this is a representative set of 10 in which
#: - every ORM runs with auth on and off, and with every service;
#: - every ORM runs Redis both ways: the sign-in rate limit (auth on) and the item cache
#:   (auth off), the latter without the worker so the Redis-only start-up path runs too;
#: - the worker runs with auth on (jobs owned by users) for every ORM and with auth off once;
#: - the plain projects (no services) run for the two ORMs with the most distinct code:
#:   SQLAlchemy (the default) and Tortoise (its own models and migrations; SQLModel shares
#:   SQLAlchemy's engine and Alembic).
#: Adminer changes only compose files, so it rides along with the full auth variants.
#: PgBouncer changes how each ORM family prepares statements (db.py), so it rides along
#: once with SQLAlchemy's engine (SQLModel, with the worker) and once with Tortoise.
#: Every observability option (Prometheus, OpenTelemetry, Sentry) rides along with the full
#: SQLAlchemy variant, where each has the most to observe (requests, SQL, Redis, jobs); the
#: other variants run without any, as most projects do.
#: GitLab CI (files only, no code) rides along once; so does the empty API prefix (the root
#: paths of the projects rendered before the question), on a variant without Redis.
#: tests/test_variant_selection.py checks these coverage rules.
_ANSWER_SETS: list[dict[str, Any]] = [
    answer_set("sqlalchemy", auth=True),
    answer_set("sqlalchemy", auth=False),
    answer_set(
        "sqlalchemy", auth=True, services=ALL_CODE_SERVICES, observability=ALL_OBSERVABILITY
    ),
    answer_set("sqlalchemy", auth=False, services=["redis"]),
    answer_set("sqlmodel", auth=True, services=ALL_SERVICES, ci="gitlab"),
    answer_set("sqlmodel", auth=False, services=["redis", "worker"]),
    answer_set("tortoise", auth=True),
    answer_set("tortoise", auth=False, api_prefix=""),
    answer_set("tortoise", auth=True, services=ALL_CODE_SERVICES),
    answer_set("tortoise", auth=False, services=["redis", "pgbouncer"]),
]


#: The name parts of answers other than ORM, auth and services, given when not the default.
OPTION_NAMES = {"gitlab": ("ci", "gitlab"), "rootpaths": ("api_prefix", "")}


def variant_name(answers: dict[str, Any]) -> str:
    """Name a variant by its answers, e.g. ``sqlalchemy-auth`` or ``tortoise-noauth-redis``.

    Other answers than the defaults follow: ``-gitlab`` (ci), ``-rootpaths`` (no API prefix).
    """
    auth = "auth" if answers["auth"] else "noauth"
    services = [name for name in SERVICES if name in answers.get("compose_services", [])]
    telemetry = [name for name in OBSERVABILITY if name in answers.get("observability", [])]
    options = [
        part for part, (question, value) in OPTION_NAMES.items() if answers.get(question) == value
    ]
    return "-".join([answers["orm"], auth, *services, *telemetry, *options])


#: Variant name -> the answers rendered for it.
VARIANTS: dict[str, dict[str, Any]] = {variant_name(answers): answers for answers in _ANSWER_SETS}

#: The outage tier (tests/test_outages.py) serves one variant per ORM, each with Redis,
#: and stops and freezes its PostgreSQL and its Redis; the worker rides along once (its
#: import endpoint enqueues through Redis), and auth both ways (sign-in needs both servers).
OUTAGE_VARIANTS: dict[str, dict[str, Any]] = {
    variant_name(answers): answers
    for answers in [
        answer_set("sqlalchemy", auth=True, services=["redis", "worker"]),
        answer_set("sqlmodel", auth=False, services=["redis"]),
        answer_set("tortoise", auth=True, services=["redis"]),
    ]
}

#: The variant tier's multi-replica test (tests/test_variants.py) runs for these only: two
#: API processes and two workers through PgBouncer on SQLAlchemy's engine, and two API
#: processes through PgBouncer on Tortoise (each run adds about 20 seconds).
REPLICA_VARIANTS = (
    "sqlmodel-auth-redis-worker-adminer-pgbouncer-gitlab",
    "tortoise-noauth-redis-pgbouncer",
)
