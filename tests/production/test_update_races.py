"""Concurrent updates of one plan: a write is prepared before it takes the lock, and written only
if the version it was prepared from is still the current one.

Eight writers at once through `fhirip serve` (two workers), on both stores. With `If-Match` on
the version they all read, exactly one wins and the others get 412; without it every update is
stored, each as a version of its own, none lost (each is a new version of the one before it).
"""

from __future__ import annotations

import httpx
from production_data import SYSTEM, at_once, created, individual_plan, new_fnr, patient, statuses

from fhirip.testing.served import ServedFhirip

WRITERS = 8
VERSIONS = 3


def _plan(client: httpx.Client) -> tuple[str, dict]:
    person = created(client.post("/Patient", json=patient(new_fnr())))
    plan_id = created(client.post("/CarePlan", json=individual_plan(person)))
    return plan_id, client.get(f"/CarePlan/{plan_id}").json()


def _titles(client: httpx.Client, plan_id: str) -> list[str]:
    history = client.get(f"/CarePlan/{plan_id}/_history", params={"_count": "100"}).json()
    return [entry["resource"]["title"] for entry in history.get("entry") or [] if "resource" in entry]


def test_one_writer_wins_each_version_it_was_matched_against(served: ServedFhirip) -> None:
    with served.client(served.token(**SYSTEM)) as client:
        plan_id, plan = _plan(client)
        for version in range(1, VERSIONS + 1):
            def put(i: int, version: int = version) -> httpx.Response:
                body = {**plan, "title": f"v{version} by writer {i}"}
                return client.put(f"/CarePlan/{plan_id}", json=body, headers={"If-Match": f'W/"{version}"'})

            responses = at_once(WRITERS, put, workers=WRITERS)
            won = [i for i, r in enumerate(responses) if r.status_code == 200]
            assert len(won) == 1, statuses(responses)
            assert {r.status_code for i, r in enumerate(responses) if i != won[0]} == {412}, statuses(responses)
            assert all(r.json()["resourceType"] == "OperationOutcome" for r in responses if r.status_code == 412)
            current = client.get(f"/CarePlan/{plan_id}")
            assert current.headers["ETag"] == f'W/"{version + 1}"'
            assert current.json()["title"] == f"v{version} by writer {won[0]}"
        assert len(_titles(client, plan_id)) == VERSIONS + 1


def test_updates_without_if_match_are_each_stored_as_a_version(served: ServedFhirip) -> None:
    with served.client(served.token(**SYSTEM)) as client:
        plan_id, plan = _plan(client)
        responses = at_once(WRITERS, lambda i: client.put(f"/CarePlan/{plan_id}",
                                                          json={**plan, "title": f"by writer {i}"}),
                            workers=WRITERS)
        assert {r.status_code for r in responses} == {200}, statuses(responses)
        versions = sorted(int(r.headers["ETag"].split('"')[1]) for r in responses)
        assert versions == list(range(2, WRITERS + 2))  # each a version of its own: none overwritten
        assert sorted(_titles(client, plan_id)[:WRITERS]) == sorted(f"by writer {i}" for i in range(WRITERS))
