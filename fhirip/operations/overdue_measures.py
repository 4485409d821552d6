"""Overdue measures: `GET CarePlan/$overdue-measures`, a worklist for coordinators and the coordinating unit.

https://hl7.org/fhir/R4/operations.html (operation definition: http://fhirip.no/fhir/OperationDefinition/CarePlan-overdue-measures)

Measures (tiltak) whose evaluation date has passed: active individual plans, each with only its overdue open measures. Parameter `date` (YYYY-MM-DD, default today) sets the day it is computed
for. Returns a searchset of CarePlans, filtered by the caller's consent policy.
"""

from __future__ import annotations

from fhirip.canonical import OPERATION_DEFINITION
from fhirip.interactions.context import Context
from fhirip.interactions.request import FhirRequest, FhirResponse
from fhirip.operations import Operation, register
from fhirip.plans.fetching import Fetch
from fhirip.plans.worklist_request import as_of
from fhirip.plans.worklists import only_measures, overdue_measures, worklist_bundle


def handle(ctx: Context, req: FhirRequest) -> FhirResponse:
    on = as_of(req)
    plans = [only_measures(plan, indexes) for plan, indexes in overdue_measures(Fetch.for_request(ctx), on)]
    return FhirResponse(200, resource=worklist_bundle(plans, req.base_url, req.url))


register(Operation(
    name="overdue-measures", levels=frozenset({"type"}), handler=handle, resource_types=frozenset({"CarePlan"}),
    definition=f"{OPERATION_DEFINITION}/CarePlan-overdue-measures",
    documentation="Measures (tiltak) whose evaluation date has passed: active individual plans, each with only its overdue open measures"))
