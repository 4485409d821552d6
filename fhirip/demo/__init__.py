"""A small, synthetic individual-plan data set for `make serve` and the README examples.

Everyone in it is invented. Personal numbers are synthetic (month + 80, the
scheme used for synthetic national identity numbers) with valid check digits,
so they can never belong to a real person.
"""

from __future__ import annotations

from typing import Any

from fhirip.canonical import CODE_SYSTEM, STRUCTURE_DEFINITION

FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
HPR = "urn:oid:2.16.578.1.12.4.1.4.4"
ORGNR = "urn:oid:2.16.578.1.12.4.1.4.101"
VOLVEN_9034 = "urn:oid:2.16.578.1.12.4.1.1.9034"


def _mod11(digits: str, weights: tuple[int, ...]) -> int | None:
    remainder = sum(int(d) * w for d, w in zip(digits, weights)) % 11
    check = (11 - remainder) % 11
    return None if check == 10 else check


def synthetic_fnr(day: int, month: int, year2: int, individual: int) -> str:
    """A synthetic fødselsnummer (month + 80) with valid check digits."""
    for serial in range(individual, individual + 50):
        base = f"{day:02d}{month + 80:02d}{year2:02d}{serial:03d}"
        k1 = _mod11(base, (3, 7, 6, 1, 8, 9, 4, 5, 2))
        if k1 is None:
            continue
        k2 = _mod11(base + str(k1), (5, 4, 3, 2, 7, 6, 5, 4, 3, 2))
        if k2 is not None:
            return f"{base}{k1}{k2}"
    raise ValueError("no valid serial in range")


def organisation_number(prefix: str) -> str:
    """A 9-digit organisation number with a valid mod-11 check digit."""
    for tail in range(100):
        base = f"{prefix}{tail:02d}"[:8]
        check = _mod11(base, (3, 2, 7, 6, 5, 4, 3, 2))
        if check is not None:
            return base + str(check)
    raise ValueError("no valid organisation number")


KARI_FNR = synthetic_fnr(12, 3, 8, 495)
ORG_KOMMUNE = organisation_number("964338")


def _put(resource: dict[str, Any]) -> dict[str, Any]:
    return {"fullUrl": f"{resource['resourceType']}/{resource['id']}", "resource": resource,
            "request": {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}}


