"""Telling the coordinator about emergency access: the Communication raised after break-the-glass.

https://hl7.org/fhir/R4/communication.html

Every break-the-glass access to a patient's record is audited (the AuditEvent carries
the BTG label and the stated reason); in addition the patient's current coordinator is
told, so the access is followed up. This module builds that Communication; storing it
(once per patient and request) is the caller's job, in the request's transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from fhirip.audit.agents import organization_reference, person_reference
from fhirip.consent import lookups
from fhirip.consent.lookups import local_ref
from fhirip.consent.policy import AccessPolicy
from fhirip.consent.timing import period_covers
from fhirip.consent.vocabulary import COORDINATOR_CODES

V3_ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
V3_OBSERVATION_VALUE = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"


def current_coordinators(conn: Connection, patient_id: str, now: datetime) -> list[dict[str, str]]:
    """References to the patient's current coordinators (CareTeam role Volven 9034 code 8/18
    with a current period, in an active team; else the EpisodeOfCare care manager)."""
    found: list[dict[str, str]] = []
    for team in lookups.referring(conn, "CareTeam", "patient", {("Patient", patient_id)}):
        if team.content.get("status") != "active":
            continue
        for participant in team.content.get("participant") or []:
            roles = {(c.get("system"), c.get("code")) for r in participant.get("role") or []
                     for c in (r or {}).get("coding") or []}
            member = local_ref(participant.get("member"))
            if roles & COORDINATOR_CODES and member and period_covers(participant.get("period"), now):
                found.append({"reference": f"{member[0]}/{member[1]}"})
    if not found:
        for episode in lookups.referring(conn, "EpisodeOfCare", "patient", {("Patient", patient_id)}):
            manager = local_ref(episode.content.get("careManager"))
            if manager and episode.content.get("status") in ("active", "onhold"):
                found.append({"reference": f"{manager[0]}/{manager[1]}"})
    return list({r["reference"]: r for r in found}.values())


def break_the_glass_notice(conn: Connection, policy: AccessPolicy, patient_id: str,
                           audit_event_id: str | None = None) -> dict[str, Any] | None:
    """The Communication that tells the coordinator(s) of `patient_id` about this emergency
    access; None when the policy is no break-the-glass or the patient has no coordinator
    (the BTG-labelled AuditEvent then is the only trace, for the security officer's review)."""
    actor = policy.actor
    if not policy.break_the_glass or actor is None:
        return None
    recipients = current_coordinators(conn, patient_id, policy.decided_at)
    if not recipients:
        return None
    who = person_reference(actor) or {"display": actor.sub}
    notice: dict[str, Any] = {
        "resourceType": "Communication",
        "meta": {"security": [{"system": V3_ACT_REASON, "code": "BTG", "display": "break the glass"}]},
        "status": "completed",
        "category": [{"coding": [{"system": V3_ACT_REASON, "code": "BTG", "display": "break the glass"}],
                      "text": "Nødtilgang"}],
        "priority": "urgent",
        "subject": {"reference": f"Patient/{patient_id}"},
        "sent": policy.decided_at.isoformat(),
        "recipient": recipients,
        "sender": {"identifier": who["identifier"], "type": "Practitioner"} if "identifier" in who else who,
        "reasonCode": [{"coding": [{"system": V3_ACT_REASON, "code": actor.purpose_of_use or "BTG"}],
                        "text": actor.btg_reason}],
        "payload": [{"contentString": (
            f"Nødtilgang (break-the-glass) til journalen brukt av {who.get('display') or actor.sub}"
            f"{_organisation(actor)}. Oppgitt grunn: {actor.btg_reason}")}],
    }
    if audit_event_id:
        notice["about"] = [{"reference": f"AuditEvent/{audit_event_id}"}]
    return notice


def _organisation(actor: Any) -> str:
    organization = organization_reference(actor)
    return f" (organisasjonsnummer {organization['identifier']['value']})" if organization else ""
