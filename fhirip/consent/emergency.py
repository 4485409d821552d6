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
from fhirip.consent.decide import coordinators_of
from fhirip.consent.policy import AccessPolicy

V3_ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
V3_OBSERVATION_VALUE = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"


def current_coordinators(conn: Connection, patient_id: str, now: datetime) -> list[dict[str, str]]:
    """References to the patient's current coordinators, from the access index: those of the
    patient's care teams (CareTeam role Volven 9034 code 8/18 in force), else the care managers
    of their open coordinator episodes."""
    found = coordinators_of(conn, patient_id, now)
    in_teams = [grantee for grantee, source in found if source.startswith("CareTeam/")]
    return [{"reference": grantee} for grantee in dict.fromkeys(in_teams or [g for g, _ in found])]


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
