"""Overdue measures: `GET CarePlan/$overdue-measures`, a worklist for coordinators.

https://hl7.org/fhir/R4/operations.html
(operation definition: http://fhirip.no/fhir/OperationDefinition/CarePlan-overdue-measures)

Active individual plans with open measures (tiltak) whose evaluation date (ip-next-
evaluation on the measure) has passed; each plan is shown with only its overdue measures
(tagged SUBSETTED). Parameter `date` (YYYY-MM-DD, default today) sets the day the list
is computed for. Returns a searchset of CarePlans under the caller's consent policy.
"""

from __future__ import annotations

from fhirip.canonical import OPERATION_DEFINITION
from fhirip.context import Context
from fhirip.interactions.request import FhirRequest, FhirResponse
from fhirip.operations import Operation, register
from fhirip.plans.fetching import Fetch
from fhirip.operations.worklist_request import as_of, view_of
from fhirip.plans.worklists import only_measures, overdue_measures, worklist_bundle


def handle(ctx: Context, req: FhirRequest) -> FhirResponse:
    on = as_of(req)
    found = overdue_measures(Fetch.for_request(ctx), on)
    plans = [only_measures(plan, indexes) for plan, indexes in found]
    return FhirResponse(200, resource=worklist_bundle(plans, req.base_url, req.url, view_of(ctx)))


register(Operation(
    name="overdue-measures", levels=frozenset({"type"}), handler=handle, resource_types=frozenset({"CarePlan"}),
    definition=f"{OPERATION_DEFINITION}/CarePlan-overdue-measures", documentation="Active plans with open measures whose evaluation date has passed"))
