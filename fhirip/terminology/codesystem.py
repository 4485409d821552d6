"""One CodeSystem as an index: concepts by code, their hierarchy, properties and filters.

https://hl7.org/fhir/R4/codesystem.html (concept hierarchy, properties, filters)
https://hl7.org/fhir/R4/valueset.html#filter (filter operators in ValueSet.compose)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from fhirip.errors import BadRequest

Resource = dict[str, Any]
HIERARCHY_PROPERTIES = ("concept", "code")
# Filter operators of http://hl7.org/fhir/filter-operator that this index evaluates.
FILTER_OPERATORS = ("=", "is-a", "descendent-of", "is-not-a", "regex", "in", "not-in",
                    "generalizes", "exists")


@dataclass(slots=True)
class Concept:
    code: str
    display: str | None
    definition: str | None
    designations: list[dict[str, Any]]
    properties: list[dict[str, Any]]
    parents: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)

    def values(self, name: str) -> list[str]:
        """The values of one property as strings (booleans as `true`/`false`)."""
        out = []
        for prop in self.properties:
            if prop.get("code") != name:
                continue
            for key, value in prop.items():
                if key.startswith("value"):
                    if isinstance(value, bool):
                        out.append("true" if value else "false")
                    elif isinstance(value, dict):  # valueCoding
                        out.append(str(value.get("code")))
                    else:
                        out.append(str(value))
        return out

    @property
    def abstract(self) -> bool:
        return "true" in self.values("notSelectable")

    @property
    def inactive(self) -> bool:
        return "true" in self.values("inactive") or bool(
            {"retired", "inactive"} & set(self.values("status")))


class CodeSystemIndex:
    """Fast questions about one CodeSystem resource."""

    def __init__(self, resource: Resource) -> None:
        self.resource = resource
        self.url: str = resource["url"]
        self.version: str | None = resource.get("version")
        self.name: str = resource.get("name") or resource.get("title") or self.url
        self.content: str = resource.get("content", "complete")
        self.language: str | None = resource.get("language")
        self.case_sensitive: bool = resource.get("caseSensitive", True)
        self.declared_properties = {p["code"]: p for p in resource.get("property", [])}
        self.concepts: dict[str, Concept] = {}
        self._add_concepts(resource.get("concept", []), parent=None)
        self._link_property_hierarchy()
        self._folded = {} if self.case_sensitive else {c.casefold(): c for c in self.concepts}

    def _add_concepts(self, concepts: list[dict[str, Any]], parent: str | None) -> None:
        for raw in concepts:
            code = raw["code"]
            concept = self.concepts.get(code)
            if concept is None:
                concept = Concept(code, raw.get("display"), raw.get("definition"),
                                  list(raw.get("designation", [])), list(raw.get("property", [])))
                self.concepts[code] = concept
            if parent is not None:
                _link(self.concepts[parent], concept)
            self._add_concepts(raw.get("concept", []), parent=code)

    def _link_property_hierarchy(self) -> None:
        # Hierarchy may also be stated with the `parent` / `child` concept properties.
        for concept in list(self.concepts.values()):
            for parent in concept.values("parent"):
                if parent in self.concepts:
                    _link(self.concepts[parent], concept)
            for child in concept.values("child"):
                if child in self.concepts:
                    _link(concept, self.concepts[child])

    @property
    def complete(self) -> bool:
        return self.content == "complete"

    @property
    def expandable(self) -> bool:
        return self.content in ("complete", "fragment", "example", "supplement")

    def get(self, code: str) -> Concept | None:
        concept = self.concepts.get(code)
        if concept is None and not self.case_sensitive:
            canonical = self._folded.get(code.casefold())
            concept = self.concepts.get(canonical) if canonical else None
        return concept

    def descendants(self, code: str) -> set[str]:
        seen: set[str] = set()
        stack = list(self.concepts[code].children)
        while stack:
            child = stack.pop()
            if child not in seen:
                seen.add(child)
                stack.extend(self.concepts[child].children)
        return seen

    def ancestors(self, code: str) -> set[str]:
        seen: set[str] = set()
        stack = list(self.concepts[code].parents)
        while stack:
            parent = stack.pop()
            if parent not in seen:
                seen.add(parent)
                stack.extend(self.concepts[parent].parents)
        return seen

    def subsumes(self, general: str, specific: str) -> bool:
        return general == specific or general in self.ancestors(specific)

    def select(self, filters: list[dict[str, Any]], where: str) -> set[str]:
        """The codes that pass every filter (filters combine with AND)."""
        selected = set(self.concepts)
        for index, flt in enumerate(filters):
            selected &= self._apply(flt, f"{where}.filter[{index}]")
        return selected

    def _apply(self, flt: dict[str, Any], where: str) -> set[str]:
        prop, op, value = flt.get("property"), flt.get("op"), flt.get("value")
        if not prop or not op or value is None:
            raise BadRequest(f"{where}: a filter needs property, op and value", (where,))
        if op not in FILTER_OPERATORS:
            raise BadRequest(f"{where}: filter operator '{op}' is not supported "
                             f"(supported: {', '.join(FILTER_OPERATORS)})", (where,))
        if op in ("is-a", "descendent-of", "is-not-a", "generalizes"):
            if prop not in HIERARCHY_PROPERTIES:
                raise BadRequest(f"{where}: operator '{op}' applies to property 'concept', "
                                 f"not '{prop}'", (where,))
            root = self.get(value)
            if root is None:
                raise BadRequest(f"{where}: code '{value}' is not in code system {self.url}",
                                 (where,))
            code = root.code
            if op == "is-a":
                return {code} | self.descendants(code)
            if op == "descendent-of":
                return self.descendants(code)
            if op == "generalizes":
                return {code} | self.ancestors(code)
            return set(self.concepts) - ({code} | self.descendants(code))
        values_of = self._property_reader(prop, where)
        if op == "=":
            return {c for c, concept in self.concepts.items() if value in values_of(concept)}
        if op in ("in", "not-in"):
            wanted = {v.strip() for v in value.split(",")}
            hits = {c for c, concept in self.concepts.items() if wanted & set(values_of(concept))}
            return hits if op == "in" else set(self.concepts) - hits
        if op == "exists":
            has = {c for c, concept in self.concepts.items() if values_of(concept)}
            return has if value == "true" else set(self.concepts) - has
        try:
            pattern = re.compile(value)
        except re.error as exc:
            raise BadRequest(f"{where}: invalid regex '{value}': {exc}", (where,)) from exc
        return {c for c, concept in self.concepts.items()
                if any(pattern.fullmatch(v) for v in values_of(concept))}

    def _property_reader(self, prop: str, where: str):
        if prop in HIERARCHY_PROPERTIES:
            return lambda concept: [concept.code]
        if prop == "display":
            return lambda concept: [concept.display] if concept.display else []
        if prop not in self.declared_properties and prop not in ("parent", "child", "inactive",
                                                                    "notSelectable", "status"):
            raise BadRequest(f"{where}: code system {self.url} has no property '{prop}'", (where,))
        return lambda concept: concept.values(prop)


def _link(parent: Concept, child: Concept) -> None:
    if child.code not in parent.children:
        parent.children.append(child.code)
    if parent.code not in child.parents:
        child.parents.append(parent.code)
