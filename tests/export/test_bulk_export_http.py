"""Bulk Data `$export` and `Patient/[id]/$everything` over HTTP against `fhirip serve`, on both stores.

An export is what its caller's own searches find (ids and versions, masked content too), runs
in the background in chunks, and is reachable only by its caller: the kick-off / poll /
download / delete cycle as the Bulk Data IG describes it, 404 for another caller's or an
expired status URL, 401 for a file without a token.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from export_support import BulkClient, database_url, load, serving, versions
from sqlalchemy import select, update

import export_world as world
from fhirip.consent.compartment import patients_of
from fhirip.store import Store
from fhirip.store.schema import export_job
from fhirip.testing.served import ServedFhirip

# The types of the world, each compared with the caller's search of it.
WORLD_TYPES = sorted({r["resourceType"] for r in world.records()})


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def server(request: pytest.FixtureRequest, postgres: Any, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[ServedFhirip]:
    directory = tmp_path_factory.mktemp(f"export-{request.param}")
    url = database_url(request.param, postgres, directory, "served_bulk_export")
    with serving(url, directory, FHIRIP_EXPORT_CHUNK="7") as served:
        load(url, world.records())
        served.database = url  # type: ignore[attr-defined]
        yield served


@pytest.fixture(scope="module")
def callers(server: ServedFhirip) -> Iterator[dict[str, BulkClient]]:
    clients = {
        "system": BulkClient(server, world.system()),
        "vidar": BulkClient(server, world.practitioner(world.VIDAR)),
        "hilde": BulkClient(server, world.practitioner(world.HILDE)),
        "unit": BulkClient(server, world.practitioner(world.UNIT_WORKER, world.ENHET, role="koordinerende-enhet")),
        "mia": BulkClient(server, world.person(world.MIA)),
        "lene": BulkClient(server, world.person(world.LENE)),
    }
    yield clients
    for client in clients.values():
        client.close()


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def test_a_kick_off_without_prefer_respond_async_is_refused(callers):
    response = callers["system"].http.get("/$export", headers={"Accept": "application/fhir+json"})
    assert response.status_code == 400
    assert "respond-async" in response.json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize("params, named", [
    ({"_type": "NoSuchType"}, "_type"), ({"_outputFormat": "text/csv"}, "_outputFormat"),
    ({"_since": "yesterday"}, "_since"), ({"_typeFilter": "Patient?active=true"}, "_typeFilter"),
])
def test_bad_kick_off_parameters_are_refused_naming_them(callers, params, named):
    response = callers["system"].kick_off(**params)
    assert response.status_code == 400, response.text
    assert response.json()["issue"][0]["expression"] == [named]


def test_the_kick_off_poll_download_delete_cycle(callers, server):
    system = callers["system"]
    status_url = system.started(_type="Patient,CarePlan,Observation")
    manifest = system.wait(status_url)
    assert manifest["requiresAccessToken"] is True and manifest["error"] == []
    assert manifest["request"].endswith("/$export?_type=Patient%2CCarePlan%2CObservation")
    assert datetime.fromisoformat(manifest["transactionTime"].replace("Z", "+00:00")) <= datetime.now(UTC)
    exported = system.files(manifest)
    assert {t: len(r) for t, r in exported.items()} == {"Patient": 2, "CarePlan": 2, "Observation": world.OBSERVATIONS}
    file_url = manifest["output"][0]["url"]
    assert httpx_get(server, file_url).status_code == 401  # no token
    unknown = callers["vidar"].http.get(_path(status_url).rsplit("/", 1)[0] + "/no-such-job")
    for other in (callers["vidar"], callers["mia"]):  # another caller: like an unknown job
        foreign = other.http.get(status_url)
        assert foreign.status_code == 404
        assert foreign.json() == {**unknown.json(), "issue": [
            {**unknown.json()["issue"][0], "diagnostics": unknown.json()["issue"][0]["diagnostics"].replace(
                "no-such-job", status_url.rsplit("/", 1)[1])}]}
        assert other.http.get(file_url).status_code == 404
    directory = server.data_dir / "exports" / status_url.rsplit("/", 1)[1]
    assert directory.is_dir()
    assert system.http.delete(status_url).status_code == 202
    assert system.http.get(status_url).status_code == 404
    assert system.http.get(file_url).status_code == 404
    assert not directory.exists()


def httpx_get(server: ServedFhirip, url: str) -> Any:
    with server.client() as anonymous:
        return anonymous.get(_path(url))


@pytest.mark.parametrize("caller", ["system", "vidar", "hilde", "unit", "mia", "lene"])
def test_an_export_is_what_the_callers_search_finds(callers, caller):
    client = callers[caller]
    _, manifest, exported = client.export()
    for res_type in sorted(set(WORLD_TYPES) | set(exported)):
        searched = client.searched(res_type) if client.http.get(f"/{res_type}?_count=0").status_code == 200 else []
        if res_type == "AuditEvent":
            # Every request records one, and the background mover may be storing some as the export
            # starts: the export holds events recorded before its kick-off, each one the search finds.
            events = exported.get(res_type, [])
            assert versions(events) <= versions(searched), caller
            assert all(e["meta"]["lastUpdated"] < manifest["transactionTime"] for e in events), caller
            continue
        assert versions(exported.get(res_type, [])) == versions(searched), (caller, res_type)
        # the content too: the administrative view is masked alike
        assert sorted(exported.get(res_type, []), key=lambda r: r["id"]) == \
            sorted(searched, key=lambda r: r["id"]), (caller, res_type)


def test_an_unconsented_practitioner_exports_nothing_of_the_patient(callers):
    _, _, exported = callers["hilde"].export()
    assert exported  # the directory and definitions are there
    assert not [r["id"] for rs in exported.values() for r in rs if "x-mia" in patients_of(r)]
    _, _, own = callers["vidar"].export("/Patient/$export")
    assert {r["id"] for r in own["Observation"]} == {f"x-obs-mia-{n}" for n in range(world.OBSERVATIONS)}


def test_the_person_and_the_guardian_export_the_childs_record(callers):
    for caller in ("mia", "lene"):
        _, _, exported = callers[caller].export("/Patient/$export")
        assert {r["id"] for r in exported["Patient"]} == {"x-mia"}, caller
        assert {r["id"] for r in exported["CarePlan"]} == {"x-plan-mia"}, caller
        assert len(exported["Observation"]) == world.OBSERVATIONS
        # nothing of Tor's record but what is in Mia's too (the Group of both)
        assert not [r["id"] for rs in exported.values() for r in rs if patients_of(r) == {"x-tor"}]


def test_a_group_export_holds_the_members_the_caller_may_see(callers):
    _, _, everyone = callers["system"].export("/Group/x-group/$export")
    assert {r["id"] for r in everyone["Patient"]} == {"x-mia", "x-tor"}
    assert {r["id"] for r in everyone["CarePlan"]} == {"x-plan-mia", "x-plan-tor"}
    _, _, vidars = callers["vidar"].export("/Group/x-group/$export", _type="Patient,CarePlan,Goal")
    assert set(vidars) == {"Patient", "CarePlan", "Goal"}
    assert {r["id"] for rs in vidars.values() for r in rs} == {"x-mia", "x-plan-mia", "x-goal-mia"}
    unknown = callers["vidar"].kick_off("/Group/no-such-group/$export")
    assert unknown.status_code == 404


def test_since_exports_only_what_changed_after_it(callers, server):
    since = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    time.sleep(0.01)
    changed = {**next(r for r in world.records() if r["id"] == "x-obs-mia-3"), "status": "amended"}
    load(server.database, [changed])
    _, manifest, exported = callers["system"].export(_since=since)
    assert [(t, [r["id"] for r in rs]) for t, rs in exported.items()] == [("Observation", ["x-obs-mia-3"])]


def test_elements_keeps_the_elements_asked_for(callers):
    _, _, exported = callers["system"].export(_type="Goal", _elements="lifecycleStatus")
    for goal in exported["Goal"]:
        assert set(goal) <= {"resourceType", "id", "meta", "lifecycleStatus", "subject", "description"}
        assert "description" not in goal or goal["description"]  # mandatory elements may stay


def test_each_exported_patient_has_an_audit_event_naming_the_export(callers):
    status_url = callers["vidar"].started("/Patient/$export", _type="Patient,Goal")
    callers["vidar"].wait(status_url)
    job = status_url.rsplit("/", 1)[1]
    deadline = time.monotonic() + 30
    while True:
        events = callers["mia"].searched("AuditEvent")
        if any(job in e.get("outcomeDesc", "") for e in events) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    named = [e for e in events if job in e.get("outcomeDesc", "")]
    assert named, "no AuditEvent in Mia's log names the export"
    assert all(any(en.get("what", {}).get("reference") == "Patient/x-mia" for en in e["entity"]) for e in named)


def test_an_expired_export_answers_404_and_its_files_are_removed(callers, server):
    system = callers["system"]
    status_url = system.started(_type="Patient")
    manifest = system.wait(status_url)
    job = status_url.rsplit("/", 1)[1]
    store = Store(server.database)
    try:
        store.run(lambda tx: tx.conn.execute(update(export_job).where(export_job.c.job_id == job).values(
            expires=datetime(2000, 1, 1))), write=True)
    finally:
        store.dispose()
    assert system.http.get(status_url).status_code == 404
    assert system.http.get(manifest["output"][0]["url"]).status_code == 404
    directory = Path(server.data_dir) / "exports" / job
    deadline = time.monotonic() + 30
    while directory.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not directory.exists()


# -- Patient/[id]/$everything ---------------------------------------------------------------

def _everything(client: BulkClient, patient: str, **params: str) -> tuple[int, dict[str, Any]]:
    response = client.http.get(f"/Patient/{patient}/$everything", params=params)
    return response.status_code, response.json()


def _all_pages(client: BulkClient, patient: str, count: int) -> list[dict[str, Any]]:
    entries = []
    url: str | None = f"/Patient/{patient}/$everything?_count={count}"
    while url:
        response = client.http.get(url)
        assert response.status_code == 200, response.text
        bundle = response.json()
        entries += bundle.get("entry", [])
        url = next((_path(link["url"]) for link in bundle["link"] if link["relation"] == "next"), None)
    return entries


@pytest.mark.parametrize("caller", ["mia", "lene", "vidar"])
def test_everything_answers_the_patient_the_guardian_and_the_coordinator(callers, caller):
    entries = _all_pages(callers[caller], "x-mia", 6)
    matches = {(e["resource"]["resourceType"], e["resource"]["id"]) for e in entries if e["search"]["mode"] == "match"}
    included = {(e["resource"]["resourceType"], e["resource"]["id"]) for e in entries if e["search"]["mode"] == "include"}
    assert ("Patient", "x-mia") in matches and ("CarePlan", "x-plan-mia") in matches
    assert {("Observation", f"x-obs-mia-{n}") for n in range(world.OBSERVATIONS)} <= matches
    assert ("Practitioner", "x-vidar") in included and ("Organization", "x-kommune") in included
    assert ("PlanDefinition", "x-mal") in included
    assert not [key for key in matches if key[1].endswith("tor")]
    one_page = _all_pages(callers[caller], "x-mia", 1000)
    lasting = {key for key in matches if key[0] != "AuditEvent"}  # every request adds an event
    assert {(e["resource"]["resourceType"], e["resource"]["id"]) for e in one_page
            if e["search"]["mode"] == "match" and e["resource"]["resourceType"] != "AuditEvent"} == lasting


def test_everything_of_a_patient_the_caller_may_not_see_is_like_an_unknown_one(callers):
    for caller, patient in (("hilde", "x-mia"), ("mia", "x-tor"), ("lene", "x-tor")):
        status, body = _everything(callers[caller], patient)
        unknown_status, unknown = _everything(callers[caller], "x-nobody")
        assert (status, unknown_status) == (404, 404)
        assert body["issue"][0]["diagnostics"] == unknown["issue"][0]["diagnostics"].replace("x-nobody", patient)


def test_everything_takes_type_and_since(callers):
    status, bundle = _everything(callers["vidar"], "x-mia", _type="Goal,Practitioner", _count="100")
    assert status == 200
    assert {(e["resource"]["resourceType"], e["search"]["mode"]) for e in bundle["entry"]} == {("Goal", "match")}
    status, bundle = _everything(callers["vidar"], "x-mia", _since="2999-01-01T00:00:00Z")
    assert status == 200 and "entry" not in bundle
    status, bundle = _everything(callers["vidar"], "x-mia", _page="nonsense")
    assert status == 400 and bundle["issue"][0]["expression"] == ["_page"]


def test_concurrent_kick_offs_of_one_caller_start_one_export(server):
    from concurrent.futures import ThreadPoolExecutor

    racer = BulkClient(server, world.system(name="export-racer"))
    try:
        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda _: racer.kick_off(_type="Patient"), range(6)))
        statuses = sorted(a.status_code for a in answers)
        # One open job at a time: a kick-off is refused while the caller's job runs, and started
        # again only once it is over (a job of a few Patients may end before the last kick-off).
        assert statuses[0] == 202 and set(statuses) <= {202, 429} and statuses.count(429) >= 1, \
            [a.text for a in answers]
        started = [a.headers["Content-Location"].rsplit("/", 1)[-1] for a in answers if a.status_code == 202]
        for answer in answers:
            if answer.status_code == 202:
                racer.wait(answer.headers["Content-Location"])
        store = Store(server.database)
        try:
            jobs = store.run(lambda tx: tx.conn.execute(
                select(export_job.c.created, export_job.c.finished).where(export_job.c.job_id.in_(started))
                .order_by(export_job.c.created)).all(), write=False)
        finally:
            store.dispose()
        assert len(jobs) == len(started)
        assert all(later.created >= earlier.finished for earlier, later in zip(jobs, jobs[1:]))
        assert racer.kick_off(_type="Patient").status_code == 202  # once it is done, the next may start
    finally:
        racer.close()
