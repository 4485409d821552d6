"""FHIR batch and transaction interactions.

https://hl7.org/fhir/R4/http.html#transaction
https://hl7.org/fhir/R4/http.html#trules (processing rules and order)

Each entry becomes a `FhirRequest` and runs through the same handler as the
equivalent HTTP request, inside the one database transaction of the Bundle.
A transaction is all or nothing: the first failing entry fails the whole Bundle
and nothing is stored. A batch runs each entry in its own savepoint and reports
each entry's outcome.
"""

from __future__ import annotations

import logging
from datetime import datetime
from http import HTTPStatus
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError

from fhirip.errors import (
    BadRequest,
    Conflict,
    FhirError,
    Issue,
    PreconditionFailed,
    operation_outcome,
)
from fhirip.interactions.access import authorize
from fhirip.interactions.conditional import (
    NOT_CRITERIA,
    KnownMatches,
    criteria_of,
    find_matches,
    identifier_criterion,
    identifier_matches,
)
from fhirip.auth.actor import Actor
from fhirip.context import Context, Services, visible_keys
from fhirip.interactions.create import existing_match
from fhirip.interactions.delete import refuse_if_referenced
from fhirip.interactions.request import FhirRequest, FhirResponse
from fhirip.interactions.transaction_references import resolve_references
from fhirip.interactions.write import dangling_error
from fhirip.model.dates import parse_instant
from fhirip.model.resources import is_valid_id, new_id, parse_json
from fhirip.store.unscoped import UnscopedReader, UnscopedUse
from fhirip.validation.checked_ahead import CheckedAhead

_LOG = logging.getLogger(__name__)

# https://hl7.org/fhir/R4/http.html#trules: deletes, then creates, then updates, then reads.
_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}


class _Entry:
    def __init__(self, index: int, req: FhirRequest, segments: list[str], full_url: str | None):
        self.index = index
        self.req = req
        self.segments = segments
        self.full_url = full_url
        self.route: Any = None
        self.response: FhirResponse | None = None

    @property
    def where(self) -> str:
        return f"Bundle.entry[{self.index}]"


def checked_before_the_lock(services: Services, req: FhirRequest, actor: Actor) -> CheckedAhead | None:
    """A transaction Bundle of creates checked before its transaction starts: each entry as it will
    be written (ids proposed, references between entries rewritten), through the model parse, the
    validator of the conformance write hook and the search index extraction. The transaction takes
    each result only for exactly the content checked, and checks anything else itself
    (`fhirip.mapping.checking_ahead`). For a store whose writers queue for one lock (SQLite), which
    a transaction holds throughout: it then holds it for what needs the store. None for anything
    else (a body that does not parse is refused by the transaction, in its own words), and for a
    caller whose token does not reach a create of every entry's type (nothing is done for a request
    the transaction is sure to refuse)."""
    from fhirip.interactions.conformance_check import write_hook_validator
    from fhirip.mapping.checking_ahead import AheadChecker

    validator = write_hook_validator(services)
    if validator is None:
        return None
    if req.resource is None:
        try:
            req.resource = parse_json(req.body or b"")  # parsed once: the transaction reads it from here
        except FhirError:
            return None
    bundle = req.resource
    if not isinstance(bundle, dict) or bundle.get("type") != "transaction":
        return None
    entries = bundle.get("entry")
    if not isinstance(entries, list) or len(entries) > services.settings.max_bundle_entries:
        return None  # refused by the transaction
    requests = [entry.get("request") if isinstance(entry, dict) else None for entry in entries]
    types = {str(request.get("url")) if isinstance(request, dict) else "" for request in requests}
    if not all(actor.scope_allows(res_type, "create") for res_type in types):
        return None
    try:
        return AheadChecker(validator, store_free=False).check(bundle)
    except Exception:  # noqa: BLE001 - the transaction checks every entry itself, and answers for it
        _LOG.exception("checking a transaction before the write lock failed; its entries are checked under it")
        return None


