"""The subscriptions' part of every write transaction: their rows and their outbox.

The store calls this module as it calls the search and access indexes (`Store(indexer=...)`,
`fhirip.bootstrap`). A Subscription's write keeps its row in `subscription` (owner, watched
type and what its criteria pin down, whether it is active); any other write records, in the same
transaction, one `pending` event per active Subscription it can concern: the criteria are not
evaluated, nothing is read for anyone, and a write of a type nobody watches costs one indexed
select. So an event exists exactly when its write committed, and survives
anything that happens to the server before it is delivered (`fhirip.subscriptions.deliverer`
decides and sends it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, true, update

from fhirip.consent.owned import owner_of
from fhirip.search.index import reference_rows
from fhirip.search.registry import registry
from fhirip.store.records import now_utc
from fhirip.store.schema import subscription, subscription_event
from fhirip.subscriptions.criteria import UNWATCHED_TYPES, parse_criteria

_WATCHERS = select(subscription.c.rid, subscription.c.watch_id, subscription.c.watch_param,
                   subscription.c.watch_patient).where(
    subscription.c.criteria_type == bindparam("t"), subscription.c.active.is_(true()))
# The same for the types of several writes sent together: one select for them all.
_WATCHERS_OF_TYPES = select(subscription.c.criteria_type, subscription.c.rid, subscription.c.watch_id,
                            subscription.c.watch_param, subscription.c.watch_patient).where(
    subscription.c.criteria_type.in_(bindparam("types", expanding=True)), subscription.c.active.is_(true()))
_RECORD = insert(subscription_event)


def prepare(res_type: str, content: dict[str, Any], ahead: Any = None) -> None:
    """Nothing ahead of the write: which Subscriptions a write concerns is read when it is sent."""


def write_index(conn: Connection, rid: int, res_type: str, content: dict[str, Any], prepared: Any = None, *,
                fresh: bool = False) -> None:
    if res_type == "Subscription":
        _keep_row(conn, rid, content, fresh=fresh)
    elif res_type not in UNWATCHED_TYPES:
        _record(conn, res_type, content, now_utc())


def write_new_indexes(conn: Connection, items: Sequence[tuple[int, str, dict[str, Any], Any]]) -> None:
    moment = now_utc()
    watchers: dict[str, list[Any]] | None = None  # the active Subscriptions of the items' types, by type
    for rid, res_type, content, _ in items:
        if res_type == "Subscription":
            _keep_row(conn, rid, content, fresh=True)
            watchers = None  # the items after it may concern it: read again
        elif res_type not in UNWATCHED_TYPES:
            if watchers is None:
                watchers = _watchers_of(conn, {t for _, t, _, _ in items if t not in UNWATCHED_TYPES})
            _record(conn, res_type, content, moment, watchers.get(res_type, []))


def deleted(conn: Connection, rid: int) -> None:
    """A deleted Subscription goes with its events; a deleted resource matches no criteria, so its
    deletion notifies no one."""
    if conn.execute(delete(subscription).where(subscription.c.rid == rid)).rowcount:
        conn.execute(delete(subscription_event).where(subscription_event.c.subscription_rid == rid))


def _watchers_of(conn: Connection, types: set[str]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for criteria_type, *watcher in conn.execute(_WATCHERS_OF_TYPES, {"types": sorted(types)}):
        found.setdefault(criteria_type, []).append(tuple(watcher))
    return found


def _record(conn: Connection, res_type: str, content: dict[str, Any], moment: datetime,
            watchers: Sequence[Any] | None = None) -> None:
    """One `pending` event per active Subscription of this type that the write can concern: its
    criteria pin no id or this one, and no patient or one the resource names in the pinned
    parameter (extracted as the search index extracts it, so the criteria could match only then).
    `watchers`: the active Subscriptions of this type, if read already."""
    if watchers is None:
        watchers = conn.execute(_WATCHERS, {"t": res_type}).all()
    if not watchers:
        return
    res_id = str(content.get("id"))
    named: dict[str, frozenset[str]] = {}
    chosen = []
    for rid, watched_id, param, patient in watchers:
        if watched_id is not None and watched_id != res_id:
            continue
        if param is not None and patient is not None:
            if param not in named:
                named[param] = patients_named(res_type, param, content)
            if patient not in named[param]:
                continue
        chosen.append(rid)
    if chosen:
        version = int((content.get("meta") or {}).get("versionId") or 1)
        conn.execute(_RECORD, [{"subscription_rid": rid, "res_type": res_type, "res_id": res_id, "version": version,
                                "recorded_at": moment.replace(tzinfo=None), "state": "pending"} for rid in chosen])


def patients_named(res_type: str, param: str, content: dict[str, Any]) -> frozenset[str]:
    """The Patient ids the resource's values of this reference parameter name."""
    reg = registry()
    definition = reg.get(res_type, param)
    extractor = reg.extractor(res_type, definition) if definition is not None else None
    if extractor is None:
        return frozenset()
    return frozenset(row["target_id"] for value in extractor.evaluate(content)
                     for row in reference_rows(value, extractor.resolve_types)
                     if row["target_type"] == "Patient" and row["target_id"])


def watched(res_type: str, params: list[tuple[str, str]]) -> tuple[str | None, str | None, str | None]:
    """(id, parameter, patient) the criteria pin down: `_id=x`; a reference parameter = `Patient/x`."""
    watched_id = watched_param = watched_patient = None
    reg = registry()
    for name, value in params:
        if "," in value:
            continue  # any of several: not one
        if name == "_id":
            watched_id = value
            continue
        definition = reg.get(res_type, name) if ":" not in name and "." not in name else None
        if definition is not None and definition.type == "reference" and value.startswith("Patient/") \
                and value.count("/") == 1 and watched_param is None:
            watched_param, watched_patient = name, value.removeprefix("Patient/")
    return watched_id, watched_param, watched_patient


def _keep_row(conn: Connection, rid: int, content: dict[str, Any], *, fresh: bool) -> None:
    parsed = parse_criteria(str(content.get("criteria") or ""))
    owner = owner_of(content)
    watched_id, watched_param, watched_patient = watched(*parsed) if parsed else (None, None, None)
    state = {"res_id": str(content.get("id")), "owner": owner or "",
             "criteria_type": parsed[0] if parsed else "", "watch_id": watched_id,
             "watch_param": watched_param, "watch_patient": watched_patient,
             # Without an owner nobody could be notified: such a Subscription watches nothing.
             "active": content.get("status") == "active" and owner is not None}
    if content.get("status") in ("active", "requested"):
        state |= {"failures": 0, "retry_at": None}  # an owner reactivating it starts the retries afresh
    if not fresh and conn.execute(update(subscription).where(subscription.c.rid == rid).values(**state)).rowcount:
        return
    conn.execute(insert(subscription).values(**{"events": 0, "failures": 0, **state, "rid": rid}))
