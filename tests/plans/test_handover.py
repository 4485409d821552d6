"""Coordinator handover (R5): one transaction ends the old period, starts the new, notes and proves it."""

from __future__ import annotations

from plan_data import VOLVEN_9034, PlanWorld, created_id, practitioner


def _handover(coordinator: str | None, note: str | None = "Kari trenger ny søknad om avlastning i mai",
              on: str | None = "2026-03-01", role: str | None = None) -> dict:
    parameters = []
    if coordinator is not None:
        parameters.append({"name": "coordinator", "valueReference": {"reference": coordinator}})
    if on is not None:
        parameters.append({"name": "date", "valueDate": on})
    if note is not None:
        parameters.append({"name": "note", "valueString": note})
    if role is not None:
        parameters.append({"name": "role", "valueCode": role})
    return {"resourceType": "Parameters", "parameter": parameters}


def _coordinators(team: dict) -> list[tuple[str, dict]]:
    return [(p["member"]["reference"], p.get("period", {})) for p in team["participant"]
            if any(c.get("system") == VOLVEN_9034 and c.get("code") in ("8", "18")
                   for r in p.get("role") or [] for c in r.get("coding") or [])]


def test_handover_ends_the_old_period_the_day_before_and_starts_the_new(fhir):
    world = PlanWorld(fhir)
    incoming = created_id(fhir.create(practitioner("Nyansatt")))
    response = fhir.send_json("POST", f"/CareTeam/{world.team_id}/$handover",
                              _handover(f"Practitioner/{incoming}"))
    assert response.status_code == 200, response.text
    team = fhir.get(f"/CareTeam/{world.team_id}").json()
    assert team["meta"]["versionId"] == "2"
    assert _coordinators(team) == [(f"Practitioner/{world.coordinator_id}", {"start": "2026-01-15", "end": "2026-02-28"}),
                                   (f"Practitioner/{incoming}", {"start": "2026-03-01"})]
    kinds = sorted(e["resource"]["resourceType"] for e in response.json()["entry"])
    assert kinds == ["CareTeam", "Communication", "Provenance"]


def test_handover_writes_a_note_and_a_provenance_naming_the_new_versions(fhir):
    world = PlanWorld(fhir)
    incoming = created_id(fhir.create(practitioner("Nyansatt")))
    fhir.send_json("POST", f"/CareTeam/{world.team_id}/$handover", _handover(f"Practitioner/{incoming}"))
    notes = fhir.get("/Communication", params={"recipient": f"Practitioner/{incoming}"}).json()
    assert notes["total"] == 1
    note = notes["entry"][0]["resource"]
    assert note["sender"]["reference"] == f"Practitioner/{world.coordinator_id}"
    assert note["payload"][0]["contentString"] == "Kari trenger ny søknad om avlastning i mai"
    proofs = fhir.get("/Provenance", params={"target": f"CareTeam/{world.team_id}"}).json()
    assert proofs["total"] == 1
    targets = {t["reference"] for t in proofs["entry"][0]["resource"]["target"]}
    assert f"CareTeam/{world.team_id}/_history/2" in targets
    assert f"Communication/{note['id']}/_history/1" in targets


def test_the_coordinator_history_stays_in_the_versions(fhir):
    world = PlanWorld(fhir)
    incoming = created_id(fhir.create(practitioner("Nyansatt")))
    fhir.send_json("POST", f"/CareTeam/{world.team_id}/$handover", _handover(f"Practitioner/{incoming}"))
    history = fhir.get(f"/CareTeam/{world.team_id}/_history").json()
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]
    assert _coordinators(history["entry"][1]["resource"]) == [
        (f"Practitioner/{world.coordinator_id}", {"start": "2026-01-15"})]


def test_handover_to_a_coordinator_that_does_not_exist_writes_nothing(fhir):
    world = PlanWorld(fhir)
    response = fhir.send_json("POST", f"/CareTeam/{world.team_id}/$handover",
                              _handover("Practitioner/does-not-exist"))
    assert response.status_code == 422, response.text
    assert fhir.get(f"/CareTeam/{world.team_id}").json()["meta"]["versionId"] == "1"
    assert fhir.get("/Communication").json()["total"] == 0
    assert fhir.get("/Provenance").json()["total"] == 0


def test_handover_without_a_note_is_refused(fhir):
    world = PlanWorld(fhir)
    incoming = created_id(fhir.create(practitioner("Nyansatt")))
    response = fhir.send_json("POST", f"/CareTeam/{world.team_id}/$handover",
                              _handover(f"Practitioner/{incoming}", note=None))
    assert response.status_code == 400
    assert "note" in response.json()["issue"][0]["diagnostics"]


def test_handover_to_the_current_coordinator_is_refused(fhir):
    world = PlanWorld(fhir)
    response = fhir.send_json("POST", f"/CareTeam/{world.team_id}/$handover",
                              _handover(f"Practitioner/{world.coordinator_id}"))
    assert response.status_code == 422
    assert "already the coordinator" in response.json()["issue"][0]["diagnostics"]


def test_handover_before_the_outgoing_coordinator_started_is_refused(fhir):
    world = PlanWorld(fhir)
    incoming = created_id(fhir.create(practitioner("Nyansatt")))
    response = fhir.send_json("POST", f"/CareTeam/{world.team_id}/$handover",
                              _handover(f"Practitioner/{incoming}", on="2026-01-15"))
    assert response.status_code == 422
    assert "must be later" in response.json()["issue"][0]["diagnostics"]


def test_handover_to_something_that_is_not_a_practitioner_is_a_bad_request(fhir):
    world = PlanWorld(fhir)
    response = fhir.send_json("POST", f"/CareTeam/{world.team_id}/$handover",
                              _handover(f"Patient/{world.patient_id}"))
    assert response.status_code == 400
    assert "Practitioner" in response.json()["issue"][0]["diagnostics"]


def test_handover_must_be_posted(fhir):
    world = PlanWorld(fhir)
    assert fhir.get(f"/CareTeam/{world.team_id}/$handover").status_code == 405


def test_handover_of_a_coordinator_without_a_plan_finishes_the_episode_and_starts_the_next(fhir):
    world = PlanWorld(fhir)
    first = created_id(fhir.create({
        "resourceType": "EpisodeOfCare", "status": "active",
        "type": [{"coding": [{"system": VOLVEN_9034, "code": "8"}]}],
        "patient": {"reference": f"Patient/{world.patient_id}"}, "period": {"start": "2026-01-01"},
        "careManager": {"reference": f"Practitioner/{world.coordinator_id}"}}))
    incoming = created_id(fhir.create(practitioner("Nyansatt")))
    response = fhir.send_json("POST", f"/EpisodeOfCare/{first}/$handover", _handover(f"Practitioner/{incoming}"))
    assert response.status_code == 200, response.text
    old = fhir.get(f"/EpisodeOfCare/{first}").json()
    assert old["status"] == "finished" and old["period"] == {"start": "2026-01-01", "end": "2026-02-28"}
    active = fhir.get("/EpisodeOfCare", params={"patient": f"Patient/{world.patient_id}", "status": "active"}).json()
    assert [e["resource"]["careManager"]["reference"] for e in active["entry"]] == [f"Practitioner/{incoming}"]
    assert active["entry"][0]["resource"]["period"] == {"start": "2026-03-01"}
