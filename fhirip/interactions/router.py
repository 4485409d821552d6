"""The REST surface of the server in one table: which request shape runs which interaction.

https://hl7.org/fhir/R4/http.html

Reading `ROUTES` is reading the API. The HTTP facade and the batch/transaction
processor both resolve requests here, and the CapabilityStatement is generated
from the same table.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from fhirip import operations
from fhirip.auth import Actor
from fhirip.consent import decide
from fhirip.consent.decide import decide_reading
from fhirip.errors import BadRequest, FhirError, MethodNotAllowed, NotFound
from fhirip.interactions import (
    create,
    delete,
    export_status,
    history,
    patch,
    read,
    search,
    update,
    vread,
)
from fhirip.interactions.access import authorize
from fhirip.interactions.auditing import (
    break_the_glass_notices,
    failure_event,
    success_events,
)
from fhirip.interactions.capabilities import capabilities
from fhirip.context import Context, Services
from fhirip.interactions.request import FhirRequest, FhirResponse, refuse_control_characters
from fhirip.model.resources import is_resource_type
from fhirip.store import Tx
from fhirip.store.engine import generic_plans_to_commit

Handler = Callable[[Context, FhirRequest], FhirResponse]


@dataclass(frozen=True)
class Route:
    interaction: str  # the FHIR restful-interaction code
    handler: Handler
    writes: bool
    # The handler asks `authorize` itself, when the resource's own content does not settle it.
    authorizes_itself: bool = False
    # The patients the request is about, when the route knows them before it runs: the caller's
    # access is decided for them alone (`operations.Operation.within`).
    within: operations.Within | None = None


def _batch(ctx: Context, req: FhirRequest) -> FhirResponse:
    from fhirip.interactions.bundle import batch_or_transaction

    return batch_or_transaction(ctx, req)


# (shape, method) → route. Shapes: "" system, "T" type, "T/id" instance, …
ROUTES: dict[tuple[str, str], Route] = {
    ("metadata", "GET"): Route("capabilities", capabilities, False),
    ("", "POST"): Route("batch", _batch, True),
    ("", "GET"): Route("search-system", search.search_system, False),
    ("_search", "POST"): Route("search-system", search.search_system, False),
    ("_history", "GET"): Route("history-system", history.history, False),
    ("T", "GET"): Route("search-type", search.search_type, False),
    ("T", "POST"): Route("create", create.create, True),  # with a query: conditional create
    ("T", "PUT"): Route("update", update.conditional_update, True),
    ("T", "DELETE"): Route("delete", delete.conditional_delete, True),
    ("T", "PATCH"): Route("patch", patch.conditional_patch, True),
    ("T/_search", "POST"): Route("search-type", search.search_type, False),
    ("T/_history", "GET"): Route("history-type", history.history, False),
    ("T/id", "GET"): Route("read", read.read, False, authorizes_itself=True),
    ("T/id", "PUT"): Route("update", update.update, True),
    ("T/id", "DELETE"): Route("delete", delete.delete, True),
    ("T/id", "PATCH"): Route("patch", patch.patch, True),
    ("T/id/_history", "GET"): Route("history-instance", history.history, False),
    ("T/id/_history/vid", "GET"): Route("vread", vread.vread, False),
    ("T/id/C", "GET"): Route("search-type", search.search_compartment, False),
    # Bulk Data export: the status URL of a job and its files (the kick-off is the operation $export)
    ("_export/job", "GET"): Route("operation:export-status", export_status.status, False),
    ("_export/job", "DELETE"): Route("operation:export-status", export_status.cancel, False),
    ("_export/job/file", "GET"): Route("operation:export-file", export_status.download, False),
}


def split_url(url: str, base_url: str = "") -> tuple[list[str], list[tuple[str, str]]]:
    """A request URL (absolute under base_url, or relative) → path segments and query pairs."""
    if base_url and url.startswith(base_url):
        url = url[len(base_url):]
    parts = urlsplit(url)
    segments = [unquote(s) for s in parts.path.split("/") if s]
    return segments, parse_qsl(parts.query, keep_blank_values=True)


def resolve(req: FhirRequest, segments: list[str]) -> Route:
    """Fill the request's type/id/version/operation from the path and find its route."""
    method = "GET" if req.method == "HEAD" else req.method
    refuse_control_characters(req.params, segments)
    shape = _shape(req, segments)
    if shape.endswith("$"):
        return _operation_route(req, shape, method)
    route = ROUTES.get((shape, method))
    if route is not None and route.interaction == "create" and req.params:
        _query_as_condition(req)
    if route is None:
        if any(s == shape for s, _ in ROUTES):
            allowed = sorted({m for s, m in ROUTES if s == shape})
            raise MethodNotAllowed(f"{req.method} is not allowed on this URL; use {', '.join(allowed)}",
                                   headers={"Allow": ", ".join(allowed)})
        raise NotFound(f"No FHIR interaction has the URL /{'/'.join(segments)}")
    return route


