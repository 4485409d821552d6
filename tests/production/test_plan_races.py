"""One open individual plan per person and one Patient per fødselsnummer, under concurrent writers.

64 requests race to create a plan for one person (plain creates, transaction Bundles, updates
that create with the client's id) or a second Patient record for one fødselsnummer, through
`fhirip serve` with several workers. Exactly one wins; every loser gets the answer a request
made after the winner gets (409, the same words), never a 5xx.
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from production_data import (
    SYSTEM,
    FNR,
    OPEN,
    at_once,
    created,
    individual_plan,
    new_fnr,
    patient,
    search_all,
    statuses,
)

from fhirip.testing.served import ServedFhirip

RACERS = 64
ROUNDS = 2
SERIAL_REFUSAL = "a person has one individual plan"


def _create(client: httpx.Client, patient_id: str, how: str) -> httpx.Response:
    plan = individual_plan(patient_id)
    if how == "post":
        return client.post("/CarePlan", json=plan)
    if how == "put":
        plan_id = str(uuid.uuid4())
        return client.put(f"/CarePlan/{plan_id}", json={**plan, "id": plan_id})
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": plan,
         "request": {"method": "POST", "url": "CarePlan"}}]}
    return client.post("/", json=bundle)


def _refusal(response: httpx.Response) -> str:
    """The words of a refusal, from a plain answer or from the transaction's."""
    outcome = response.json()
    return " ".join(issue.get("diagnostics", "") for issue in outcome.get("issue") or [])


def _open_plans(client: httpx.Client, patient_id: str) -> list[str]:
    return [plan["id"] for plan in search_all(client, "/CarePlan", subject=f"Patient/{patient_id}",
                                               status=OPEN, category="individuell-plan")]


@pytest.mark.parametrize("how", ["post", "transaction", "put", "mixed"])
def test_racing_creates_leave_one_open_plan_per_person(served: ServedFhirip, how: str) -> None:
    ways = ["post", "transaction", "put"]
    with served.client(served.token(**SYSTEM)) as client:
        for _round in range(ROUNDS):
            person = created(client.post("/Patient", json=patient(new_fnr())))
            responses = at_once(RACERS, lambda i: _create(client, person,
                                                          ways[i % 3] if how == "mixed" else how))
            won = [r for r in responses if r.status_code in (200, 201)]
            lost = [r for r in responses if r.status_code not in (200, 201)]
            assert len(_open_plans(client, person)) == 1, statuses(responses)
            assert len(won) == 1, statuses(responses)
            assert {r.status_code for r in lost} == {409}, statuses(responses)
            assert all(SERIAL_REFUSAL in _refusal(r) for r in lost)
            # the same words a request after the race gets
            after = _create(client, person, "post")
            assert after.status_code == 409 and SERIAL_REFUSAL in _refusal(after)


def test_racing_patient_records_for_one_fodselsnummer_leave_one(served: ServedFhirip) -> None:
    with served.client(served.token(**SYSTEM)) as client:
        for _round in range(ROUNDS):
            fnr = new_fnr()
            responses = at_once(RACERS, lambda i: client.post("/Patient", json=patient(fnr, f"Nordmann{i}")))
            records = search_all(client, "/Patient", identifier=f"{FNR}|{fnr}")
            assert len(records) == 1, statuses(responses)
            assert statuses(responses) == {201: 1, 409: RACERS - 1}
            later = client.post("/Patient", json=patient(fnr))
            assert later.status_code == 409
            assert {_refusal(r) for r in responses if r.status_code == 409} == {_refusal(later)}
