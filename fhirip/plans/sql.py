"""Fixed values written into the text of the plan rules' SQL, so the database plans with them.

PostgreSQL keeps a generic plan for a statement it has run several times, made without
the parameter values. For `status = $1` it cannot tell that 'active' matches half the
Consents, and walked every active Consent to find one person's (a few hundred
milliseconds at 10 000 plans). A value that is the same on every call goes into the
statement text instead; only what varies (the person, the ids) stays a parameter.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import literal


def fixed(value: str) -> Any:
    """A constant rendered into the statement (never user data: only the rules' own codes)."""
    return literal(value, literal_execute=True)


def fixed_set(values: Iterable[str]) -> list[Any]:
    return [fixed(value) for value in sorted(values)]
