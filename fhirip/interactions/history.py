"""FHIR history interaction at instance, type and system level.

https://hl7.org/fhir/R4/http.html#history

Newest first. Pages are cut by the global version sequence (`_cursor`), so
versions written while a client pages never shift or repeat what it sees.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson

from fhirip.errors import BadRequest, NotFound
from fhirip.interactions.access import ensure_visible, masked_body
from fhirip.interactions.context import Context
from fhirip.interactions.request import FhirRequest, FhirResponse
from fhirip.model.dates import parse_range
from fhirip.store import StoredVersion, instant

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
