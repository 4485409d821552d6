"""Where terminology resources come from: the project's files, the vendored base spec, the server.

Canonical references follow https://hl7.org/fhir/R4/references.html#canonical
(`url|version`). Project files win over vendored base definitions, which win over
resources stored on the server (the `extra` resolver): what fhirip publishes cannot be
shadowed by a later upload.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Resource = dict[str, Any]
# (resourceType, canonical url) -> resource, for CodeSystems/ValueSets/ConceptMaps on the server.
Resolver = Callable[[str, str], Resource | None]

ROOT = Path(__file__).resolve().parents[2]
TERMINOLOGY_DIR = ROOT / "terminology"
BASE_SPEC_FILES = (ROOT / "spec" / "r4" / "base-codesystems.json",
                   ROOT / "spec" / "r4" / "base-valuesets.json")
TERMINOLOGY_TYPES = ("CodeSystem", "ValueSet", "ConceptMap")
# CodeSystem.identifier with this system names another URI the same code system is known by.
URI_IDENTIFIER_SYSTEM = "urn:ietf:rfc:3986"


def split_canonical(canonical: str) -> tuple[str, str | None]:
    """`http://x/ValueSet/a|1.0` -> (`http://x/ValueSet/a`, `1.0`)."""
    url, _, version = canonical.partition("|")
    return url, (version or None)


def read_resources(path: Path) -> list[Resource]:
    """The terminology resources in one JSON file: a resource, a Bundle, or a JSON list."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read terminology file: {exc}") from exc
    if isinstance(data, list):
        items = data
    elif data.get("resourceType") == "Bundle":
        items = [entry.get("resource", {}) for entry in data.get("entry", [])]
    else:
        items = [data]
    resources = []
    for index, item in enumerate(items):
        where = f"{path}[{index}]" if len(items) > 1 else str(path)
        if not isinstance(item, dict) or item.get("resourceType") not in TERMINOLOGY_TYPES:
            raise ValueError(f"{where}: expected a CodeSystem, ValueSet or ConceptMap")
        if not item.get("url"):
            raise ValueError(f"{where}: {item['resourceType']} has no url")
        resources.append(item)
    return resources


def read_directory(directory: Path) -> list[Resource]:
    """Every terminology resource in the *.json files below `directory`, in path order."""
    return [resource for path in sorted(directory.rglob("*.json"))
            for resource in read_resources(path)]


@dataclass(frozen=True, slots=True)
class Found:
    resource: Resource
    static: bool  # loaded from files at construction; never changes while the process runs


class TerminologyRegistry:
    """Finds CodeSystems, ValueSets and ConceptMaps by canonical URL."""

    def __init__(self, published: Iterable[Resource], base: Iterable[Resource] = (),
                 extra: Resolver | None = None) -> None:
        self.published: list[Resource] = list(published)
        self._extra = extra
        self._static: dict[tuple[str, str], list[Resource]] = {}
        self.aliases: dict[str, str] = {}
        for origin, resources in (("published", self.published), ("base", list(base))):
            for resource in resources:
                self._add(resource, origin)

    def look_up_others_with(self, extra: Resolver | None) -> None:
        """From now on, find what the files do not hold with `extra` (None: nowhere)."""
        self._extra = extra

    def _add(self, resource: Resource, origin: str) -> None:
        key = (resource["resourceType"], resource["url"])
        versions = self._static.setdefault(key, [])
        if any(r.get("version") == resource.get("version") for r in versions):
            if origin == "base":
                return  # a published resource already owns this canonical
            raise ValueError(f"duplicate {key[0]} {key[1]}|{resource.get('version')}")
        versions.append(resource)
        if resource["resourceType"] == "CodeSystem":
            for identifier in resource.get("identifier", []):
                alias = identifier.get("value")
                if identifier.get("system") == URI_IDENTIFIER_SYSTEM and alias != resource["url"]:
                    self.aliases[alias] = resource["url"]

    def system_url(self, system: str) -> str:
        """The canonical URL of a code system named by any of its known URIs."""
        return self.aliases.get(system, system)

    def find(self, resource_type: str, canonical: str) -> Found | None:
        url, version = split_canonical(canonical)
        if resource_type == "CodeSystem":
            url = self.system_url(url)
        candidates = self._static.get((resource_type, url), [])
        if version is not None:
            candidates = [r for r in candidates if r.get("version") == version]
        if candidates:
            return Found(candidates[-1], static=True)
        if self._extra is not None:
            resource = self._extra(resource_type, canonical)
            if resource is not None:
                return Found(resource, static=False)
        return None

    def static_resources(self, resource_type: str) -> list[Resource]:
        return [r for (kind, _), versions in self._static.items() if kind == resource_type
                for r in versions]
