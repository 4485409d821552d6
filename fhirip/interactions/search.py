"""FHIR search interaction: type, system and compartment level.

https://hl7.org/fhir/R4/http.html#search
https://hl7.org/fhir/R4/search.html

The HTTP side of search; the engine (parameters, SQL, paging, includes) lives in
`fhirip.search` and is reached through `ctx.services.extras["search"]`.
"""

from __future__ import annotations

from fhirip.interactions.context import Context
from fhirip.interactions.request import FhirRequest, FhirResponse


def search_type(ctx: Context, req: FhirRequest) -> FhirResponse:
    return ctx.services.extras["search"].search(ctx, req, req.res_type)


def search_system(ctx: Context, req: FhirRequest) -> FhirResponse:
    return ctx.services.extras["search"].search(ctx, req, None)


def search_compartment(ctx: Context, req: FhirRequest) -> FhirResponse:
    return ctx.services.extras["search"].search(ctx, req, req.compartment,
                                                compartment=(req.res_type, req.res_id))
