"""Matrix cells that write or may reveal through a write: batch, transaction, conditional
create/update/delete, update, PATCH, create, deletes, masked references, $validate, versions that
moved between records and the access log."""

from __future__ import annotations

import httpx
import matrix_world as mw
import orjson
from matrix_cells_reads import (
    check_search,
    visible_only,
)
from matrix_checks import (
    GOALS,
    WORLD,
    Matrix,
    Resource,
    answer,
    assert_masked,
    assert_same_as_unknown,
    keys,
    refused_or_empty,
    resources,
    unknown_id,
    world_of,
)

from fhirip.testing.live import Fhir


def _entry_status(entry: Resource) -> int:
    return int(entry["response"]["status"].split()[0])


def cell_batch(m: Matrix, actor: mw.MatrixActor, client: Fhir) -> None:
    nobody = unknown_id()
    reads = [f"{t}/{r['id']}" for t in ("Patient", "CarePlan", "Goal", "DocumentReference", "Consent")
             for r in world_of(t)]
    probes = reads + [f"{t}/{nobody}" for t in ("Patient", "CarePlan", "Goal", "DocumentReference", "Consent")]
    bundle = {"resourceType": "Bundle", "type": "batch",
              "entry": [{"request": {"method": "GET", "url": url}} for url in probes]
              + [{"request": {"method": "GET", "url": "Goal?_total=accurate&_count=1000"}}]}
    response = client.send_json("POST", "/", bundle)
    if response.status_code == 403:  # refused as a whole: says nothing about any entry
        assert not any(mw.should_see(actor, WORLD[url]) for url in reads)
        return
    assert response.status_code == 200, response.text
    entries = response.json()["entry"]
    by_url = dict(zip(probes, entries[:-1], strict=True))
    for url in reads:
        entry = by_url[url]
        if mw.should_see(actor, WORLD[url]):
            assert _entry_status(entry) == 200 and entry["resource"]["id"] == url.split("/")[1]
            assert_masked(actor, [entry["resource"]])
        else:
            res_type, res_id = url.split("/")
            hidden = orjson.dumps(entry).decode().replace(res_id, "<id>")
            assert hidden == orjson.dumps(by_url[f"{res_type}/{nobody}"]).decode().replace(nobody, "<id>")
    goals = visible_only(actor, m.all_of("Goal"))
    search = entries[-1]
    if goals or _entry_status(search) == 200:
        assert keys(search["resource"]) == set(goals) and search["resource"]["total"] == len(goals)


def _transaction(client: Fhir, *entries: Resource) -> httpx.Response:
    return client.send_json("POST", "/", {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)})


def _goal_body(patient: str) -> Resource:
    return {"resourceType": "Goal", "lifecycleStatus": "proposed", "subject": {"reference": f"Patient/{patient}"},
            "description": {"text": "Nytt mål"}}


def cell_transaction(m: Matrix, actor: mw.MatrixActor, client: Fhir) -> None:
    hidden_goal, nobody = m.scratch_goal("jon"), unknown_id()
    sees = mw.should_see(actor, {**_goal_body("jon"), "id": hidden_goal})

    def put(goal_id: str) -> httpx.Response:
        return _transaction(client, {"resource": {**_goal_body("jon"), "id": goal_id},
                                     "request": {"method": "PUT", "url": f"Goal/{goal_id}"}})

    def delete(goal_id: str) -> httpx.Response:
        return _transaction(client, {"request": {"method": "DELETE", "url": f"Goal/{goal_id}"}})

    if not sees:
        assert_same_as_unknown(put(hidden_goal), hidden_goal, put(nobody), nobody)
        assert answer(delete(hidden_goal), hidden_goal) == answer(delete(nobody), nobody)
        assert m.truth.get(f"/Goal/{hidden_goal}").status_code == 200  # untouched
    identifier = m.identifier_of(f"Goal/{hidden_goal}")
    created = [_transaction(client, {"resource": _goal_body("kari"), "request": {
        "method": "POST", "url": "Goal", "ifNoneExist": f"identifier={GOALS}|{value}"}})
        for value in (identifier, f"ingen-{nobody}")]
    if sees:
        assert created[0].status_code in (200, 403)
    else:
        assert created[0].status_code == created[1].status_code, (created[0].text, created[1].text)
    # A conditional reference resolves only to what the caller sees: Jon is no match, like nobody.
    linked = [_transaction(client, {"fullUrl": "urn:uuid:6f1c2a52-8d9e-4f0b-9a51-0c3d2e1f4a7b", "resource": {
        **_goal_body("kari"), "subject": {"reference": f"Patient?identifier={mw.FNR}|{fnr}"}},
        "request": {"method": "POST", "url": "Goal"}}) for fnr in (mw.JON_FNR, "01010112345")]
    if not mw.should_see(actor, WORLD["Patient/jon"]):
        assert answer(linked[0], mw.JON_FNR) == answer(linked[1], "01010112345")


