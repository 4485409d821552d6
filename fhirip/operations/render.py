"""The readable plan: `CarePlan/[id]/$render` as Norwegian HTML, or PDF.

https://hl7.org/fhir/R4/operations.html
(operation definition: http://fhirip.no/fhir/OperationDefinition/CarePlan-render)

The plan organised by the § 19 content list (mål, deltakere, koordinator,
tiltak, planperiode og revisjon, samtykke, samarbeid), for the person and
their family. HTML by default; PDF with `_format=pdf` (or `format=pdf`,
`application/pdf`); a Binary holding either for a client that accepts FHIR JSON only. Everything shown is read under the caller's consent policy.
"""

from __future__ import annotations

import base64
from datetime import date

from fhirip.canonical import OPERATION_DEFINITION
from fhirip.errors import NotAcceptable, NotFound
from fhirip.context import Context
from fhirip.interactions.request import FHIR_JSON, FhirRequest, FhirResponse
from fhirip.operations import Operation, register
from fhirip.plans.document import build_document
from fhirip.plans.fetching import Fetch
from fhirip.plans.html import page
from fhirip.plans.pdf import html_to_pdf

HTML, PDF = "text/html; charset=utf-8", "application/pdf"
_FORMATS = {"html": HTML, "text/html": HTML, "pdf": PDF, "application/pdf": PDF}


def wanted_format(req: FhirRequest) -> str:
    """The document type asked for by `_format`/`format` (or an Accept the facade passes on)."""
    asked = req.param("_format") or req.param("format") or (req.accept if req.accept != FHIR_JSON else None)
    if asked is None:
        return HTML
    for part in str(asked).split(","):
        media = part.split(";")[0].strip().lower()
        if media in _FORMATS:
            return _FORMATS[media]
        if media in ("*/*", "text/*"):
            return HTML
    raise NotAcceptable(f"$render produces HTML (format=html) or PDF (format=pdf), not '{asked}'",
                        expression=["_format"])


def render(ctx: Context, req: FhirRequest) -> FhirResponse:
    """The document itself, or, for a client that asked for FHIR JSON, a Binary holding it
    (what the operation's definition declares it returns)."""
    media = wanted_format(req)
    fetch = Fetch.for_request(ctx)
    found = fetch.by_ids("CarePlan", [req.res_id or ""])
    if not found:
        raise NotFound(f"CarePlan/{req.res_id} is not known")
    html = page(build_document(found[0], fetch, on=date.today()))
    body = html.encode("utf-8") if media == HTML else html_to_pdf(html)
    if req.accept == FHIR_JSON:
        return FhirResponse(200, resource={"resourceType": "Binary", "contentType": media,
                                           "data": base64.b64encode(body).decode("ascii")})
    filename = f"individuell-plan-{req.res_id}.{'html' if media == HTML else 'pdf'}"
    return FhirResponse(200, body=body, headers={
        "Content-Type": media, "Content-Disposition": f'inline; filename="{filename}"'})


register(Operation(
    name="render", levels=frozenset({"instance"}), handler=render, resource_types=frozenset({"CarePlan"}),
    definition=f"{OPERATION_DEFINITION}/CarePlan-render",
    documentation="The plan as a readable Norwegian document (HTML, or PDF with _format=pdf)"))
