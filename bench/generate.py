"""Deterministic synthetic individual-plan data at the volumes the reports describe.

Tiers (plans): small municipality 20, mid-size 600, large 5 000, national 100 000.
Per plan: 4-12 care-team members, 3-10 goals, 5-25 measures, 2 consents and 5-20
versions of the plan; one person in ten has a coordinator without a plan
(EpisodeOfCare). Names are Norwegian; fødselsnummer are synthetic (month + 80)
with valid check digits; HPR and organisation numbers are well-formed. The same
seed always gives the same data.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fhirip.canonical import CODE_SYSTEM, STRUCTURE_DEFINITION
from fhirip.demo import FNR, HPR, ORGNR, VOLVEN_9034, organisation_number, synthetic_fnr

TIERS = {"small": 20, "medium": 600, "large": 5000, "national": 100_000}
GIVEN = ["Kari", "Ola", "Ingrid", "Lars", "Nora", "Emma", "Jakob", "Sofie", "Henrik", "Maja",
         "Olav", "Astrid", "Sindre", "Ida", "Magnus", "Thea", "Eirik", "Live", "Tobias", "Frida"]
FAMILY = ["Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen", "Kristiansen",
          "Jensen", "Karlsen", "Johnsen", "Pettersen", "Eriksen", "Berg", "Haugen", "Hagen",
          "Johannessen", "Andreassen", "Jacobsen", "Dahl"]
LIVSOMRADER = ["bolig-og-dagligliv", "skole-utdanning", "arbeid-og-aktivitet", "helse", "sosialt-fellesskap",
               "okonomi"]
MEASURE_STATUS = [("onsket", "not-started"), ("planlagt", "scheduled"), ("sokt", "scheduled"),
                  ("igangsatt", "in-progress"), ("avsluttet", "completed")]
MEASURES = ["Praktisk bistand i hjemmet", "Støttekontakt", "Avlastning", "Fysioterapi",
            "Ergoterapi, hjelpemidler", "Logoped", "Assistent i skoletiden", "Arbeidstrening (NAV)",
            "Psykisk helsetjeneste, samtaler", "Brukerstyrt personlig assistanse"]
GOALS = ["Bo i egen leilighet", "Fullføre videregående skole", "Komme i arbeid",
         "Delta i en fritidsaktivitet hver uke", "Klare morgenrutinene selv",
         "Ha kontakt med venner", "Bedre søvn", "Mestre egen økonomi"]
MUNICIPALITIES = 50  # practitioners and organisations are shared within a municipality
PRACTITIONERS_PER_MUNICIPALITY = 40


@dataclass(frozen=True)
class Plan:
    """One person's plan: its resources in write order, and the later versions of the CarePlan."""

    resources: list[dict[str, Any]]
    plan_versions: list[dict[str, Any]]
    patient_id: str
    fnr: str


def _ref(kind: str, rid: str) -> dict[str, str]:
    return {"reference": f"{kind}/{rid}"}


def directory(seed: int = 1) -> list[dict[str, Any]]:
    """Organisations and practitioners shared by all plans."""
    rng = random.Random(seed)
    out = []
    for m in range(MUNICIPALITIES):
        out.append({"resourceType": "Organization", "id": f"org-{m}", "active": True,
                    "identifier": [{"system": ORGNR, "value": organisation_number(f"9{m:05d}7")}],
                    "name": f"{rng.choice(FAMILY)}vik kommune"})
        for p in range(PRACTITIONERS_PER_MUNICIPALITY):
            out.append({"resourceType": "Practitioner", "id": f"pr-{m}-{p}", "active": True,
                        "identifier": [{"system": HPR, "value": str(1_000_000 + m * 1000 + p)}],
                        "name": [{"family": rng.choice(FAMILY), "given": [rng.choice(GIVEN)]}],
                        "telecom": [{"system": "phone", "value": f"+47 9{m:02d} {p:02d} 000"}]})
    return out