def _conditional_create(client: Fhir, criteria: str) -> httpx.Response:
    return client.post("/Goal", content=orjson.dumps(_goal_body("kari")),
                       headers={"Content-Type": "application/fhir+json", "If-None-Exist": criteria})


def cell_conditional_create(m: Matrix, actor: mw.MatrixActor, client: Fhir) -> None:
    nothing = _conditional_create(client, f"identifier={GOALS}|ingen-{unknown_id()}")
    writes = "Goal" in actor.writes_to
    assert nothing.status_code == (201 if writes else 403), nothing.text
    goals = m.all_of("Goal")
    for patient in mw.PATIENTS:  # criteria matching exactly one goal, of each patient
        response = _conditional_create(client, f"identifier={GOALS}|goal-{patient}")
        if mw.should_see(actor, goals[f"Goal/goal-{patient}"]) and response.status_code != 403:
            assert response.status_code == 200 and response.json()["id"] == f"goal-{patient}"
        else:
            assert response.status_code == nothing.status_code, response.text
            assert f"goal-{patient}" not in response.text
    # `delt` is shared by every patient's goal: only the ones the actor sees may count.
    shared = _conditional_create(client, f"identifier={GOALS}|delt")
    seen = [k for k, g in goals.items() if mw.should_see(actor, g)
            and {"system": GOALS, "value": "delt"} in g.get("identifier", [])]
    if shared.status_code != 403:
        expected = {0: nothing.status_code, 1: 200}.get(len(seen), 412)
        assert shared.status_code == expected, (seen, shared.text)
    else:
        assert not writes


def cell_conditional_update(m: Matrix, actor: mw.MatrixActor, client: Fhir) -> None:
    hidden_goal = m.scratch_goal("jon")
    identifier = m.identifier_of(f"Goal/{hidden_goal}")

    def update(value: str) -> httpx.Response:
        return client.send_json("PUT", f"/Goal?identifier={GOALS}|{value}", _goal_body("kari"))

    on_hidden, on_nothing = update(identifier), update(f"ingen-{unknown_id()}")
    if mw.should_see(actor, {**_goal_body("jon"), "id": hidden_goal}):
        assert on_hidden.status_code in (200, 403)
        return
    assert on_hidden.status_code == on_nothing.status_code, (on_hidden.text, on_nothing.text)
    assert hidden_goal not in on_hidden.text
    after = m.truth.get(f"/Goal/{hidden_goal}").json()
    assert after["meta"]["versionId"] == "1" and after["subject"] == {"reference": "Patient/jon"}


def cell_conditional_delete(m: Matrix, actor: mw.MatrixActor, client: Fhir) -> None:
    for patient in ("jon", "kari"):
        goal = m.scratch_goal(patient)
        identifier = m.identifier_of(f"Goal/{goal}")
        response = client.delete(f"/Goal?identifier={GOALS}|{identifier}")
        nothing = client.delete(f"/Goal?identifier={GOALS}|ingen-{unknown_id()}")
        still_there = m.truth.get(f"/Goal/{goal}").status_code == 200
        if not mw.should_see(actor, {**_goal_body(patient), "id": goal}):
            assert response.status_code == nothing.status_code and still_there
        elif "Goal" in actor.writes_to:
            assert response.status_code == 204 and not still_there
        else:
            assert response.status_code == 403 and still_there


def cell_update(m: Matrix, actor: mw.MatrixActor, client: Fhir) -> None:
    nobody = unknown_id()

    def put(goal_id: str, patient: str) -> httpx.Response:
        return client.send_json("PUT", f"/Goal/{goal_id}", {**_goal_body(patient), "id": goal_id})

    hidden_goal = m.scratch_goal("jon")
    if not mw.should_see(actor, {**_goal_body("jon"), "id": hidden_goal}):
        assert_same_as_unknown(put(hidden_goal, "jon"), hidden_goal, put(nobody, "jon"), nobody)
    mine = m.scratch_goal("kari")
    response = put(mine, "kari")
    if not mw.should_see(actor, {**_goal_body("kari"), "id": mine}):
        assert_same_as_unknown(response, mine, put(nobody, "kari"), nobody)
    else:
        assert response.status_code == (200 if "Goal" in actor.writes_to else 403), response.text


