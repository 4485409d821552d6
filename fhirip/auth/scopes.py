"""SMART on FHIR clinical scopes (v2 `cruds`, with v1 `read`/`write`/`*` accepted).

https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html

Scopes are an upper bound: they can only narrow what the consent decision
permits, never widen it. A scope string that does not parse as a clinical scope
(``openid``, ``launch/patient``, a typo) grants nothing and is kept only as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import parse_qsl


class Context(StrEnum):
    """Whose data a clinical scope speaks for: the patient in context, the user, or a backend."""

    PATIENT = "patient"
    USER = "user"
    SYSTEM = "system"


# SMART v2 permission letter for each FHIR interaction this server distinguishes.
# r covers the instance-level reads, s the type- and system-level searches.
INTERACTION_PERMISSION: dict[str, str] = {
    "create": "c",
    "read": "r",
    "vread": "r",
    "history-instance": "r",
    "history": "r",  # the bare word means the history of one instance
    "update": "u",
    "patch": "u",
    "delete": "d",
    "search": "s",
    "search-type": "s",
    "search-system": "s",
    "history-type": "s",
    "history-system": "s",
}

_V2_ORDER = "cruds"
_V1_PERMISSIONS = {"read": "rs", "write": "cud", "*": "cruds"}
_CLINICAL_SCOPE = re.compile(
    r"^(?P<context>patient|user|system)/(?P<type>\*|[A-Z][A-Za-z]*)\.(?P<perm>[^?]+)(?:\?(?P<query>.+))?$"
)

Restriction = tuple[tuple[str, str], ...]
"""Search parameters (name, value) that a resource must match for a restricted scope to apply."""


@dataclass(frozen=True)
class ClinicalScope:
    """One parsed clinical scope, e.g. ``patient/Observation.rs?category=laboratory``."""

    context: Context
    resource_type: str  # a FHIR resource type or "*"
    permissions: frozenset[str]  # letters from "cruds"
    restriction: Restriction = ()

    def covers(self, resource_type: str, permission: str) -> bool:
        return permission in self.permissions and self.resource_type in ("*", resource_type)


def parse_clinical_scope(text: str) -> ClinicalScope | None:
    """Parse one scope token; None when it is not a well-formed clinical scope."""
    match = _CLINICAL_SCOPE.match(text)
    if match is None:
        return None
    permissions = _parse_permissions(match["perm"])
    if permissions is None:
        return None
    restriction: Restriction = ()
    if match["query"]:
        try:
            pairs = parse_qsl(match["query"], keep_blank_values=False, strict_parsing=True)
        except ValueError:
            return None
        if not pairs:
            return None
        restriction = tuple(pairs)
        if match["perm"] in _V1_PERMISSIONS:
            return None  # v1 scopes have no query form; a v1 scope with one is malformed
    return ClinicalScope(Context(match["context"]), match["type"], permissions, restriction)


def _parse_permissions(text: str) -> frozenset[str] | None:
    if text in _V1_PERMISSIONS:
        return frozenset(_V1_PERMISSIONS[text])
    # v2: letters of "cruds", each at most once, in that order.
    position = -1
    for letter in text:
        index = _V2_ORDER.find(letter)
        if index <= position:
            return None
        position = index
    return frozenset(text) if text else None


@dataclass(frozen=True)
class ScopeSet:
    """All scopes of one token, with the clinical ones parsed."""

    raw: tuple[str, ...]
    clinical: tuple[ClinicalScope, ...]

    @classmethod
    def parse(cls, scope_claim: str) -> ScopeSet:
        raw = tuple(token for token in scope_claim.split() if token)
        parsed = (parse_clinical_scope(token) for token in raw)
        return cls(raw, tuple(scope for scope in parsed if scope is not None))

    def __contains__(self, scope: str) -> bool:
        return scope in self.raw

    def matching(self, contexts: frozenset[Context], resource_type: str,
                 interaction: str) -> tuple[ClinicalScope, ...]:
        """The scopes in the given contexts that permit this interaction on this type."""
        try:
            permission = INTERACTION_PERMISSION[interaction]
        except KeyError:
            raise ValueError(
                f"unknown interaction {interaction!r}; expected one of "
                f"{', '.join(sorted(INTERACTION_PERMISSION))}") from None
        return tuple(scope for scope in self.clinical
                     if scope.context in contexts and scope.covers(resource_type, permission))
