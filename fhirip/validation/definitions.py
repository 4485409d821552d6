"""Element definitions of the base FHIR R4 types, indexed for walking JSON instances.

https://hl7.org/fhir/R4/elementdefinition.html

Reads the vendored snapshots in spec/r4/base-structuredefinitions.json (regenerate
with scripts/vendor_base_definitions.py) and answers, for an element of a type, which
JSON keys its children may have, with their definitions and, for choice elements
(value[x]), the concrete type each key names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

SPEC_DIR = Path(__file__).resolve().parents[2] / "spec" / "r4"
CORE_SD = "http://hl7.org/fhir/StructureDefinition/"


@dataclass(frozen=True)
class Constraint:
    key: str
    severity: str  # error | warning
    human: str
    expression: str
    best_practice: bool = False


@dataclass(frozen=True)
class TypeRef:
    code: str
    profiles: tuple[str, ...] = ()
    target_profiles: tuple[str, ...] = ()


@dataclass
class ElementDef:
    path: str
    min: int
    max: str  # "*" or a number
    types: tuple[TypeRef, ...]
    binding_strength: str | None = None
    binding_value_set: str | None = None
    constraints: tuple[Constraint, ...] = ()
    content_reference: str | None = None
    # child JSON key -> (definition, concrete type code of a choice key, or None)
    children: dict[str, tuple[ElementDef, str | None]] = field(default_factory=dict)
    # children with min > 0, each with every JSON key that can carry it
    required: list[tuple[ElementDef, list[str]]] = field(default_factory=list)
    name: str = ""
    max_count: int | None = None

    def __post_init__(self) -> None:
        self.name = self.path.rsplit(".", 1)[-1]
        self.max_count = None if self.max == "*" else int(self.max)


def constraint_from_json(data: dict[str, Any]) -> Constraint:
    return Constraint(key=data["key"], severity=data.get("severity", "error"),
                      human=data.get("human", ""), expression=data.get("expression", ""),
                      best_practice=bool(data.get("bestPractice")))


def element_from_json(data: dict[str, Any]) -> ElementDef:
    binding = data.get("binding") or {}
    value_set = binding.get("valueSet")
    return ElementDef(
        path=data["path"],
        min=int(data.get("min", 0)),
        max=str(data.get("max", "*")),
        types=tuple(TypeRef(t["code"], tuple(t.get("profile", ())),
                            tuple(t.get("targetProfile", ()))) for t in data.get("type", ())),
        binding_strength=binding.get("strength"),
        binding_value_set=value_set.split("|")[0] if value_set else None,
        constraints=tuple(constraint_from_json(c) for c in data.get("constraint", ())
                          if c.get("expression")),
        content_reference=data.get("contentReference"),
    )


def choice_key(name: str, type_code: str) -> str:
    """value[x] + dateTime -> valueDateTime."""
    return name[:-3] + type_code[0].upper() + type_code[1:]


class BaseDefinitions:
    """The snapshot elements of every vendored base type, with child indexes."""

    def __init__(self, structures: list[dict[str, Any]]) -> None:
        self.kinds: dict[str, str] = {}
        self.elements: dict[str, dict[str, ElementDef]] = {}
        for sd in structures:
            type_name = sd["type"]
            self.kinds[type_name] = sd["kind"]
            by_path = {e["path"]: element_from_json(e) for e in sd["snapshot"]["element"]}
            for path, element in by_path.items():
                if "." not in path:
                    continue
                parent = by_path.get(path.rsplit(".", 1)[0])
                if parent is None:
                    continue
                name = element.name
                if name.endswith("[x]"):
                    for type_ref in element.types:
                        parent.children[choice_key(name, type_ref.code)] = (element, type_ref.code)
                else:
                    parent.children[name] = (element, None)
            self.elements[type_name] = by_path
        for by_path in self.elements.values():
            for element in by_path.values():
                grouped: dict[int, tuple[ElementDef, list[str]]] = {}
                for key, (child, _) in element.children.items():
                    if child.min > 0:
                        grouped.setdefault(id(child), (child, []))[1].append(key)
                element.required = list(grouped.values())

    @classmethod
    def load(cls, path: Path | None = None) -> BaseDefinitions:
        path = path or SPEC_DIR / "base-structuredefinitions.json"
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def has_type(self, type_name: str) -> bool:
        return type_name in self.elements

    def is_complex(self, type_name: str) -> bool:
        return self.kinds.get(type_name) == "complex-type"

    def is_resource(self, type_name: str) -> bool:
        return self.kinds.get(type_name) == "resource"

    def root(self, type_name: str) -> ElementDef:
        return self.elements[type_name][type_name]

    def element(self, type_name: str, path: str) -> ElementDef | None:
        return self.elements.get(type_name, {}).get(path)


@cache
def base_definitions() -> BaseDefinitions:
    """The vendored base definitions, loaded once per process."""
    return BaseDefinitions.load()
