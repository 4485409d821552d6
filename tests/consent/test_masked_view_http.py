"""The administrative view holds on every path, both stores: a coordinator without a sharing
consent sees Per's plan masked through a conditional create, a conditional patch or delete
cannot use masked content as an oracle, `$render` shows the masked plan, and a consented
practitioner's include of goals works although another plan is seen masked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_access_index_http import client, demo  # noqa: F401  (fixtures)

from fhirip.interactions.request import FhirRequest
from fhirip.interactions.router import handle
from fhirip.testing.live import SYSTEM_CLAIMS, Fhir, LiveServer

COORDINATOR = {"sub": "ola", "helseid://claims/hpr/hpr_number": "9144889", "scope": "user/*.cruds"}
SECRET = "Hemmelig beskrivelse av hjemmesituasjonen"
PER = [
    {"resourceType": "Patient", "id": "per", "name": [{"family": "Olsen", "given": ["Per"]}]},
    {"resourceType": "Goal", "id": "per-goal", "lifecycleStatus": "active", "description": {"text": "Mål"},
     "subject": {"reference": "Patient/per"}},
    {"resourceType": "CareTeam", "id": "per-team", "status": "active", "subject": {"reference": "Patient/per"},
     "participant": [{"role": [{"coding": [{"system": "urn:oid:2.16.578.1.12.4.1.1.9034", "code": "8"}]}],
                      "member": {"reference": "Practitioner/demo-ola"}}]},
    {"resourceType": "CarePlan", "id": "per-plan", "status": "active", "intent": "plan",
     "subject": {"reference": "Patient/per"}, "description": SECRET, "goal": [{"reference": "Goal/per-goal"}],
     "activity": [{"detail": {"status": "in-progress", "description": SECRET,
                              "code": {"coding": [{"system": "http://snomed.info/sct", "code": "710081004"}]}}}]},
]


@pytest.fixture
def ola(demo: LiveServer) -> Iterator[Fhir]:
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in PER]}
    assert handle(demo.services, FhirRequest(method="POST", resource=bundle), [], internal=True).status == 200
    with client(demo, COORDINATOR) as c:
        yield c


def test_the_masked_plan_stays_masked_through_a_conditional_create(ola: Fhir) -> None:
    read = ola.get("/CarePlan/per-plan").json()
    assert "description" not in read
    created = ola.post("/CarePlan", json={"resourceType": "CarePlan", "status": "draft", "intent": "plan",
                                          "subject": {"reference": "Patient/per"}},
                       headers={"If-None-Exist": "_id=per-plan"})
    assert created.status_code == 200
    assert SECRET not in created.text and created.json() == read


def test_masked_content_is_no_oracle_for_conditional_patch_and_delete(ola: Fhir) -> None:
    patch = b'[{"op":"replace","path":"/status","value":"on-hold"}]'
    answers = []
    for code in ("710081004", "1"):  # the plan's measure code, and one no plan has
        answers.append(ola.request("PATCH", "/CarePlan", params={"activity-code": code}, content=patch,
                                   headers={"Content-Type": "application/json-patch+json"}))
        answers.append(ola.delete("/CarePlan", params={"activity-code": code}))
    assert {a.status_code for a in answers} == {403}
    assert len({a.json()["issue"][0]["diagnostics"] for a in answers}) == 1
    assert ola.get("/CarePlan/per-plan").json()["status"] == "active"


def test_render_shows_the_masked_plan(ola: Fhir) -> None:
    rendered = ola.get("/CarePlan/per-plan/$render")
    assert rendered.status_code == 200
    assert SECRET not in rendered.text


def test_a_consented_practitioners_include_works_beside_a_masked_plan(ola: Fhir) -> None:
    found = ola.get("/CarePlan", params={"subject": "Patient/demo-kari", "_include": "CarePlan:goal"})
    assert found.status_code == 200, found.text
    assert {e["resource"]["id"] for e in found.json()["entry"]} >= {"demo-plan", "demo-goal-school"}
    masked = ola.get("/CarePlan", params={"subject": "Patient/per", "_include": "CarePlan:goal"}).json()
    assert [e["resource"]["id"] for e in masked["entry"]] == ["per-plan"]  # Per's goal is not in his view
    refused = ola.get("/CarePlan", params={"subject": "Patient/per", "_include": "CarePlan:based-on"})
    assert refused.status_code == 403  # a plan the view reads, through masked content


def test_handover_answers_a_hidden_team_or_episode_as_an_unknown_one(demo: LiveServer) -> None:
    nils = {"sub": "nils", "helseid://claims/hpr/hpr_number": "9200001", "scope": "user/*.cruds"}
    already = {"resourceType": "Parameters", "parameter": [
        {"name": "coordinator", "valueReference": {"reference": "Practitioner/demo-ola"}},
        {"name": "note", "valueString": "Overlevering"}, {"name": "date", "valueDate": "2026-02-01"}]}
    with client(demo, nils) as outsider:
        answers = [outsider.post(f"/{path}/$handover", json=already)
                   for path in ("CareTeam/demo-team", "CareTeam/no-such-team")]
    assert answers[0].status_code == answers[1].status_code == 404
    assert answers[0].json()["issue"][0]["diagnostics"].replace("demo-team", "X") == \
        answers[1].json()["issue"][0]["diagnostics"].replace("no-such-team", "X")


def test_a_referrer_the_caller_may_not_see_does_not_stop_a_delete(demo: LiveServer, ola: Fhir) -> None:
    extra = [{"resourceType": "Goal", "id": "kari-extra", "lifecycleStatus": "proposed",
              "description": {"text": "Ekstra"}, "subject": {"reference": "Patient/demo-kari"}},
             {"resourceType": "Observation", "id": "per-obs", "status": "final", "code": {"text": "Notat"},
              "subject": {"reference": "Patient/per"}, "focus": [{"reference": "Goal/kari-extra"}]}]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in extra]}
    assert handle(demo.services, FhirRequest(method="POST", resource=bundle), [], internal=True).status == 200
    assert ola.get("/Observation/per-obs").status_code == 404  # Per's record is in his administrative view
    assert ola.delete("/Goal/kari-extra").status_code == ola.delete("/Goal/kari-never-was").status_code
    with client(demo, SYSTEM_CLAIMS) as system:
        assert system.get("/Goal/kari-extra").status_code == 410  # deleted


def test_activation_answers_a_hidden_care_team_as_a_missing_one(demo: LiveServer, ola: Fhir) -> None:
    with client(demo, SYSTEM_CLAIMS) as system:
        other_team = {"resourceType": "CareTeam", "id": "other-team", "status": "active",
                      "subject": {"reference": "Patient/other"}, "participant": [
                          {"role": [{"coding": [{"system": "urn:oid:2.16.578.1.12.4.1.1.9034", "code": "8"}]}],
                           "member": {"reference": "Practitioner/nils"}}]}
        assert system.put("/CareTeam/other-team", json=other_team).status_code == 201
        plan = system.get("/CarePlan/demo-plan").json()
        plan.pop("meta", None)
        assert system.put("/CarePlan/demo-plan", json={**plan, "status": "draft"}).status_code == 200
    assert ola.get("/CareTeam/other-team").status_code == 404
    answers = [ola.put("/CarePlan/demo-plan", json={**plan, "careTeam": [{"reference": f"CareTeam/{team}"}]})
               for team in ("other-team", "no-such-team")]
    assert answers[0].status_code == answers[1].status_code == 422
    assert answers[0].text.replace("other-team", "X") == answers[1].text.replace("no-such-team", "X")
