"""One individual plan per person (R1, R2): a second open plan is refused with 409, sub-plans are not."""

from __future__ import annotations

from plan_data import PlanWorld, care_plan, created_id, legacy_patient

from fhirip.plans import find_duplicate_plans


def test_second_open_plan_for_the_same_patient_is_refused_with_409_naming_the_first(fhir):
    world = PlanWorld(fhir)
    first = world.active_plan_id()
    response = fhir.create(world.plan(status="draft"))
    assert response.status_code == 409, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert f"CarePlan/{first}" in outcome["issue"][0]["diagnostics"]


def test_second_plan_for_another_patient_record_with_the_same_fnr_is_refused(fhir, live_server):
    world = PlanWorld(fhir)
    first = world.active_plan_id()
    hospital_record = legacy_patient(fhir, live_server, world.fnr, "Nordmann-Sykehus")
    response = fhir.create(care_plan(hospital_record, status="draft", start=None))
    assert response.status_code == 409, response.text
    assert f"CarePlan/{first}" in response.json()["issue"][0]["diagnostics"]


def test_sub_plan_part_of_the_plan_is_accepted(fhir):
    world = PlanWorld(fhir)
    first = world.active_plan_id()
    sub_plan = world.plan(status="active", part_of=first)
    sub_plan["category"] = [{"coding": [{"system": "http://fhirip.no/fhir/CodeSystem/ip-careplan-category",
                                         "code": "individuell-opplaeringsplan"}]}]
    response = fhir.create(sub_plan)
    assert response.status_code == 201, response.text
    found = fhir.get("/CarePlan", params={"part-of": f"CarePlan/{first}"}).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [created_id(response)]


def test_a_new_plan_is_accepted_once_the_old_one_is_completed(fhir):
    world = PlanWorld(fhir)
    first = world.active_plan_id()
    old = fhir.get(f"/CarePlan/{first}").json()
    old["status"] = "completed"
    old["period"]["end"] = "2026-06-30"
    assert fhir.update(old).status_code == 200
    assert fhir.create(world.plan(status="draft")).status_code == 201


def test_updating_the_one_plan_itself_is_not_a_duplicate(fhir):
    world = PlanWorld(fhir)
    first = world.active_plan_id()
    plan = fhir.get(f"/CarePlan/{first}").json()
    plan["title"] = "Individuell plan, revidert"
    assert fhir.update(plan).status_code == 200, fhir.update(plan).text


def test_a_transaction_making_two_plans_for_one_person_is_refused_whole(fhir):
    world = PlanWorld(fhir)
    entries = [{"request": {"method": "POST", "url": "CarePlan"}, "resource": world.plan(status="draft")}
               for _ in range(2)]
    response = fhir.send_json("POST", "/", {"resourceType": "Bundle", "type": "transaction", "entry": entries})
    assert response.status_code == 409, response.text
    assert fhir.get("/CarePlan", params={"subject": f"Patient/{world.patient_id}"}).json()["total"] == 0


def test_duplicates_already_in_the_store_are_reported_per_person(fhir, live_server):
    world = PlanWorld(fhir)
    first = world.active_plan_id()
    hospital_record = legacy_patient(fhir, live_server, world.fnr, "Nordmann-Sykehus")
    other = PlanWorld(fhir)
    other.active_plan_id()
    # Migrated data predates the rule: write the duplicate with the rule switched off.
    from fhirip.plans import plan_rules

    live_server.services.write_hooks.remove(plan_rules)
    try:
        second = created_id(fhir.create(care_plan(hospital_record, status="draft", start=None)))
    finally:
        live_server.services.write_hooks.append(plan_rules)
    with live_server.services.store.engine.connect() as conn:
        duplicates = find_duplicate_plans(conn)
    assert len(duplicates) == 1
    assert set(duplicates[0].plans) == {first, second}
    assert set(duplicates[0].patients) == {world.patient_id, hospital_record}
    assert duplicates[0].identifiers == (("urn:oid:2.16.578.1.12.4.1.4.1", world.fnr),)
