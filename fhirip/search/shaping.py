"""_summary and _elements: returning a subset of a resource, marked SUBSETTED.

https://hl7.org/fhir/R4/search.html#summary
https://hl7.org/fhir/R4/search.html#elements

Which elements are "summary" and which are mandatory comes from the R4B models
of fhir.resources (their field metadata mirrors the specification's isSummary
and min cardinality). The subset is taken on the top-level elements; nested
elements are kept whole.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
             "code": "SUBSETTED", "display": "Resource encoded in summary mode"}
ALWAYS_KEPT = ("resourceType", "id", "meta")


@cache
def _element_flags(res_type: str) -> tuple[frozenset[str], frozenset[str]]:
    """(summary element names, mandatory element names) of a resource type."""
    try:
        model = get_fhir_model_class(res_type)
    except (KeyError, ValueError, AttributeError):
        return frozenset(), frozenset()
    summary, mandatory = set(), set()
    for field in model.model_fields.values():
        extra = field.json_schema_extra or {}
        if not isinstance(extra, dict) or not extra.get("element_property"):
            continue
        name = field.alias or ""
        if extra.get("summary_element_property"):
            summary.add(name)
        if field.is_required() or extra.get("element_required") or \
                extra.get("one_of_many_required"):
            mandatory.add(name)
    return frozenset(summary), frozenset(mandatory)


def summary_elements(res_type: str) -> frozenset[str]:
    return _element_flags(res_type)[0]


def mandatory_elements(res_type: str) -> frozenset[str]:
    return _element_flags(res_type)[1]


def _element_name(key: str) -> str:
    """`_status` (the primitive's id/extensions) belongs to `status`."""
    return key[1:] if key.startswith("_") else key


def _matches_requested(key: str, requested: set[str]) -> bool:
    name = _element_name(key)
    if name in requested:
        return True
    # a choice element: `_elements=value` keeps valueQuantity
    return any(name.startswith(r) and name[len(r):len(r) + 1].isupper() for r in requested)


def shape_resource(resource: dict[str, Any], summary: str | None,
                   elements: list[str] | None) -> dict[str, Any]:
    """The resource as `_summary` / `_elements` ask for (a new dict; input untouched)."""
    if summary in (None, "false") and not elements:
        return resource
    res_type = resource.get("resourceType", "")
    summary_names, mandatory = _element_flags(res_type)
    if summary == "true":
        keep = {k for k in resource if _element_name(k) in summary_names}
    elif summary == "text":
        keep = {k for k in resource if _element_name(k) in mandatory or _element_name(k) == "text"}
    elif summary == "data":
        keep = {k for k in resource if k != "text"}
    elif elements:
        # Mandatory elements come back whether asked for or not (search.html#elements).
        requested = {e.split(".")[0] for e in elements} | mandatory
        keep = {k for k in resource if _matches_requested(k, requested)}
    else:
        return resource
    shaped = {k: v for k, v in resource.items() if k in keep or k in ALWAYS_KEPT}
    meta = dict(shaped.get("meta") or {})
    tags = [t for t in meta.get("tag", []) if t.get("code") != "SUBSETTED"]
    meta["tag"] = tags + [SUBSETTED]
    shaped["meta"] = meta
    return shaped
