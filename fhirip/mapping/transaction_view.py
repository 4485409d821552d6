"""What a FHIR transaction makes of a Bundle's entries: ids assigned, urn:uuid references resolved.

https://hl7.org/fhir/R4/bundle.html#references (resolving references in a transaction)

Used to preview an import (``--dry-run``, ``$convert``) and to read a converted plan back
without a store. Conditional creates are taken as creating; the store decides for real.
"""

from __future__ import annotations

import copy
from typing import Any


def _rewrite(node: Any, targets: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {name: (targets.get(value, value) if name == "reference" and isinstance(value, str)
                       else _rewrite(value, targets)) for name, value in node.items()}
    if isinstance(node, list):
        return [_rewrite(item, targets) for item in node]
    return node


def resources_from_bundle(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The entries' resources with ids taken from their urn:uuid fullUrls and references as Type/id."""
    targets: dict[str, str] = {}
    for entry in bundle.get("entry", []):
        full_url = entry.get("fullUrl", "")
        resource = entry["resource"]
        if full_url.startswith("urn:uuid:"):
            targets[full_url] = f"{resource['resourceType']}/{full_url.removeprefix('urn:uuid:')}"
    resources = []
    for entry in bundle.get("entry", []):
        resource = _rewrite(copy.deepcopy(entry["resource"]), targets)
        reference = targets.get(entry.get("fullUrl", ""))
        if reference:
            resource["id"] = reference.split("/", 1)[1]
        resources.append(resource)
    return resources
