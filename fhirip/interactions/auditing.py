"""An AuditEvent for every interaction, allowed or denied, stored before the response leaves.

https://hl7.org/fhir/R4/auditevent.html

The event names who asked (and for which organisation, with which purpose of
use), which resources and which patients were touched, and the outcome. Writes
record it in their own transaction; reads and refusals through the process's audit
trail (fhirip.audit.trail), which commits concurrent requests' events together.
AuditEvents are append-only: no API interaction may change them, and they hold
no links, so they never block deleting what they mention.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import orjson

from fhirip.audit import audit_event, outcome_for_status
from fhirip.auth.actor import Actor, ActorKind
from fhirip.consent.compartment import in_compartment, patients_of
from fhirip.context import Context
from fhirip.interactions.request import FhirRequest, FhirResponse
from fhirip.model.resources import is_valid_id
from fhirip.search.registry import registry

MAX_REFERENCES = 200  # a large search is recorded by its first resources and its query


def audit_interaction(route_interaction: str, response: FhirResponse | None = None) -> str:
    if route_interaction.startswith("operation:"):
        return "operation"
    if route_interaction == "batch" and response is not None and response.resource is not None \
            and response.resource.get("type") == "transaction-response":
        return "transaction"
    return route_interaction


def touched(ctx: Context, req: FhirRequest, response: FhirResponse) -> list[dict[str, Any]]:
    """The resources an interaction returned or wrote, as JSON (capped)."""
    if response.body is not None and response.headers.get("Content-Type") is None:
        return [orjson.loads(response.body)]
    found: list[dict[str, Any]] = []
    keys: list[tuple[str, str]] = []
    bundle = response.resource
    if isinstance(bundle, dict) and bundle.get("resourceType") == "Bundle":
        for entry in bundle.get("entry", [])[:MAX_REFERENCES]:
            item = entry.get("resource")
            if isinstance(item, orjson.Fragment):  # a batch entry served as stored
                item = orjson.loads(orjson.dumps(item))
            if isinstance(item, dict) and item.get("resourceType") not in (None, "OperationOutcome"):
                found.append(item)
            else:
                url = entry.get("fullUrl") or (entry.get("response") or {}).get("location") or ""
                parts = url.split("/_history/")[0].rstrip("/").split("/")
                if len(parts) >= 2:
                    keys.append((parts[-2], parts[-1]))
    elif req.res_type and req.res_id:
        keys.append((req.res_type, req.res_id))
    keys += response.about
    if keys:
        found += [orjson.loads(c) for c in ctx.tx.read_many(keys).values()]
    return found


def success_events(ctx: Context, req: FhirRequest, route_interaction: str,
                   response: FhirResponse, client_address: str | None) -> list[dict[str, Any]]:
    """The AuditEvents of an allowed interaction: one, or one per patient when it touched several.

    A patient reads their access log from the AuditEvents in their compartment, so an event
    there must speak of their record only. A request that touched several patients leaves
    one event per patient, naming that patient's resources (and those of nobody's record,
    such as practitioners) with the query left out, since it may name the others; plus one
    full event in no compartment, for the security officer.
    """
    resources = touched(ctx, req, response)
    shared: list[str] = []
    by_patient: dict[str, list[str]] = {}
    for item in resources:
        if "id" not in item:
            continue
        ref = f"{item['resourceType']}/{item['id']}"
        owners = patients_of(item)
        for patient in owners:
            by_patient.setdefault(patient, []).append(ref)
        if not owners:
            shared.append(ref)
    url = _printable(req.url or req.base_url)
    refs = [f"{r['resourceType']}/{r['id']}" for r in resources if "id" in r]
    path_only = url.split("?", 1)[0]
    if len(by_patient) == 0 or (len(by_patient) == 1 and (path_only == url
                                                          or _names_no_one_else(req, route_interaction))):
        return [_success_event(ctx, req, route_interaction, response, client_address, refs, sorted(by_patient), url)]
    # A query may name other people (a practitioner's search by someone's number): the events in
    # a patient's log carry the path alone, the whole query goes to the event in no one's log.
    # The whole event must sit in nobody's compartment, and naming a Patient would put it in theirs:
    # which patients were touched is told by the per-patient events.
    unowned = [ref for ref in refs if not ref.startswith("Patient/")]
    return [_success_event(ctx, req, route_interaction, response, client_address, unowned, [], url),
            *(_success_event(ctx, req, route_interaction, response, client_address,
                             [*dict.fromkeys(by_patient[p]), *shared], [p], path_only)
              for p in sorted(by_patient))]


# Search parameters that shape the answer and name no one.
_SHAPING = frozenset({"_include", "_revinclude", "_include:iterate", "_revinclude:iterate", "_count", "_sort",
                      "_summary", "_elements", "_total", "_format", "_pretty"})


def _names_no_one_else(req: FhirRequest, route_interaction: str) -> bool:
    """Whether a type search's query names no one but the one patient whose record is all it
    touched: besides shaping parameters, each criterion is one identifier of the matches' own
    patient (`patient.identifier=<system>|<value>`, on a compartment parameter). Every match
    carries it through its patient reference, and every match is that patient's, so the value
    is theirs; the event in their log may then hold the whole query, and one event is enough."""
    if route_interaction != "search-type" or not req.res_type or not req.params:
        return False
    own = registry().patient_compartment.get(req.res_type, ())
    for name, value in req.params:
        if name in _SHAPING:
            continue
        reference, _, rest = name.partition(".")
        if rest != "identifier" or reference not in own or not value or "," in value:
            return False
    return True


def _success_event(ctx: Context, req: FhirRequest, route_interaction: str, response: FhirResponse,
                   client_address: str | None, refs: list[str], patients: list[str], url: str) -> dict[str, Any]:
    access = ctx.access
    consents = sorted({c for p in patients for c in access.consents_for(p)}) if access else []
    return audit_event(
        _audited_actor(ctx),
        interaction=audit_interaction(route_interaction, response),
        outcome=outcome_for_status(response.status), resource_refs=refs,
        patient_refs=[f"Patient/{p}" for p in patients], request_url=url,
        method=req.method, status=response.status,
        break_the_glass=bool(access and access.break_the_glass), recorded=_now(),
        consent_refs=consents, client_address=client_address)


def _audited_actor(ctx: Context) -> Actor | None:
    """The caller as the event records them: this request's own actor (its token's attestation,
    name and reason), resolved as patient or relative where the decision found them so. The
    decision may be one kept from an earlier request of the same caller with another token."""
    actor, access = ctx.actor, ctx.access
    if access is None or actor is None or actor.kind is not ActorKind.PERSON:
        return actor
    resolved = access.resolved_actor
    return actor.resolved_as(resolved.kind) if resolved is not None and resolved.kind is not actor.kind else actor


def failure_event(actor: Any, req: FhirRequest, route_interaction: str | None, status: int,
                  client_address: str | None) -> dict[str, Any]:
    # A refused or failed request names the resource asked for only when it is in no patient's
    # record: a probe of someone else's Patient id must not put the prober in that person's log.
    refs = [f"{req.res_type}/{req.res_id}"] if req.res_type and req.res_id and is_valid_id(req.res_id) \
        and not in_compartment(req.res_type) else []
    return audit_event(
        actor, interaction=audit_interaction(route_interaction or "read"),
        outcome=outcome_for_status(status), resource_refs=refs, patient_refs=[],
        request_url=_printable(req.url or req.base_url), method=req.method, status=status,
        break_the_glass=False, recorded=_now(), client_address=client_address)


def record_refusal(services: Any, req: FhirRequest, status: int, client_address: str | None) -> None:
    """Audit a request refused before it reached the core (no or a bad token, a bad body)."""
    services.audit_trail.append([failure_event(None, req, None, status, client_address)])


def break_the_glass_notices(ctx: Context, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Communications to the coordinators of every patient reached by emergency access, one
    per patient, each about the event in that patient's own access log."""
    from fhirip.consent.emergency import break_the_glass_notice

    if ctx.access is None or not ctx.access.break_the_glass:
        return []
    notices, told = [], set()
    for event in reversed(events):  # the per-patient events come last
        for entity in event.get("entity", []):
            reference = (entity.get("what") or {}).get("reference", "")
            patient = reference.split("/", 1)[1] if reference.startswith("Patient/") else None
            if patient is None or patient in told:
                continue
            told.add(patient)
            notice = break_the_glass_notice(ctx.tx.conn, ctx.access, patient, event.get("id"))
            if notice is not None:
                notices.append(notice)
    return notices


def _printable(url: str) -> str:
    """The URL as recorded: control characters (a request may carry %00) dropped, length capped."""
    if url.isprintable():  # as nearly every URL is: no walk over its characters
        return url[:2000]
    return "".join(c for c in url if c.isprintable())[:2000]


def _now() -> datetime:
    return datetime.now(timezone.utc)
