"""Exactly one responsible coordinator at any time (R3, R4): overlaps are refused; episodes count too."""

from __future__ import annotations

from plan_data import (
    VOLVEN_9034,
    PlanWorld,
    care_team,
    coordinator,
    created_id,
    legacy_patient,
    new_fnr,
    patient,
    practitioner,
)


def _episode(patient_id: str, manager: str, start: str, end: str | None = None, code: str = "8") -> dict:
    period = {"start": start, **({"end": end} if end else {})}
    return {"resourceType": "EpisodeOfCare", "status": "active" if not end else "finished",
            "type": [{"coding": [{"system": VOLVEN_9034, "code": code}]}],
            "patient": {"reference": f"Patient/{patient_id}"}, "period": period,
            "careManager": {"reference": manager}}


def test_overlapping_coordinator_periods_in_a_care_team_are_refused(fhir):
    world = PlanWorld(fhir)
    second = created_id(fhir.create(practitioner("Andersen")))
    team = care_team(world.patient_id,
                     coordinator(f"Practitioner/{world.coordinator_id}", "2026-01-01"),
                     coordinator(f"Practitioner/{second}", "2026-03-01"))
    response = fhir.create(team)
    assert response.status_code == 422, response.text
    diagnostics = " ".join(i["diagnostics"] for i in response.json()["issue"])
    assert "overlap" in diagnostics and f"Practitioner/{second}" in diagnostics


def test_consecutive_coordinator_periods_are_accepted(fhir):
    world = PlanWorld(fhir)
    second = created_id(fhir.create(practitioner("Andersen")))
    team = care_team(world.patient_id,
                     coordinator(f"Practitioner/{world.coordinator_id}", "2026-01-01", "2026-02-28"),
                     coordinator(f"Practitioner/{second}", "2026-03-01"))
    assert fhir.create(team).status_code == 201


def test_a_municipal_and_a_specialist_coordinator_may_serve_at_once(fhir):
    world = PlanWorld(fhir)
    second = created_id(fhir.create(practitioner("Lege")))
    team = care_team(world.patient_id,
                     coordinator(f"Practitioner/{world.coordinator_id}", "2026-01-01"),
                     coordinator(f"Practitioner/{second}", "2026-01-01", code="18"))
    assert fhir.create(team).status_code == 201


def test_a_coordinator_without_a_plan_is_an_episode_found_by_patient_and_status(fhir):
    person = created_id(fhir.create(patient(new_fnr())))
    manager = created_id(fhir.create(practitioner("Koordinator")))
    episode = created_id(fhir.create(_episode(person, f"Practitioner/{manager}", "2026-01-01")))
    found = fhir.get("/EpisodeOfCare", params={"patient": f"Patient/{person}", "status": "active"}).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [episode]
    assert found["entry"][0]["resource"]["careManager"]["reference"] == f"Practitioner/{manager}"


def test_overlapping_coordinator_episodes_of_one_person_are_refused_across_patient_records(fhir, live_server):
    fnr = new_fnr()
    municipal = created_id(fhir.create(patient(fnr)))
    hospital = legacy_patient(fhir, live_server, fnr, "Sykehusjournal")
    first = created_id(fhir.create(practitioner("En")))
    second = created_id(fhir.create(practitioner("To")))
    existing = created_id(fhir.create(_episode(municipal, f"Practitioner/{first}", "2026-01-01")))
    response = fhir.create(_episode(hospital, f"Practitioner/{second}", "2026-02-01"))
    assert response.status_code == 422, response.text
    assert f"EpisodeOfCare/{existing}" in response.json()["issue"][0]["diagnostics"]
    # A specialist-service coordinator (18) is another kind and may serve alongside.
    assert fhir.create(_episode(hospital, f"Practitioner/{second}", "2026-02-01", code="18")).status_code == 201
