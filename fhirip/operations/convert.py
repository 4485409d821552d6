"""$convert: one legacy plan document to the FHIR transaction Bundle it would import as.

https://hl7.org/fhir/R4/resource-operation-convert.html (the FHIR operation this follows)

Input: a Parameters resource with `format` (planpro | acos | docx) and `document`
(base64: the .docx, the XML file, or a zip of a PlanPro export's files). Output:
Parameters with `bundle` (the transaction Bundle, not stored) and `outcome` (the
loss report: every value that could not be mapped, and why). Nothing is written.
"""

from __future__ import annotations

import base64
import binascii

from fhirip.errors import BadRequest
from fhirip.context import Context
from fhirip.interactions.request import FhirRequest, FhirResponse
from fhirip.model.parameters import parameter_parts
from fhirip.model.resources import parse_json
from fhirip.operations import Operation, register

FORMATS = ("planpro", "acos", "docx")


def convert(ctx: Context, req: FhirRequest) -> FhirResponse:
    from fhirip.mapping import convert_with_losses, losses_outcome

    body = req.resource if req.resource is not None else parse_json(req.body or b"")
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise BadRequest("$convert takes a Parameters resource with 'format' and 'document'")
    values = {p.get("name"): p for p in parameter_parts(body, "convert")}
    fmt = (values.get("format") or {}).get("valueCode") or (values.get("format") or {}).get("valueString")
    if fmt not in FORMATS:
        raise BadRequest(f"Parameter 'format' must be one of {', '.join(FORMATS)}", expression=["format"])
    encoded = (values.get("document") or {}).get("valueBase64Binary")
    if not encoded:
        raise BadRequest("Parameter 'document' (valueBase64Binary) is missing", expression=["document"])
    try:
        document = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("Parameter 'document' is not valid base64", expression=["document"]) from None
    bundle, losses = convert_with_losses(document, fmt, name=f"document.{fmt}")
    return FhirResponse(200, resource={"resourceType": "Parameters", "parameter": [
        {"name": "bundle", "resource": bundle},
        {"name": "outcome", "resource": losses_outcome(losses)}]})


register(Operation(
    name="convert", levels=frozenset({"system"}), handler=convert,
    definition="http://fhirip.no/fhir/OperationDefinition/convert",
    documentation="Convert one legacy plan document (PlanPro zip, ACOS XML, Word .docx) to the "
                  "transaction Bundle it would import as, with the loss report; stores nothing"))
