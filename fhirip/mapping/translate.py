"""Code translation for legacy code lists, through FHIR ConceptMaps.

https://hl7.org/fhir/R4/conceptmap.html  (and $translate, conceptmap-operation-translate)

The engine only talks to the ``Translator`` protocol. ``ServiceTranslator`` asks the
project's terminology service (the maps published in ``terminology/``) and falls back to the
format-specific maps kept beside the specs in ``mappings/conceptmaps/`` (``ConceptMapFiles``)
for the code lists the terminology does not publish.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from fhirip.canonical import CONCEPT_MAP

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
CONCEPT_MAP_DIRECTORIES = (REPOSITORY_ROOT / "terminology", REPOSITORY_ROOT / "mappings" / "conceptmaps")

# Equivalences that let a code travel the map in either direction without changing meaning.
_FAITHFUL = {"equivalent", "equal", "relatedto", "wider", "subsumes", "specializes", "inexact", "narrower"}


@dataclass(frozen=True)
class Coding:
    system: str
    code: str
    display: str | None = None

    def to_json(self) -> dict[str, str]:
        coding = {"system": self.system, "code": self.code}
        if self.display:
            coding["display"] = self.display
        return coding


class UnknownConceptMap(LookupError):
    """A mapping spec names a ConceptMap that no directory holds."""


class Translator(Protocol):
    def translate(self, concept_map: str, code: str) -> Coding | None:
        """Legacy code → target Coding, or None when the map has no target for it."""

    def translate_back(self, concept_map: str, system: str | None, code: str) -> str | None:
        """Target code (of system) → the legacy code, or None."""


@dataclass
class _Map:
    forward: dict[str, Coding]
    backward: dict[tuple[str, str], str]


class ConceptMapFiles:
    """Translator over ConceptMap JSON files, indexed once by id, name and canonical url."""

    def __init__(self, directories: tuple[Path, ...] = CONCEPT_MAP_DIRECTORIES) -> None:
        self._maps: dict[str, _Map] = {}
        for directory in reversed(directories):  # earlier directories override later ones
            if directory.is_dir():
                for path in sorted(directory.rglob("*.json")):
                    self._load(path)

    def _load(self, path: Path) -> None:
        try:
            resource = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if not isinstance(resource, dict) or resource.get("resourceType") != "ConceptMap":
            return
        forward: dict[str, Coding] = {}
        backward: dict[tuple[str, str], str] = {}
        for group in resource.get("group", []):
            target_system = group.get("target", "")
            for element in group.get("element", []):
                for target in element.get("target", []):
                    if target.get("equivalence", "equivalent") not in _FAITHFUL or "code" not in target:
                        continue
                    coding = Coding(target_system, target["code"], target.get("display"))
                    forward.setdefault(element["code"], coding)
                    backward.setdefault((target_system, target["code"]), element["code"])
        entry = _Map(forward, backward)
        for name in (resource.get("id"), resource.get("name"), resource.get("url")):
            if name:
                self._maps[name] = entry

    def _map(self, concept_map: str) -> _Map:
        entry = self._maps.get(concept_map) or self._maps.get(f"{CONCEPT_MAP}/{concept_map}")
        if entry is None:
            raise UnknownConceptMap(f"no ConceptMap {concept_map!r} in {', '.join(map(str, CONCEPT_MAP_DIRECTORIES))}")
        return entry

    def translate(self, concept_map: str, code: str) -> Coding | None:
        return self._map(concept_map).forward.get(code)

    def translate_back(self, concept_map: str, system: str | None, code: str) -> str | None:
        backward = self._map(concept_map).backward
        if system is not None:
            return backward.get((system, code))
        matches = [legacy for (_, target), legacy in backward.items() if target == code]
        return matches[0] if matches else None

    def knows(self, concept_map: str) -> bool:
        return concept_map in self._maps or f"{CONCEPT_MAP}/{concept_map}" in self._maps


class ServiceTranslator:
    """Translator over fhirip.terminology.TerminologyService, answers remembered per code."""

    def __init__(self, service: Any, fallback: ConceptMapFiles) -> None:
        self.service, self.fallback = service, fallback
        self._forward: dict[tuple[str, str], Coding | None] = {}
        self._backward: dict[tuple[str, str | None, str], str | None] = {}
        self._published: dict[str, bool] = {}

    def _url(self, concept_map: str) -> str:
        return concept_map if "/" in concept_map else f"{CONCEPT_MAP}/{concept_map}"

    def _service_knows(self, concept_map: str) -> bool:
        if concept_map not in self._published:
            from fhirip.errors import FhirError
            try:
                self.service.map_code(self._url(concept_map), "\x00")
                self._published[concept_map] = True
            except FhirError:
                self._published[concept_map] = False
        return self._published[concept_map]

    def translate(self, concept_map: str, code: str) -> Coding | None:
        key = (concept_map, code)
        if key not in self._forward:
            if self._service_knows(concept_map):
                found = self.service.map_code(self._url(concept_map), code)
                self._forward[key] = Coding(found["system"], found["code"], found.get("display")) if found else None
            else:
                self._forward[key] = self.fallback.translate(concept_map, code)
        return self._forward[key]

    def translate_back(self, concept_map: str, system: str | None, code: str) -> str | None:
        key = (concept_map, system, code)
        if key not in self._backward:
            if self._service_knows(concept_map):
                from fhirip.errors import FhirError
                try:
                    found = self.service.map_code(self._url(concept_map), code, system=system, reverse=True)
                except FhirError:
                    found = None
                self._backward[key] = found["code"] if found else None
            else:
                self._backward[key] = self.fallback.translate_back(concept_map, system, code)
        return self._backward[key]


@lru_cache(maxsize=1)
def default_translator() -> Translator:
    from fhirip.terminology.service import TerminologyService

    return ServiceTranslator(TerminologyService(), ConceptMapFiles((REPOSITORY_ROOT / "mappings" / "conceptmaps",)))
