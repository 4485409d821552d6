"""The rules every write of a Subscription passes (a write hook).

https://hl7.org/fhir/R4/subscription.html

- `criteria` is a search on one type (`CarePlan?subject=Patient/x`) that the search engine
  understands; AuditEvents and Subscriptions are not watched;
- `channel.type` is `rest-hook` to an endpoint the server may call (`fhirip.subscriptions.endpoints`),
  `channel.payload` absent (a notification without a body) or `application/fhir+json`, each
  `channel.header` one `Name: value`;
- the server sets `requested` to `active` (R4: the server, not the client, activates);
- the owner is the caller who created it: the server writes the `subscription-owner`
  extension from their token and keeps it on every later version, whatever a client sends.
"""

from __future__ import annotations

import re
from typing import Any
import orjson

from fhirip.errors import FhirError, Issue
from fhirip.context import Context
from fhirip.search import search
from fhirip.store import Current
from fhirip.subscriptions.criteria import UNWATCHED_TYPES, parse_criteria
from fhirip.subscriptions.endpoints import endpoint_refusal
from fhirip.subscriptions.owner import owner_extension, owner_extension_of, with_owner

FULL_RESOURCE = "application/fhir+json"
_HEADER = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+:[^\r\n]*$")
# Headers the server sets itself on every notification.
_OWN_HEADERS = frozenset({"content-type", "content-length", "host", "transfer-encoding"})


def subscription_rules(ctx: Context, resource: dict[str, Any], previous: Current | None) -> list[Issue]:
    if resource.get("resourceType") != "Subscription":
        return []
    issues = _criteria_issues(ctx, resource.get("criteria")) + _channel_issues(ctx, resource.get("channel"))
    if issues:
        return issues
    if resource.get("status") == "requested":
        resource["status"] = "active"
    _keep_owner(ctx, resource, previous)
    return []


def _keep_owner(ctx: Context, resource: dict[str, Any], previous: Current | None) -> None:
    before = ctx.tx.read("Subscription", previous.res_id) if previous is not None and not previous.deleted else None
    if before is not None and before.content:
        with_owner(resource, owner_extension_of(orjson.loads(before.content)))
    elif ctx.actor is not None:
        with_owner(resource, owner_extension(ctx.actor, ctx.base_url))
    else:
        with_owner(resource, None)  # the server's own jobs own nothing: such a Subscription never notifies


def _criteria_issues(ctx: Context, criteria: Any) -> list[Issue]:
    where = ("Subscription.criteria",)
    if not isinstance(criteria, str) or not criteria.strip():
        return [Issue("error", "required", "A Subscription needs criteria: a search on one type, "
                      "such as CarePlan?subject=Patient/123", where)]
    parsed = parse_criteria(criteria)
    if parsed is None:
        return [Issue("error", "value", f"The criteria {criteria!r} are not a search on one resource type "
                      "(Type?name=value&…)", where)]
    res_type, params = parsed
    if res_type in UNWATCHED_TYPES:
        return [Issue("error", "not-supported", f"{res_type} resources cannot be subscribed to", where)]
    try:  # understood by the search engine: every parameter known (strict), matching nothing
        search(ctx.tx.conn, res_type, [*params, ("_id", "-")], base_url=ctx.base_url, policy=ctx.policy,
               strict=True)
    except FhirError as refused:
        return [Issue("error", "value", f"The criteria {criteria!r} are not a search this server "
                      f"understands: {refused.diagnostics}", where)]
    return []


def _channel_issues(ctx: Context, channel: Any) -> list[Issue]:
    if not isinstance(channel, dict):
        return [Issue("error", "required", "A Subscription needs a channel", ("Subscription.channel",))]
    if channel.get("type") != "rest-hook":
        return [Issue("error", "not-supported", f"Channel type {channel.get('type')!r} is not supported; "
                      "this server sends rest-hook notifications only", ("Subscription.channel.type",))]
    endpoint = channel.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        return [Issue("error", "required", "A rest-hook channel needs an endpoint", ("Subscription.channel.endpoint",))]
    refusal = endpoint_refusal(endpoint, ctx.settings.subscription_endpoints)
    if refusal is not None:
        return [Issue("error", "security", refusal, ("Subscription.channel.endpoint",))]
    payload = channel.get("payload")
    if payload not in (None, FULL_RESOURCE):
        return [Issue("error", "not-supported", f"Payload {payload!r} is not supported: leave it out for "
                      f"notifications without a body, or use {FULL_RESOURCE}", ("Subscription.channel.payload",))]
    for index, header in enumerate(channel.get("header") or ()):
        name = header.split(":", 1)[0].strip().lower() if isinstance(header, str) else ""
        if not isinstance(header, str) or not _HEADER.match(header) or name in _OWN_HEADERS:
            return [Issue("error", "value", "Each channel.header is one 'Name: value' line, and not one the "
                          f"server sets itself ({', '.join(sorted(_OWN_HEADERS))})",
                          (f"Subscription.channel.header[{index}]",))]
    return []
