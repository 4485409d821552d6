"""Plans due for revision: `GET CarePlan/$revision-due`, a worklist for coordinators.

https://hl7.org/fhir/R4/operations.html
(operation definition: http://fhirip.no/fhir/OperationDefinition/CarePlan-revision-due)

Active individual plans whose own revision date (ip-next-evaluation on the plan, § 19 g)
has passed. Parameter `date` (YYYY-MM-DD, default today) sets the day the list is
computed for. Returns a searchset of CarePlans under the caller's consent policy.
"""

from __future__ import annotations

from fhirip.canonical import OPERATION_DEFINITION
from fhirip.context import Context
from fhirip.interactions.request import FhirRequest, FhirResponse
from fhirip.operations import Operation, register
from fhirip.plans.fetching import Fetch
from fhirip.operations.worklist_request import as_of, view_of
from fhirip.plans.worklists import revision_due, worklist_bundle


def handle(ctx: Context, req: FhirRequest) -> FhirResponse:
    plans = revision_due(Fetch.for_request(ctx), as_of(req))
    return FhirResponse(200, resource=worklist_bundle(plans, req.base_url, req.url, view_of(ctx)))


register(Operation(
    name="revision-due", levels=frozenset({"type"}), handler=handle, resource_types=frozenset({"CarePlan"}),
    definition=f"{OPERATION_DEFINITION}/CarePlan-revision-due", documentation="Active plans whose revision date has passed"))
