"""Worklists (R7, R8, R3, R17): overdue measures, revisions due, stale plans, no coordinator, caseloads."""

from __future__ import annotations

from datetime import date

from plan_data import VOLVEN_9034, PlanWorld, created_id, measure, new_fnr, patient


def _plan_ids(bundle: dict) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", [])]


def test_overdue_measures_lists_plans_with_only_their_open_overdue_measures(fhir):
    world = PlanWorld(fhir)
    plan = world.active_plan_id(activities=(
        measure(f"Practitioner/{world.coordinator_id}", world.goal_id, next_evaluation="2026-05-01",
                description="Avlastning"),
        measure(f"Practitioner/{world.coordinator_id}", world.goal_id, next_evaluation="2026-03-01",
                status="completed", measure_status="avsluttet", description="Kartlegging"),
        measure(f"Practitioner/{world.coordinator_id}", world.goal_id, next_evaluation="2026-09-01",
                description="Støttekontakt")))
    later = fhir.get("/CarePlan/$overdue-measures", params={"date": "2026-06-01"}).json()
    assert _plan_ids(later) == [plan]
    assert [a["detail"]["description"] for a in later["entry"][0]["resource"]["activity"]] == ["Avlastning"]
    earlier = fhir.get("/CarePlan/$overdue-measures", params={"date": "2026-04-01"}).json()
    assert earlier["total"] == 0


def test_revision_due_lists_plans_whose_revision_date_has_passed(fhir):
    world = PlanWorld(fhir)
    plan = world.active_plan_id(next_evaluation="2026-12-01")
    assert _plan_ids(fhir.get("/CarePlan/$revision-due", params={"date": "2026-12-02"}).json()) == [plan]
    assert fhir.get("/CarePlan/$revision-due", params={"date": "2026-12-01"}).json()["total"] == 0


def test_stale_lists_plans_unchanged_for_n_months(fhir):
    world = PlanWorld(fhir)
    plan = world.active_plan_id()
    in_13_months = date(date.today().year + 1, date.today().month, 1).replace(day=28).isoformat()
    found = fhir.get("/CarePlan/$stale", params={"date": in_13_months}).json()
    assert _plan_ids(found) == [plan]
    assert fhir.get("/CarePlan/$stale", params={"date": in_13_months, "months": "24"}).json()["total"] == 0


def test_stale_refuses_a_month_count_that_is_not_a_number(fhir):
    response = fhir.get("/CarePlan/$stale", params={"months": "tolv"})
    assert response.status_code == 400
    assert "months" in response.json()["issue"][0]["diagnostics"]


def test_without_coordinator_lists_active_plans_whose_coordinator_period_ended(fhir):
    world = PlanWorld(fhir)
    plan = world.active_plan_id()
    team = fhir.get(f"/CareTeam/{world.team_id}").json()
    team["participant"][0]["period"]["end"] = "2026-02-01"
    assert fhir.update(team).status_code == 200
    assert _plan_ids(fhir.get("/CarePlan/$without-coordinator", params={"date": "2026-03-01"}).json()) == [plan]
    assert fhir.get("/CarePlan/$without-coordinator", params={"date": "2026-01-20"}).json()["total"] == 0


def test_caseload_counts_plans_and_coordinator_only_episodes_per_coordinator(fhir):
    first = PlanWorld(fhir)
    first.active_plan_id()
    second = PlanWorld(fhir)
    second.active_plan_id()
    # A second person coordinated by the first world's coordinator, with a plan.
    third_team = fhir.get(f"/CareTeam/{second.team_id}").json()
    third_team["participant"][0]["member"]["reference"] = f"Practitioner/{first.coordinator_id}"
    assert fhir.update(third_team).status_code == 200
    # And a person with a coordinator but no plan.
    person = created_id(fhir.create(patient(new_fnr())))
    fhir.create({"resourceType": "EpisodeOfCare", "status": "active",
                 "type": [{"coding": [{"system": VOLVEN_9034, "code": "8"}]}],
                 "patient": {"reference": f"Patient/{person}"}, "period": {"start": "2026-01-01"},
                 "careManager": {"reference": f"Practitioner/{first.coordinator_id}"}})
    result = fhir.get("/CareTeam/$caseload").json()
    loads = {p["part"][0]["valueReference"]["reference"]: (p["part"][1]["valueInteger"], p["part"][2]["valueInteger"])
             for p in result["parameter"]}
    assert loads == {f"Practitioner/{first.coordinator_id}": (2, 1)}


def test_worklists_list_only_plans_the_caller_may_see(fhir, live_server):
    from typing import Any

    from fhirip.context import Context
    from fhirip.interactions.request import FhirRequest
    from fhirip.operations.revision_due import handle

    world = PlanWorld(fhir)
    world.active_plan_id(next_evaluation="2026-12-01")

    def call(policy: Any) -> dict:
        def work(tx: Any) -> dict:
            ctx = Context(live_server.services, tx, "http://fhirip.test", policy=policy)
            req = FhirRequest("GET", res_type="CarePlan", operation="revision-due",
                              params=[("date", "2027-01-01")], base_url="http://fhirip.test")
            return handle(ctx, req).resource
        return live_server.services.store.run(work, write=False)

    assert call(None)["total"] == 1
    assert call(lambda r, types=None, per_row=False: r.c.res_type != "CarePlan")["total"] == 0


def test_caseload_of_a_coordinator_known_by_name_only_gives_no_reference(fhir):
    person = created_id(fhir.create(patient(new_fnr())))
    episode = fhir.create({"resourceType": "EpisodeOfCare", "status": "active",
                           "type": [{"coding": [{"system": VOLVEN_9034, "code": "8"}]}],
                           "patient": {"reference": f"Patient/{person}"}, "period": {"start": "2026-01-01"},
                           "careManager": {"display": "Kari Koordinator"}})
    assert episode.status_code == 201, episode.text
    result = fhir.get("/CareTeam/$caseload", params={"date": "2026-06-01"}).json()
    coordinators = [p["part"][0]["valueReference"] for p in result["parameter"]]
    assert {"display": "Kari Koordinator"} in coordinators  # not a reference made of the name
