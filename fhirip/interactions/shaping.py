"""Returning less than the whole resource: _summary and _elements.

https://hl7.org/fhir/R4/search.html#summary
https://hl7.org/fhir/R4/search.html#elements

Which elements are "summary" and which are mandatory comes from the element
flags the R4B models carry from the specification.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import orjson

from fhirip.errors import BadRequest
from fhirip.interactions.request import FhirRequest, FhirResponse
from fhirip.model.resources import model_class

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
             "code": "SUBSETTED", "display": "Resource encoded in summary mode"}
SUMMARY_MODES = ("true", "text", "data", "count", "false")
_ALWAYS = ("resourceType", "id", "meta")


@lru_cache(maxsize=None)
def _flagged(resource_type: str, flag: str) -> frozenset[str]:
    fields = model_class(resource_type).model_fields
    names = set()
    for name, info in fields.items():
        extra = info.json_schema_extra or {}
        # The models flag required primitives; required complex elements are plain required fields.
        required = flag == "element_required" and info.is_required()
        if required or (isinstance(extra, dict) and extra.get(flag)):
            names.add(info.alias or name)
    return frozenset(names)


def summary_elements(resource_type: str) -> frozenset[str]:
    return _flagged(resource_type, "summary_element_property")


def mandatory_elements(resource_type: str) -> frozenset[str]:
    return _flagged(resource_type, "element_required")


def _keep(resource: dict[str, Any], names: set[str] | frozenset[str]) -> dict[str, Any]:
    kept = {}
    for key, value in resource.items():
        bare = key[1:] if key.startswith("_") else key
        if key in _ALWAYS or bare in names:
            kept[key] = value
    return kept


def _mark_subsetted(resource: dict[str, Any]) -> dict[str, Any]:
    meta = dict(resource.get("meta") or {})
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    resource["meta"] = meta
    return resource


def shape_resource(resource: dict[str, Any], summary: str | None,
                   elements: list[str] | None) -> dict[str, Any]:
    """Apply `_summary` / `_elements` to one resource (a new dict; the input is untouched)."""
    resource_type = resource["resourceType"]
    if summary == "true":
        return _mark_subsetted(_keep(resource, summary_elements(resource_type)))
    if summary == "text":
        return _mark_subsetted(_keep(resource, {"text"} | mandatory_elements(resource_type)))
    if summary == "data":
        return _mark_subsetted({k: v for k, v in resource.items() if k != "text"})
    if elements:
        return _mark_subsetted(_keep(resource, set(elements) | mandatory_elements(resource_type)))
    return resource


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


def shape_stored(req: FhirRequest, content: bytes, headers: dict[str, str]) -> FhirResponse:
    """A stored resource as the response body, reduced when the request asks for it."""
    summary, elements = requested_shape(req)
    if summary == "count":
        raise BadRequest("_summary=count applies to searches only", expression=["_summary"])
    if summary is None and not elements:
        return FhirResponse(200, body=content, headers=headers)
    return FhirResponse(200, resource=shape_resource(orjson.loads(content), summary, elements),
                        headers=headers)