def _json_patch(client: Fhir, url: str) -> httpx.Response:
    operations = [{"op": "replace", "path": "/status", "value": "in-progress"}]
    return client.request("PATCH", url, content=orjson.dumps(operations),
                          headers={"Content-Type": "application/json-patch+json"})


def cell_patch(m: Matrix, actor: mw.MatrixActor, client: Fhir) -> None:
    nobody = unknown_id()
    unknown = _json_patch(client, f"/Task/{nobody}")
    unknown_conditional = _json_patch(client, f"/Task?_id={nobody}")
    for patient in mw.PATIENTS:
        task = WORLD[f"Task/task-{patient}"]
        version = m.truth.get(f"/Task/{task['id']}").json()["meta"]["versionId"]
        response = _json_patch(client, f"/Task/{task['id']}")
        conditional = _json_patch(client, f"/Task?_id={task['id']}")
        if not mw.should_see(actor, task):
            assert_same_as_unknown(response, task["id"], unknown, nobody)
            assert answer(conditional, task["id"]) == answer(unknown_conditional, nobody)
            assert m.truth.get(f"/Task/{task['id']}").json()["meta"]["versionId"] == version
        elif "Task" in actor.writes_to and patient == "kari" or actor.everything:
            assert response.status_code == conditional.status_code == 200, response.text
        else:
            assert response.status_code == conditional.status_code == 403, response.text


def cell_create(m: Matrix, actor: mw.MatrixActor, client: Fhir) -> None:
    nobody = unknown_id()
    for_hidden, for_nobody = client.create(_goal_body("jon")), client.create(_goal_body(nobody))
    if mw.should_see(actor, WORLD["Patient/jon"]):
        assert for_hidden.status_code == (201 if actor.everything else 403), for_hidden.text
    else:
        assert answer(for_hidden, "jon") == answer(for_nobody, nobody)
    # A reference to something the actor may not see is a reference to nothing.
    def task(plan: str) -> httpx.Response:
        return client.create({"resourceType": "Task", "status": "draft", "intent": "plan",
                              "for": {"reference": "Patient/kari"}, "basedOn": [{"reference": f"CarePlan/{plan}"}]})
    to_hidden, to_nothing = task("plan-jon"), task(nobody)
    if mw.should_see(actor, WORLD["CarePlan/plan-jon"]):
        assert to_hidden.status_code == (201 if actor.everything else 403)
    else:
        assert answer(to_hidden, "plan-jon") == answer(to_nothing, nobody)


def cell_deleted(m: Matrix, actor: mw.MatrixActor, client: Fhir) -> None:
    nobody = unknown_id()
    unknown = {"read": client.get(f"/Goal/{nobody}"), "history": client.get(f"/Goal/{nobody}/_history")}
    for patient in mw.PATIENTS:
        goal = m.scratch_goal(patient)
        saw = mw.should_see(actor, {**_goal_body(patient), "id": goal})
        assert m.truth.delete(f"/Goal/{goal}").status_code == 204
        got = {"read": client.get(f"/Goal/{goal}"), "history": client.get(f"/Goal/{goal}/_history")}
        if actor.everything or saw:  # whoever could see the version deleted sees the deletion
            assert got["read"].status_code == 410 and got["history"].status_code == 200
        else:
            for how, response in got.items():
                assert_same_as_unknown(response, goal, unknown[how], nobody)


