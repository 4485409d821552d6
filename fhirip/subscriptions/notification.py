"""Notification Bundles, as the R4 Subscriptions Backport IG shapes them.

https://hl7.org/fhir/uv/subscriptions-backport/STU1.1/notifications.html

A Bundle of type `history` whose first entry is the subscription's status (a `Parameters`
resource: the subscription, its status, the notification type, the events since it started and,
per event, its number, time and focus), followed by the resources themselves when the
Subscription asks for full resources. The same shape answers `$status` and `$events`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport"
STATUS_PROFILE = f"{BACKPORT}/StructureDefinition/backport-subscription-status-r4"
NOTIFICATION_PROFILE = f"{BACKPORT}/StructureDefinition/backport-subscription-notification-r4"
PAYLOAD_CONTENT = f"{BACKPORT}/StructureDefinition/backport-payload-content"


@dataclass(frozen=True)
class Event:
    number: int
    recorded_at: datetime
    res_type: str
    res_id: str
    resource: dict[str, Any] | None = None  # as the owner may see it; None: not sent


def payload_content(subscription: dict[str, Any]) -> str:
    """`empty`, `id-only` or `full-resource`: R4's payload (none: empty; application/fhir+json:
    full resource) unless the Backport IG's payload-content extension says id-only."""
    channel = subscription.get("channel") or {}
    if not channel.get("payload"):
        return "empty"
    for extension in (channel.get("_payload") or {}).get("extension") or ():
        if isinstance(extension, dict) and extension.get("url") == PAYLOAD_CONTENT \
                and extension.get("valueCode") in ("empty", "id-only", "full-resource"):
            return extension["valueCode"]
    return "full-resource"


def _instant(moment: datetime) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return aware.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def status_parameters(subscription: dict[str, Any], base_url: str, *, kind: str, events_since_start: int,
                      events: Sequence[Event] = (), content: str = "full-resource",
                      error: str | None = None) -> dict[str, Any]:
    base = base_url.rstrip("/")
    parameters: list[dict[str, Any]] = [
        {"name": "subscription", "valueReference": {"reference": f"{base}/Subscription/{subscription['id']}"}},
        {"name": "status", "valueCode": subscription.get("status", "active")},
        {"name": "type", "valueCode": kind},
        {"name": "events-since-subscription-start", "valueString": str(events_since_start)},
    ]
    for event in events:
        parts: list[dict[str, Any]] = [{"name": "event-number", "valueString": str(event.number)},
                                       {"name": "timestamp", "valueInstant": _instant(event.recorded_at)}]
        if content != "empty":
            parts.append({"name": "focus", "valueReference": {"reference": f"{base}/{event.res_type}/{event.res_id}"}})
        parameters.append({"name": "notification-event", "part": parts})
    if error:
        parameters.append({"name": "error", "valueCodeableConcept": {"text": error}})
    return {"resourceType": "Parameters", "id": str(uuid.uuid4()), "meta": {"profile": [STATUS_PROFILE]},
            "parameter": parameters}


def notification_bundle(subscription: dict[str, Any], base_url: str, *, kind: str, events_since_start: int,
                        events: Sequence[Event], error: str | None = None) -> dict[str, Any]:
    """The Bundle for these events (`kind`: event-notification, query-status, query-event …)."""
    base = base_url.rstrip("/")
    content = payload_content(subscription)
    status = status_parameters(subscription, base, kind=kind, events_since_start=events_since_start,
                               events=events, content=content, error=error)
    entries: list[dict[str, Any]] = [{
        "fullUrl": f"urn:uuid:{status['id']}", "resource": status,
        "request": {"method": "GET", "url": f"{base}/Subscription/{subscription['id']}/$status"},
        "response": {"status": "200"}}]
    if content == "full-resource":
        for event in events:
            if event.resource is None:
                continue
            entries.append({"fullUrl": f"{base}/{event.res_type}/{event.res_id}", "resource": event.resource,
                            "request": {"method": "PUT", "url": f"{event.res_type}/{event.res_id}"},
                            "response": {"status": "200"}})
    return {"resourceType": "Bundle", "id": str(uuid.uuid4()), "meta": {"profile": [NOTIFICATION_PROFILE]},
            "type": "history", "timestamp": _instant(datetime.now(timezone.utc)), "entry": entries}
