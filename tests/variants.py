"""The named answer sets that the variant tier renders, installs and tests end to end.

Both noxfile.py (one session per variant) and tests/test_variants.py read this module,
so a variant is declared in exactly one place. A variant's name is built from its answers.
"""

from typing import Any

#: Only Python 3.11 is available on the CI machines, so every variant pins it.
PYTHON_VERSION = "3.11"

ORMS = ("sqlalchemy", "sqlmodel", "tortoise")

#: The option combinations the variant tier covers (every ORM with auth on and off);
#: names are derived from these.
_ANSWER_SETS: list[dict[str, Any]] = [
    {"orm": orm, "auth": auth} for orm in ORMS for auth in (True, False)
]


def variant_name(answers: dict[str, Any]) -> str:
    """Name a variant by its answers, e.g. ``sqlalchemy-auth`` or ``sqlalchemy-noauth``."""
    auth = "auth" if answers["auth"] else "noauth"
    return f"{answers['orm']}-{auth}"


#: Variant name -> the answers rendered for it.
VARIANTS: dict[str, dict[str, Any]] = {
    variant_name(answers): {"python_version": PYTHON_VERSION, **answers} for answers in _ANSWER_SETS
}
