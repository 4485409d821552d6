"""The plan lifecycle: activation needs consent, coordinator, period and goal; consent drives the plan."""

from __future__ import annotations

from plan_data import PlanWorld, care_team, created_id, plan_consent


def _diagnostics(response) -> str:
    return " ".join(issue["diagnostics"] for issue in response.json()["issue"])


def test_activating_a_plan_without_consent_or_coordinator_names_each_missing_piece(fhir):
    world = PlanWorld(fhir, consent=False)
    empty_team = created_id(fhir.create(care_team(world.patient_id, {
        "member": {"reference": f"Patient/{world.patient_id}"}, "period": {"start": "2026-01-01"}})))
    response = fhir.create(world.plan(status="active", team_id=empty_team))
    assert response.status_code == 422, response.text
    text = _diagnostics(response)
    assert "consent" in text and "coordinator" in text
    assert "period" not in text.replace("period covering today", "")


def test_a_plan_without_period_and_goal_cannot_be_activated(fhir):
    world = PlanWorld(fhir)
    plan = created_id(fhir.create(world.plan(status="draft", start=None, goal_ids=())))
    draft = fhir.get(f"/CarePlan/{plan}").json()
    draft["status"] = "active"
    response = fhir.update(draft)
    assert response.status_code == 422, response.text
    text = _diagnostics(response)
    assert "CarePlan.period.start is missing" in text and "CarePlan.goal is empty" in text


def test_a_plan_with_consent_coordinator_period_and_goal_is_activated(fhir):
    world = PlanWorld(fhir)
    plan = created_id(fhir.create(world.plan(status="draft")))
    draft = fhir.get(f"/CarePlan/{plan}").json()
    draft["status"] = "active"
    assert fhir.update(draft).status_code == 200


def test_compulsory_mental_health_care_is_a_basis_without_consent(fhir):
    world = PlanWorld(fhir, consent=False)
    response = fhir.create(world.plan(status="active", legal_basis="tvungent-psykisk-helsevern"))
    assert response.status_code == 201, response.text


def test_a_coordinator_episode_is_enough_when_the_team_names_none(fhir):
    world = PlanWorld(fhir)
    team = created_id(fhir.create(care_team(world.patient_id, {
        "member": {"reference": f"Patient/{world.patient_id}"}, "period": {"start": "2026-01-01"}})))
    assert fhir.create(world.plan(status="active", team_id=team)).status_code == 422
    fhir.create({"resourceType": "EpisodeOfCare", "status": "active",
                 "type": [{"coding": [{"system": "urn:oid:2.16.578.1.12.4.1.1.9034", "code": "8"}]}],
                 "patient": {"reference": f"Patient/{world.patient_id}"}, "period": {"start": "2026-01-01"},
                 "careManager": {"reference": f"Practitioner/{world.coordinator_id}"}})
    assert fhir.create(world.plan(status="active", team_id=team)).status_code == 201


def test_a_new_plan_consent_supersedes_the_old_with_provenance(fhir):
    world = PlanWorld(fhir)
    newer = created_id(fhir.create(plan_consent(world.patient_id, start="2026-06-01", end="2028-05-31")))
    old = fhir.get(f"/Consent/{world.consent_id}").json()
    assert old["status"] == "inactive" and old["meta"]["versionId"] == "2"
    assert fhir.get(f"/Consent/{newer}").json()["status"] == "active"
    proofs = fhir.get("/Provenance", params={"target": f"Consent/{world.consent_id}"}).json()
    assert proofs["total"] == 1
    # The new consent is not named: it may be in another record of the person, hidden from readers of this one.
    assert proofs["entry"][0]["resource"]["reason"][0]["text"] == "Erstattet av nytt samtykke til planen"


def test_withdrawing_the_plan_consent_revokes_the_plan_and_keeps_its_history(fhir):
    world = PlanWorld(fhir)
    plan = world.active_plan_id()
    consent = fhir.get(f"/Consent/{world.consent_id}").json()
    consent["status"] = "inactive"
    assert fhir.update(consent).status_code == 200
    revoked = fhir.get(f"/CarePlan/{plan}").json()
    assert revoked["status"] == "revoked" and "end" in revoked["period"]
    history = fhir.get(f"/CarePlan/{plan}/_history").json()
    assert [e["resource"]["status"] for e in history["entry"]] == ["revoked", "active"]
    proofs = fhir.get("/Provenance", params={"target": f"CarePlan/{plan}"}).json()
    assert proofs["total"] == 1
    assert proofs["entry"][0]["resource"]["reason"][0]["text"] == "Samtykket til planen er trukket tilbake"


def test_withdrawing_consent_leaves_a_compulsory_care_plan_in_force(fhir):
    world = PlanWorld(fhir)
    plan = world.active_plan_id(legal_basis="tvungent-psykisk-helsevern")
    consent = fhir.get(f"/Consent/{world.consent_id}").json()
    consent["status"] = "inactive"
    assert fhir.update(consent).status_code == 200
    assert fhir.get(f"/CarePlan/{plan}").json()["status"] == "active"


def test_a_refused_withdrawal_changes_nothing(fhir):
    world = PlanWorld(fhir)
    plan = world.active_plan_id()
    consent = fhir.get(f"/Consent/{world.consent_id}").json()
    consent["status"] = "inactive"
    consent["patient"] = {"reference": "Patient/does-not-exist"}
    assert fhir.update(consent).status_code == 422
    assert fhir.get(f"/CarePlan/{plan}").json()["status"] == "active"


def test_the_plan_narrative_is_generated_from_the_plan(fhir):
    world = PlanWorld(fhir)
    plan = fhir.get(f"/CarePlan/{world.active_plan_id()}").json()
    assert plan["text"]["status"] == "generated"
    div = plan["text"]["div"]
    assert div.startswith('<div xmlns="http://www.w3.org/1999/xhtml">')
    for heading in ("Mine mål", "Koordinator", "Tiltak", "Samtykke"):
        assert heading in div
    assert "Gå på skolen hver dag" in div and "Koordinatorsen" in div