def cell_delete_referenced(m: Matrix, actor: mw.MatrixActor, client: Fhir) -> None:
    """A hidden referrer neither stops a delete nor is named or deleted with it."""
    goal = m.scratch_goal("kari")
    task = m.truth.create({"resourceType": "Task", "status": "draft", "intent": "plan",
                           "for": {"reference": "Patient/jon"}, "basedOn": [{"reference": f"Goal/{goal}"}]})
    assert task.status_code == 201, task.text
    hidden_task = task.json()["id"]
    plain, cascading = client.delete(f"/Goal/{goal}"), client.delete(f"/Goal/{goal}?_cascade=delete")
    if actor.everything:
        assert plain.status_code == 409 and hidden_task in plain.text
        return
    assert m.truth.get(f"/Task/{hidden_task}").status_code == 200  # a hidden referrer is never touched
    for response in (plain, cascading):
        assert hidden_task not in response.text and "jon" not in response.text, response.text
    if not mw.should_see(actor, {**_goal_body("kari"), "id": goal}):
        assert plain.status_code == client.delete(f"/Goal/{unknown_id()}").status_code
        assert m.truth.get(f"/Goal/{goal}").status_code == 200  # still there
    elif "Goal" in actor.writes_to:
        # Only referrers the caller may see stop a delete: it goes on as if nothing referred to it.
        assert plain.status_code == 204, plain.text
        assert m.truth.get(f"/Goal/{goal}").status_code == 410
    else:
        assert plain.status_code == 403, plain.text


def cell_masked_reference(m: Matrix, actor: mw.MatrixActor, client: Fhir) -> None:
    """A reference the administrative view masks (CarePlan.replaces) is not searchable by it."""
    response = client.get(f"/CarePlan?replaces=CarePlan/{mw.EARLIER_PLAN}")
    plan = WORLD["CarePlan/plan-kari"]
    if actor.masked:
        assert refused_or_empty(response), response.text
    else:
        check_search(actor, response, {"CarePlan/plan-kari"} if mw.should_see(actor, plan) else set())


def cell_validate(m: Matrix, actor: mw.MatrixActor, client: Fhir) -> None:
    """$validate of a stored instance tells no more than a read of it would."""
    nobody = unknown_id()
    unknown = client.get(f"/CarePlan/{nobody}/$validate")
    for patient in mw.PATIENTS:
        plan = WORLD[f"CarePlan/plan-{patient}"]
        response = client.get(f"/CarePlan/{plan['id']}/$validate")
        if not mw.should_see(actor, plan):
            assert_same_as_unknown(response, plan["id"], unknown, nobody)
    # mode=delete lists what refers to the plan: Jon's service request is hidden from most.
    referrers = client.get("/CarePlan/plan-kari/$validate?mode=delete")
    if not mw.should_see(actor, WORLD["ServiceRequest/sr-jon"]):
        assert "sr-jon" not in referrers.text, referrers.text


def cell_moved_between_records(m: Matrix, actor: mw.MatrixActor, client: Fhir) -> None:
    """A Goal first recorded for Jon, then moved to Kari: its first version is Jon's record."""
    created = m.truth.create({**_goal_body("jon"), "description": {"text": "Jons første mål"}})
    assert created.status_code == 201, created.text
    moved = {**created.json(), "subject": {"reference": "Patient/kari"}, "description": {"text": "Flyttet"}}
    assert m.truth.update(moved).status_code == 200
    goal = moved["id"]
    first, history = client.get(f"/Goal/{goal}/_history/1"), client.get(f"/Goal/{goal}/_history")
    if mw.should_see(actor, {**_goal_body("jon"), "id": goal}):
        assert first.status_code == 200
    elif mw.should_see(actor, moved):
        assert first.status_code == 404, first.text
        assert client.get(f"/Goal/{goal}/_history/2").status_code == 200
        assert "Jons" not in history.text and "Patient/jon" not in history.text, history.text
        # left out as if never written: neither the page nor the total counts it
        assert history.status_code == 200 and history.json()["total"] == 1, history.text
        assert [e["response"]["etag"] for e in history.json()["entry"]] == ['W/"2"']
    else:
        assert first.status_code in (403, 404) and history.status_code in (403, 404)


def cell_access_log(m: Matrix, actor: mw.MatrixActor, client: Fhir) -> None:
    m.truth.get("/Goal")  # the system client touches every patient's goals in one request
    log = client.get("/AuditEvent?_count=200&_sort=-date")
    if not actor.reads("kari", "AuditEvent") and not actor.everything:
        assert refused_or_empty(log) or all(mw.should_see(actor, r) for r in resources(log.json()))
        return
    assert log.status_code == 200, log.text
    events = resources(log.json())
    assert events and all(mw.should_see(actor, e) for e in events)
    if actor.everything:
        return
    # Each entry of the patient's log speaks of the patient's own record only.
    foreign = sorted({ref for e in events for ref in mw._references(e.get("entity"))
                      if ref.startswith("Patient/") and ref != "Patient/kari"
                      or ref in WORLD and not mw.should_see(actor, WORLD[ref])})
    assert not foreign, f"the access log names {foreign}"
