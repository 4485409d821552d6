"""Coordinator caseloads: `GET CareTeam/$caseload`, for the coordinating unit's overview.

https://hl7.org/fhir/R4/operations.html
(operation definition: http://fhirip.no/fhir/OperationDefinition/CareTeam-caseload)

Per coordinator in force on `date` (default today): the number of active
individual plans they coordinate and of coordinator-only assignments
(EpisodeOfCare with careManager, no active plan). Counts only what the caller
may see. Returns a Parameters resource with one `caseload` per coordinator:
parts `coordinator` (valueReference), `plans` and `episodes` (valueInteger).
"""

from __future__ import annotations

from typing import Any

from fhirip.canonical import OPERATION_DEFINITION
from fhirip.context import Context
from fhirip.interactions.request import FhirRequest, FhirResponse
from fhirip.operations import Operation, register
from fhirip.plans.fetching import Fetch
from fhirip.operations.worklist_request import as_of
from fhirip.plans.worklists import caseloads


def handle(ctx: Context, req: FhirRequest) -> FhirResponse:
    parameters: list[dict[str, Any]] = []
    for load in caseloads(Fetch.for_request(ctx), as_of(req)):
        # A member recorded by name or identifier only has no literal reference to give.
        reference: dict[str, Any] = dict(load.member) or {"display": load.coordinator}
        if load.display:
            reference.setdefault("display", load.display)
        parameters.append({"name": "caseload", "part": [
            {"name": "coordinator", "valueReference": reference},
            {"name": "plans", "valueInteger": load.plans},
            {"name": "episodes", "valueInteger": load.episodes}]})
    body: dict[str, Any] = {"resourceType": "Parameters"}
    if parameters:
        body["parameter"] = parameters
    return FhirResponse(200, resource=body)


register(Operation(
    name="caseload", levels=frozenset({"type"}), handler=handle, resource_types=frozenset({"CareTeam"}),
    definition=f"{OPERATION_DEFINITION}/CareTeam-caseload",
    documentation="Per coordinator: active individual plans and coordinator-only episodes"))
