"""Stale plans: `GET CarePlan/$stale`, the plans lying in a drawer.

https://hl7.org/fhir/R4/operations.html
(operation definition: http://fhirip.no/fhir/OperationDefinition/CarePlan-stale)

Active individual plans with no new version for `months` months (default 12, the slowest
normal evaluation cycle in the reports). Parameter `date` (YYYY-MM-DD, default today)
sets the day the list is computed for. Returns a searchset of CarePlans under the
caller's consent policy.
"""

from __future__ import annotations

from fhirip.canonical import OPERATION_DEFINITION
from fhirip.context import Context
from fhirip.interactions.request import FhirRequest, FhirResponse
from fhirip.operations import Operation, register
from fhirip.plans.fetching import Fetch
from fhirip.operations.worklist_request import as_of, view_of
from fhirip.plans.worklists import stale_plans, worklist_bundle


def handle(ctx: Context, req: FhirRequest) -> FhirResponse:
    months = req.int_param("months", 12, minimum=1, maximum=240)
    plans = stale_plans(Fetch.for_request(ctx), as_of(req), months)
    return FhirResponse(200, resource=worklist_bundle(plans, req.base_url, req.url, view_of(ctx)))


register(Operation(
    name="stale", levels=frozenset({"type"}), handler=handle, resource_types=frozenset({"CarePlan"}),
    definition=f"{OPERATION_DEFINITION}/CarePlan-stale", documentation="Active plans with no new version for N months (months, default 12)"))
