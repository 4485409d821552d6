"""Build the AuditEvent recorded for one RESTful interaction, allowed or denied.

https://hl7.org/fhir/R4/auditevent.html
Shaped after IHE BALP's RESTful-activity events (user, client and server agents;
one entity per resource and per patient), with the Norwegian identifiers of the
actor (anchors-norway.md §6.4). A health professional's access under a trust-framework
attestation carries the national profile's content as well (`fhirip.audit.trust_framework`).
A pure function: storing it is the caller's job.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from fhirip.audit import trust_framework
from fhirip.audit.agents import client_reference, organization_reference, person_reference
from fhirip.audit.codes import (
    AUDIT_ENTITY_TYPE,
    AUDIT_EVENT_TYPE,
    BREAK_THE_GLASS_LABEL,
    DICOM,
    EXTRA_SECURITY_ROLE_TYPE,
    INTERACTION_ACTION,
    OBJECT_ROLE,
    OUTCOMES,
    QUERY_INTERACTIONS,
    RESTFUL_INTERACTION,
    SECURITY_SOURCE_TYPE,
    V3_ACT_REASON,
    V3_PARTICIPATION_TYPE,
    V3_ROLE_CLASS,
    coding,
    instant,
    mask_person_numbers,
)
from fhirip.auth.actor import Actor, ActorKind

SOURCE_OBSERVER = "fhirip"
BTG_REASON_DETAIL = "break-the-glass-reason"

_ROLE_CLASS = {ActorKind.PRACTITIONER: "PROV", ActorKind.PATIENT: "PAT", ActorKind.RELATIVE: "CON"}


def audit_event(actor: Actor | None, *, interaction: str, outcome: str, resource_refs: Sequence[str],
                patient_refs: Sequence[str], request_url: str, method: str, status: int,
                break_the_glass: bool, recorded: datetime, consent_refs: Sequence[str] = (),
                client_address: str | None = None) -> dict[str, Any]:
    """The AuditEvent (as JSON) for one interaction.

    ``actor`` is None when the request could not be authenticated. ``resource_refs``
    are the resources touched ("CarePlan/1" or versioned), ``patient_refs`` the
    patients whose data they are, ``consent_refs`` the Consents that decided the
    access. ``break_the_glass`` says the access was granted as emergency access: the
    event then carries the BTG security label (searchable with ``_security``) and the
    actor's stated reason.
    """
    if interaction not in INTERACTION_ACTION:
        raise ValueError(f"interaction {interaction!r} is not a restful-interaction code this server records; "
                         f"expected one of {', '.join(sorted(INTERACTION_ACTION))}")
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome {outcome!r} must be one of 0, 4, 8, 12")
    reason = _btg_reason(actor) if break_the_glass else None
    url = mask_person_numbers(request_url)

    attestation = actor.attestation if actor is not None else None
    patients = list(dict.fromkeys(patient_refs))
    # The national profile is about one patient; an event about several (or none) keeps its content.
    patient = patients[0] if len(patients) == 1 else None

    event: dict[str, Any] = {"resourceType": "AuditEvent"}
    meta: dict[str, Any] = {}
    if attestation is not None and patient is not None:
        meta["profile"] = [trust_framework.PROFILE]
    if break_the_glass:
        meta["security"] = [dict(BREAK_THE_GLASS_LABEL)]
    tags = trust_framework.review_tags(attestation, break_the_glass)
    if tags:
        meta["tag"] = tags
    if meta:
        event["meta"] = meta
    if attestation is not None:
        contained = trust_framework.contained(attestation, actor.hpr_number, actor.name,  # type: ignore[union-attr]
                                              patient)
        event["contained"] = contained
        event["extension"] = trust_framework.extensions(
            attestation, patient, any(r["resourceType"] == "Encounter" for r in contained))
    event |= {
        "type": coding(AUDIT_EVENT_TYPE, "rest", "RESTful Operation"),
        "subtype": [coding(RESTFUL_INTERACTION, interaction, interaction)],
        "action": INTERACTION_ACTION[interaction],
        "recorded": instant(recorded),
        "outcome": outcome,
        "outcomeDesc": f"{method.upper()} {url} -> HTTP {status}",
        "agent": _agents(actor, client_address),
        "source": {"observer": {"display": SOURCE_OBSERVER},
                   "type": [coding(SECURITY_SOURCE_TYPE, "4", "Application Server")]},
    }
    purpose = _purpose(actor)
    if purpose is not None:
        event["purposeOfEvent"] = [purpose]
    entities = _entities(interaction, url, resource_refs, patient_refs, consent_refs, reason)
    if entities:
        event["entity"] = entities
    return event


def _btg_reason(actor: Actor | None) -> str:
    if actor is None or not actor.btg_reason:
        raise ValueError("break-the-glass access must be recorded with the actor's stated reason")
    return actor.btg_reason


def _purpose(actor: Actor | None) -> dict[str, Any] | None:
    if actor is None or actor.purpose_of_use is None:
        return None
    if actor.attestation is not None:
        return trust_framework.purpose_of_event(actor.attestation)
    return {"coding": [coding(V3_ACT_REASON, actor.purpose_of_use)]}


def _agents(actor: Actor | None, client_address: str | None) -> list[dict[str, Any]]:
    network = {"address": client_address, "type": "2"} if client_address else None  # 2 = IP address
    if actor is None:
        agent: dict[str, Any] = {"type": {"coding": [coding(EXTRA_SECURITY_ROLE_TYPE, "humanuser", "human user")]},
                                 "who": {"display": "unauthenticated"}, "requestor": True}
        if network:
            agent["network"] = network
        return [agent]

    agents: list[dict[str, Any]] = []
    person = person_reference(actor)
    purpose = _purpose(actor)
    if actor.attestation is not None:
        # The national profile: the user is the PractitionerRole rebuilt from the attestation.
        person = {"reference": "#role", "type": "PractitionerRole",
                  "display": actor.name or (f"HPR {actor.hpr_number}" if actor.hpr_number else "helsepersonell")}
    if person is not None:
        user: dict[str, Any] = {"type": {"coding": [coding(EXTRA_SECURITY_ROLE_TYPE, "humanuser", "human user")]},
                                "who": person, "altId": actor.sub, "requestor": True}
        if actor.name:
            user["name"] = actor.name
        roles = [{"coding": [coding(V3_ROLE_CLASS, _ROLE_CLASS[actor.kind])]}] if actor.kind in _ROLE_CLASS else []
        roles += [{"text": role} for role in actor.roles]
        if roles:
            user["role"] = roles
        if purpose is not None:
            user["purposeOfUse"] = [purpose]
        agents.append(user)

    client: dict[str, Any] = {"type": {"coding": [coding(DICOM, "110153", "Source Role ID")]},
                              "who": client_reference(actor), "requestor": person is None}
    if person is None and purpose is not None:
        client["purposeOfUse"] = [purpose]
    if network:
        client["network"] = network
    agents.append(client)

    organization = organization_reference(actor)
    if organization is not None and actor.attestation is not None:
        organization["display"] = trust_framework.organisation_display(actor.attestation)
    if organization is not None:
        agents.append({"type": {"coding": [coding(V3_PARTICIPATION_TYPE, "RESP", "responsible party")]},
                       "who": organization, "requestor": False})
    return agents


def _entities(interaction: str, url: str, resource_refs: Sequence[str], patient_refs: Sequence[str],
              consent_refs: Sequence[str], btg_reason: str | None) -> list[dict[str, Any]]:
    btg_detail = [{"type": BTG_REASON_DETAIL, "valueString": btg_reason}] if btg_reason else []
    patients = list(dict.fromkeys(patient_refs))
    entities: list[dict[str, Any]] = []
    for patient in patients:
        entity: dict[str, Any] = {"what": {"reference": patient},
                                  "type": coding(AUDIT_ENTITY_TYPE, "1", "Person"),
                                  "role": coding(OBJECT_ROLE, "1", "Patient")}
        if btg_detail:
            entity["detail"] = list(btg_detail)
        entities.append(entity)
    for resource in dict.fromkeys(resource_refs):
        if resource in patients:
            continue  # already recorded in its patient role
        entities.append({"what": {"reference": resource},
                         "type": coding(AUDIT_ENTITY_TYPE, "2", "System Object"),
                         "role": coding(OBJECT_ROLE, "4", "Domain Resource")})
    for consent in dict.fromkeys(consent_refs):
        entities.append({"what": {"reference": consent},
                         "type": coding(AUDIT_ENTITY_TYPE, "2", "System Object"),
                         "role": coding(OBJECT_ROLE, "13", "Security Resource"),
                         "description": "the consent that decided this access"})
    if interaction in QUERY_INTERACTIONS:
        entities.append({"type": coding(AUDIT_ENTITY_TYPE, "2", "System Object"),
                         "role": coding(OBJECT_ROLE, "24", "Query"),
                         "query": base64.b64encode(url.encode("utf-8")).decode("ascii")})
    if btg_detail and not patients:
        entities.append({"type": coding(AUDIT_ENTITY_TYPE, "4", "Other"),
                         "description": "break-the-glass access", "detail": list(btg_detail)})
    return entities
