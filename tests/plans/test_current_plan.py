"""The current plan (R11): what a hospital or GP system gets for a person known only by fødselsnummer."""

from __future__ import annotations

from typing import Any

import orjson
from plan_data import FNR, PlanWorld, created_id, goal, legacy_patient, measure, practitioner
from sqlalchemy import and_, exists, or_, select

from fhirip.context import Context
from fhirip.interactions.request import FhirRequest
from fhirip.operations.current_plan import current_by_identifier
from fhirip.store.schema import search_reference


def _world_with_measures(fhir) -> tuple[PlanWorld, str, str]:
    world = PlanWorld(fhir)
    helper = created_id(fhir.create(practitioner("Fysioterapeut", "+47 99 88 77 66")))
    done_goal = created_id(fhir.create(goal(world.patient_id, "Lære å sykle", status="completed")))
    plan = world.active_plan_id(goal_ids=(world.goal_id, done_goal), activities=(
        measure(f"Practitioner/{helper}", world.goal_id, description="Fysioterapi to ganger i uken"),
        measure(f"Practitioner/{world.coordinator_id}", done_goal, status="completed",
                measure_status="avsluttet", description="Sykkelkurs")))
    return world, plan, helper


def _by_type(bundle: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for entry in bundle.get("entry", []):
        found.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    return found


def test_current_plan_by_fodselsnummer_returns_the_plan_with_open_measures_only(fhir):
    world, plan, helper = _world_with_measures(fhir)
    response = fhir.get("/CarePlan/$current", params={"patient-identifier": f"{FNR}|{world.fnr}"})
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["type"] == "searchset" and bundle["total"] == 1
    match = [e for e in bundle["entry"] if e["search"]["mode"] == "match"]
    assert [m["resource"]["id"] for m in match] == [plan]
    shown = match[0]["resource"]
    assert [a["detail"]["description"] for a in shown["activity"]] == ["Fysioterapi to ganger i uken"]
    assert any(t["code"] == "SUBSETTED" for t in shown["meta"]["tag"])
    assert shown["activity"][0]["detail"]["performer"][0]["reference"] == f"Practitioner/{helper}"


def test_current_plan_carries_goals_team_coordinator_contacts_and_consent(fhir):
    world, _plan_id, helper = _world_with_measures(fhir)
    bundle = fhir.get("/CarePlan/$current", params={"patient-identifier": f"{FNR}|{world.fnr}"}).json()
    found = _by_type(bundle)
    assert [g["id"] for g in found["Goal"]] == [world.goal_id]  # the completed goal is left out
    assert [t["id"] for t in found["CareTeam"]] == [world.team_id]
    phones = {p["id"]: p["telecom"][0]["value"] for p in found["Practitioner"]}
    assert phones == {world.coordinator_id: "+47 55 11 22 33", helper: "+47 99 88 77 66"}
    assert [c["id"] for c in found["Consent"]] == [world.consent_id]
    assert [p["id"] for p in found["Patient"]] == [world.patient_id]


def test_current_plan_is_found_from_another_patient_record_with_the_same_fnr(fhir, live_server):
    world, plan, _ = _world_with_measures(fhir)
    hospital_record = legacy_patient(fhir, live_server, world.fnr, "Sykehusjournal")
    response = fhir.get(f"/Patient/{hospital_record}/$current-plan")
    assert response.status_code == 200, response.text
    match = [e["resource"]["id"] for e in response.json()["entry"] if e["search"]["mode"] == "match"]
    assert match == [plan]


def test_current_plan_of_a_person_without_a_plan_is_empty_but_shows_a_coordinator_episode(fhir):
    world = PlanWorld(fhir)
    episode = created_id(fhir.create({
        "resourceType": "EpisodeOfCare", "status": "active",
        "type": [{"coding": [{"system": "urn:oid:2.16.578.1.12.4.1.1.9034", "code": "8"}]}],
        "patient": {"reference": f"Patient/{world.patient_id}"}, "period": {"start": "2026-01-01"},
        "careManager": {"reference": f"Practitioner/{world.coordinator_id}"}}))
    bundle = fhir.get(f"/Patient/{world.patient_id}/$current-plan").json()
    assert bundle["total"] == 0
    found = _by_type(bundle)
    assert [e["id"] for e in found["EpisodeOfCare"]] == [episode]
    assert [p["id"] for p in found["Practitioner"]] == [world.coordinator_id]


def test_current_plan_for_an_unknown_fnr_is_an_empty_searchset(fhir):
    bundle = fhir.get("/CarePlan/$current", params={"patient-identifier": f"{FNR}|01010112345"}).json()
    assert bundle["total"] == 0 and "entry" not in bundle


def test_current_plan_without_a_proper_identifier_is_a_bad_request(fhir):
    for params in ({}, {"patient-identifier": "01010112345"}):
        response = fhir.get("/CarePlan/$current", params=params)
        assert response.status_code == 400
        assert "patient-identifier" in response.json()["issue"][0]["diagnostics"]


def test_current_plan_of_an_unknown_patient_is_not_found(fhir):
    assert fhir.get("/Patient/nobody/$current-plan").status_code == 404


# -- consent filtering: the same handler with a policy in the context -----------------------

def _compartment_policy(patient_id: str) -> Any:
    """Permit the patient's own record and what refers to it, plus practitioners (a consented caller)."""
    def policy(alias: Any, types: Any = None) -> Any:
        link = search_reference.alias()
        refers = exists(select(link.c.rid).where(
            link.c.rid == alias.c.rid, link.c.target_type == "Patient", link.c.target_id == patient_id))
        return or_(and_(alias.c.res_type == "Patient", alias.c.res_id == patient_id), refers,
                   alias.c.res_type == "Practitioner")
    return policy


def _no_patient_data(alias: Any) -> Any:
    """Permit only the directory (an unconsented caller)."""
    return alias.c.res_type.in_(["Practitioner", "Organization"])


def _call(live_server, fnr: str, policy: Any) -> dict:
    services = live_server.services

    def work(tx: Any) -> dict:
        ctx = Context(services, tx, "http://fhirip.test", policy=policy)
        req = FhirRequest("GET", res_type="CarePlan", operation="current",
                          params=[("patient-identifier", f"{FNR}|{fnr}")], base_url="http://fhirip.test")
        return orjson.loads(orjson.dumps(current_by_identifier(ctx, req).resource))

    return services.store.run(work, write=False)


def test_a_consented_caller_gets_the_plan_and_an_unconsented_one_nothing(fhir, live_server):
    world, plan, _ = _world_with_measures(fhir)
    other = PlanWorld(fhir)
    other.active_plan_id()
    consented = _call(live_server, world.fnr, _compartment_policy(world.patient_id))
    assert consented["total"] == 1
    assert [e["resource"]["id"] for e in consented["entry"] if e["search"]["mode"] == "match"] == [plan]
    unconsented = _call(live_server, world.fnr, _no_patient_data)
    assert unconsented["total"] == 0 and "entry" not in unconsented
    # Consented for the other person only: nothing of this one leaks through shared practitioners.
    wrong_person = _call(live_server, world.fnr, _compartment_policy(other.patient_id))
    assert wrong_person["total"] == 0 and "entry" not in wrong_person


def test_current_plan_follows_a_measures_practitioner_role_to_its_practitioner_and_organisation(fhir):
    world = PlanWorld(fhir)
    unit = created_id(fhir.create({"resourceType": "Organization", "name": "Fjordvik helsestasjon"}))
    nurse = created_id(fhir.create(practitioner("Helsesykepleier", "+47 55 44 33 22")))
    role = created_id(fhir.create({"resourceType": "PractitionerRole", "practitioner": {
        "reference": f"Practitioner/{nurse}"}, "organization": {"reference": f"Organization/{unit}"}}))
    world.active_plan_id(activities=(measure(f"PractitionerRole/{role}", world.goal_id),))
    found = _by_type(fhir.get("/CarePlan/$current", params={"patient-identifier": f"{FNR}|{world.fnr}"}).json())
    assert [r["id"] for r in found["PractitionerRole"]] == [role]
    assert {p["id"] for p in found["Practitioner"]} == {world.coordinator_id, nurse}
    assert [o["id"] for o in found["Organization"]] == [unit]


def test_current_plan_leaves_out_the_members_of_a_care_team_the_caller_may_not_see(fhir, live_server):
    world, _plan_id, helper = _world_with_measures(fhir)
    compartment = _compartment_policy(world.patient_id)

    def without_care_teams(alias: Any) -> Any:
        return and_(alias.c.res_type != "CareTeam", compartment(alias))

    found = _by_type(_call(live_server, world.fnr, without_care_teams))
    assert "CareTeam" not in found
    # The coordinator is named only by the hidden team; the helper by an open measure of the plan.
    assert [p["id"] for p in found["Practitioner"]] == [helper]
    seen = _by_type(_call(live_server, world.fnr, compartment))
    assert {p["id"] for p in seen["Practitioner"]} == {world.coordinator_id, helper}
