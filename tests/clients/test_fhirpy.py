"""fhirpy (beda-software's client, its synchronous `SyncFHIRClient`) against `fhirip serve`.

https://github.com/beda-software/fhir-py — every call below is the library's public API; the
assertions check what the server answered through it.
"""

from __future__ import annotations

import base64

import pytest
from clients.client_world import ClientWorld
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import ForbiddenError, OperationOutcome, ResourceNotFound

from fhirip.testing.served import ServedFhirip

TAG = "urn:fhirip:test:fhirpy"


@pytest.fixture
def client(served: ServedFhirip, token: str) -> SyncFHIRClient:
    return SyncFHIRClient(served.url, authorization=f"Bearer {token}")


def new_goal(client: SyncFHIRClient, world: ClientWorld, text: str, **elements):
    return client.resource("Goal", lifecycleStatus="proposed", description={"text": text},
                           subject={"reference": f"Patient/{world.patient_id}"}, **elements)


def test_capabilities(client):
    statement = client.execute("metadata", method="get")
    assert statement["resourceType"] == "CapabilityStatement" and statement["fhirVersion"] == "4.0.1"
    goal = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Goal")
    assert {"read", "create", "update", "patch", "delete", "history-instance", "search-type"} <= \
        {i["code"] for i in goal["interaction"]}
    assert "Goal:subject" in goal["searchInclude"] and goal["conditionalCreate"] is True
    care_plan = next(r for r in statement["rest"][0]["resource"] if r["type"] == "CarePlan")
    assert {"current", "render"} <= {o["name"] for o in care_plan["operation"]}


def test_create_read_update_delete(client, world, caller):
    goal = new_goal(client, world, f"CRUD as {caller}")
    goal.save()
    assert goal.id and goal.meta.versionId == "1"
    read = client.reference("Goal", goal.id).to_resource()
    assert read.description.text == f"CRUD as {caller}"
    assert read.subject.reference == f"Patient/{world.patient_id}"

    read.lifecycleStatus = "active"
    read.save()
    assert read.meta.versionId == "2"
    assert client.get("Goal", goal.id)["lifecycleStatus"] == "active"

    read.delete()
    with pytest.raises(ResourceNotFound):
        client.get("Goal", goal.id)


def test_search_with_include_follows_next_links(client, world):
    search = client.resources("Goal").search(subject=f"Patient/{world.patient_id}").include("Goal", "subject")
    first_page = search.limit(2).fetch_raw()
    assert {(e.resource.resourceType, e.search.mode) for e in first_page.entry} == \
        {("Goal", "match"), ("Patient", "include")}
    assert [e.resource.id for e in first_page.entry if e.search.mode == "include"] == [world.patient_id]
    assert any(link.relation == "next" for link in first_page.link)

    paged = [goal.id for goal in search.limit(2)]  # the iterator follows `next` until there is none
    assert len(paged) == len(set(paged))
    assert set(world.goal_ids) <= set(paged)
    assert set(paged) == {goal.id for goal in search.limit(100).fetch()}


def test_conditional_create_with_if_none_exist(served, token, world, caller):
    criteria = f"identifier={TAG}|if-none-exist-{caller}"
    conditional = SyncFHIRClient(served.url, authorization=f"Bearer {token}",
                                 extra_headers={"If-None-Exist": criteria})
    identifier = [{"system": TAG, "value": f"if-none-exist-{caller}"}]
    first = new_goal(conditional, world, "Made once", identifier=identifier)
    first.save()
    second = new_goal(conditional, world, "Made twice?", identifier=identifier)
    second.save()
    assert second.id == first.id and second.meta.versionId == "1"
    assert len(conditional.resources("Goal").search(identifier=f"{TAG}|if-none-exist-{caller}").fetch()) == 1


def test_get_or_create_creates_once(client, world, caller):
    value = f"get-or-create-{caller}"
    goals = client.resources("Goal").search(identifier=f"{TAG}|{value}")
    identifier = [{"system": TAG, "value": value}]
    made, created = goals.get_or_create(new_goal(client, world, "Made once", identifier=identifier))
    again, created_again = goals.get_or_create(new_goal(client, world, "Made twice?", identifier=identifier))
    assert created is True and created_again is False
    assert again.id == made.id and again.description.text == "Made once"
    assert len(goals.fetch()) == 1


def test_resource_create_with_search_parameters_is_conditional(client, world, caller):
    value = f"create-query-{caller}"
    for _ in range(2):
        new_goal(client, world, "Made once", identifier=[{"system": TAG, "value": value}]).create(
            identifier=f"{TAG}|{value}")
    assert len(client.resources("Goal").search(identifier=f"{TAG}|{value}").fetch()) == 1


