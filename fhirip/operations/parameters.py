"""Reading the input Parameters of the plan operations, with errors that name the parameter.

https://hl7.org/fhir/R4/parameters.html
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fhirip.errors import BadRequest
from fhirip.interactions.request import FhirRequest
from fhirip.model.parameters import parameter_parts
from fhirip.model.resources import parse_json


def input_parameters(req: FhirRequest) -> dict[str, dict[str, Any]]:
    """name → the parameter element, from a POSTed Parameters resource (one value per name)."""
    body = req.resource if req.resource is not None else (parse_json(req.body) if req.body else None)
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise BadRequest(f"${req.operation} takes a Parameters resource in the request body")
    found: dict[str, dict[str, Any]] = {}
    for index, parameter in enumerate(parameter_parts(body, req.operation or "")):
        name = parameter.get("name")
        if not name:
            raise BadRequest(f"Parameters.parameter[{index}] has no name",
                             expression=[f"Parameters.parameter[{index}]"])
        if name in found:
            raise BadRequest(f"Parameter '{name}' is given more than once",
                             expression=[f"Parameters.parameter[{index}]"])
        found[name] = parameter
    return found


def date_value(value: Any, name: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise BadRequest(f"Parameter '{name}' must be a full date (YYYY-MM-DD), got '{value}'",
                         expression=[name]) from None
