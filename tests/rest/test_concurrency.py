"""Concurrent writers: optimistic locking holds and no update is lost, on both stores.

https://hl7.org/fhir/R4/http.html#concurrency
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import httpx
import orjson
from rest_checks import patient

WRITERS = 16


def _in_parallel(fhir: httpx.Client, work: Callable[[httpx.Client, int], httpx.Response]) -> list[httpx.Response]:
    """Run `work` in WRITERS threads that start together; each has its own connection."""
    barrier = threading.Barrier(WRITERS)
    results: list[httpx.Response | BaseException | None] = [None] * WRITERS

    def run(n: int) -> None:
        with httpx.Client(base_url=fhir.base_url, timeout=60,
                          headers={"Authorization": fhir.headers["Authorization"]}) as client:
            barrier.wait()
            try:
                results[n] = work(client, n)
            except Exception as exc:  # noqa: BLE001 (reported below, not swallowed)
                results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        assert isinstance(result, httpx.Response), result
    return results  # type: ignore[return-value]


def _put(client: httpx.Client, resource: dict, **headers: str) -> httpx.Response:
    return client.put(f"/{resource['resourceType']}/{resource['id']}", content=orjson.dumps(resource),
                      headers={"Content-Type": "application/fhir+json", **headers})


def _history_versions(fhir, url: str) -> list[int]:
    entries = fhir.get(f"{url}/_history", params={"_count": "1000"}).json()["entry"]
    return sorted(int(e["response"]["etag"][3:-1]) for e in entries)


def test_parallel_writers_with_the_same_if_match_exactly_one_wins_each_round(fhir):
    fhir.update(patient(id="contested"))
    for round_number in range(1, 4):
        etag = f'W/"{round_number}"'
        responses = _in_parallel(fhir, lambda client, n, etag=etag: _put(
            client, patient(id="contested", birthDate=f"19{n + 10}-01-01"), **{"If-Match": etag}))
        statuses = Counter(r.status_code for r in responses)
        assert statuses == {200: 1, 412: WRITERS - 1}, statuses
        winner = next(r for r in responses if r.status_code == 200)
        current = fhir.get("/Patient/contested").json()
        assert current["meta"]["versionId"] == str(round_number + 1)
        assert current["birthDate"] == winner.json()["birthDate"]
    assert _history_versions(fhir, "/Patient/contested") == [1, 2, 3, 4]


def test_parallel_unconditional_updates_lose_nothing(fhir):
    fhir.update(patient(id="busy"))
    per_writer = 4

    def work(client: httpx.Client, n: int) -> httpx.Response:
        last = None
        for k in range(per_writer):
            last = _put(client, patient(id="busy", address=[{"text": f"writer {n} write {k}"}]))
            assert last.status_code == 200, last.text
        return last

    _in_parallel(fhir, work)
    successes = WRITERS * per_writer
    final = fhir.get("/Patient/busy").json()
    assert final["meta"]["versionId"] == str(successes + 1)
    versions = _history_versions(fhir, "/Patient/busy")
    assert versions == list(range(1, successes + 2))
    # Every write is in the history exactly once.
    entries = fhir.get("/Patient/busy/_history", params={"_count": "1000"}).json()["entry"]
    written = Counter(e["resource"]["address"][0]["text"] for e in entries if "address" in e["resource"])
    assert len(written) == successes and set(written.values()) == {1}


def test_parallel_update_as_create_of_one_id_makes_one_resource(fhir):
    responses = _in_parallel(fhir, lambda client, n: _put(client, patient(id="born-once", gender="other")))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 200: WRITERS - 1}, statuses
    assert _history_versions(fhir, "/Patient/born-once") == list(range(1, WRITERS + 1))


def test_parallel_creates_get_distinct_ids(fhir):
    responses = _in_parallel(fhir, lambda client, n: client.post(
        "/Patient", content=orjson.dumps(patient()), headers={"Content-Type": "application/fhir+json"}))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == WRITERS
    assert fhir.get("/Patient/_history", params={"_count": "0"}).json()["total"] == WRITERS


def test_parallel_deletes_of_one_resource_add_one_tombstone(fhir):
    fhir.update(patient(id="doomed"))
    responses = _in_parallel(fhir, lambda client, n: client.delete("/Patient/doomed"))
    assert {r.status_code for r in responses} <= {200, 204}
    assert _history_versions(fhir, "/Patient/doomed") == [1, 2]


def test_parallel_transactions_locking_in_opposite_orders_all_commit(fhir):
    fhir.update(patient(id="left"))
    fhir.update(patient(id="right"))

    def work(client: httpx.Client, n: int) -> httpx.Response:
        ids = ["left", "right"] if n % 2 else ["right", "left"]
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
            {"request": {"method": "PUT", "url": f"Patient/{pid}"},
             "resource": patient(id=pid, address=[{"text": f"writer {n}"}])} for pid in ids]}
        return client.post("/", content=orjson.dumps(bundle), headers={"Content-Type": "application/fhir+json"})

    responses = _in_parallel(fhir, work)
    assert {r.status_code for r in responses} == {200}, [r.text for r in responses if r.status_code != 200][:1]
    for pid in ("left", "right"):
        assert _history_versions(fhir, f"/Patient/{pid}") == list(range(1, WRITERS + 2))
