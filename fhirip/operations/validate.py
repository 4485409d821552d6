"""$validate on a type or an instance.

https://hl7.org/fhir/R4/resource-operation-validate.html

The answer is always 200 with an OperationOutcome: errors in it mean the resource
is not valid. `mode` is create, update or delete; `profile` adds a profile to
check against besides those the resource claims.

A stored instance is validated as the caller may read it: one the caller may not
see is answered as an unknown id, a masked one is validated masked, and
mode=delete reports what a delete would (only referrers the caller may see are
named, and a resource the caller may not see has nothing to delete).
"""

from __future__ import annotations

from typing import Any

import orjson

from fhirip.errors import BadRequest, Conflict, FhirError, Issue, operation_outcome
from fhirip.interactions.access import ensure_visible, is_visible, masked_body, not_found
from fhirip.context import Context
from fhirip.interactions.delete import refuse_if_referenced
from fhirip.interactions.request import FhirRequest, FhirResponse
from fhirip.model.parameters import parameter_parts
from fhirip.model.resources import check_resource, parse_json
from fhirip.operations import Operation, register

MODES = ("create", "update", "delete")


def _inputs(req: FhirRequest) -> tuple[dict[str, Any] | None, str | None, list[str]]:
    mode = req.param("mode")
    profiles = [v for k, v in req.params if k == "profile"]
    body = None
    if req.method == "POST":
        body = req.resource if req.resource is not None else parse_json(req.body or b"")
    resource = None
    if isinstance(body, dict) and body.get("resourceType") == "Parameters":
        for parameter in parameter_parts(body, "validate"):
            name = parameter.get("name")
            if name == "resource":
                resource = parameter.get("resource")
            elif name == "mode":
                mode = parameter.get("valueCode") or parameter.get("valueString")
            elif name == "profile":
                profiles.append(parameter.get("valueUri") or parameter.get("valueCanonical") or "")
    elif body is not None:
        resource = body
    if mode is not None and mode not in MODES:
        raise BadRequest(f"mode must be one of {', '.join(MODES)}, not '{mode}'", expression=["mode"])
    return resource, mode, [p for p in profiles if p]


def validate(ctx: Context, req: FhirRequest) -> FhirResponse:
    resource, mode, profiles = _inputs(req)
    issues: list[Issue] = []
    if mode == "delete":
        issues += _delete_issues(ctx, req)
        return FhirResponse(200, resource=operation_outcome(issues))
    if resource is None:
        if req.res_id is None:
            raise BadRequest("$validate needs a resource (in the body or a Parameters 'resource')")
        ensure_visible(ctx, req.res_type, req.res_id)
        stored = ctx.tx.read(req.res_type, req.res_id)
        if stored is None or stored.deleted or stored.content is None:
            raise not_found(req.res_type, req.res_id)
        shown = masked_body(ctx, stored.content)
        resource = orjson.loads(shown) if isinstance(shown, bytes) else shown
    if mode == "update" and req.res_id is not None and resource.get("id") != req.res_id:
        issues.append(Issue("error", "invalid", f"The id '{resource.get('id')}' does not match "
                            f"'{req.res_id}'", (f"{req.res_type}.id",)))
    try:
        check_resource(resource, req.res_type)
    except FhirError as error:
        return FhirResponse(200, resource=operation_outcome(issues + error.issues))
    issues += ctx.services.extras["validator"].validate(resource, profiles)
    return FhirResponse(200, resource=operation_outcome(issues))


def _delete_issues(ctx: Context, req: FhirRequest) -> list[Issue]:
    """What a delete of the instance would object to, in the words of the delete itself."""
    if req.res_id is None:
        raise BadRequest("mode=delete needs an instance: [type]/[id]/$validate")
    current = ctx.tx.current(req.res_type, req.res_id)
    if current is None or current.deleted or not is_visible(ctx, req.res_type, req.res_id):
        return []  # nothing the caller could delete
    try:
        refuse_if_referenced(ctx, current)
    except Conflict as conflict:
        return list(conflict.issues)
    return []


register(Operation(
    name="validate", levels=frozenset({"type", "instance"}), handler=validate,
    definition="http://hl7.org/fhir/OperationDefinition/Resource-validate",
    documentation="Validate a resource against the base specification, its claimed profiles and "
                  "the individual-plan profiles; always 200 with an OperationOutcome"))
