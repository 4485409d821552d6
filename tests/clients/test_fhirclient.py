"""fhirclient (SMART on FHIR's Python client and its R4 models) against `fhirip serve`.

https://github.com/smart-on-fhir/client-py — the client resumes from a saved state that holds
the access token, as an app does after its OAuth flow. Every response is parsed into the
library's R4 models, which refuse elements R4 does not define.
"""

from __future__ import annotations

import base64
from urllib.parse import quote

import orjson
import pytest
import requests
from clients.client_world import ClientWorld
from fhirclient.client import FHIRClient
from fhirclient.models.binary import Binary
from fhirclient.models.bundle import Bundle
from fhirclient.models.capabilitystatement import CapabilityStatement
from fhirclient.models.goal import Goal
from fhirclient.models.observation import Observation
from fhirclient.models.patient import Patient
from fhirclient.server import FHIRNotFoundException, FHIRPermissionDeniedException, FHIRServer

from fhirip.testing.served import ServedFhirip

TAG = "urn:fhirip:test:fhirclient"


def connect(served: ServedFhirip, token: str) -> FHIRServer:
    # `server.capabilityStatement` would swap this auth for what the statement's security section
    # offers, and fhirip has no OAuth endpoints of its own (tokens come from the trusted issuer):
    # the tests read the statement as a resource instead.
    state = {"app_id": "fhirip-tests", "server": {"base_uri": served.url, "auth_type": "oauth2",
                                                 "auth": {"app_id": "fhirip-tests", "access_token": token}}}
    smart = FHIRClient(state=state)
    assert smart.ready
    return smart.server


@pytest.fixture
def server(served: ServedFhirip, token: str) -> FHIRServer:
    return connect(served, token)


def new_goal(world: ClientWorld, text: str, **elements) -> Goal:
    return Goal({"lifecycleStatus": "proposed", "description": {"text": text},
                 "subject": {"reference": f"Patient/{world.patient_id}"}, **elements})


def create(server: FHIRServer, resource) -> str:
    created = resource.create(server)
    resource.id = created["id"]
    return resource.id


def transaction(server: FHIRServer, *entries: dict) -> Bundle:
    return Bundle(Bundle({"type": "transaction", "entry": list(entries)}).create(server))


def search_ids(server: FHIRServer, query: str) -> list[str]:
    return [e.resource.id for e in Bundle.read_from(query, server).entry or []]


def test_capabilities(server):
    statement = CapabilityStatement.read_from("metadata", server)
    assert statement.fhirVersion == "4.0.1" and statement.kind == "instance"
    goal = next(r for r in statement.rest[0].resource if r.type == "Goal")
    assert {"read", "create", "update", "patch", "delete", "history-instance", "search-type"} <= \
        {i.code for i in goal.interaction}
    assert "Goal:subject" in goal.searchInclude
    care_plan = next(r for r in statement.rest[0].resource if r.type == "CarePlan")
    assert {"current", "render"} <= {o.name for o in care_plan.operation}
    assert "application/json-patch+json" in statement.patchFormat


def test_every_resource_in_the_system_history_parses_in_the_r4_models(served, world):
    """Bundle.read_from parses each entry strictly: an element R4 does not define fails it."""
    server = connect(served, world.system_token)
    page, seen = Bundle.read_from("_history?_count=200", server), set()
    while True:
        seen |= {e.resource.resource_type for e in page.entry or [] if e.resource}  # a deletion has none
        following = [link.url for link in page.link or [] if link.relation == "next"]
        if not following:
            break
        page = Bundle.read_from(following[0], server)
    assert {"Patient", "Practitioner", "CareTeam", "Goal", "Consent", "CarePlan"} <= seen


def test_create_read_update_delete(server, world, caller):
    goal_id = create(server, new_goal(world, f"CRUD as {caller}"))
    read = Goal.read(goal_id, server)
    assert read.description.text == f"CRUD as {caller}" and read.meta.versionId == "1"

    read.lifecycleStatus = "active"
    updated = Goal(read.update())
    assert updated.meta.versionId == "2" and Goal.read(goal_id, server).lifecycleStatus == "active"

    read.delete()
    with pytest.raises((FHIRNotFoundException, requests.HTTPError)) as gone:
        Goal.read(goal_id, server)
    assert gone.value.response.status_code in (404, 410)


def test_search_with_include_follows_next_links(server, world):
    search = Goal.where({"subject": f"Patient/{world.patient_id}", "_count": "2"}).include("subject")
    pages = list(search.perform_iter(server))
    assert len(pages) >= 3  # five goals or more, two a page
    for page in pages:
        assert [(e.resource.resource_type, e.resource.id) for e in page.entry if e.search.mode == "include"] \
            == [("Patient", world.patient_id)]
    paged = [e.resource.id for page in pages for e in page.entry if e.search.mode == "match"]
    assert len(paged) == len(set(paged)) and set(world.goal_ids) <= set(paged)
    assert set(paged) == set(search_ids(server, f"Goal?subject=Patient/{world.patient_id}&_count=100"))