def test_conditional_update_and_delete_through_a_search_set(client, world, caller):
    value = f"conditional-{caller}"
    goals = client.resources("Goal").search(identifier=f"{TAG}|{value}")
    identifier = [{"system": TAG, "value": value}]
    made, created = goals.update(new_goal(client, world, "First", identifier=identifier))
    again, created_again = goals.update(new_goal(client, world, "Second", identifier=identifier))
    assert (created, created_again) == (True, False)
    assert again.id == made.id and again.meta.versionId == "2" and goals.count() == 1

    _, status = goals.delete()
    assert status in (200, 204) and goals.count() == 0


def test_json_patch(client, world, caller):
    goal = new_goal(client, world, f"Patched by {caller}")
    goal.save()
    patched = client.execute(f"Goal/{goal.id}", method="patch", data=[
        {"op": "test", "path": "/lifecycleStatus", "value": "proposed"},
        {"op": "replace", "path": "/lifecycleStatus", "value": "accepted"},
        {"op": "add", "path": "/note", "value": [{"text": "Avtalt i ansvarsgruppemøte"}]}])
    assert patched["meta"]["versionId"] == "2" and patched["lifecycleStatus"] == "accepted"
    assert client.get("Goal", goal.id)["note"] == [{"text": "Avtalt i ansvarsgruppemøte"}]


def test_partial_resource_patch_is_refused_with_an_outcome(client, world):
    """fhirpy's own `patch()` sends part of a resource, which no FHIR R4 patch format is."""
    goal = new_goal(client, world, "Not merged")
    goal.save()
    with pytest.raises(OperationOutcome) as refused:
        goal.patch(lifecycleStatus="accepted")
    assert "JSON Patch" in str(refused.value) and "FHIRPath Patch" in str(refused.value)
    assert client.get("Goal", goal.id)["meta"]["versionId"] == "1"


def test_transaction(client, world, caller):
    goal_uuid = "urn:uuid:6f1d7a52-2f0e-4d1c-9a47-0c5b3e1f9a01"
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": goal_uuid, "request": {"method": "POST", "url": "Goal"},
         "resource": dict(new_goal(client, world, f"Transaction by {caller}").serialize())},
        {"request": {"method": "POST", "url": "Observation"}, "resource": {
            "resourceType": "Observation", "status": "final", "code": {"text": "Oppmøte på skolen"},
            "valueString": "4 av 5 dager", "subject": {"reference": f"Patient/{world.patient_id}"},
            "focus": [{"reference": goal_uuid}]}}]}
    response = client.execute("", method="post", data=bundle)
    assert response["type"] == "transaction-response"
    assert [e["response"]["status"][:3] for e in response["entry"]] == ["201", "201"]
    goal_id = response["entry"][0]["resource"]["id"]
    observation = client.get("Observation", response["entry"][1]["resource"]["id"])
    assert observation["focus"] == [{"reference": f"Goal/{goal_id}"}]


def test_history(client, world, caller):
    goal = new_goal(client, world, f"History by {caller}")
    goal.save()
    goal.lifecycleStatus = "active"
    goal.save()
    history = client.execute(f"Goal/{goal.id}/_history", method="get")
    assert history["type"] == "history"
    versions = [(e.resource.meta.versionId, e.resource.lifecycleStatus) for e in history.entry]
    assert versions == [("2", "active"), ("1", "proposed")]


def test_current_plan(client, world):
    bundle = client.execute("CarePlan/$current", method="get",
                            params={"patient-identifier": world.patient_identifier})
    found = {(e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"]}
    assert {("CarePlan", world.plan_id), ("Patient", world.patient_id), ("CareTeam", world.team_id),
            ("Practitioner", world.practitioner_id)} <= found
    assert {("Goal", goal_id) for goal_id in world.goal_ids[:2]} <= found


def test_render_as_binary(client, world):
    binary = client.reference("CarePlan", world.plan_id).execute("$render", method="get")
    assert binary["resourceType"] == "Binary" and binary["contentType"].startswith("text/html")
    assert "Individuell plan" in base64.b64decode(binary["data"]).decode("utf-8")


def test_a_practitioner_no_consent_names_learns_nothing(served, world):
    """With no consent naming them anywhere they have no right to the type: 403 for every id alike."""
    outsider = SyncFHIRClient(served.url, authorization=f"Bearer {world.outsider_token}")
    refusals = []
    for patient_id in (world.patient_id, "no-such-patient"):
        with pytest.raises(ForbiddenError) as refused:
            outsider.get("Patient", patient_id)
        refusals.append(str(refused.value))
    assert refusals[0] == refusals[1]
    with pytest.raises(ForbiddenError):
        outsider.resources("Goal").search(subject=f"Patient/{world.patient_id}").fetch()
