"""Plans without a coordinator: `GET CarePlan/$without-coordinator`.

https://hl7.org/fhir/R4/operations.html
(operation definition: http://fhirip.no/fhir/OperationDefinition/CarePlan-without-coordinator)

Active individual plans with no coordinator in force: none in their care team and no
coordinator episode (EpisodeOfCare.careManager) of the person. Parameter `date` (YYYY-
MM-DD, default today) sets the day the list is computed for. Returns a searchset of
CarePlans under the caller's consent policy.
"""

from __future__ import annotations

from fhirip.canonical import OPERATION_DEFINITION
from fhirip.context import Context
from fhirip.interactions.request import FhirRequest, FhirResponse
from fhirip.operations import Operation, register
from fhirip.plans.fetching import Fetch
from fhirip.operations.worklist_request import as_of, view_of
from fhirip.plans.worklists import without_coordinator, worklist_bundle


def handle(ctx: Context, req: FhirRequest) -> FhirResponse:
    plans = without_coordinator(Fetch.for_request(ctx), as_of(req))
    return FhirResponse(200, resource=worklist_bundle(plans, req.base_url, req.url, view_of(ctx)))


register(Operation(
    name="without-coordinator", levels=frozenset({"type"}), handler=handle, resource_types=frozenset({"CarePlan"}),
    definition=f"{OPERATION_DEFINITION}/CarePlan-without-coordinator", documentation="Active plans with no coordinator in force"))
