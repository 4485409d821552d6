"""The searchset Bundle of a search result.

https://hl7.org/fhir/R4/bundle.html#searchset
https://hl7.org/fhir/R4/search.html#errors (the outcome entry for ignored parameters)
"""

from __future__ import annotations

from typing import Any

import orjson

from fhirip.errors import operation_outcome
from fhirip.search.execute import SearchResult
from fhirip.search.shaping import shape_resource

LINK_ORDER = ("self", "first", "previous", "next", "last")


def searchset_bundle(result: SearchResult, base_url: str) -> dict[str, Any]:
    """Bundle.type searchset with total, links, entries (match/include) and an outcome entry."""
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if result.total is not None:
        bundle["total"] = result.total
    bundle["link"] = [{"relation": relation, "url": result.links[relation]}
                      for relation in LINK_ORDER if relation in result.links]
    entries = []
    base = base_url.rstrip("/")
    for entry in result.entries:
        resource = orjson.loads(entry.content)
        if result.summary or result.elements:
            resource = shape_resource(resource, result.summary, result.elements)
        entries.append({"fullUrl": f"{base}/{entry.res_type}/{entry.res_id}",
                        "resource": resource, "search": {"mode": entry.mode}})
    if result.issues:
        entries.append({"resource": operation_outcome(result.issues),
                        "search": {"mode": "outcome"}})
    if entries:
        bundle["entry"] = entries
    return bundle
