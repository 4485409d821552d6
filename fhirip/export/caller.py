"""The caller of an export, kept with the job so that every chunk is read as that caller.

A job outlives the request that started it (and the token's lifetime): it keeps the
caller as the kick-off's verified token made them (`Actor`), and every chunk decides that
caller's access afresh from the access index, so a consent withdrawn while the job runs
holds for the chunks read after it. The token itself is never stored.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

import orjson

from fhirip.auth.actor import Actor, ActorKind
from fhirip.auth.attestation import Attestation, Code, Ident
from fhirip.auth.scopes import ScopeSet


def owner_key(actor: Actor) -> str:
    """Who owns a job: the same identity at the same issuer through the same application."""
    return "|".join((actor.issuer, actor.sub, actor.client_id or ""))


def caller_json(actor: Actor) -> str:
    fields = asdict(actor)
    fields["kind"] = actor.kind.value
    fields["scopes"] = " ".join(actor.scopes.raw)
    fields["roles"] = list(actor.roles)
    return orjson.dumps(fields, default=_encode).decode()


def caller_from_json(text: str) -> Actor:
    fields: dict[str, Any] = orjson.loads(text)
    fields["kind"] = ActorKind(fields["kind"])
    fields["scopes"] = ScopeSet.parse(fields["scopes"])
    fields["roles"] = tuple(fields["roles"])
    fields["issued_at"] = _moment(fields.get("issued_at"))
    if fields.get("attestation") is not None:
        fields["attestation"] = _attestation(fields["attestation"])
    return Actor(**fields)


def _attestation(fields: dict[str, Any]) -> Attestation:
    idents = ("legal_entity", "point_of_care", "identifier", "department", "patient_point_of_care",
              "patient_department", "patient_identifier")
    codes = ("purpose_of_use", "authorization", "healthcare_service", "purpose_of_use_details")
    for name in idents:
        if fields.get(name) is not None:
            fields[name] = Ident(**fields[name])
    for name in codes:
        if fields.get(name) is not None:
            fields[name] = Code(**fields[name])
    fields["attested_at"] = _moment(fields["attested_at"])
    return Attestation(**fields)


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot keep {type(value).__name__} with an export job")


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
