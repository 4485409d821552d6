"""A read is decided for the patients the resource refers to (`decide_reading`) and answers
exactly as the whole decision answers: status, headers, body (masked or not) and the
AuditEvents it leaves, for every caller of the consent world and every resource: existing,
deleted, never existing, of a type in no one's record, in two records, with a reference to a
patient missing from the index, and of a type the caller's scopes do not name (403, where a
hidden one is 404)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import consent_world as world
import orjson
import pytest
from sqlalchemy import delete, select
from consent_support import BASE, World, put_all
from test_decision_within import CALLERS

from fhirip.auth import Actor
from fhirip.consent import decide
from fhirip.consent.decide import decide_reading
from fhirip.context import Context
from fhirip.errors import FhirError
from fhirip.interactions.auditing import success_events
from fhirip.interactions.read import read
from fhirip.interactions.request import FhirRequest
from fhirip.store.schema import resource, search_reference
from fhirip.store import Tx

# Besides the consent world's callers: `patient/` scopes with a patient in context, scopes naming
# some types only, and a scope's query.
READERS = [
    *CALLERS,
    {**world.person_claims(world.ANNE, "openid patient/*.rs"), "patient": "kari"},
    {**world.person_claims(world.ANNE, "openid patient/*.rs"), "patient": "jon"},
    {**world.practitioner_claims(world.OLA, world.KOMMUNE, "openid patient/*.rs"), "patient": "kari"},
    world.practitioner_claims(world.OLA, world.KOMMUNE, "openid user/Goal.rs user/Patient.rs"),
    world.practitioner_claims(world.OLA, world.KOMMUNE, "openid user/CarePlan.rs?status=active user/Goal.rs"),
    world.practitioner_claims(world.PER, world.KOMMUNE, "openid user/Goal.rs", reason="akutt"),
]
UNLINKED = {"resourceType": "Goal", "id": "goal-kari-unlinked", "lifecycleStatus": "active",
            "subject": {"reference": "Patient/kari"}, "description": {"text": "stored without its links"}}
GONE = {"resourceType": "Goal", "id": "goal-kari-gone", "lifecycleStatus": "active",
        "subject": {"reference": "Patient/kari"}, "description": {"text": "deleted"}}



def _in_two_records(plan_id: str) -> dict[str, Any]:
    """A CarePlan in Kari's record and, through an activity's performer, in Eva's."""
    return {"resourceType": "CarePlan", "id": plan_id, "status": "active", "intent": "plan",
            "subject": {"reference": "Patient/kari"},
            "activity": [{"detail": {"status": "in-progress", "performer": [{"reference": "Patient/eva"}]}}]}


NAMED = sorted({f"{r['resourceType']}/{r['id']}" for r in world.records()} | {
    "Goal/goal-kari-unlinked", "Goal/goal-kari-gone", "CarePlan/plan-two", "CarePlan/plan-two-half-linked",
    "CarePlan/unknown", "Patient/unknown", "Practitioner/unknown", "AuditEvent/unknown"})


@pytest.fixture(scope="module")
def unusual(w: World) -> World:
    """A Goal in Kari's record whose references to her were never indexed (nor linked), one
    deleted, a CarePlan in two records and one in two whose reference to Eva was never indexed."""
    half = _in_two_records("plan-two-half-linked")
    put_all(w.services, [GONE, _in_two_records("plan-two"), half])

    def work(tx: Tx) -> None:
        tx.write(orjson.loads(orjson.dumps(UNLINKED)), method="PUT", previous=None, links=())
        tx.delete(tx.current("Goal", "goal-kari-gone"))  # type: ignore[arg-type]
    w.services.store.run(work, write=True)

    def unindex(tx: Tx) -> None:
        for (res_type, res_id), patient in ((("Goal", "goal-kari-unlinked"), "kari"),
                                            (("CarePlan", "plan-two-half-linked"), "eva")):
            rid = select(resource.c.rid).where(resource.c.res_type == res_type, resource.c.res_id == res_id)
            tx.conn.execute(delete(search_reference).where(
                search_reference.c.rid == rid.scalar_subquery(), search_reference.c.target_type == "Patient",
                search_reference.c.target_id == patient))
    w.services.store.run(unindex, write=True)
    return w


def _answer(ctx: Context, req: FhirRequest) -> dict[str, Any]:
    """What the read answers and the AuditEvents it leaves (their generated parts blanked)."""
    try:
        response = read(ctx, req)
    except FhirError as error:
        return {"status": error.status, "headers": error.headers, "body": error.outcome()}
    body = orjson.loads(response.body) if response.body is not None else response.resource
    events = success_events(ctx, req, "read", response, None)
    for event in events:
        event.pop("recorded", None)
        event.pop("id", None)
    return {"status": response.status, "headers": response.headers, "body": body, "events": events}


def _both(w: World, claims: dict[str, Any], req: FhirRequest, now: datetime) -> tuple[Any, Any, Any]:
    actor = Actor.from_claims(claims)
    issued = world.issued_at(claims)
    with w.services.store.transaction(write=False) as tx:
        whole = decide(tx.conn, actor, now=now, token_issued_at=issued)
        expected = _answer(Context(w.services, tx, BASE, actor, access=whole, policy=whole.sql), req)
        assert req.res_type is not None and req.res_id is not None
        access, ahead = decide_reading(tx.conn, actor, req.res_type, req.res_id, now=now, token_issued_at=issued)
        ctx = Context(w.services, tx, BASE, actor, access=access, policy=access.sql, read_ahead=ahead)
        got = _answer(ctx, req)
    return expected, got, ctx.access  # the decision the read answered by


@pytest.mark.parametrize("named", NAMED)
def test_a_read_decided_for_the_resources_patients_answers_as_the_whole_decision(unusual: World, named: str) -> None:
    res_type, res_id = named.split("/")
    for claims in READERS:
        for now in (world.NOW, world.NOW + timedelta(days=400)):
            req = FhirRequest(method="GET", res_type=res_type, res_id=res_id, base_url=BASE,
                              url=f"{BASE}/{named}")
            expected, got, _ = _both(unusual, claims, req, now)
            assert got == expected, (claims.get("sub"), claims.get("scope"), claims.get("patient"), now)


def test_a_read_is_answered_by_the_decision_for_the_patients_the_resource_refers_to(unusual: World) -> None:
    ola = world.practitioner_claims(world.OLA, world.KOMMUNE)

    def answered_within(named: str) -> frozenset[str] | None:
        res_type, res_id = named.split("/")
        _, _, access = _both(unusual, ola, FhirRequest(method="GET", res_type=res_type, res_id=res_id,
                                                       base_url=BASE), world.NOW)
        return access.within

    assert answered_within("CarePlan/plan-kari") == {"kari"}
    assert answered_within("CarePlan/plan-two") == {"kari", "eva"}
    assert answered_within("Patient/kari") == {"kari"}
    # Not admitted by its patients' decision (a record Ola does not see, a patient the index does
    # not show, nothing to see), or of a type in no one's record: the whole decision answers.
    for named in ("Patient/eva", "CarePlan/plan-two-half-linked", "Goal/goal-kari-unlinked",
                  "Goal/goal-kari-gone", "CarePlan/unknown", "Practitioner/ola"):
        assert answered_within(named) is None, named