def demo_bundle() -> dict[str, Any]:
    """The demo data as one transaction Bundle of client-id PUTs (loading it twice changes nothing new)."""
    ip_category = {"coding": [{"system": f"{CODE_SYSTEM}/ip-careplan-category", "code": "individuell-plan",
                               "display": "Individuell plan"}]}
    resources: list[dict[str, Any]] = [
        {"resourceType": "Organization", "id": "demo-kommune",
         "identifier": [{"system": ORGNR, "value": ORG_KOMMUNE}],
         "name": "Fjordvik kommune, koordinerende enhet", "active": True},
        {"resourceType": "Practitioner", "id": "demo-ola",
         "identifier": [{"system": HPR, "value": "9144889"}],
         "name": [{"family": "Hansen", "given": ["Ola"]}],
         "telecom": [{"system": "phone", "value": "+47 55 00 00 01", "use": "work"}]},
        {"resourceType": "Practitioner", "id": "demo-ingrid",
         "identifier": [{"system": HPR, "value": "9144900"}],
         "name": [{"family": "Berg", "given": ["Ingrid"]}]},
        {"resourceType": "Patient", "id": "demo-kari",
         "identifier": [{"system": FNR, "value": KARI_FNR}],
         "name": [{"family": "Nordmann", "given": ["Kari"]}], "gender": "female",
         "birthDate": "2008-03-12",
         "address": [{"line": ["Fjordveien 1"], "postalCode": "5000", "city": "Fjordvik"}]},
        {"resourceType": "RelatedPerson", "id": "demo-mor", "patient": {"reference": "Patient/demo-kari"},
         "relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                                       "code": "MTH", "display": "mother"}]}],
         "name": [{"family": "Nordmann", "given": ["Anne"]}]},
        {"resourceType": "Goal", "id": "demo-goal-school", "lifecycleStatus": "active",
         "description": {"text": "Jeg vil gå på skolen hver dag og ha en venn å være sammen med i friminuttene."},
         "subject": {"reference": "Patient/demo-kari"},
         "expressedBy": {"reference": "Patient/demo-kari"},
         "extension": [{"url": f"{STRUCTURE_DEFINITION}/ip-livsomrade", "valueCodeableConcept": {
             "coding": [{"system": f"{CODE_SYSTEM}/ip-livsomrade", "code": "skole-utdanning"}]}}]},
        {"resourceType": "Goal", "id": "demo-goal-home", "lifecycleStatus": "active",
         "description": {"text": "Klare morgenrutinene hjemme selv."},
         "subject": {"reference": "Patient/demo-kari"}},
        {"resourceType": "CareTeam", "id": "demo-team", "status": "active",
         "subject": {"reference": "Patient/demo-kari"}, "name": "Ansvarsgruppe for Kari",
         "participant": [
             {"role": [{"coding": [{"system": VOLVEN_9034, "code": "8", "display": "Koordinator Individuell plan"}]}],
              "member": {"reference": "Practitioner/demo-ola"}, "period": {"start": "2026-01-15"}},
             {"member": {"reference": "Practitioner/demo-ingrid"}},
             {"member": {"reference": "RelatedPerson/demo-mor"}},
             {"member": {"reference": "Organization/demo-kommune"}}],
         "managingOrganization": [{"reference": "Organization/demo-kommune"}]},
        {"resourceType": "Consent", "id": "demo-consent-plan", "status": "active",
         "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                               "code": "treatment"}]},
         "category": [{"coding": [{"system": f"{CODE_SYSTEM}/ip-consent-category", "code": "ip-samtykke-plan"}]}],
         "patient": {"reference": "Patient/demo-kari"}, "dateTime": "2026-01-10",
         "performer": [{"reference": "RelatedPerson/demo-mor"}],
         "policyRule": {"text": "Pasient- og brukerrettighetsloven § 2-5"}},
        {"resourceType": "Consent", "id": "demo-consent-sharing", "status": "active",
         "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                               "code": "patient-privacy"}]},
         "policyRule": {"text": "Pasient- og brukerrettighetsloven § 2-5, helsepersonelloven § 22"},
         "category": [{"coding": [{"system": f"{CODE_SYSTEM}/ip-consent-category", "code": "ip-samtykke-deling"}]}],
         "patient": {"reference": "Patient/demo-kari"}, "dateTime": "2026-01-10",
         "provision": {"type": "permit", "period": {"start": "2026-01-10", "end": "2027-01-10"},
                       "actor": [{"role": {"coding": [{
                           "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                           "code": "PRCP"}]}, "reference": {"reference": "CareTeam/demo-team"}}]}},
        {"resourceType": "CarePlan", "id": "demo-plan", "status": "active", "intent": "plan",
         "category": [ip_category], "title": "Individuell plan for Kari Nordmann",
         "subject": {"reference": "Patient/demo-kari"},
         "period": {"start": "2026-01-15", "end": "2027-01-15"},
         "careTeam": [{"reference": "CareTeam/demo-team"}],
         "goal": [{"reference": "Goal/demo-goal-school"}, {"reference": "Goal/demo-goal-home"}],
         "author": {"reference": "Practitioner/demo-ola"},
         "extension": [
             {"url": f"{STRUCTURE_DEFINITION}/ip-next-evaluation", "valueDate": "2026-06-15"},
             {"url": f"{STRUCTURE_DEFINITION}/ip-legal-basis", "valueCodeableConcept": {"coding": [
                 {"system": f"{CODE_SYSTEM}/ip-legal-basis", "code": "samtykke", "display": "Samtykke"}]}}],
         "activity": [{"detail": {
             "status": "in-progress", "description": "Assistent i skoletiden, 10 timer i uken",
             "performer": [{"reference": "Organization/demo-kommune"}],
             "goal": [{"reference": "Goal/demo-goal-school"}],
             "scheduledPeriod": {"start": "2026-02-01"},
             "extension": [
                 {"url": f"{STRUCTURE_DEFINITION}/ip-measure-status", "valueCode": "igangsatt"},
                 {"url": f"{STRUCTURE_DEFINITION}/ip-next-evaluation", "valueDate": "2026-05-01"}]}}]},
    ]
    return {"resourceType": "Bundle", "type": "transaction", "entry": [_put(r) for r in resources]}