def batch_or_transaction(ctx: Context, req: FhirRequest) -> FhirResponse:
    bundle = req.resource if req.resource is not None else parse_json(req.body or b"")
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise BadRequest("POST to the base URL takes a Bundle of type batch or transaction")
    kind = bundle.get("type")
    if kind not in ("batch", "transaction"):
        raise BadRequest(f"Bundle.type must be batch or transaction, not '{kind}'",
                         expression=["Bundle.type"])
    raw_entries = bundle.get("entry") or []
    if not isinstance(raw_entries, list):
        raise BadRequest("Bundle.entry must be a list", expression=["Bundle.entry"])
    if len(raw_entries) > ctx.settings.max_bundle_entries:
        raise BadRequest(f"The Bundle has {len(raw_entries)} entries; at most "
                         f"{ctx.settings.max_bundle_entries} are accepted", expression=["Bundle.entry"])
    if kind == "transaction":
        return _transaction(ctx, req, raw_entries)
    return _batch(ctx, req, raw_entries)


def _entry(ctx: Context, outer: FhirRequest, index: int, raw: Any) -> _Entry:
    from fhirip.interactions.router import resolve, split_url

    where = f"Bundle.entry[{index}]"
    request = raw.get("request") if isinstance(raw, dict) else None
    if not isinstance(request, dict) or not request.get("method") or not request.get("url"):
        raise BadRequest(f"{where}.request needs a method and a url", expression=[f"{where}.request"])
    method = str(request["method"]).upper()
    if method not in _ORDER:
        raise BadRequest(f"{where}.request.method '{method}' is not a FHIR HTTP verb",
                         expression=[f"{where}.request.method"])
    for key in ("url", "ifMatch", "ifNoneMatch", "ifNoneExist", "ifModifiedSince"):
        if key in request and not isinstance(request[key], str):
            raise BadRequest(f"{where}.request.{key} must be a string", expression=[f"{where}.request.{key}"])
    segments, params = split_url(str(request["url"]), ctx.base_url)
    resource = raw.get("resource")
    if resource is not None and not isinstance(resource, (dict, list)):
        raise BadRequest(f"{where}.resource must be a resource", expression=[f"{where}.resource"])
    entry_req = FhirRequest(
        method=method, params=params, resource=resource, base_url=outer.base_url,
        if_match=request.get("ifMatch"), if_none_match=request.get("ifNoneMatch"),
        if_none_exist=request.get("ifNoneExist"), prefer_return=outer.prefer_return,
        content_type="application/json-patch+json" if isinstance(resource, list) else None,
        if_modified_since=_since(request.get("ifModifiedSince"), where),
        url=str(request["url"]))
    if isinstance(resource, dict) and resource.get("resourceType") == "Binary" and method == "PATCH":
        entry_req.content_type = "application/json-patch+json"  # Binary-wrapped JSON Patch
    entry = _Entry(index, entry_req, segments, raw.get("fullUrl"))
    entry.route = resolve(entry_req, segments)
    authorize(ctx, entry.route.interaction, entry_req.res_type)
    if entry.route.interaction == "batch":
        raise BadRequest(f"{where}: a Bundle entry may not itself be a batch or transaction",
                         expression=[f"{where}.request"])
    return entry


