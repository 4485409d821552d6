"""Load the declarative mapping specs: mappings/ip-resources.json plus mappings/<family>/spec.json.

``ip-resources.json`` says which FHIR resources/elements each kind of legacy record becomes
(templates, identifiers, links); a family's ``spec.json`` says where each field sits in the
legacy format and which FHIR element it fills (``"fhir": "<Output>.<path>"``), with the
ConceptMap or local code list that translates it and the date rule that applies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from fhirip.mapping.paths import parse_path

MAPPINGS_DIR = Path(__file__).resolve().parents[2] / "mappings"
FAMILIES = ("planpro", "acos", "docx")

_FIELD_TYPES = {"key", "plan", "join", "parent", "string", "text", "date", "dateTime",
                "boolean", "code", "ref", "fnr"}
_STRUCTURAL = {"key", "plan", "join", "parent"}


class SpecError(ValueError):
    """A mapping spec that the engine cannot follow; the message names file and entry."""


@dataclass(frozen=True)
class OutputRef:
    kind: str  # "self" for an output of the same record
    output: str

    @classmethod
    def parse(cls, text: str) -> "OutputRef":
        kind, _, output = text.partition(".")
        if not output:
            raise SpecError(f"expected 'kind.Output', got {text!r}")
        return cls(kind, output)


@dataclass
class OutputSpec:
    name: str
    identifier: str
    scope: str  # global | plan
    template: dict[str, Any]
    resource: str | None = None
    element_of: OutputRef | None = None
    path: str | None = None
    parent_field: str | None = None
    match_systems: tuple[str, ...] = ()
    key_fields: tuple[str, ...] = ()
    always: bool = False
    links: dict[str, OutputRef] = field(default_factory=dict)
    referenced_from: dict[OutputRef, str] = field(default_factory=dict)
    select: dict[str, str] = field(default_factory=dict)
    # an element a profile requires, taken from another element of the same record when the
    # legacy record leaves it empty: {"detail.description": "detail.code.text"}
    fill: dict[str, str] = field(default_factory=dict)


@dataclass
class Also:
    output: str
    path: str
    concept_map: str
    as_: str
    from_translated: bool


@dataclass
class FieldSpec:
    field: str
    type: str
    column: str | None = None
    output: str | None = None
    path: str | None = None
    required: bool = False
    concept_map: str | None = None
    code_system: str | None = None
    as_: str = "code"
    unknown: str = "drop"  # drop | text
    precision_column: str | None = None
    ref: OutputRef | None = None
    encode: str | None = None
    also: list[Also] = field(default_factory=list)
    template: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def mapped(self) -> bool:
        return self.output is not None


@dataclass
class KindSpec:
    name: str
    single: bool
    outputs: list[OutputSpec]
    fields: list[FieldSpec]
    source: dict[str, Any]  # the family's own locator data (file, element, section …)

    def output(self, name: str) -> OutputSpec:
        for output in self.outputs:
            if output.name == name:
                return output
        raise SpecError(f"kind {self.name} has no output {name!r}")

    def field(self, name: str) -> FieldSpec | None:
        for candidate in self.fields:
            if candidate.field == name:
                return candidate
        return None


@dataclass
class FamilySpec:
    family: str
    format: dict[str, Any]
    kinds: dict[str, KindSpec]  # in the dependency order of ip-resources.json
    code_systems: dict[str, dict[str, Any]]
    structure: dict[str, Any]
    directory: Path
    derive: dict[str, Any] = field(default_factory=dict)  # values a family states only indirectly

    def legacy_system(self, identifier: str) -> str:
        return self.structure["legacy_identifier_system"].format(family=self.family, identifier=identifier)


def _output(data: dict[str, Any], kind: str) -> OutputSpec:
    return OutputSpec(
        name=data["name"], identifier=data.get("identifier", kind), scope=data.get("scope", "plan"),
        template=data.get("template", {}), resource=data.get("resource"),
        element_of=OutputRef.parse(data["element_of"]) if "element_of" in data else None,
        path=data.get("path"), parent_field=data.get("parent_field"),
        match_systems=tuple(data.get("match_systems", ())), key_fields=tuple(data.get("key_fields", ())),
        always=bool(data.get("always", False)),
        links={path: OutputRef.parse(target) for path, target in data.get("links", {}).items()},
        referenced_from={OutputRef.parse(target): path for target, path in data.get("referenced_from", {}).items()},
        select=data.get("select", {}), fill=data.get("fill", {}))


def _split_fhir(fhir: str, kind: KindSpec, where: str) -> tuple[str, str]:
    name, _, path = fhir.partition(".")
    kind.output(name)  # raises when the output does not exist
    if not path:
        raise SpecError(f"{where}: fhir target {fhir!r} has no element path")
    parse_path(path)
    return name, path


def _field(data: dict[str, Any], kind: KindSpec, where: str) -> FieldSpec:
    if data.get("type") not in _FIELD_TYPES:
        raise SpecError(f"{where}: unknown field type {data.get('type')!r}")
    spec = FieldSpec(field=data["field"], type=data["type"], column=data.get("column"),
                     required=bool(data.get("required", False)), concept_map=data.get("concept_map"),
                     code_system=data.get("code_system"), as_=data.get("as", "code"),
                     unknown=data.get("unknown", "drop"), precision_column=data.get("precision_column"),
                     ref=OutputRef.parse(data["ref"]) if "ref" in data else None,
                     encode=data.get("encode"), template=data.get("template", {}), raw=data)
    if data.get("fhir"):
        spec.output, spec.path = _split_fhir(data["fhir"], kind, where)
    elif spec.type not in _STRUCTURAL:
        raise SpecError(f"{where}: field {spec.field!r} has no fhir target")
    if spec.type == "code" and not (spec.concept_map or spec.code_system):
        raise SpecError(f"{where}: code field {spec.field!r} names neither concept_map nor code_system")
    for also in data.get("also", []):
        output, path = _split_fhir(also["fhir"], kind, where)
        spec.also.append(Also(output, path, also["concept_map"], also.get("as", "code"),
                              also.get("from") == "translated"))
    return spec


@lru_cache(maxsize=None)
def load_spec(family: str, mappings_dir: Path = MAPPINGS_DIR) -> FamilySpec:
    if family not in FAMILIES:
        raise SpecError(f"unknown format family {family!r}; known: {', '.join(FAMILIES)}")
    structure = json.loads((mappings_dir / "ip-resources.json").read_text(encoding="utf-8"))
    spec_path = mappings_dir / family / "spec.json"
    data = json.loads(spec_path.read_text(encoding="utf-8"))
    records = data["records"]
    kinds: dict[str, KindSpec] = {}
    for kind_name, kind_data in structure["kinds"].items():
        if kind_name not in records:
            continue
        source = records[kind_name]
        kind = KindSpec(kind_name, bool(kind_data.get("single", False)),
                        [_output(o, kind_name) for o in kind_data["outputs"]], [], source)
        kind.fields = [_field(f, kind, f"{spec_path}: records.{kind_name}") for f in source.get("fields", [])]
        for output in kind.outputs:  # a family may narrow an identity, e.g. names that are unique only per plan
            output.scope = data.get("scopes", {}).get(f"{kind_name}.{output.name}", output.scope)
        kinds[kind_name] = kind
    unknown = set(records) - set(kinds)
    if unknown:
        raise SpecError(f"{spec_path}: record kinds {sorted(unknown)} are not defined in ip-resources.json")
    if "person" not in kinds or "plan" not in kinds:
        raise SpecError(f"{spec_path}: a family spec needs the record kinds person and plan")
    return FamilySpec(family, data.get("format", {}), kinds, data.get("code_systems", {}),
                      structure, mappings_dir / family, data.get("derive", {}))