def _query_as_condition(req: FhirRequest) -> None:
    """`POST [type]?[search]` is a conditional create whose criteria are the query
    (what `If-None-Exist` carries); both at once must say the same thing."""
    query = urlencode(req.params)
    if req.if_none_exist and parse_qsl(req.if_none_exist.split("?", 1)[-1], keep_blank_values=True) != req.params:
        raise BadRequest("A create has both search criteria in its URL and an If-None-Exist that differs; "
                         "send one of them")
    req.if_none_exist = query
    req.params = []


def _shape(req: FhirRequest, segments: list[str]) -> str:
    if not segments:
        return ""
    first = segments[0]
    if first.startswith("$"):
        req.operation = first[1:]
        return "$"
    if first in ("metadata", "_history", "_search") and len(segments) == 1:
        return first
    if first == export_status.SEGMENT and len(segments) in (2, 3):
        req.res_id = segments[1]  # the job
        req.version_id = segments[2] if len(segments) == 3 else None  # the file's name
        return "_export/job/file" if len(segments) == 3 else "_export/job"
    if not is_resource_type(first):
        raise NotFound(f"Unknown resource type '{first}'")
    req.res_type = first
    rest = segments[1:]
    if not rest:
        return "T"
    if rest[0].startswith("$") and len(rest) == 1:
        req.operation = rest[0][1:]
        return "T/$"
    if rest[0] in ("_search", "_history") and len(rest) == 1:
        return f"T/{rest[0]}"
    req.res_id = rest[0]
    if len(rest) == 1:
        return "T/id"
    if rest[1].startswith("$") and len(rest) == 2:
        req.operation = rest[1][1:]
        return "T/id/$"
    if rest[1] == "_history":
        if len(rest) == 2:
            return "T/id/_history"
        if len(rest) == 3:
            req.version_id = rest[2]
            return "T/id/_history/vid"
    if len(rest) == 2 and is_resource_type(rest[1]):
        req.compartment = rest[1]
        return "T/id/C"
    raise NotFound(f"No FHIR interaction has the URL /{'/'.join(segments)}")


def _operation_route(req: FhirRequest, shape: str, method: str) -> Route:
    level = {"$": "system", "T/$": "type", "T/id/$": "instance"}[shape]
    operation = operations.find(req.operation or "", level, req.res_type)
    if operation is None:
        where = f" on {req.res_type}" if req.res_type else ""
        raise NotFound(f"Unknown operation ${req.operation} at {level} level{where}")
    if operation.writes and method == "GET":
        raise MethodNotAllowed(f"${operation.name} changes data and must be invoked with POST",
                               headers={"Allow": "POST"})
    return Route(f"operation:{operation.name}", operation.handler, operation.writes, within=operation.within)


def may_return_audit_events(req: FhirRequest, segments: list[str]) -> bool:
    """Whether a request may read AuditEvents: it names them, includes every referrer (`*`),
    searches by POST (criteria in the body), searches every type at once, or is a batch or
    transaction whose entries name them."""
    if segments and (segments[0] == "AuditEvent" or "_search" in segments):
        return True
    url = unquote(req.url or "")
    if "AuditEvent" in url or "*" in url:
        return True
    if segments:
        return False
    if req.method == "POST":
        return _entries_name_audit_events(req)
    return req.param("_type") is None  # a system search over every type


