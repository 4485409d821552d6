"""FHIR history interaction at instance, type and system level.

https://hl7.org/fhir/R4/http.html#history

Newest first. Pages are cut by the global version sequence (`_cursor`), so
versions written while a client pages never shift or repeat what it sees.

Under a consent policy the store admits the versions of resources whose current
row the caller may see; each older version is then judged by its own content
(`AccessPolicy.may_read_version`), since a resource moved from one patient's
record to another keeps its earlier versions in the first record. A version the
caller may not see is left out of the page and of `total` alike, as if it had
never been written, and pages are filled from the versions the caller sees.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import orjson

from fhirip.consent.vocabulary import all_resource_types
from fhirip.errors import BadRequest, NotFound
from fhirip.interactions.access import ensure_visible, masked_body
from fhirip.context import Context
from fhirip.interactions.request import FhirRequest, FhirResponse
from fhirip.model.dates import parse_range
from fhirip.store import StoredVersion, instant
from fhirip.store.unscoped import UnscopedReader, UnscopedUse

_KNOWN = {"_count", "_since", "_at", "_cursor", "_format", "_pretty", "_list", "_sort"}


def history(ctx: Context, req: FhirRequest) -> FhirResponse:
    for name, _ in req.params:
        if name not in _KNOWN:
            raise BadRequest(f"Unknown parameter '{name}' for history", expression=[name])
    if req.res_id is not None:
        ensure_visible(ctx, req.res_type, req.res_id)
        if ctx.tx.current(req.res_type, req.res_id) is None:
            raise NotFound(f"Resource {req.res_type}/{req.res_id} is not known")
    count = req.int_param("_count", ctx.settings.default_page_size, minimum=0,
                          maximum=ctx.settings.max_page_size)
    since = _instant_param(req, "_since")
    at = _range_param(req, "_at")
    cursor = req.int_param("_cursor", 0, minimum=1, maximum=2**62) if req.param("_cursor") else None
    scope = {"res_type": req.res_type, "res_id": req.res_id, "since": since, "at": at,
             "policy": ctx.policy}
    if judged_per_version(ctx, req.res_type):
        versions, total = _visible_versions(ctx, scope, cursor, count + 1)
    else:
        versions = ctx.tx.history(**scope, before_seq=cursor, limit=count + 1) if count else []
        total = ctx.tx.history_count(**scope)
    more = len(versions) > count
    versions = versions[:count]
    base = "/".join(p for p in (ctx.base_url, req.res_type, req.res_id, "_history") if p)
    links = [{"relation": "self", "url": _url(base, req.params)}]
    if more and versions:
        kept = [(k, v) for k, v in req.params if k != "_cursor"]
        links.append({"relation": "next", "url": _url(base, [*kept, ("_cursor", str(versions[-1].seq))])})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "history", "total": total,
                              "link": links, "entry": [_entry(ctx, v) for v in versions]}
    return FhirResponse(200, resource=bundle)


# Versions read from the store at a time while looking for those the caller may see.
_BATCH = 500


def judged_per_version(ctx: Context, res_type: str | None) -> bool:
    """Whether the caller's versions of `res_type` (None: of every type) must be judged one
    by one: not for a caller without a policy or one that reads the type wholesale, whose
    decision does not depend on what a version holds."""
    if ctx.access is None:
        return False
    types = (res_type,) if res_type is not None else all_resource_types()
    return not all(ctx.access.sees_every(t) for t in types)


def shows_version(ctx: Context, version: StoredVersion, current_version: int) -> bool:
    """Whether the caller may see this version of a resource whose current row it may see.

    The current version was judged with the row. An older one is judged by its content;
    a deletion that was followed by a new version, by the version it deleted."""
    if version.version == current_version or ctx.access is None:
        return True
    content = version.content
    if content is None:
        deleted = ctx.tx.read(version.res_type, version.res_id, version.version - 1) \
            if version.version > 1 else None
        content = deleted.content if deleted is not None else None
        if content is None:
            return False
    return bool(ctx.access.may_read_version(version.res_type, orjson.loads(content)))


def _visible_versions(ctx: Context, scope: dict[str, Any], cursor: int | None,
                      limit: int) -> tuple[list[StoredVersion], int]:
    """Up to `limit` versions the caller may see before `cursor`, and how many it may see
    in all. Every candidate is looked at once, so `total` counts exactly what paging shows."""
    page: list[StoredVersion] = []
    total = 0
    for version in _shown(ctx, scope):
        total += 1
        if len(page) < limit and (cursor is None or version.seq < cursor):
            page.append(version)
    return page, total


def _shown(ctx: Context, scope: dict[str, Any]) -> Iterator[StoredVersion]:
    """Newest first, the versions of the scope the caller may see (the store has already
    left out resources whose current row the caller may not see)."""
    before: int | None = None
    while True:
        batch = ctx.tx.history(**scope, before_seq=before, limit=_BATCH)
        current = _current_versions(ctx, {v.rid for v in batch})
        for version in batch:
            if shows_version(ctx, version, current.get(version.rid, version.version)):
                yield version
        if len(batch) < _BATCH:
            return
        before = batch[-1].seq


def _current_versions(ctx: Context, rids: set[int]) -> dict[int, int]:
    """The current version of rows the history query admitted under the caller's policy."""
    return UnscopedReader(ctx.tx.conn, UnscopedUse.VERSION_NUMBERS).current_versions(rids)


def _url(base: str, params: list[tuple[str, str]]) -> str:
    return f"{base}?{urlencode(params)}" if params else base


def _instant_param(req: FhirRequest, name: str) -> Any:
    raw = req.param(name)
    return None if raw is None else _range(raw, name)[0]


def _range_param(req: FhirRequest, name: str) -> Any:
    raw = req.param(name)
    return None if raw is None else _range(raw, name)


def _range(raw: str, name: str) -> Any:
    try:
        return parse_range(raw)
    except ValueError as exc:
        raise BadRequest(f"Parameter '{name}': {exc}", expression=[name]) from None


def _entry(ctx: Context, version: StoredVersion) -> dict[str, Any]:
    url = f"{version.res_type}/{version.res_id}"
    method = version.method if version.method in ("POST", "PUT", "PATCH", "DELETE") else "PUT"
    entry: dict[str, Any] = {"fullUrl": f"{ctx.base_url}/{url}"}
    if version.content is not None:
        # every version as the caller may see it: masked for the administrative view, like a read
        body = masked_body(ctx, version.content)
        entry["resource"] = orjson.Fragment(body) if isinstance(body, bytes) else body
    entry["request"] = {"method": method, "url": version.res_type if method == "POST" else url}
    status = {"POST": "201 Created", "DELETE": "204 No Content"}.get(method, "200 OK")
    entry["response"] = {"status": status, "etag": f'W/"{version.version}"',
                         "lastModified": instant(version.last_updated)}
    return entry
