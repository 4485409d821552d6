"""A small individual-plan record set used by several search tests."""

FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
VOLVEN_9034 = "urn:oid:2.16.578.1.12.4.1.1.9034"
SD = "http://fhirip.no/fhir/StructureDefinition/"
LIVS = "http://fhirip.no/fhir/CodeSystem/ip-livsomrade"


def coordinator(member: str, start: str, end: str | None = None) -> dict:
    period = {"start": start, **({"end": end} if end else {})}
    return {"role": [{"coding": [{"system": VOLVEN_9034, "code": "8"}]}],
            "member": {"reference": member}, "period": period}


def individual_plan_records() -> list[dict]:
    return [
        {"resourceType": "Organization", "id": "bodo", "name": "Bodø kommune",
         "identifier": [{"system": "urn:oid:2.16.578.1.12.4.1.4.101", "value": "972418013"}]},
        {"resourceType": "Patient", "id": "p1", "managingOrganization": {"reference": "Organization/bodo"},
         "identifier": [{"system": FNR, "value": "13031353453"}], "name": [{"family": "Nordmann", "given": ["Ola"]}]},
        {"resourceType": "Patient", "id": "p2", "identifier": [{"system": FNR, "value": "01017012345"}],
         "name": [{"family": "Hansen", "given": ["Kari"]}]},
        {"resourceType": "Practitioner", "id": "dr1", "name": [{"family": "Lege", "given": ["Kari"]}]},
        {"resourceType": "Practitioner", "id": "old", "name": [{"family": "Tidligere"}]},
        {"resourceType": "CareTeam", "id": "t1", "status": "active", "subject": {"reference": "Patient/p1"},
         "participant": [coordinator("Practitioner/old", "2020-01-01", "2023-06-30"),
                         coordinator("Practitioner/dr1", "2023-07-01")]},
        {"resourceType": "Goal", "id": "g1", "lifecycleStatus": "active", "subject": {"reference": "Patient/p1"},
         "description": {"text": "Egen bolig"},
         "extension": [{"url": SD + "ip-livsomrade", "valueCodeableConcept": {"coding": [{"system": LIVS, "code": "bolig"}]}}]},
        {"resourceType": "Goal", "id": "g2", "lifecycleStatus": "active", "subject": {"reference": "Patient/p1"},
         "description": {"text": "Jobb"}},
        {"resourceType": "CarePlan", "id": "cp1", "status": "active", "intent": "plan",
         "subject": {"reference": "Patient/p1"}, "careTeam": [{"reference": "CareTeam/t1"}],
         "goal": [{"reference": "Goal/g1"}, {"reference": "Goal/g2"}], "period": {"start": "2023-07-01"},
         "extension": [{"url": SD + "ip-next-evaluation", "valueDate": "2025-03-01"},
                       {"url": SD + "ip-legal-basis", "valueCodeableConcept": {"coding": [{"code": "samtykke"}]}}],
         "activity": [{"detail": {"status": "in-progress", "description": "Støttekontakt",
                                  "extension": [{"url": SD + "ip-next-evaluation", "valueDate": "2024-11-15"},
                                                {"url": SD + "ip-measure-status", "valueCodeableConcept": {"coding": [{"code": "igangsatt"}]}},
                                                {"url": SD + "ip-livsomrade", "valueCodeableConcept": {"coding": [{"system": LIVS, "code": "bolig"}]}}]}}]},
        {"resourceType": "CarePlan", "id": "cp2", "status": "active", "intent": "plan",
         "subject": {"reference": "Patient/p2"}, "period": {"start": "2024-01-01"}},
        {"resourceType": "CarePlan", "id": "old-plan", "status": "completed", "intent": "plan",
         "subject": {"reference": "Patient/p1"}, "period": {"start": "2015", "end": "2019"}},
        {"resourceType": "Consent", "id": "c1", "status": "active", "scope": {"text": "x"},
         "category": [{"text": "x"}], "patient": {"reference": "Patient/p1"}},
        {"resourceType": "Provenance", "id": "prov1", "target": [{"reference": "CarePlan/cp1"}],
         "recorded": "2024-01-01T10:00:00Z", "agent": [{"who": {"reference": "Practitioner/dr1"}}]},
    ]
