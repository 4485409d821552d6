"""Resources created together record the same events as the same resources written one by one:
the Subscriptions watching their types are read once for them all, and again after a Subscription
among them (which the resources after it may concern)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from fhirip.consent.owned import OWNER_EXTENSION
from fhirip.store import Store
from fhirip.store.schema import resource, subscription_event
from fhirip.subscriptions import outbox


def _subscription(res_id: str, criteria: str) -> dict[str, Any]:
    return {"resourceType": "Subscription", "id": res_id, "status": "active", "criteria": criteria,
            "reason": "test", "channel": {"type": "rest-hook", "endpoint": "https://example.org/hook"},
            "extension": [{"url": OWNER_EXTENSION, "extension": [{"url": "subject", "valueString": "owner-1"}]}]}


def _plan(res_id: str, patient: str) -> dict[str, Any]:
    return {"resourceType": "CarePlan", "id": res_id, "status": "active", "intent": "plan",
            "subject": {"reference": f"Patient/{patient}"}, "meta": {"versionId": "1"}}


ITEMS = [
    _plan("before", "kari"),  # written before any Subscription: concerns none
    _subscription("watch-all", "CarePlan?status=active"),
    _plan("all", "ola"),
    _subscription("watch-kari", "CarePlan?subject=Patient/kari"),
    _plan("kari", "kari"),  # both
    _plan("ola", "ola"),  # only the first
    {"resourceType": "Goal", "id": "goal", "lifecycleStatus": "active",
     "description": {"text": "x"}, "subject": {"reference": "Patient/kari"}},  # a type nobody watches
]


def _events(tmp: Path, together: bool) -> list[tuple[str, str, int]]:
    store = Store(f"sqlite:///{tmp / ('together' if together else 'one-by-one')}.sqlite3")
    store.migrate()
    try:
        with store.engine.begin() as conn:
            rids = [conn.execute(insert(resource).values(res_type=item["resourceType"], res_id=item["id"], version=1,
                                                         last_updated=outbox.now_utc(), deleted=False, content=item))
                    .inserted_primary_key[0] for item in ITEMS]
            if together:
                outbox.write_new_indexes(conn, [(rid, item["resourceType"], item, None)
                                                for rid, item in zip(rids, ITEMS, strict=True)])
            else:
                for rid, item in zip(rids, ITEMS, strict=True):
                    outbox.write_index(conn, rid, item["resourceType"], item, fresh=True)
            return sorted((res_id, res_type, subscription_rid) for subscription_rid, res_type, res_id in conn.execute(
                select(subscription_event.c.subscription_rid, subscription_event.c.res_type,
                       subscription_event.c.res_id)))
    finally:
        store.dispose()


def test_creates_sent_together_record_the_events_of_writes_one_by_one(tmp_path: Path) -> None:
    together = _events(tmp_path, together=True)
    assert together == _events(tmp_path, together=False)
    assert [(res_id, res_type) for res_id, res_type, _ in together] == [
        ("all", "CarePlan"), ("kari", "CarePlan"), ("kari", "CarePlan"), ("ola", "CarePlan")]
