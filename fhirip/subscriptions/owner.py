"""Who a Subscription acts for: the creating caller's standing identity, kept in the resource.

A notification is decided as a read by the Subscription's owner at the moment it is sent,
long after the owner's token has expired. What the decision reads of a caller (identifiers,
organisation, roles, scopes, purpose of use, patient in context) is copied from the token into
the `subscription-owner` extension when the Subscription is created, and an Actor is rebuilt
from it for every delivery. Emergency access is never copied (break-the-glass is for one
person in one situation, not a standing watch), nor the trust-framework attestation, which
lasts an hour: the purpose it attested stands.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fhirip.auth.actor import (
    CLAIM_HPR_NUMBER,
    CLAIM_ORG_CHILD,
    CLAIM_ORG_NUMBER,
    CLAIM_PERSON_ID,
    CLAIM_PURPOSE_OF_USE,
    CLAIM_SECURITY_LEVEL,
    Actor,
)
from fhirip.consent.owned import OWNER_EXTENSION, owner_parts

# Extension part → the token claim it stands for.
_PARTS = (("issuer", "iss"), ("subject", "sub"), ("client", "client_id"), ("hpr", CLAIM_HPR_NUMBER),
          ("person", CLAIM_PERSON_ID), ("organization", CLAIM_ORG_NUMBER), ("point-of-care", CLAIM_ORG_CHILD),
          ("security-level", CLAIM_SECURITY_LEVEL), ("name", "name"), ("purpose", CLAIM_PURPOSE_OF_USE),
          ("patient", "patient"), ("base", None))


def owner_extension(actor: Actor, base_url: str) -> dict[str, Any]:
    """The extension recording `actor` as the owner; `base_url` is where they addressed the
    server, under which notifications name resources."""
    values = {"issuer": actor.issuer, "subject": actor.sub, "client": actor.client_id,
              "hpr": actor.hpr_number, "person": actor.person_id, "organization": actor.org_number,
              "point-of-care": actor.org_child, "security-level": actor.security_level, "name": actor.name,
              "purpose": actor.purpose_of_use, "patient": actor.patient, "base": base_url}
    parts = [{"url": name, "valueString": values[name]} for name, _ in _PARTS if values[name]]
    parts += [{"url": "role", "valueString": role} for role in actor.roles]
    parts += [{"url": "scope", "valueString": scope} for scope in actor.scopes.raw]
    return {"url": OWNER_EXTENSION, "extension": parts}


def with_owner(resource: dict[str, Any], extension: dict[str, Any] | None) -> None:
    """Replace whatever owner extension `resource` carries by `extension` (none: remove it)."""
    others = [e for e in resource.get("extension") or () if not (isinstance(e, dict) and e.get("url") == OWNER_EXTENSION)]
    if extension is not None:
        others.append(extension)
    if others:
        resource["extension"] = others
    else:
        resource.pop("extension", None)


def owner_extension_of(resource: Mapping[str, Any]) -> dict[str, Any] | None:
    for extension in resource.get("extension") or ():
        if isinstance(extension, dict) and extension.get("url") == OWNER_EXTENSION:
            return extension
    return None


def owner_actor(resource: Mapping[str, Any]) -> Actor | None:
    """The owner as a caller, rebuilt from the Subscription's extension; None without one."""
    parts = owner_parts(resource)
    if not parts.get("subject"):
        return None
    claims: dict[str, Any] = {claim: parts[name][0] for name, claim in _PARTS if claim and parts.get(name)}
    claims["role"] = parts.get("role", [])
    claims["scope"] = " ".join(parts.get("scope", []))
    return Actor.from_claims(claims)


def owner_base_url(resource: Mapping[str, Any]) -> str:
    return (owner_parts(resource).get("base") or [""])[0]
