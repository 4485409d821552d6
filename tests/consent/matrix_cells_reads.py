"""Matrix cells that read: includes, chains, `_has`, `_sort`, paging, system and compartment
search, history at every level. Each cell checks both ways: nothing hidden, nothing missing."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import matrix_world as mw
import orjson
from matrix_checks import (
    WORLD,
    Matrix,
    Resource,
    assert_masked,
    assert_only_visible,
    assert_same_as_unknown,
    key_of,
    keys,
    refused_or_empty,
    resources,
    unknown_id,
    world_of,
)

from fhirip.testing.live import Fhir


def search_criteria(res_type: str) -> str:
    # The access log grows with every request; the seeded events are the stable part of it.
    return "&_id=audit-kari,audit-eva,audit-jon" if res_type == "AuditEvent" else ""


def visible_only(actor: mw.MatrixActor, found: dict[str, Resource]) -> dict[str, Resource]:
    return {k: r for k, r in found.items() if mw.should_see(actor, r)}


def _refs(resource: Resource, *elements: str) -> set[str]:
    return {ref for element in elements for ref in mw._references(resource.get(element))}


def check_search(actor: mw.MatrixActor, response: httpx.Response, matches: set[str],
                  included: set[str] | None = None) -> None:
    if not matches and not included and refused_or_empty(response):
        return
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert_only_visible(actor, resources(bundle))
    assert keys(bundle, "match") == matches
    if included is not None:
        assert keys(bundle, "include") == included - matches


def cell_include(m: Matrix, actor: mw.MatrixActor, client: Fhir) -> None:
    plans = visible_only(actor, m.all_of("CarePlan"))
    everything = {**m.all_of("Goal"), **m.all_of("Patient"), **m.all_of("CareTeam")}
    elements = ("subject", "careTeam") if actor.masked else ("goal", "subject", "careTeam")
    included = {ref for plan in plans.values() for ref in _refs(plan, *elements)
                if ref in everything and mw.should_see(actor, everything[ref])}
    query = "/CarePlan?_include=CarePlan:subject&_include=CarePlan:care-team&_count=100"
    with_goals = client.get(query + "&_include=CarePlan:goal")
    if actor.masked:  # the plan's goals are masked: following them would show that they exist
        assert with_goals.status_code == 403, with_goals.text
        check_search(actor, client.get(query), set(plans), included)
    else:
        check_search(actor, with_goals, set(plans), included)


def cell_revinclude(m: Matrix, actor: mw.MatrixActor, client: Fhir) -> None:
    plans = visible_only(actor, m.all_of("CarePlan"))
    referring = {**m.all_of("ServiceRequest"), **m.all_of("Task"), **m.all_of("Provenance")}
    included = {k for k, r in referring.items() if mw.should_see(actor, r)
                and _refs(r, "basedOn", "target") & set(plans)}
    response = client.get("/CarePlan?_revinclude=ServiceRequest:based-on&_revinclude=Task:based-on"
                          "&_revinclude=Provenance:target&_count=100")
    check_search(actor, response, set(plans), included)
    # The access log through a reverse include: the patient's own entries, nobody else's.
    logged = client.get("/Patient?_revinclude=AuditEvent:patient&_count=100")
    if logged.status_code == 200:
        assert_only_visible(actor, resources(logged.json()))
        if not actor.reads("kari", "AuditEvent") and not actor.everything:
            assert not [r for r in resources(logged.json()) if r["resourceType"] == "AuditEvent"]


def cell_include_iterate(m: Matrix, actor: mw.MatrixActor, client: Fhir) -> None:
    tasks = visible_only(actor, m.all_of("Task"))
    plans = visible_only(actor, m.all_of("CarePlan"))
    goals = visible_only(actor, m.all_of("Goal"))
    requests = visible_only(actor, m.all_of("ServiceRequest"))
    based_on = {ref for task in tasks.values() for ref in _refs(task, "basedOn")}
    reached_plans, first_goals = based_on & set(plans), based_on & set(goals)
    reached_goals = {ref for p in reached_plans for ref in _refs(plans[p], "goal") if ref in goals}
    reached_requests = {k for k, r in requests.items() if _refs(r, "basedOn") & (reached_plans | first_goals)}
    response = client.get("/Task?_include=Task:based-on&_include:iterate=CarePlan:goal"
                          "&_revinclude:iterate=ServiceRequest:based-on&_count=1000")
    check_search(actor, response, set(tasks), reached_plans | first_goals | reached_goals | reached_requests)


def cell_chain(m: Matrix, actor: mw.MatrixActor, client: Fhir) -> None:
    plans, goals = visible_only(actor, m.all_of("CarePlan")), visible_only(actor, m.all_of("Goal"))
    on_hold = {k for k, p in plans.items()
               if any(goals[g]["lifecycleStatus"] == "on-hold" for g in _refs(p, "goal") if g in goals)}
    check_search(actor, client.get("/CarePlan?goal.lifecycle-status=on-hold"), on_hold)
    patients = visible_only(actor, m.all_of("Patient"))
    jons = {k for k, g in goals.items() if _refs(g, "subject") & {"Patient/jon"} and "Patient/jon" in patients}
    check_search(actor, client.get(f"/Goal?subject.identifier={mw.FNR}|{mw.JON_FNR}&_count=1000"), jons)
    # Through a Consent into the plan's masked measures: the unit must not learn the code.
    consents = visible_only(actor, m.all_of("Consent"))
    secret = {k for k, c in consents.items() if not actor.masked
              and any(mw.SECRET_MEASURE in orjson.dumps(plans[ref]).decode()
                      for ref in _refs(c.get("provision", {}), "data") if ref in plans)}
    response = client.get(f"/Consent?data:CarePlan.activity-code={mw.SECRET_MEASURE}")
    check_search(actor, response, secret)


def cell_has(m: Matrix, actor: mw.MatrixActor, client: Fhir) -> None:
    requests = visible_only(actor, m.all_of("ServiceRequest"))
    revoked = [r for r in requests.values() if r["status"] == "revoked"]
    patients, plans = visible_only(actor, m.all_of("Patient")), visible_only(actor, m.all_of("CarePlan"))
    check_search(actor, client.get("/Patient?_has:ServiceRequest:subject:status=revoked"),
                  {ref for r in revoked for ref in _refs(r, "subject") if ref in patients})
    check_search(actor, client.get("/CarePlan?_has:ServiceRequest:based-on:status=revoked"),
                  {ref for r in revoked for ref in _refs(r, "basedOn") if ref in plans})
    secret = set() if actor.masked else {
        ref for p in plans.values() if mw.SECRET_MEASURE in orjson.dumps(p).decode()
        for ref in _refs(p, "subject") if ref in patients}
    response = client.get(f"/Patient?_has:CarePlan:patient:activity-code={mw.SECRET_MEASURE}")
    check_search(actor, response, secret)
    coded = set() if actor.masked else {k for k, p in plans.items() if mw.SECRET_MEASURE in orjson.dumps(p).decode()}
    response = client.get(f"/?_type=CarePlan&activity-code={mw.SECRET_MEASURE}")
    if actor.system_wide:
        check_search(actor, response, coded)


def cell_sort(m: Matrix, actor: mw.MatrixActor, client: Fhir) -> None:
    people = visible_only(actor, m.all_of("RelatedPerson"))
    response = client.get("/RelatedPerson?_sort=-_id&_count=100")
    check_search(actor, response, set(people))
    if people:
        assert [key_of(r) for r in resources(response.json())] == sorted(people, reverse=True)
    # Ordering plans by a masked element would rank what the administrative view hides.
    ordered = client.get("/CarePlan?_sort=activity-code&_count=100")
    if actor.masked:
        assert ordered.status_code == 403, ordered.text
    else:
        check_search(actor, ordered, set(visible_only(actor, m.all_of("CarePlan"))))


def _pages(client: Fhir, url: str) -> Iterator[Resource]:
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.text
        bundle = response.json()
        yield bundle
        url = next((link["url"] for link in bundle.get("link", []) if link["relation"] == "next"), "")


def cell_paging(m: Matrix, actor: mw.MatrixActor, client: Fhir) -> None:
    for res_type in ("RelatedPerson", "Patient", "CarePlan"):
        expected = set(visible_only(actor, m.all_of(res_type)))
        first = client.get(f"/{res_type}?_count=1&_total=accurate")
        if not expected and refused_or_empty(first):
            continue
        seen: list[str] = []
        for bundle in _pages(client, f"{m.server.url}/{res_type}?_count=1&_total=accurate"):
            found = resources(bundle)
            assert len(found) == 1, f"an under-filled page betrays hidden matches: {bundle}"
            assert bundle["total"] == len(expected)
            assert_only_visible(actor, found)
            seen += [key_of(r) for r in found]
        assert sorted(seen) == sorted(expected)


def cell_foreign_page(m: Matrix, actor: mw.MatrixActor, client: Fhir) -> None:
    """Page links made for the system client, followed by this actor, show only the actor's share."""
    made = m.truth.get("/Goal?_count=1&_total=accurate")
    assert made.status_code == 200, made.text
    links = {link["relation"]: link["url"] for link in made.json()["link"]}
    expected = set(visible_only(actor, m.all_of("Goal")))
    for relation in ("first", "next", "last"):
        response = client.get(links[relation])
        if not expected and response.status_code == 403:
            continue
        assert response.status_code == 200, response.text
        page = response.json()
        assert_only_visible(actor, resources(page))
        assert page["total"] == len(expected)


