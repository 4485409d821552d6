"""The world the client-library tests work in, written over HTTP by a system client.

A person with a synthetic fødselsnummer and an active individual plan (goals, a care team whose
coordinator is a practitioner with an HPR number), a plan consent, and a sharing consent that
lets the care team read and correct the record. A second practitioner is named nowhere. Dates
are relative to today, so the consents stay in force whenever the suite runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from consent_world import FNR, HPR, sharing_consent
from plan_data import care_plan, care_team, coordinator, goal, patient, plan_consent, practitioner

from fhirip.auth.devkeys import person_claims
from fhirip.demo import synthetic_fnr
from fhirip.testing.served import ServedFhirip

ACTION = "http://terminology.hl7.org/CodeSystem/consentaction"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
GOALS = 5  # three pages at _count=2
COORDINATOR_HPR, OUTSIDER_HPR = "9150011", "9150022"


@dataclass(frozen=True)
class ClientWorld:
    fnr: str
    patient_id: str
    practitioner_id: str
    team_id: str
    goal_ids: tuple[str, ...]
    plan_id: str
    practitioner_token: str
    system_token: str
    outsider_token: str  # a practitioner no consent names

    @property
    def patient_identifier(self) -> str:
        return f"{FNR}|{self.fnr}"


def build_world(server: ServedFhirip) -> ClientWorld:
    """The world in one transaction of PUTs under ids the system client chooses (as the demo data)."""
    today = date.today()
    start, end = (today - timedelta(days=60)).isoformat(), (today + timedelta(days=365)).isoformat()
    kari, team = "klient-kari", "klient-team"
    goal_ids = tuple(f"klient-mal-{n}" for n in range(1, GOALS + 1))
    resources = [
        {**patient(synthetic_fnr(7, 4, 85, 100)), "id": kari},
        {**practitioner("Koordinatorsen"), "id": "klient-koordinator",
         "identifier": [{"system": HPR, "value": COORDINATOR_HPR}]},
        {**practitioner("Utenforsen"), "id": "klient-utenfor",
         "identifier": [{"system": HPR, "value": OUTSIDER_HPR}]},
        {**care_team(kari, coordinator("Practitioner/klient-koordinator", start)), "id": team},
        *({**goal(kari, f"Mål nummer {n}"), "id": goal_id} for n, goal_id in enumerate(goal_ids, 1)),
        {**plan_consent(kari, start=start, end=end), "id": "klient-plansamtykke"},
        sharing_consent("klient-deling", kari, {
            "type": "permit", "period": {"start": start, "end": end},
            "actor": [{"role": {"coding": [{"system": PARTICIPATION, "code": "PRCP"}]},
                       "reference": {"reference": f"CareTeam/{team}"}}],
            "action": [{"coding": [{"system": ACTION, "code": code}]} for code in ("access", "correct")]}),
        {**care_plan(kari, status="active", team_id=team, goal_ids=goal_ids[:2], start=start,
                     next_evaluation=end), "id": "klient-plan"},
    ]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
        for r in resources]}
    system_token = server.token(**person_claims())
    with server.client(system_token) as fhir:
        response = fhir.post("/", json=bundle)
    assert response.status_code == 200, response.text
    return ClientWorld(
        resources[0]["identifier"][0]["value"], kari, "klient-koordinator", team, goal_ids, "klient-plan",
        practitioner_token=server.token(**person_claims(practitioner=COORDINATOR_HPR)),
        system_token=system_token, outsider_token=server.token(**person_claims(practitioner=OUTSIDER_HPR)))
