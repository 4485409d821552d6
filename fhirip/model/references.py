"""Literal references inside a resource: finding them and rewriting them.

https://hl7.org/fhir/R4/references.html#literal

Every `Reference.reference` of the form `Type/id` (optionally `/_history/vid`, or
the same behind this server's base URL) is a local reference. Contained (`#x`),
`urn:uuid:`/`urn:oid:` and foreign absolute references are not.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fhirip.model.resources import is_resource_type

_RELATIVE = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/([A-Za-z0-9\-.]{1,64}))?$")


@dataclass(frozen=True)
class LocalReference:
    res_type: str
    res_id: str
    version: str | None
    path: str  # FHIRPath of the Reference element, e.g. CarePlan.activity[0].detail.performer[1]


def parse_local(reference: str, base_urls: tuple[str, ...] = ()) -> tuple[str, str, str | None] | None:
    """'Patient/1' or '<base>/Patient/1/_history/2' → ('Patient', '1', '2'|None); else None."""
    for base in base_urls:
        prefix = base.rstrip("/") + "/"
        if reference.startswith(prefix):
            reference = reference[len(prefix):]
            break
    match = _RELATIVE.match(reference)
    if not match or not is_resource_type(match.group(1)):
        return None
    return match.group(1), match.group(2), match.group(3)


def iter_reference_elements(node: Any, path: str) -> Iterator[tuple[dict[str, Any], str]]:
    """Every dict with a string `reference` key, with its FHIRPath."""
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            yield node, path
        for key, value in node.items():
            if key == "contained" or key.startswith("_"):
                continue
            if isinstance(value, (dict, list)):
                yield from iter_reference_elements(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from iter_reference_elements(item, f"{path}[{index}]")


def local_references(resource: dict[str, Any], base_urls: tuple[str, ...] = ()) -> list[LocalReference]:
    found = []
    for element, path in iter_reference_elements(resource, resource["resourceType"]):
        parsed = parse_local(element["reference"], base_urls)
        if parsed:
            found.append(LocalReference(parsed[0], parsed[1], parsed[2], path))
    return found


def rewrite_references(resource: dict[str, Any], replace: Callable[[str], str | None]) -> None:
    """Replace each `reference` for which `replace` returns a new value (in place)."""
    for element, _ in iter_reference_elements(resource, resource["resourceType"]):
        new = replace(element["reference"])
        if new is not None:
            element["reference"] = new