def _entries_name_audit_events(req: FhirRequest) -> bool:
    """Whether a batch or transaction names AuditEvents (or `*`) in any entry's URL; a body not
    yet parsed is searched as text, which may only say yes too often."""
    if isinstance(req.resource, dict):
        entries = req.resource.get("entry")
        urls = [str((e.get("request") or {}).get("url", "")) for e in entries or [] if isinstance(e, dict)]
        return any("AuditEvent" in u or "*" in unquote(u) for u in urls)
    body = req.body or b""
    return b"AuditEvent" in body or b"*" in body or b"%2A" in body.upper()


def handle(services: Services, req: FhirRequest, segments: list[str], actor: Actor | None = None, *,
           internal: bool = False, client_address: str | None = None) -> FhirResponse:
    """Run one request as one database transaction, decided and audited.

    Every request from outside is decided by the caller's consent policy and leaves an
    AuditEvent, allowed or refused. `internal` marks the server's own jobs (demo data,
    migrations): they act as the server itself, with no caller to decide for.
    """
    if may_return_audit_events(req, segments):
        services.audit_trail.flush()  # so the answer holds every event committed before it
    try:
        route = resolve(req, segments)
    except FhirError as error:
        if not internal:
            services.audit_trail.append([failure_event(actor, req, None, error.status, client_address)])
        raise
    if internal:  # the server's own jobs are not held to a request's time limit
        return services.store.run(lambda tx: route.handler(Context(services, tx, req.base_url, None), req),
                                  write=route.writes, unlimited=True)
    if route.interaction == "capabilities":
        return services.store.run(lambda tx: route.handler(Context(services, tx, req.base_url, actor), req),
                                  write=False)
    after: list[dict[str, Any]] = []

    def work(tx: Tx) -> FhirResponse:
        after.clear()
        within = None
        if route.within is not None and actor is not None:
            # A request about a few patients reads a handful of rows by index in each statement, with
            # the same plan whatever the values: planned once per connection, not at every execution.
            generic_plans_to_commit(tx.conn)
            within = route.within(tx.conn, req)
        issued_at = actor.issued_at if actor else None
        read_ahead = None
        if route.interaction == "read" and within is None and req.res_type and req.res_id:
            # The resource read with the caller's access rows: one statement for both.
            access, read_ahead = decide_reading(tx.conn, actor, req.res_type, req.res_id, token_issued_at=issued_at)
        else:
            access = decide(tx.conn, actor, token_issued_at=issued_at, within=within)
        ctx = Context(services, tx, req.base_url, actor, access=access, policy=access.sql,
                      provenance=req.provenance, read_ahead=read_ahead, checked_ahead=checked)
        if not route.authorizes_itself:
            authorize(ctx, route.interaction, req.res_type)
        response = route.handler(ctx, req)
        events = success_events(ctx, req, route.interaction, response, client_address)
        for event in events:
            event["id"] = str(uuid.uuid4())  # before the notices, which point at them
        events += break_the_glass_notices(ctx, events)
        if route.writes:  # the record is part of the change it records
            services.audit_trail.append_in(tx, events)
        else:
            after.extend(events)
        return response

    checked = None
    try:
        # A write is prepared before it takes the write lock, and holds it only to be written; a
        # batch or transaction, whose later entries read what the earlier wrote, holds it throughout,
        # its entries' content checked before it (parse, validation, index rows).
        if route.interaction == "batch" and services.store.writers_queue and actor is not None:
            from fhirip.interactions.bundle import checked_before_the_lock

            checked = checked_before_the_lock(services, req, actor)
        prepared = route.writes and route.interaction != "batch"
        response = services.store.run(work, write=route.writes, prepare=prepared)
    except FhirError as error:
        services.audit_trail.append([failure_event(actor, req, route.interaction, error.status, client_address)])
        raise
    except Exception:  # a fault of the server's (answered 500) is recorded like any refusal
        services.audit_trail.append([failure_event(actor, req, route.interaction, 500, client_address)])
        raise
    services.audit_trail.append(after)
    return response
