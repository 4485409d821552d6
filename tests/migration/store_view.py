"""What a store holds, read straight from its tables: counts per type and normalised content.

Two stores that received the same plans assign different ids, timestamps and versions; the
normalised view replaces every id by the business identifiers of the resource it names, so
two such stores compare equal exactly when they hold the same things.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import orjson
from sqlalchemy import select

from fhirip.context import Services
from fhirip.store.schema import resource as resource_table

# Loaded by the server itself at start-up, not by an import.
CONFORMANCE_TYPES = {"StructureDefinition", "CodeSystem", "ValueSet", "ConceptMap", "SearchParameter",
                     "OperationDefinition", "CapabilityStatement", "Questionnaire"}


def stored(services: Services) -> list[dict[str, Any]]:
    """Every current, not deleted resource an import can have written."""
    with services.store.engine.connect() as conn:
        rows = conn.execute(select(resource_table.c.res_type, resource_table.c.content)
                            .where(resource_table.c.deleted.is_(False))).all()
    found = []
    for res_type, content in rows:
        if res_type in CONFORMANCE_TYPES:
            continue
        found.append(content if isinstance(content, dict) else orjson.loads(content))
    return found


def counts(services: Services) -> Counter[str]:
    return Counter(r["resourceType"] for r in stored(services))


def business_identifiers(resources: list[dict[str, Any]]) -> Counter[str]:
    found: Counter[str] = Counter()
    for resource in resources:
        identifiers = resource.get("identifier") or []
        for identifier in [identifiers] if isinstance(identifiers, dict) else identifiers:
            found[f"{resource['resourceType']}|{identifier.get('system')}|{identifier.get('value')}"] += 1
    return found


def _identity(resource: dict[str, Any]) -> str:
    identifiers = resource.get("identifier") or []
    identifiers = [identifiers] if isinstance(identifiers, dict) else identifiers
    keys = sorted(f"{i.get('system')}|{i.get('value')}" for i in identifiers)
    return f"{resource['resourceType']}[{','.join(keys)}]"


def _normalise(node: Any, identities: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for name, value in node.items():
            if name in ("id", "meta"):
                continue
            if name == "reference" and isinstance(value, str):
                out[name] = identities.get(value, value)
            else:
                out[name] = _normalise(value, identities)
        return out
    if isinstance(node, list):
        return [_normalise(item, identities) for item in node]
    return node


def normalised(resources: list[dict[str, Any]], resource_type: str | None = None) -> list[str]:
    """Each resource as sorted JSON without id/meta and with references by business identity."""
    identities = {f"{r['resourceType']}/{r['id']}": _identity(r) for r in resources}
    chosen = [r for r in resources if resource_type is None or r["resourceType"] == resource_type]
    return sorted(json.dumps(_normalise(r, identities), sort_keys=True, ensure_ascii=False) for r in chosen)
