"""Identifier-based references to the actor, the organisation and the client, for audit records.

The token carries identifiers, not resource ids, so the records refer by
``Reference.identifier`` (https://hl7.org/fhir/R4/references.html#logical): an HPR
number, a fødselsnummer, an organisation number, or the client id at the issuer.
"""

from __future__ import annotations

from typing import Any

from fhirip.auth.actor import HPR_SYSTEM, ORG_NUMBER_SYSTEM, Actor, ActorKind

_REFERENCE_TYPE = {
    ActorKind.PRACTITIONER: "Practitioner",
    ActorKind.PATIENT: "Patient",
    ActorKind.RELATIVE: "RelatedPerson",
}


def _identifier(system: str | None, value: str) -> dict[str, str]:
    return {"system": system, "value": value} if system else {"value": value}


def person_reference(actor: Actor) -> dict[str, Any] | None:
    """The human user: Practitioner by HPR number, or the citizen by fødselsnummer/D-nummer."""
    if actor.hpr_number is not None:
        reference: dict[str, Any] = {"identifier": _identifier(HPR_SYSTEM, actor.hpr_number)}
    elif actor.person_identifier is not None:
        reference = {"identifier": _identifier(*actor.person_identifier)}
    else:
        return None
    if actor.kind in _REFERENCE_TYPE:
        reference["type"] = _REFERENCE_TYPE[actor.kind]
    if actor.name:
        reference["display"] = actor.name
    return reference


def organization_reference(actor: Actor) -> dict[str, Any] | None:
    if actor.org_number is None:
        return None
    return {"type": "Organization", "identifier": _identifier(ORG_NUMBER_SYSTEM, actor.org_number)}


def client_reference(actor: Actor) -> dict[str, Any]:
    """The calling application, as a Device identified by its client id in the issuer's namespace."""
    client = actor.client_id or actor.sub
    return {"type": "Device", "identifier": _identifier(actor.issuer or None, client), "display": client}