def plan(index: int, seed: int = 1) -> Plan:
    rng = random.Random(seed * 1_000_003 + index)
    municipality = index % MUNICIPALITIES
    pid = f"pt-{index}"
    year = rng.randint(1940, 2015)
    fnr = synthetic_fnr(rng.randint(1, 28), rng.randint(1, 12), year % 100, index % 900)
    patient = {"resourceType": "Patient", "id": pid, "identifier": [{"system": FNR, "value": fnr}],
               "name": [{"family": rng.choice(FAMILY), "given": [rng.choice(GIVEN)]}],
               "gender": rng.choice(["female", "male"]), "birthDate": f"{year}-{rng.randint(1, 12):02d}-15",
               "managingOrganization": _ref("Organization", f"org-{municipality}")}
    relative = {"resourceType": "RelatedPerson", "id": f"rp-{index}", "patient": _ref("Patient", pid),
                "relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                                              "code": rng.choice(["MTH", "FTH", "SIB", "SPS"])}]}],
                "name": [{"family": patient["name"][0]["family"], "given": [rng.choice(GIVEN)]}]}
    practitioners = rng.sample(range(PRACTITIONERS_PER_MUNICIPALITY), rng.randint(3, 11))
    coordinator = practitioners[0]
    start = f"20{rng.randint(18, 25)}-{rng.randint(1, 12):02d}-01"
    team = {"resourceType": "CareTeam", "id": f"ct-{index}", "status": "active",
            "subject": _ref("Patient", pid), "managingOrganization": [_ref("Organization", f"org-{municipality}")],
            "participant": [{"role": [{"coding": [{"system": VOLVEN_9034, "code": "8"}]}],
                             "member": _ref("Practitioner", f"pr-{municipality}-{coordinator}"),
                             "period": {"start": start}}]
            + [{"member": _ref("Practitioner", f"pr-{municipality}-{p}")} for p in practitioners[1:]]
            + [{"member": _ref("RelatedPerson", f"rp-{index}")}]}
    goals = []
    for g in range(rng.randint(3, 10)):
        goals.append({"resourceType": "Goal", "id": f"goal-{index}-{g}", "lifecycleStatus": "active",
                      "description": {"text": rng.choice(GOALS)}, "subject": _ref("Patient", pid),
                      "extension": [{"url": f"{STRUCTURE_DEFINITION}/ip-livsomrade", "valueCodeableConcept": {
                          "coding": [{"system": f"{CODE_SYSTEM}/ip-livsomrade", "code": rng.choice(LIVSOMRADER)}]}}]})
    consents = [
        {"resourceType": "Consent", "id": f"cs-plan-{index}", "status": "active",
         "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "treatment"}]},
         "policyRule": {"text": "Pasient- og brukerrettighetsloven § 2-5"},
         "category": [{"coding": [{"system": f"{CODE_SYSTEM}/ip-consent-category", "code": "ip-samtykke-plan"}]}],
         "patient": _ref("Patient", pid), "dateTime": start},
        {"resourceType": "Consent", "id": f"cs-share-{index}", "status": "active",
         "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                               "code": "patient-privacy"}]},
         "policyRule": {"text": "Pasient- og brukerrettighetsloven § 2-5, helsepersonelloven § 22"},
         "category": [{"coding": [{"system": f"{CODE_SYSTEM}/ip-consent-category", "code": "ip-samtykke-deling"}]}],
         "patient": _ref("Patient", pid), "dateTime": start,
         "provision": {"type": "permit", "actor": [{"role": {"coding": [{
             "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PRCP"}]},
             "reference": _ref("CareTeam", f"ct-{index}")}]}},
    ]
    activities = []
    for _ in range(rng.randint(5, 25)):
        legacy, fhir_status = rng.choice(MEASURE_STATUS)
        due = f"20{rng.randint(24, 27)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        activities.append({"detail": {
            "status": fhir_status, "description": rng.choice(MEASURES),
            "performer": [_ref("Practitioner", f"pr-{municipality}-{rng.choice(practitioners)}")],
            "goal": [_ref("Goal", rng.choice(goals)["id"])],
            "extension": [{"url": f"{STRUCTURE_DEFINITION}/ip-measure-status", "valueCode": legacy},
                          {"url": f"{STRUCTURE_DEFINITION}/ip-next-evaluation", "valueDate": due}]}})
    careplan = {"resourceType": "CarePlan", "id": f"cp-{index}", "status": "active", "intent": "plan",
                "category": [{"coding": [{"system": f"{CODE_SYSTEM}/ip-careplan-category",
                                          "code": "individuell-plan"}]}],
                "title": "Individuell plan", "subject": _ref("Patient", pid),
                "period": {"start": start}, "careTeam": [_ref("CareTeam", f"ct-{index}")],
                "goal": [_ref("Goal", g["id"]) for g in goals],
                "author": _ref("Practitioner", f"pr-{municipality}-{coordinator}"),
                "extension": [{"url": f"{STRUCTURE_DEFINITION}/ip-next-evaluation",
                               "valueDate": f"20{rng.randint(24, 27)}-{rng.randint(1, 12):02d}-01"},
                              {"url": f"{STRUCTURE_DEFINITION}/ip-legal-basis", "valueCodeableConcept": {
                                  "coding": [{"system": f"{CODE_SYSTEM}/ip-legal-basis", "code": "samtykke"}]}}],
                "activity": activities[:3]}
    versions = []
    for v in range(rng.randint(4, 19)):
        later = dict(careplan)
        later["activity"] = activities[:min(len(activities), 3 + v)]
        versions.append(later)
    resources = [patient, relative, *goals, team, *consents, careplan]
    if index % 10 == 9:
        resources.append({"resourceType": "EpisodeOfCare", "id": f"eoc-{index}", "status": "active",
                          "patient": _ref("Patient", pid),
                          "careManager": _ref("Practitioner", f"pr-{municipality}-{coordinator}"),
                          "period": {"start": start}})
    return Plan(resources, versions, pid, fnr)


def plans(count: int, seed: int = 1) -> Iterator[Plan]:
    for index in range(count):
        yield plan(index, seed)


def transaction(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """A transaction Bundle that PUTs the resources with their ids (idempotent)."""
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
        for r in resources]}
