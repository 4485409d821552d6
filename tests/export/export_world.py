"""A small world for the export tests: a child with a plan, her mother, an adult, their
practitioners, a Group of both patients, and enough observations that an export takes many
chunks. Everyone is invented; personal numbers are synthetic (month + 80)."""

from __future__ import annotations

from typing import Any

from fhirip.demo import organisation_number, synthetic_fnr

FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
HPR = "urn:oid:2.16.578.1.12.4.1.4.4"
ORGNR = "urn:oid:2.16.578.1.12.4.1.4.101"
VOLVEN_9034 = "urn:oid:2.16.578.1.12.4.1.1.9034"
CONSENT_CATEGORY = "http://fhirip.no/fhir/CodeSystem/ip-consent-category"
ROLE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"

MIA = synthetic_fnr(14, 2, 13, 400)  # born 2013: a child
LENE = synthetic_fnr(3, 6, 82, 200)  # Mia's mother
TOR = synthetic_fnr(5, 5, 61, 240)  # an adult with his own plan
KOMMUNE = organisation_number("964338")
ENHET = organisation_number("974589")
VIDAR = "9145001"  # Mia's coordinator, in her care team
HILDE = "9145012"  # named in no consent
UNIT_WORKER = "9145023"  # works in the coordinating unit
OBSERVATIONS = 40  # of Mia's, so that an export of small chunks takes many


def _ref(reference: str) -> dict[str, str]:
    return {"reference": reference}


def records() -> list[dict[str, Any]]:
    organisations = [
        {"resourceType": "Organization", "id": "x-kommune", "name": "Fjellby kommune",
         "identifier": [{"system": ORGNR, "value": KOMMUNE}]},
        {"resourceType": "Organization", "id": "x-enhet", "name": "Fjellby koordinerende enhet",
         "identifier": [{"system": ORGNR, "value": ENHET}]},
    ]
    practitioners = [
        {"resourceType": "Practitioner", "id": f"x-{name}", "identifier": [{"system": HPR, "value": hpr}],
         "name": [{"family": name.title()}]}
        for name, hpr in (("vidar", VIDAR), ("hilde", HILDE), ("unn", UNIT_WORKER))]
    people = [
        {"resourceType": "Patient", "id": "x-mia", "identifier": [{"system": FNR, "value": MIA}],
         "name": [{"family": "Dal", "given": ["Mia"]}], "birthDate": "2013-02-14",
         "managingOrganization": _ref("Organization/x-kommune")},
        {"resourceType": "Patient", "id": "x-tor", "identifier": [{"system": FNR, "value": TOR}],
         "name": [{"family": "Li", "given": ["Tor"]}], "birthDate": "1961-05-05"},
        {"resourceType": "RelatedPerson", "id": "x-lene", "patient": _ref("Patient/x-mia"),
         "identifier": [{"system": FNR, "value": LENE}],
         "relationship": [{"coding": [{"system": ROLE, "code": "MTH"}]}]},
    ]
    team = {"resourceType": "CareTeam", "id": "x-team-mia", "status": "active", "subject": _ref("Patient/x-mia"),
            "managingOrganization": [_ref("Organization/x-enhet")],
            "participant": [{"role": [{"coding": [{"system": VOLVEN_9034, "code": "8"}]}],
                             "member": _ref("Practitioner/x-vidar"), "period": {"start": "2026-01-15"}}]}
    sharing = {"resourceType": "Consent", "id": "x-mia-deling", "status": "active",
               "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                                     "code": "patient-privacy"}]},
               "category": [{"coding": [{"system": CONSENT_CATEGORY, "code": "ip-samtykke-deling"}]}],
               "patient": _ref("Patient/x-mia"), "dateTime": "2026-01-10",
               "policy": [{"uri": "http://fhirip.no/fhir/policy/individuell-plan"}],
               "provision": {"type": "permit", "period": {"start": "2026-01-10"},
                             "actor": [{"role": {"coding": [{
                                 "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                 "code": "IRCP"}]}, "reference": _ref("CareTeam/x-team-mia")}],
                             "purpose": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                                          "code": "TREAT"}]}}
    clinical = [
        {"resourceType": "CarePlan", "id": "x-plan-mia", "status": "active", "intent": "plan",
         "subject": _ref("Patient/x-mia"), "careTeam": [_ref("CareTeam/x-team-mia")],
         "description": "Plan med sensitive detaljer", "period": {"start": "2026-01-15"},
         "goal": [_ref("Goal/x-goal-mia")],
         "instantiatesCanonical": ["http://fhirip.no/fhir/PlanDefinition/x-mal"],
         "activity": [{"detail": {"status": "in-progress", "description": "Assistent",
                                  "performer": [_ref("Organization/x-kommune")]}}]},
        {"resourceType": "PlanDefinition", "id": "x-mal", "url": "http://fhirip.no/fhir/PlanDefinition/x-mal",
         "status": "active", "title": "Mal for individuell plan"},
        {"resourceType": "Goal", "id": "x-goal-mia", "lifecycleStatus": "active", "subject": _ref("Patient/x-mia"),
         "description": {"text": "Gå på skolen"}},
        {"resourceType": "CarePlan", "id": "x-plan-tor", "status": "active", "intent": "plan",
         "subject": _ref("Patient/x-tor")},
        {"resourceType": "Goal", "id": "x-goal-tor", "lifecycleStatus": "active", "subject": _ref("Patient/x-tor"),
         "description": {"text": "Egen bolig"}},
        {"resourceType": "EpisodeOfCare", "id": "x-eoc-mia", "status": "active", "patient": _ref("Patient/x-mia"),
         "managingOrganization": _ref("Organization/x-enhet")},
        {"resourceType": "Group", "id": "x-group", "type": "person", "actual": True,
         "member": [{"entity": _ref("Patient/x-mia")}, {"entity": _ref("Patient/x-tor")}]},
    ]
    observations = [
        {"resourceType": "Observation", "id": f"x-obs-mia-{n}", "status": "final", "code": {"text": "Søvn"},
         "subject": _ref("Patient/x-mia"), "performer": [_ref("Practitioner/x-vidar")]}
        for n in range(OBSERVATIONS)]
    return organisations + practitioners + people + [team, sharing] + clinical + observations


# -- the callers -------------------------------------------------------------------------------

def system(scope: str = "system/*.read", name: str = "export-system") -> dict[str, Any]:
    return {"sub": name, "client_id": name, "scope": scope}


def person(fnr: str) -> dict[str, Any]:
    return {"sub": f"person-{fnr}", "client_id": "helsenorge", "helseid://claims/identity/pid": fnr,
            "scope": "openid patient/*.rs"}


def practitioner(hpr: str, orgnr: str = KOMMUNE, *, role: str | None = None) -> dict[str, Any]:
    claims = {"sub": f"hpr-{hpr}", "client_id": "ehr", "helseid://claims/hpr/hpr_number": hpr,
              "helseid://claims/client/claims/orgnr_parent": orgnr, "scope": "openid user/*.rs",
              "purpose_of_use": "TREAT"}
    if role is not None:
        claims["role"] = role
    return claims
