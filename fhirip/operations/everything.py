"""`Patient/[id]/$everything`: a patient's record, as far as the caller may see it, in pages.

https://hl7.org/fhir/R4/patient-operation-everything.html

The Patient, then every resource of its compartment, read by the same sweeps an export uses
(`fhirip.export.sweeps`: the caller's search, the access policy in the SQL, the
administrative view masked), in row-id order and paged by a cursor on that order; each page
also carries the practitioners, roles, organisations, locations and definitions (a plan's
`instantiatesCanonical`) its resources refer to and the caller may see. `_since`, `_type` and
`_count` narrow it. A patient the caller may not see is answered like an unknown one.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from sqlalchemy import select

from fhirip.errors import BadRequest
from fhirip.export.sweeps import Found, compartment_types, patient_sweeps, read_chunk, since_params
from fhirip.interactions.access import ensure_visible
from fhirip.context import Context
from fhirip.interactions.request import FhirRequest, FhirResponse
from fhirip.model.dates import parse_instant
from fhirip.operations import Operation, register
from fhirip.search import search
from fhirip.store.schema import resource_link

# What the record's resources refer to that belongs in it: who acts, where, and by which definition.
REFERENCED = ("Practitioner", "PractitionerRole", "Organization", "Location", "PlanDefinition",
              "ActivityDefinition", "Questionnaire")
DEFAULT_COUNT = 50


def everything(ctx: Context, req: FhirRequest) -> FhirResponse:
    patient_id = req.res_id or ""
    ensure_visible(ctx, "Patient", patient_id)
    count = req.int_param("_count", DEFAULT_COUNT, minimum=1, maximum=ctx.settings.max_page_size)
    types = _types(req)
    since = _since(req)
    sweeps = patient_sweeps(patient_id, tuple(t for t in types if t not in REFERENCED or t == "Patient"),
                            since_params(since))
    sweep, after_rid = _cursor(req.param("_page"), len(sweeps))
    found: list[Found] = []
    while sweep < len(sweeps) and len(found) < count:
        chunk, cursor = read_chunk(ctx.tx.conn, ctx.access, sweeps[sweep], snapshot_seq=None,
                                   after_rid=after_rid, limit=count - len(found), since=since)
        found += chunk
        sweep, after_rid = (sweep + 1, 0) if cursor is None else (sweep, cursor)
    entries = [_entry(ctx, item.res_type, item.res_id, item.content, "match") for item in found]
    wanted = [t for t in REFERENCED if t in types]
    entries += [_entry(ctx, t, i, c, "include") for t, i, c in _referenced(ctx, found, wanted)]
    base = f"{ctx.base_url.rstrip('/')}/Patient/{patient_id}/$everything"
    kept = [(k, v) for k, v in req.params if k != "_page"]
    links = [{"relation": "self", "url": base + ("?" + urlencode(req.params) if req.params else "")}]
    if sweep < len(sweeps):
        links.append({"relation": "next", "url": base + "?" + urlencode([*kept, ("_page", f"{sweep}.{after_rid}")])})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "link": links}
    if entries:
        bundle["entry"] = entries
    return FhirResponse(200, resource=bundle)


def _entry(ctx: Context, res_type: str, res_id: str, content: bytes, mode: str) -> dict[str, Any]:
    return {"fullUrl": f"{ctx.base_url.rstrip('/')}/{res_type}/{res_id}", "resource": orjson.loads(content),
            "search": {"mode": mode}}


def _types(req: FhirRequest) -> tuple[str, ...]:
    allowed = set(compartment_types()) | set(REFERENCED)
    asked = [t.strip() for v in (v for k, v in req.params if k == "_type") for t in v.split(",") if t.strip()]
    outside = [t for t in asked if t not in allowed]
    if outside:
        raise BadRequest(f"_type: {', '.join(outside)} is not part of a patient's record", expression=("_type",))
    return tuple(dict.fromkeys(asked)) if asked else tuple(sorted(allowed))


def _since(req: FhirRequest) -> Any:
    value = req.param("_since")
    if value is None:
        return None
    try:
        return parse_instant(value)
    except (ValueError, TypeError):
        raise BadRequest(f"_since {value!r} is not a FHIR instant", expression=("_since",)) from None


def _cursor(value: str | None, sweeps: int) -> tuple[int, int]:
    if value is None:
        return 0, 0
    sweep, _, rid = value.partition(".")
    if not (sweep.isdigit() and rid.isdigit()) or int(sweep) > sweeps:
        raise BadRequest(f"_page {value!r} is not a page of this operation; follow the Bundle's next link",
                         expression=("_page",))
    return int(sweep), int(rid)


def _referenced(ctx: Context, found: list[Found], types: list[str]) -> list[tuple[str, str, bytes]]:
    """The resources of `types` the page's resources refer to (literally, or a plan by its
    definitions' canonical URLs), as far as the caller may see them."""
    if not found or not types:
        return []
    link = resource_link
    rows = ctx.tx.conn.execute(select(link.c.target_type, link.c.target_id).where(
        link.c.rid.in_([item.rid for item in found]), link.c.target_type.in_(types))).all()
    on_page = {(item.res_type, item.res_id) for item in found}
    keys = {(t, i) for t, i in rows} - on_page
    visible = ctx.access.visible(ctx.tx.conn, keys) if ctx.access is not None else keys
    result = [(t, i, c) for (t, i), c in sorted(ctx.tx.read_many(sorted(visible)).items())]
    canonicals = sorted({url for item in found if item.res_type == "CarePlan"
                         for url in orjson.loads(item.content).get("instantiatesCanonical", [])})
    if canonicals and "PlanDefinition" in types:
        definitions = search(ctx.tx.conn, "PlanDefinition", [("url", ",".join(canonicals))],
                             base_url=ctx.base_url, policy=ctx.policy)
        seen = {(t, i) for t, i, _ in result}
        result += [(e.res_type, e.res_id, e.content) for e in definitions.entries
                   if (e.res_type, e.res_id) not in seen]
    return result


register(Operation("everything", frozenset({"instance"}), everything, resource_types=frozenset({"Patient"}),
                   definition="http://hl7.org/fhir/OperationDefinition/Patient-everything",
                   documentation="The patient's record as far as the caller may see it, with the practitioners, "
                                 "organisations and definitions it refers to; _since, _type, _count; paged"))
