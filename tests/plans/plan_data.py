"""Builders for individual-plan test data that conforms to the ip-* profiles."""

from __future__ import annotations

import itertools
from typing import Any

from fhirip.canonical import CODE_SYSTEM, STRUCTURE_DEFINITION
from fhirip.demo import synthetic_fnr

FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
VOLVEN_9034 = "urn:oid:2.16.578.1.12.4.1.1.9034"
IP_CATEGORY = {"coding": [{"system": f"{CODE_SYSTEM}/ip-careplan-category", "code": "individuell-plan"}]}
_serial = itertools.count(100)


def new_fnr() -> str:
    return synthetic_fnr(5, 6, 90, next(_serial) * 3)


def created_id(response: Any) -> str:
    assert response.status_code == 201, response.text
    return response.json()["id"]


def patient(fnr: str, family: str = "Nordmann") -> dict[str, Any]:
    return {"resourceType": "Patient", "identifier": [{"system": FNR, "value": fnr}],
            "name": [{"family": family, "given": ["Kari"]}], "birthDate": "1990-06-05"}


def practitioner(family: str, phone: str = "+47 55 00 00 00") -> dict[str, Any]:
    return {"resourceType": "Practitioner", "name": [{"family": family, "given": ["Ola"]}],
            "telecom": [{"system": "phone", "value": phone, "use": "work"}]}


def coordinator(member: str, start: str, end: str | None = None, code: str = "8") -> dict[str, Any]:
    period = {"start": start, **({"end": end} if end else {})}
    return {"role": [{"coding": [{"system": VOLVEN_9034, "code": code}]}],
            "member": {"reference": member}, "period": period}


def care_team(patient_id: str, *participants: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "CareTeam", "status": "active", "subject": {"reference": f"Patient/{patient_id}"},
            "name": "Ansvarsgruppe", "participant": list(participants)}


def goal(patient_id: str, text: str = "Gå på skolen hver dag", status: str = "active") -> dict[str, Any]:
    return {"resourceType": "Goal", "lifecycleStatus": status, "description": {"text": text},
            "subject": {"reference": f"Patient/{patient_id}"},
            "expressedBy": {"reference": f"Patient/{patient_id}"}}


def plan_consent(patient_id: str, status: str = "active", start: str = "2026-01-01",
                 end: str = "2027-12-31") -> dict[str, Any]:
    return {"resourceType": "Consent", "status": status,
            "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                                  "code": "treatment"}]},
            "category": [{"coding": [{"system": f"{CODE_SYSTEM}/ip-consent-category",
                                      "code": "ip-samtykke-plan"}]}],
            "patient": {"reference": f"Patient/{patient_id}"}, "dateTime": start,
            "performer": [{"reference": f"Patient/{patient_id}"}],
            "policyRule": {"text": "Pasient- og brukerrettighetsloven § 2-5"},
            "provision": {"type": "permit", "period": {"start": start, "end": end}}}


def measure(performer: str, goal_id: str, *, status: str = "in-progress", measure_status: str = "igangsatt",
            next_evaluation: str | None = "2026-05-01", description: str = "Assistent i skoletiden") -> dict:
    extensions = [{"url": f"{STRUCTURE_DEFINITION}/ip-measure-status", "valueCode": measure_status}]
    if next_evaluation:
        extensions.append({"url": f"{STRUCTURE_DEFINITION}/ip-next-evaluation", "valueDate": next_evaluation})
    detail: dict[str, Any] = {"status": status, "description": description,
                              "performer": [{"reference": performer}],
                              "goal": [{"reference": f"Goal/{goal_id}"}], "extension": extensions}
    if status in ("cancelled", "stopped"):
        detail["statusReason"] = {"text": "Ikke lenger behov"}
    return {"detail": detail}


def care_plan(patient_id: str, *, status: str = "draft", team_id: str | None = None,
              goal_ids: tuple[str, ...] = (), activities: tuple[dict[str, Any], ...] = (),
              start: str | None = "2026-01-15", next_evaluation: str = "2026-12-01",
              legal_basis: str | None = "samtykke", part_of: str | None = None) -> dict[str, Any]:
    plan: dict[str, Any] = {"resourceType": "CarePlan", "status": status, "intent": "plan",
                            "category": [IP_CATEGORY], "title": "Individuell plan",
                            "subject": {"reference": f"Patient/{patient_id}"}}
    extensions = [{"url": f"{STRUCTURE_DEFINITION}/ip-next-evaluation", "valueDate": next_evaluation}]
    if legal_basis:
        extensions.append({"url": f"{STRUCTURE_DEFINITION}/ip-legal-basis", "valueCodeableConcept": {
            "coding": [{"system": f"{CODE_SYSTEM}/ip-legal-basis", "code": legal_basis}]}})
    plan["extension"] = extensions
    if start:
        plan["period"] = {"start": start}
    if team_id:
        plan["careTeam"] = [{"reference": f"CareTeam/{team_id}"}]
    if goal_ids:
        plan["goal"] = [{"reference": f"Goal/{g}"} for g in goal_ids]
    if activities:
        plan["activity"] = list(activities)
    if part_of:
        plan["partOf"] = [{"reference": f"CarePlan/{part_of}"}]
    return plan


class PlanWorld:
    """A person with a coordinator, a goal, a plan consent and a care team, made over HTTP."""

    def __init__(self, fhir: Any, *, fnr: str | None = None, consent: bool = True,
                 coordinator_start: str = "2026-01-15"):
        self.fhir = fhir
        self.fnr = fnr or new_fnr()
        self.patient_id = created_id(fhir.create(patient(self.fnr)))
        self.coordinator_id = created_id(fhir.create(practitioner("Koordinatorsen", "+47 55 11 22 33")))
        self.team_id = created_id(fhir.create(care_team(
            self.patient_id, coordinator(f"Practitioner/{self.coordinator_id}", coordinator_start))))
        self.goal_id = created_id(fhir.create(goal(self.patient_id)))
        self.consent_id = created_id(fhir.create(plan_consent(self.patient_id))) if consent else None

    def plan(self, **kwargs: Any) -> dict[str, Any]:
        kwargs.setdefault("team_id", self.team_id)
        kwargs.setdefault("goal_ids", (self.goal_id,))
        return care_plan(self.patient_id, **kwargs)

    def active_plan_id(self, **kwargs: Any) -> str:
        return created_id(self.fhir.create(self.plan(status="active", **kwargs)))


def legacy_patient(fhir: Any, live_server: Any, fnr: str, family: str) -> str:
    """A second Patient record for the same fødselsnummer, as in data migrated from before the
    one-record rule (written with the plan rules switched off): the rules still treat both
    records as one person."""
    from fhirip.plans import plan_rules

    live_server.services.write_hooks.remove(plan_rules)
    try:
        return created_id(fhir.create(patient(fnr, family=family)))
    finally:
        live_server.services.write_hooks.append(plan_rules)