def test_conditional_create_in_a_transaction(server, world, caller):
    value = f"if-none-exist-{caller}"
    entry = {"request": {"method": "POST", "url": "Goal", "ifNoneExist": f"identifier={TAG}|{value}"},
             "resource": new_goal(world, "Made once", identifier=[{"system": TAG, "value": value}]).as_json()}
    first = transaction(server, entry)
    second = transaction(server, entry)
    assert [first.entry[0].response.status[:3], second.entry[0].response.status[:3]] == ["201", "200"]
    assert first.entry[0].response.location.split("/")[1] == second.entry[0].response.location.split("/")[1]
    assert len(search_ids(server, f"Goal?identifier={quote(f'{TAG}|{value}')}")) == 1


def test_conditional_create_by_posting_to_a_search_url(server, world, caller):
    value = f"create-query-{caller}"
    goal = new_goal(world, "Made once", identifier=[{"system": TAG, "value": value}]).as_json()
    criteria = f"identifier={quote(f'{TAG}|{value}')}"
    statuses = [server.post_json(f"Goal?{criteria}", goal).status_code for _ in range(2)]
    assert statuses == [201, 200]
    assert len(search_ids(server, f"Goal?{criteria}")) == 1


def test_json_patch_in_a_transaction(server, world, caller):
    """fhirclient has no PATCH of its own; a transaction carries a JSON Patch as a Binary."""
    goal_id = create(server, new_goal(world, f"Patched by {caller}"))
    operations = [{"op": "test", "path": "/lifecycleStatus", "value": "proposed"},
                  {"op": "replace", "path": "/lifecycleStatus", "value": "accepted"}]
    patch = Binary({"contentType": "application/json-patch+json",
                    "data": base64.b64encode(orjson.dumps(operations)).decode("ascii")})
    response = transaction(server, {"request": {"method": "PATCH", "url": f"Goal/{goal_id}"},
                                    "resource": patch.as_json()})
    assert response.entry[0].response.status.startswith("200")
    patched = Goal.read(goal_id, server)
    assert patched.lifecycleStatus == "accepted" and patched.meta.versionId == "2"


def test_transaction(server, world, caller):
    goal_uuid = "urn:uuid:9b0e4f7c-5d21-4c83-b0a4-2e6f1d3c8a77"
    observation = Observation({"status": "final", "code": {"text": "Oppmøte på skolen"},
                               "valueString": "4 av 5 dager",
                               "subject": {"reference": f"Patient/{world.patient_id}"},
                               "focus": [{"reference": goal_uuid}]})
    response = transaction(
        server,
        {"fullUrl": goal_uuid, "request": {"method": "POST", "url": "Goal"},
         "resource": new_goal(world, f"Transaction by {caller}").as_json()},
        {"request": {"method": "POST", "url": "Observation"}, "resource": observation.as_json()})
    assert response.type == "transaction-response"
    assert [e.response.status[:3] for e in response.entry] == ["201", "201"]
    stored = Observation.read(response.entry[1].resource.id, server)
    assert stored.focus[0].reference == f"Goal/{response.entry[0].resource.id}"


def test_history(server, world, caller):
    goal = new_goal(world, f"History by {caller}")
    goal_id = create(server, goal)
    goal.lifecycleStatus = "active"
    goal.update(server)
    history = Bundle.read_from(f"Goal/{goal_id}/_history", server)
    assert history.type == "history"
    assert [(e.resource.meta.versionId, e.resource.lifecycleStatus) for e in history.entry] == \
        [("2", "active"), ("1", "proposed")]


def test_current_plan(server, world):
    query = f"patient-identifier={quote(world.patient_identifier)}"
    bundle = Bundle.read_from(f"CarePlan/$current?{query}", server)
    found = {(e.resource.resource_type, e.resource.id) for e in bundle.entry}
    assert {("CarePlan", world.plan_id), ("Patient", world.patient_id), ("CareTeam", world.team_id),
            ("Practitioner", world.practitioner_id)} <= found
    assert {("Goal", goal_id) for goal_id in world.goal_ids[:2]} <= found


def test_render_as_binary(server, world):
    binary = Binary.read_from(f"CarePlan/{world.plan_id}/$render", server)
    assert binary.contentType.startswith("text/html")
    assert "Individuell plan" in base64.b64decode(binary.data).decode("utf-8")


def test_a_practitioner_no_consent_names_learns_nothing(served, world):
    """With no consent naming them anywhere they have no right to the type: 403 for every id alike."""
    outsider = connect(served, world.outsider_token)
    refusals = []
    for patient_id in (world.patient_id, "no-such-patient"):
        with pytest.raises(FHIRPermissionDeniedException) as refused:
            Patient.read(patient_id, outsider)
        refusals.append(refused.value.response.content)
    assert refusals[0] == refusals[1]
