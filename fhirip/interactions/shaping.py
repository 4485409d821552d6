"""Returning less than the whole resource: _summary and _elements.

https://hl7.org/fhir/R4/search.html#summary
https://hl7.org/fhir/R4/search.html#elements

The shaping itself is the search engine's (`fhirip.search.shaping`), so a read
and a search entry are reduced the same way.
"""

from __future__ import annotations

from typing import Any

import orjson

from fhirip.errors import BadRequest
from fhirip.interactions.request import FhirRequest, FhirResponse
from fhirip.search.shaping import shape_resource

SUMMARY_MODES = ("true", "text", "data", "count", "false")


def requested_shape(req: FhirRequest) -> tuple[str | None, list[str] | None]:
    summary = req.param("_summary")
    if summary is not None and summary not in SUMMARY_MODES:
        raise BadRequest(f"_summary must be one of {', '.join(SUMMARY_MODES)}, got '{summary}'",
                         expression=["_summary"])
    raw_elements = req.param("_elements")
    elements = [e.strip() for e in raw_elements.split(",") if e.strip()] if raw_elements else None
    if summary == "false":
        summary = None
    return summary, elements


def shape_stored(req: FhirRequest, content: bytes | dict[str, Any], headers: dict[str, str]) -> FhirResponse:
    """A stored resource (bytes, or an already masked dict) as the response body,
    reduced when the request asks for it."""
    summary, elements = requested_shape(req)
    if summary == "count":
        raise BadRequest("_summary=count applies to searches only", expression=["_summary"])
    if summary is None and not elements:
        if isinstance(content, dict):
            return FhirResponse(200, resource=content, headers=headers)
        return FhirResponse(200, body=content, headers=headers)
    resource = content if isinstance(content, dict) else orjson.loads(content)
    return FhirResponse(200, resource=shape_resource(resource, summary, elements), headers=headers)
