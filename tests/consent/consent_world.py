"""The test world of the access rules: two families, a care team, consents, and the actors.

Everyone is invented; personal numbers are synthetic (month + 80) with valid check
digits. The decision moment is fixed (NOW), so ages and periods do not drift.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fhirip.audit import audit_event
from fhirip.auth import Actor
from fhirip.demo import organisation_number, synthetic_fnr

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
HPR = "urn:oid:2.16.578.1.12.4.1.4.4"
ORGNR = "urn:oid:2.16.578.1.12.4.1.4.101"
ROLE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
VOLVEN_9034 = "urn:oid:2.16.578.1.12.4.1.1.9034"
CONSENT_CATEGORY = "http://fhirip.no/fhir/CodeSystem/ip-consent-category"
ACTION = "http://terminology.hl7.org/CodeSystem/consentaction"
RESOURCE_TYPES = "http://hl7.org/fhir/resource-types"

# People
KARI = synthetic_fnr(12, 3, 12, 400)  # born 2012: 14 on NOW
ANNE = synthetic_fnr(2, 5, 80, 200)  # Kari's mother
ONKEL = synthetic_fnr(9, 9, 70, 210)  # Kari's uncle, named in the sharing consent
NABO = synthetic_fnr(1, 1, 60, 220)  # a neighbour, known as a relative but named nowhere
JON = synthetic_fnr(1, 1, 9, 420)  # born 2009: 17 on NOW
JON_FAR = synthetic_fnr(3, 3, 75, 230)
EVA = synthetic_fnr(4, 4, 60, 240)  # an adult with her own plan

# Organisations
KOMMUNE = organisation_number("964338")
ENHET = organisation_number("974589")  # the koordinerende enhet of the municipality
DPS = organisation_number("983974")
ANNEN_KOMMUNE = organisation_number("944496")

# Practitioners (HPR numbers)
OLA = "9144889"  # coordinator of Kari's team
INGRID = "9144900"  # team member through a PractitionerRole at the municipality
TERJE = "9144911"  # team member, but Kari has a reservation against him
BJORN = "9144922"  # a DPS doctor: the sharing consent names his organisation
PER = "9144933"  # named nowhere
SIRI = "9144944"  # works in another municipality
GAMMEL = "9144955"  # named in a consent whose provision period has ended
LISE = "9144966"  # named in Eva's consent (the withdrawal test)
UNN = "9144977"  # works in the coordinating unit


def _ref(reference: str) -> dict[str, str]:
    return {"reference": reference}


def _role(code: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": ROLE, "code": code}]}]


def _actor(reference: str) -> dict[str, Any]:
    return {"role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                 "code": "IRCP"}]}, "reference": _ref(reference)}


def sharing_consent(consent_id: str, patient: str, provision: dict[str, Any], status: str = "active") -> dict:
    return {"resourceType": "Consent", "id": consent_id, "status": status,
            "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                                  "code": "patient-privacy"}]},
            "category": [{"coding": [{"system": CONSENT_CATEGORY, "code": "ip-samtykke-deling"}]}],
            "patient": _ref(f"Patient/{patient}"), "dateTime": "2026-01-10",
            "policy": [{"uri": "http://fhirip.no/fhir/policy/individuell-plan"}], "provision": provision}


def records() -> list[dict[str, Any]]:
    organisations = [
        {"resourceType": "Organization", "id": "kommune", "name": "Fjordvik kommune",
         "identifier": [{"system": ORGNR, "value": KOMMUNE}]},
        {"resourceType": "Organization", "id": "enhet", "name": "Fjordvik koordinerende enhet",
         "identifier": [{"system": ORGNR, "value": ENHET}]},
        {"resourceType": "Organization", "id": "dps", "name": "Fjordvik DPS",
         "identifier": [{"system": ORGNR, "value": DPS}]},
        {"resourceType": "Organization", "id": "annen-kommune", "name": "Annen kommune",
         "identifier": [{"system": ORGNR, "value": ANNEN_KOMMUNE}]},
    ]
    practitioners = [
        {"resourceType": "Practitioner", "id": name.lower(), "identifier": [{"system": HPR, "value": hpr}],
         "name": [{"family": name}]}
        for name, hpr in [("Ola", OLA), ("Ingrid", INGRID), ("Terje", TERJE), ("Bjorn", BJORN),
                          ("Per", PER), ("Siri", SIRI), ("Gammel", GAMMEL), ("Lise", LISE), ("Unn", UNN)]
    ] + [
        {"resourceType": "PractitionerRole", "id": "ingrid-kommune", "active": True,
         "practitioner": _ref("Practitioner/ingrid"), "organization": _ref("Organization/kommune")},
    ]
    people = [
        {"resourceType": "Patient", "id": "kari", "identifier": [{"system": FNR, "value": KARI}],
         "name": [{"family": "Nordmann", "given": ["Kari"]}], "birthDate": "2012-03-12",
         "managingOrganization": _ref("Organization/kommune")},
        {"resourceType": "Patient", "id": "jon", "identifier": [{"system": FNR, "value": JON}],
         "name": [{"family": "Berg", "given": ["Jon"]}], "birthDate": "2009-01-01"},
        {"resourceType": "Patient", "id": "eva", "identifier": [{"system": FNR, "value": EVA}],
         "name": [{"family": "Lien", "given": ["Eva"]}], "birthDate": "1960-04-04"},
        {"resourceType": "RelatedPerson", "id": "anne", "patient": _ref("Patient/kari"),
         "identifier": [{"system": FNR, "value": ANNE}], "relationship": _role("MTH")},
        {"resourceType": "RelatedPerson", "id": "onkel", "patient": _ref("Patient/kari"),
         "identifier": [{"system": FNR, "value": ONKEL}], "relationship": _role("FAMMEMB")},
        {"resourceType": "RelatedPerson", "id": "nabo", "patient": _ref("Patient/kari"),
         "identifier": [{"system": FNR, "value": NABO}], "relationship": _role("NBOR")},
        {"resourceType": "RelatedPerson", "id": "jon-far", "patient": _ref("Patient/jon"),
         "identifier": [{"system": FNR, "value": JON_FAR}], "relationship": _role("FTH")},
    ]
    team = {
        "resourceType": "CareTeam", "id": "team-kari", "status": "active", "subject": _ref("Patient/kari"),
        "managingOrganization": [_ref("Organization/enhet")],
        "participant": [
            {"role": [{"coding": [{"system": VOLVEN_9034, "code": "8"}]}], "member": _ref("Practitioner/ola"),
             "period": {"start": "2026-01-15"}},
            {"member": _ref("PractitionerRole/ingrid-kommune"), "period": {"start": "2026-01-15"}},
            {"member": _ref("Practitioner/terje")},
            {"member": _ref("RelatedPerson/anne")},
            {"member": _ref("Practitioner/per"), "period": {"start": "2025-01-01", "end": "2025-12-31"}},
        ]}
    kari_sharing = sharing_consent("kari-deling", "kari", {
        "type": "permit", "period": {"start": "2026-01-10", "end": "2027-01-10"},
        "actor": [_actor("CareTeam/team-kari"), _actor("Organization/dps"), _actor("RelatedPerson/onkel")],
        "purpose": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "TREAT"},
                    {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "COC"}],
        "data": [{"meaning": "related", "reference": _ref("CarePlan/plan-kari")}],
        "provision": [
            {"type": "deny", "actor": [_actor("Practitioner/terje")]},
            {"type": "deny", "actor": [_actor("Organization/dps")],
             "class": [{"system": RESOURCE_TYPES, "code": "Goal"}]},
        ]})
    expired = sharing_consent("kari-gammel", "kari", {
        "type": "permit", "period": {"start": "2024-01-01", "end": "2025-12-31"},
        "actor": [_actor("Practitioner/gammel")]})
    eva_sharing = sharing_consent("eva-deling", "eva", {
        "type": "permit", "period": {"start": "2026-01-01"}, "actor": [_actor("Practitioner/lise")],
        "action": [{"coding": [{"system": ACTION, "code": "access"}]}]})
    clinical = [
        {"resourceType": "Goal", "id": "goal-kari", "lifecycleStatus": "active", "subject": _ref("Patient/kari"),
         "description": {"text": "Gå på skolen hver dag"}, "expressedBy": _ref("Patient/kari")},
        {"resourceType": "Goal", "id": "goal-eva", "lifecycleStatus": "active", "subject": _ref("Patient/eva"),
         "description": {"text": "Egen bolig"}},
        {"resourceType": "CarePlan", "id": "plan-kari", "status": "active", "intent": "plan",
         "subject": _ref("Patient/kari"), "careTeam": [_ref("CareTeam/team-kari")],
         "description": "Plan med sensitive detaljer",
         "note": [{"text": "Notat om hjemmesituasjonen"}],
         "period": {"start": "2026-01-15"},
         # A data-entry slip: the plan also lists Eva's goal. It must never leak through includes.
         "goal": [_ref("Goal/goal-kari"), _ref("Goal/goal-eva")],
         "activity": [{"detail": {"status": "in-progress", "description": "Assistent i skoletiden",
                                  "performer": [_ref("Organization/kommune")],
                                  "scheduledPeriod": {"start": "2026-02-01"}}}]},
        {"resourceType": "CarePlan", "id": "plan-eva", "status": "active", "intent": "plan",
         "subject": _ref("Patient/eva"), "goal": [_ref("Goal/goal-eva")]},
        {"resourceType": "CarePlan", "id": "plan-jon", "status": "active", "intent": "plan",
         "subject": _ref("Patient/jon")},
        {"resourceType": "Observation", "id": "obs-kari", "status": "final", "code": {"text": "Søvn"},
         "subject": _ref("Patient/kari")},
        {"resourceType": "EpisodeOfCare", "id": "eoc-kari", "status": "active", "patient": _ref("Patient/kari"),
         "managingOrganization": _ref("Organization/enhet")},
    ]
    return organisations + practitioners + people + [team, kari_sharing, expired, eva_sharing] + clinical


def audit_records() -> list[dict[str, Any]]:
    """Access-log entries as the server records them: one about Kari, one about Eva."""
    someone = Actor.from_claims(practitioner_claims(OLA, KOMMUNE))
    events = []
    for event_id, patient in [("audit-kari", "kari"), ("audit-eva", "eva")]:
        event = audit_event(someone, interaction="read", outcome="0", resource_refs=[f"CarePlan/plan-{patient}"],
                            patient_refs=[f"Patient/{patient}"], request_url=f"/CarePlan/plan-{patient}",
                            method="GET", status=200, break_the_glass=False,
                            recorded=NOW)
        events.append({**event, "id": event_id})
    return events


# -- token claims of the actors ------------------------------------------------------------

PERSON_SCOPES = "openid patient/*.cruds"
PRACTITIONER_SCOPES = "openid user/*.cruds"


def person_claims(fnr: str, scope: str = PERSON_SCOPES) -> dict[str, Any]:
    return {"iss": "https://helseid.test", "sub": f"person-{fnr}", "client_id": "helsenorge",
            "helseid://claims/identity/pid": fnr, "scope": scope}


def practitioner_claims(hpr: str, orgnr: str, scope: str = PRACTITIONER_SCOPES, *, purpose: str = "TREAT",
                        reason: str | None = None, role: str | None = None,
                        issued: datetime = NOW) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": "https://helseid.test", "sub": f"hpr-{hpr}", "client_id": "ehr",
        "helseid://claims/hpr/hpr_number": hpr, "helseid://claims/client/claims/orgnr_parent": orgnr,
        "scope": scope, "purpose_of_use": purpose, "iat": int(issued.timestamp())}
    if reason is not None:
        claims["btg_reason"] = reason
    if role is not None:
        claims["role"] = role
    return claims


def system_claims(scope: str) -> dict[str, Any]:
    return {"iss": "https://helseid.test", "client_id": "migration-job", "scope": scope}


def issued_at(claims: dict[str, Any]) -> datetime | None:
    return datetime.fromtimestamp(claims["iat"], UTC) if "iat" in claims else None


STALE = NOW - timedelta(hours=2)
