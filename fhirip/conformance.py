"""The project's own conformance resources, served like any other resource.

StructureDefinitions (profiles/), CodeSystems, ValueSets and ConceptMaps
(terminology/), SearchParameters (profiles/search-parameters/) and the
OperationDefinitions of the project's own operations (profiles/operations/) are
loaded into the store at start-up, so `GET /ValueSet/ip-livsomrade`,
`GET /OperationDefinition/handover` and `GET /StructureDefinition?url=…` work. A
file that has not changed since the last start writes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from fhirip.context import Services

ROOT = Path(__file__).resolve().parent.parent
SOURCES = (ROOT / "profiles", ROOT / "terminology")
TYPES = {"StructureDefinition", "CodeSystem", "ValueSet", "ConceptMap", "SearchParameter",
         "OperationDefinition"}


def conformance_resources() -> Iterator[dict[str, Any]]:
    for source in SOURCES:
        for path in sorted(source.rglob("*.json")):
            if "examples" in path.parts:
                continue
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(data, dict) and data.get("resourceType") in TYPES and data.get("id"):
                yield data


def _without_meta(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k != "meta"}


def load_conformance(services: Services) -> int:
    """Write every changed conformance resource; returns how many were written."""
    from fhirip.model.resources import check_resource

    resources = list(conformance_resources())

    def work(tx: Any) -> int:
        written = 0
        for resource in resources:
            stored = tx.read(resource["resourceType"], resource["id"])
            if stored is not None and not stored.deleted and \
                    _without_meta(orjson.loads(stored.content)) == _without_meta(resource):
                continue
            current = tx.current(resource["resourceType"], resource["id"], lock=True)
            tx.write(check_resource(dict(resource)), method="PUT", previous=current)
            written += 1
        return written

    return services.store.run(work, write=True, unlimited=True)  # at start, before any request
