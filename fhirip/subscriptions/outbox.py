"""The subscriptions' part of every write transaction: their rows and their outbox.

The store calls this module as it calls the search and access indexes (`Store(indexer=...)`,
`fhirip.bootstrap`). A Subscription's write keeps its row in `subscription` (owner, watched
type, whether it is active); any other write records, in the same transaction, one `pending`
event per active Subscription watching its type: one statement, no criteria evaluated and
nothing read for anyone. So an event exists exactly when its write committed, and survives
anything that happens to the server before it is delivered (`fhirip.subscriptions.deliverer`
decides and sends it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Integer, String, bindparam, delete, insert, select, true, update

from fhirip.consent.owned import owner_of
from fhirip.store.records import now_utc
from fhirip.store.schema import resource, subscription, subscription_event
from fhirip.subscriptions.criteria import UNWATCHED_TYPES, parse_criteria

_RECORD = insert(subscription_event).from_select(
    ["subscription_rid", "res_type", "res_id", "version", "recorded_at", "state"],
    select(subscription.c.rid, bindparam("t", type_=String), bindparam("i", type_=String),
           bindparam("v", type_=Integer), bindparam("at"), bindparam("pending", type_=String))
    .where(subscription.c.criteria_type == bindparam("t"), subscription.c.active.is_(true())))
_BY_RID = select(resource.c.res_type).where(resource.c.rid == bindparam("rid"))


def write_index(conn: Connection, rid: int, res_type: str, content: dict[str, Any], *,
                fresh: bool = False) -> None:
    if res_type == "Subscription":
        _keep_row(conn, rid, content, fresh=fresh)
    elif res_type not in UNWATCHED_TYPES:
        _record(conn, res_type, content, now_utc())


def write_new_indexes(conn: Connection, items: Sequence[tuple[int, str, dict[str, Any]]]) -> None:
    moment = now_utc()
    for rid, res_type, content in items:
        if res_type == "Subscription":
            _keep_row(conn, rid, content, fresh=True)
        elif res_type not in UNWATCHED_TYPES:
            _record(conn, res_type, content, moment)


def deleted(conn: Connection, rid: int) -> None:
    """A deleted Subscription goes with its events; a deleted resource matches no criteria, so its
    deletion notifies no one."""
    if conn.execute(_BY_RID, {"rid": rid}).scalar() == "Subscription":
        conn.execute(delete(subscription_event).where(subscription_event.c.subscription_rid == rid))
        conn.execute(delete(subscription).where(subscription.c.rid == rid))


def _record(conn: Connection, res_type: str, content: dict[str, Any], moment: datetime) -> None:
    version = int((content.get("meta") or {}).get("versionId") or 1)
    conn.execute(_RECORD, {"t": res_type, "i": str(content.get("id")), "v": version,
                           "at": moment.replace(tzinfo=None), "pending": "pending"})


def _keep_row(conn: Connection, rid: int, content: dict[str, Any], *, fresh: bool) -> None:
    parsed = parse_criteria(str(content.get("criteria") or ""))
    owner = owner_of(content)
    state = {"res_id": str(content.get("id")), "owner": owner or "",
             "criteria_type": parsed[0] if parsed else "",
             # Without an owner nobody could be notified: such a Subscription watches nothing.
             "active": content.get("status") == "active" and owner is not None}
    if content.get("status") in ("active", "requested"):
        state |= {"failures": 0, "retry_at": None}  # an owner reactivating it starts the retries afresh
    if not fresh and conn.execute(update(subscription).where(subscription.c.rid == rid).values(**state)).rowcount:
        return
    conn.execute(insert(subscription).values(**{"events": 0, "failures": 0, **state, "rid": rid}))
