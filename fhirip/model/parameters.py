"""The parts of a Parameters resource, the body of an operation.

https://hl7.org/fhir/R4/parameters.html
https://hl7.org/fhir/R4/json.html (no null, no empty array)
"""

from __future__ import annotations

from typing import Any

from fhirip.errors import BadRequest


def parameter_parts(body: dict[str, Any], operation: str) -> list[dict[str, Any]]:
    """`Parameters.parameter`, each a JSON object; a 400 that names the place of anything else.
    A body without the element has no parameters."""
    if "parameter" not in body:
        return []
    parts = body["parameter"]
    if not isinstance(parts, list) or not parts:
        shape = "null" if parts is None else "an empty array" if parts == [] else "not an array"
        raise BadRequest(f"The ${operation} body's Parameters.parameter is {shape}; it must be an "
                         "array of parameters, or left out when there are none",
                         expression=["Parameters.parameter"])
    for index, part in enumerate(parts):
        if not isinstance(part, dict):
            raise BadRequest(f"The ${operation} body's Parameters.parameter[{index}] must be a JSON "
                             "object", expression=[f"Parameters.parameter[{index}]"])
    return parts