def _since(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_instant(str(value))
    except ValueError:
        raise BadRequest(f"{where}.request.ifModifiedSince is not an instant",
                         expression=[f"{where}.request.ifModifiedSince"]) from None


def _response_entry(response: FhirResponse, base_url: str) -> dict[str, Any]:
    status = HTTPStatus(response.status)
    entry: dict[str, Any] = {"response": {"status": f"{status.value} {status.phrase}"}}
    full_url = _full_url(response, base_url)
    if full_url is not None:
        entry = {"fullUrl": full_url, **entry}
    headers = response.headers
    if "Location" in headers:
        entry["response"]["location"] = headers["Location"]
    if "ETag" in headers:
        entry["response"]["etag"] = headers["ETag"]
    if "Last-Modified" in headers and response.body is not None:
        meta = orjson.loads(response.body).get("meta", {})
        if "lastUpdated" in meta:
            entry["response"]["lastModified"] = meta["lastUpdated"]
    if response.body is not None:
        entry["resource"] = orjson.Fragment(response.body)
    elif response.resource is not None:
        if response.resource.get("resourceType") == "OperationOutcome" and response.status >= 300:
            entry["response"]["outcome"] = response.resource
        else:
            entry["resource"] = response.resource
    return entry


def _full_url(response: FhirResponse, base_url: str) -> str | None:
    """The resource an entry's answer is about: the one written (its Location) or the one read."""
    location = response.headers.get("Location")
    if location:
        return location.split("/_history/")[0]
    if response.status < 300 and response.has_content:
        head = response.resource if response.resource is not None else orjson.loads(response.body or b"{}")
        if head.get("resourceType") not in (None, "Bundle", "OperationOutcome", "Parameters") and head.get("id"):
            return f"{base_url}/{head['resourceType']}/{head['id']}"
    return None


def _error_entry(error: FhirError) -> dict[str, Any]:
    status = HTTPStatus(error.status)
    return {"response": {"status": f"{status.value} {status.phrase}", "outcome": error.outcome()}}


def _batch(ctx: Context, req: FhirRequest, raw_entries: list[Any]) -> FhirResponse:
    out = []
    for index, raw in enumerate(raw_entries):
        try:
            with ctx.tx.savepoint():
                entry = _entry(ctx, req, index, raw)
                out.append(_response_entry(entry.route.handler(ctx, entry.req), req.base_url))
        except FhirError as error:
            out.append(_error_entry(error))
        except IntegrityError:
            out.append(_error_entry(Conflict("A concurrent write changed this resource; try again")))
    return FhirResponse(200, resource={"resourceType": "Bundle", "type": "batch-response", "entry": out})


def _transaction(ctx: Context, req: FhirRequest, raw_entries: list[Any]) -> FhirResponse:
    ctx.in_transaction = True
    entries = []
    for index, raw in enumerate(raw_entries):
        entries.append(_in_entry(index, lambda i=index, r=raw: _entry(ctx, req, i, r)))
    ids = _assign_ids(ctx, entries)
    _refuse_duplicates(entries)  # after _assign_ids: a conditional update may resolve to a listed id
    _lock_in_order(ctx, entries)
    for entry in entries:
        if isinstance(entry.req.resource, dict):
            _in_entry(entry.index, lambda e=entry: resolve_references(ctx, e.req.resource, e.full_url, ids))
    owners: list[int] = []  # the entry that wrote each deferred reference check
    deleters: list[int] = []  # the entry that made each deferred delete check
    # The entries' writes wait in the transaction's buffer; whatever reads next (the plan rules,
    # searches, deletes, operations) sees them written first.
    for entry in sorted(entries, key=lambda e: _ORDER[e.req.method]):
        if entry.response is None:
            entry.response = _in_entry(entry.index, lambda e=entry: e.route.handler(ctx, e.req))
            owners += [entry.index] * (len(ctx.deferred_references) - len(owners))
            deleters += [entry.index] * (len(ctx.deferred_deletes) - len(deleters))
    _check_references(ctx, owners, _known_to_exist(entries))
    for index, current in zip(deleters, ctx.deferred_deletes):
        _in_entry(index, lambda c=current: refuse_if_referenced(ctx, c))
    out = [_response_entry(entry.response, req.base_url) for entry in entries]
    return FhirResponse(200, resource={"resourceType": "Bundle", "type": "transaction-response",
                                       "entry": out})


def _known_to_exist(entries: list[_Entry]) -> set[tuple[str, str]]:
    """What this transaction's create entries stored or matched. Nothing of it can be gone
    by the end: creates run after deletes, and with no delete entry nothing removes a match."""
    if any(entry.req.method == "DELETE" for entry in entries):
        return {(entry.req.res_type, entry.req.assigned_id) for entry in entries
                if _is_create(entry) and entry.req.assigned_id and entry.response.status == 201}
    return {(entry.req.res_type, _id_from_location(entry.response)) for entry in entries
            if _is_create(entry) and entry.response.status in (200, 201) and "Location" in entry.response.headers}


def _is_create(entry: _Entry) -> bool:
    return entry.route.interaction == "create" and bool(entry.req.res_type) and entry.response is not None


def _check_references(ctx: Context, owners: list[int], created: set[tuple[str, str]]) -> None:
    """After all entries: every reference written must resolve; a dangling one names its entry.

    One existence query covers the references of all entries. Without an access policy,
    what the transaction itself created or matched exists and need not be asked for.
    """
    deferred, ctx.deferred_references = ctx.deferred_references, []
    wanted = {(link.res_type, link.res_id) for _, links in deferred for link in links}
    known = created & wanted if ctx.access is None else set()
    found = visible_keys(ctx, wanted - known) | known
    for owner, (resource, links) in zip(owners, deferred):
        own = (resource["resourceType"], resource["id"])
        missing = [link for link in links if (link.res_type, link.res_id) not in found
                   and (link.res_type, link.res_id) != own]
        if missing:
            _in_entry(owner, lambda m=missing: _raise(dangling_error(m)))


def _in_entry(index: int, work: Any) -> Any:
    """Run `work`; an error fails the transaction and names the entry it came from."""
    try:
        return work()
    except FhirError as error:
        where = f"Bundle.entry[{index}]"
        issues = [Issue(i.severity, i.code, f"{where}: {i.diagnostics}", i.expression or (where,))
                  for i in error.issues]
        raise type(error)(f"{where}: {error.diagnostics}", issues=issues, headers=error.headers) from None


def _refuse_duplicates(entries: list[_Entry]) -> None:
    seen: dict[tuple[str, str], int] = {}
    for entry in entries:
        if entry.req.res_id is None or entry.req.method in ("GET", "HEAD"):
            continue
        key = (entry.req.res_type or "", entry.req.res_id)
        if key in seen:
            raise BadRequest(f"Bundle.entry[{entry.index}] and Bundle.entry[{seen[key]}] both change "
                             f"{key[0]}/{key[1]}", expression=[f"Bundle.entry[{entry.index}]"])
        seen[key] = entry.index


def _lock_in_order(ctx: Context, entries: list[_Entry]) -> None:
    """Lock the existing resources the entries change, sorted by type and id, before any write.

    Entries run in the spec's order, not in id order; two transactions changing the same
    resources in opposite orders would otherwise deadlock each other on PostgreSQL.
    """
    keys = {(e.req.res_type, e.req.res_id) for e in entries
            if e.req.method in ("PUT", "PATCH", "DELETE") and e.req.res_type and e.req.res_id}
    for res_type, res_id in sorted(keys):
        ctx.tx.current(res_type, res_id, lock=True)


def _assign_ids(ctx: Context, entries: list[_Entry]) -> dict[str, str]:
    """fullUrl → 'Type/id' for every entry that creates or updates a resource."""
    wanted = _conditional_identifiers(entries)
    known = identifier_matches(ctx, wanted) if wanted else KnownMatches()  # together: nothing is written yet
    return _assign_ids_now(ctx, entries, known)


def _assign_ids_now(ctx: Context, entries: list[_Entry], known: KnownMatches) -> dict[str, str]:
    from fhirip.interactions import update

    ids: dict[str, str] = {}
    for entry in entries:
        req = entry.req
        if req.method == "POST" and entry.route.interaction == "create":
            if req.if_none_exist:
                existing = _in_entry(entry.index, lambda r=req: existing_match(ctx, r, known))
                if existing is not None:
                    entry.response = existing
                    ids_key = f"{req.res_type}/{_id_from_location(existing)}"
                    if entry.full_url:
                        ids[entry.full_url] = ids_key
                    continue
            req.assigned_id = _proposed_id(ctx, entry) or new_id()
            if entry.full_url:
                ids[entry.full_url] = f"{req.res_type}/{req.assigned_id}"
        elif req.method == "PUT" and req.res_id is None and isinstance(req.resource, dict):
            # Conditional update: settle its target now, so references to it resolve.
            matches = _in_entry(entry.index, lambda r=req: find_matches(ctx, r.res_type, r.params))
            if len(matches) > 1:
                _in_entry(entry.index, lambda r=req: _raise(PreconditionFailed(
                    f"The criteria match more than one {r.res_type}; nothing was updated")))
            req.res_id = matches[0] if matches else (req.resource.get("id") or new_id())
            req.resource["id"] = req.res_id
            req.params = []
            entry.route = type(entry.route)("update", update.update, True)
            if entry.full_url:
                ids[entry.full_url] = f"{req.res_type}/{req.res_id}"
        elif req.method == "PUT" and req.res_id is not None and entry.full_url:
            ids[entry.full_url] = f"{req.res_type}/{req.res_id}"
    if ctx.checked_ahead is not None:
        _renew_taken_ids(ctx, entries, ids)
    return ids


def _proposed_id(ctx: Context, entry: _Entry) -> str | None:
    """The id a trusted job checked this create's content with, if it is a valid id."""
    checked = ctx.checked_ahead
    if checked is None:
        return None
    proposed = checked.proposed_id(entry.full_url)
    return proposed if isinstance(proposed, str) and is_valid_id(proposed) else None


def _renew_taken_ids(ctx: Context, entries: list[_Entry], ids: dict[str, str]) -> None:
    """A proposed id that some resource already has or had (or that two entries share)
    gives way to a fresh one: a create never meets an existing id."""
    proposed = [entry for entry in entries if entry.req.assigned_id is not None and entry.response is None
                and entry.req.assigned_id == _proposed_id(ctx, entry)]
    if not proposed:
        return
    keys = {(entry.req.res_type or "", entry.req.assigned_id or "") for entry in proposed}
    taken = _ids_in_use(ctx, keys)
    seen: set[tuple[str, str]] = set()
    for entry in proposed:
        key = (entry.req.res_type or "", entry.req.assigned_id or "")
        if key in taken or key in seen:
            entry.req.assigned_id = new_id()
            if entry.full_url:
                ids[entry.full_url] = f"{entry.req.res_type}/{entry.req.assigned_id}"
        seen.add(key)


def _ids_in_use(ctx: Context, keys: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (type, id) pairs name a resource row, deleted ones included."""
    return UnscopedReader(ctx.tx.conn, UnscopedUse.NEW_IDS).ids_in_use(keys)


def _conditional_identifiers(entries: list[_Entry]) -> list[tuple[str, str, str]]:
    """(type, system, value) of the conditional creates whose criteria are one business
    identifier, to be looked up together (an imported plan has dozens)."""
    wanted = set()
    for entry in entries:
        req = entry.req
        if req.method != "POST" or entry.route.interaction != "create" or not req.if_none_exist:
            continue
        try:
            criteria = [(k, v) for k, v in criteria_of(req.if_none_exist, "If-None-Exist")
                        if k not in NOT_CRITERIA]
        except FhirError:
            continue  # reported with its entry by the create itself
        identifier = identifier_criterion(req.res_type or "", criteria)
        if identifier is not None:
            wanted.add((req.res_type or "", *identifier))
    return sorted(wanted)


def _raise(error: FhirError) -> None:
    raise error


def _id_from_location(response: FhirResponse) -> str:
    return response.headers["Location"].split("/_history/")[0].rsplit("/", 1)[1]


__all__ = ["batch_or_transaction", "operation_outcome"]
