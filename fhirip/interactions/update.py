"""FHIR update interaction: plain, as create (client-assigned id) and conditional.

https://hl7.org/fhir/R4/http.html#update
https://hl7.org/fhir/R4/http.html#cond-update
"""

from __future__ import annotations

from typing import Any

from fhirip.errors import BadRequest, Forbidden, PreconditionFailed
from fhirip.interactions.access import client_ids_allowed, is_visible
from fhirip.interactions.conditional import find_matches
from fhirip.context import Context
from fhirip.interactions.request import FhirRequest, FhirResponse, written
from fhirip.interactions.write import check_if_match, save
from fhirip.model.resources import check_resource, new_id, parse_resource


def _body(req: FhirRequest) -> dict[str, Any]:
    if req.resource is not None:
        return check_resource(req.resource, req.res_type)
    return parse_resource(req.body or b"", req.res_type)


def update(ctx: Context, req: FhirRequest) -> FhirResponse:
    resource = _body(req)
    body_id = resource.get("id")
    if body_id is None:
        raise BadRequest("The resource in an update must carry its id", expression=[f"{req.res_type}.id"])
    if body_id != req.res_id:
        raise BadRequest(f"The id '{body_id}' in the body does not match the id '{req.res_id}' in the URL",
                         expression=[f"{req.res_type}.id"])
    return store_update(ctx, req, resource)


def store_update(ctx: Context, req: FhirRequest, resource: dict[str, Any], method: str = "PUT", *,
                 server_id: bool = False) -> FhirResponse:
    """`server_id`: the server chose the id (a conditional update that matched nothing), so a new
    resource under it is a plain create and tells the caller nothing about ids taken."""
    current = ctx.tx.current(req.res_type, resource["id"], lock=True)
    if current is not None and not is_visible(ctx, req.res_type, resource["id"]):
        current = None  # what the caller may not see does not exist for it: answer as for a new id
    if current is None and method == "PUT" and not server_id and not client_ids_allowed(ctx, req.res_type):
        raise Forbidden("Only system clients that read every resource of the type may create resources "
                        "with ids they choose; use POST")
    check_if_match(req, current)
    created = current is None or current.deleted
    new, content, warnings = save(ctx, resource, previous=current, method=method)
    return written(req, 201 if created else 200, new, content, warnings)


def conditional_update(ctx: Context, req: FhirRequest) -> FhirResponse:
    resource = _body(req)
    ids = find_matches(ctx, req.res_type, req.params)
    if len(ids) > 1:
        raise PreconditionFailed(f"The criteria match more than one {req.res_type}; nothing was updated")
    body_id = resource.get("id")
    if ids:
        if body_id is not None and body_id != ids[0]:
            raise BadRequest(f"The id '{body_id}' in the body is not the id of the matching resource",
                             expression=[f"{req.res_type}.id"])
        resource["id"] = ids[0]
    elif body_id is None:
        resource["id"] = new_id()
    req.res_id = resource["id"]
    return store_update(ctx, req, resource, server_id=not ids and body_id is None)
