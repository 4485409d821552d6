"""Resources that belong to the caller who created them: Subscriptions.

https://hl7.org/fhir/R4/subscription.html

A Subscription is not in any patient's compartment; it acts for its owner. The server
records the owner in the resource (the `subscription-owner` extension, set from the
creating caller's token and kept on every later version, whatever a client sends) and,
through the store's subscription index, in the `subscription` table, so that the read
condition of every request admits exactly the caller's own Subscriptions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, and_, select

from fhirip.auth.actor import Actor
from fhirip.canonical import STRUCTURE_DEFINITION
from fhirip.store.schema import subscription

OWNED_TYPES = frozenset({"Subscription"})
OWNER_EXTENSION = f"{STRUCTURE_DEFINITION}/subscription-owner"


def owner_key(actor: Actor) -> str:
    """Who a caller is across tokens: the issuer and its subject."""
    return f"{actor.issuer}|{actor.sub}"


def owner_parts(resource: Mapping[str, Any]) -> dict[str, list[str]]:
    """The owner extension's parts (name → values), empty when the resource has none."""
    for extension in resource.get("extension") or ():
        if isinstance(extension, dict) and extension.get("url") == OWNER_EXTENSION:
            parts: dict[str, list[str]] = {}
            for part in extension.get("extension") or ():
                if isinstance(part, dict) and isinstance(part.get("url"), str):
                    value = part.get("valueString", part.get("valueCode"))
                    if isinstance(value, str):
                        parts.setdefault(part["url"], []).append(value)
            return parts
    return {}


def owner_of(resource: Mapping[str, Any]) -> str | None:
    """The owner key a Subscription records, or None."""
    parts = owner_parts(resource)
    if "subject" not in parts:
        return None
    return f"{(parts.get('issuer') or [''])[0]}|{parts['subject'][0]}"


def owned_rids(owner: str) -> Any:
    """The rids of the Subscriptions of `owner` (a subquery, for `owned_clause`)."""
    return select(subscription.c.rid).where(subscription.c.owner == owner)


def owned_clause(alias: Any, owned: Any) -> ColumnElement[bool]:
    """The rows of `resource` (as `alias`) among `owned` (`owned_rids`: built once, used for
    every alias a request's statements apply the condition to)."""
    return and_(alias.c.res_type == "Subscription", alias.c.rid.in_(owned))