def cell_system_search(m: Matrix, actor: mw.MatrixActor, client: Fhir) -> None:
    types = ("Patient", "CarePlan", "Goal", "DocumentReference", "EpisodeOfCare")
    expected = {k for t in types for k, r in m.all_of(t).items() if mw.should_see(actor, r)}
    found = client.get(f"/?_type={','.join(types)}&_total=accurate&_count=1000")
    posted = client.post("/_search", data={"_type": ",".join(types), "_total": "accurate", "_count": "1000"})
    counted = client.get(f"/?_type={','.join(types)}&_summary=count")
    if not actor.system_wide:
        assert found.status_code == posted.status_code == counted.status_code == 403
        return
    for response in (found, posted):
        check_search(actor, response, expected)
        assert response.json()["total"] == len(expected)
    assert counted.json()["total"] == len(expected)


def cell_compartment(m: Matrix, actor: mw.MatrixActor, client: Fhir) -> None:
    nobody = unknown_id()
    unknown = client.get(f"/Patient/{nobody}/Goal?_count=1000")
    goals = visible_only(actor, m.all_of("Goal"))
    for patient in mw.PATIENTS:
        response = client.get(f"/Patient/{patient}/Goal?_count=1000")
        if mw.should_see(actor, WORLD[f"Patient/{patient}"]):
            check_search(actor, response, {k for k, g in goals.items()
                                             if _refs(g, "subject") == {f"Patient/{patient}"}})
        else:
            assert_same_as_unknown(response, patient, unknown, nobody)


