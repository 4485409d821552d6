"""`GET Subscription/[id]/$status` and `GET Subscription/[id]/$events`, as the R4 Subscriptions
Backport IG defines them.

https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/OperationDefinition-backport-subscription-status.html
https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/OperationDefinition-backport-subscription-events.html

Both answer only about a Subscription the caller may see (their own); another is unknown (404).
`$status` tells the status, the events numbered since it started and the last delivery error.
`$events` lists the numbered events in a range (`eventsSinceNumber`, `eventsUntilNumber`, at most
100), so a receiver that was down can fetch what it missed; with full resources each is read
anew for the caller, as a search would answer them now (a resource they may no longer see is
left out), and the read is audited.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import select

from fhirip.errors import BadRequest
from fhirip.interactions.access import ensure_visible
from fhirip.context import Context
from fhirip.interactions.request import FhirRequest, FhirResponse
from fhirip.operations import Operation, register
from fhirip.search import search
from fhirip.store.schema import subscription, subscription_event
from fhirip.subscriptions.criteria import parse_criteria
from fhirip.subscriptions.notification import BACKPORT, Event, notification_bundle, payload_content

MAX_EVENTS = 100


def _subscription(ctx: Context, req: FhirRequest) -> tuple[dict[str, Any], Any]:
    res_id = req.res_id or ""
    ensure_visible(ctx, "Subscription", res_id)
    stored = ctx.tx.read("Subscription", res_id)
    row = ctx.tx.conn.execute(select(subscription).where(subscription.c.res_id == res_id)).first()
    if stored is None or stored.deleted or not stored.content or row is None:
        from fhirip.interactions.access import not_found

        raise not_found("Subscription", res_id)
    return orjson.loads(stored.content), row


def subscription_status(ctx: Context, req: FhirRequest) -> FhirResponse:
    content, row = _subscription(ctx, req)
    bundle = notification_bundle(content, ctx.base_url, kind="query-status", events_since_start=row.events,
                                 events=[], error=content.get("error") or row.last_error)
    bundle["type"] = "searchset"
    for entry in bundle["entry"]:
        entry.pop("request", None)
        entry.pop("response", None)
        entry["search"] = {"mode": "match"}
    return FhirResponse(200, resource=bundle)


def _number(req: FhirRequest, name: str) -> int | None:
    raw = req.param(name)
    if raw is None:
        return None
    if not raw.isdigit():
        raise BadRequest(f"Parameter '{name}' must be an event number (digits), got '{raw}'", expression=[name])
    return int(raw)


def subscription_events(ctx: Context, req: FhirRequest) -> FhirResponse:
    content, row = _subscription(ctx, req)
    since, until = _number(req, "eventsSinceNumber") or 1, _number(req, "eventsUntilNumber")
    wanted = req.param("content") or payload_content(content)
    if wanted not in ("empty", "id-only", "full-resource"):
        raise BadRequest("Parameter 'content' is empty, id-only or full-resource", expression=["content"])
    e = subscription_event
    query = (select(e.c.number, e.c.recorded_at, e.c.res_type, e.c.res_id)
             .where(e.c.subscription_rid == row.rid, e.c.number >= since, e.c.state.in_(("numbered", "delivered")))
             .order_by(e.c.number).limit(MAX_EVENTS))
    if until is not None:
        query = query.where(e.c.number <= until)
    events = [Event(n, at, t, i) for n, at, t, i in ctx.tx.conn.execute(query)]
    if wanted == "full-resource":
        events = [Event(ev.number, ev.recorded_at, ev.res_type, ev.res_id, _as_seen(ctx, content, ev))
                  for ev in events]
    shown = {**content, "channel": {**(content.get("channel") or {}), "payload": "application/fhir+json",
                                    "_payload": {"extension": [{"url": f"{BACKPORT}/StructureDefinition/"
                                                                "backport-payload-content", "valueCode": wanted}]}}}
    bundle = notification_bundle(shown, ctx.base_url, kind="query-event", events_since_start=row.events,
                                 events=events)
    about = tuple(dict.fromkeys((ev.res_type, ev.res_id) for ev in events if ev.resource is not None))
    return FhirResponse(200, resource=bundle, about=about)


def _as_seen(ctx: Context, content: dict[str, Any], event: Event) -> dict[str, Any] | None:
    """The event's resource as the caller's search by the Subscription's criteria answers now."""
    parsed = parse_criteria(str(content.get("criteria") or ""))
    if parsed is None or parsed[0] != event.res_type:
        return None
    result = search(ctx.tx.conn, event.res_type, [*parsed[1], ("_id", event.res_id)], base_url=ctx.base_url,
                    policy=ctx.policy)
    for entry in result.entries:
        resource = orjson.loads(entry.content)
        if resource.get("id") == event.res_id:
            return ctx.access.mask(resource) if ctx.access is not None else resource
    return None


register(Operation("status", frozenset({"instance"}), subscription_status, frozenset({"Subscription"}),
                   definition=f"{BACKPORT}/OperationDefinition/backport-subscription-status",
                   documentation="The Subscription's status, events since it started and last error"))
register(Operation("events", frozenset({"instance"}), subscription_events, frozenset({"Subscription"}),
                   definition=f"{BACKPORT}/OperationDefinition/backport-subscription-events",
                   documentation="The numbered events in a range (eventsSinceNumber, eventsUntilNumber, content), "
                                 "to catch up after a receiver was down"))
