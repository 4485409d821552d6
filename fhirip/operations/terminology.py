"""Terminology operations: $expand, $validate-code, $lookup, $subsumes, $translate.

https://hl7.org/fhir/R4/terminology-service.html

Each operation of `fhirip.terminology.operations.OPERATIONS` is registered at type
level and, where the specification allows, at instance level. The work is done by
the long-lived `TerminologyService` in `ctx.services.extras["terminology"]`.
"""

from __future__ import annotations

import orjson

from fhirip.errors import NotFound
from fhirip.context import Context
from fhirip.interactions.request import FhirRequest, FhirResponse
from fhirip.model.resources import parse_json
from fhirip.operations import Operation, register
from fhirip.terminology import operations as terminology_operations


def _handler(name: str, resource_type: str):
    def handle(ctx: Context, req: FhirRequest) -> FhirResponse:
        instance = None
        if req.res_id is not None:
            stored = ctx.tx.read(resource_type, req.res_id)
            if stored is None or stored.deleted:
                raise NotFound(f"{resource_type}/{req.res_id} is not known")
            instance = orjson.loads(stored.content)
        body = None
        if req.method == "POST":
            body = req.resource if req.resource is not None else parse_json(req.body or b"{}")
        service = ctx.services.extras["terminology"]
        output = terminology_operations.run(service, name, resource_type, instance, req.params, body)
        return FhirResponse(200, resource=output)

    return handle


for _op in terminology_operations.OPERATIONS:
    register(Operation(
        name=_op.name,
        levels=frozenset({"type", "instance"} if _op.instance else {"type"}),
        handler=_handler(_op.name, _op.resource_type),
        resource_types=frozenset({_op.resource_type}),
        definition=_op.definition,
        documentation=f"${_op.name} on {_op.resource_type}",
    ))