def _history_keys(bundle: Resource) -> set[tuple[str, str]]:
    return {(e["fullUrl"].split("/", 3)[-1], e["response"]["etag"]) for e in bundle.get("entry", [])}


def cell_history_instance(m: Matrix, actor: mw.MatrixActor, client: Fhir) -> None:
    nobody = unknown_id()
    for res_type in ("Patient", "CarePlan", "Goal", "Consent"):
        unknown = client.get(f"/{res_type}/{nobody}/_history")
        truth = _history_keys(m.truth.get(f"/{res_type}/_history?_count=1000&_since={m.since}").json())
        for resource in world_of(res_type):
            path = f"/{res_type}/{resource['id']}/_history"
            response = client.get(path)
            if mw.should_see(actor, resource):
                assert response.status_code == 200, response.text
                expected = {(url, tag) for url, tag in truth if url == f"{res_type}/{resource['id']}"}
                assert _history_keys(response.json()) == expected
                assert response.json()["total"] == len(expected)
                assert_masked(actor, resources(response.json()))
            else:
                assert_same_as_unknown(response, resource["id"], unknown, nobody)


def history_check(m: Matrix, actor: mw.MatrixActor, client: Fhir, path: str) -> None:
    query = f"?_count=1000&_since={m.since}"
    truth = m.truth.get(path + query).json()
    response = client.get(path + query)
    if not actor.system_wide:
        assert response.status_code == 403
        return
    newest: dict[str, Resource] = {}
    versions: dict[tuple[str, str], Resource | None] = {}
    for entry in reversed(truth.get("entry", [])):  # oldest first, so the newest version wins
        url = entry["fullUrl"].split("/", 3)[-1]
        newest[url] = entry
        versions[url, entry["response"]["etag"]] = entry.get("resource")
    # A resource is found by what it is now, and each older version is judged by what it held
    # then (a version from another patient's record stays there: see the moved-between-records
    # cell); a deletion that was followed by a new version, by the version it deleted. A deleted
    # resource is found by the version it deleted: whoever could see that one sees its history.
    def deleted_version(url: str, entry: Resource) -> Resource | None:
        tag = entry["response"]["etag"]
        return versions.get((url, f'W/"{int(tag[3:-1]) - 1}"'))

    current = {url: entry["resource"] if "resource" in entry else deleted_version(url, entry)
               for url, entry in newest.items()}
    current = {url: content for url, content in current.items() if content is not None}

    def shown(url: str, tag: str) -> bool:
        if actor.everything:
            return True
        if url not in current or not mw.should_see(actor, current[url]):
            return False
        content = versions[url, tag]
        if content is None:
            content = versions.get((url, f'W/"{int(tag[3:-1]) - 1}"'))
        return content is not None and mw.should_see(actor, content)

    expected = {(url, tag) for url, tag in _history_keys(truth) if shown(url, tag)}
    if not expected and refused_or_empty(response):
        return
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert_masked(actor, resources(bundle))
    assert _history_keys(bundle) == expected
    assert bundle["total"] == len(expected)


def cell_history_type(m: Matrix, actor: mw.MatrixActor, client: Fhir) -> None:
    for res_type in ("CarePlan", "Patient", "Consent"):
        history_check(m, actor, client, f"/{res_type}/_history")


def cell_history_system(m: Matrix, actor: mw.MatrixActor, client: Fhir) -> None:
    history_check(m, actor, client, "/_history")
