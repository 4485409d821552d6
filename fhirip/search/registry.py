"""The search-parameter registry: official R4 definitions plus the project's own.

https://hl7.org/fhir/R4/searchparameter.html

The official definitions (spec/r4/search-parameters.json) and the project's
SearchParameter resources (profiles/search-parameters/*.json) are read once.
Each definition's FHIRPath expression is split at its top-level unions into one
expression per resource type, so indexing a CarePlan evaluates only the
CarePlan part; a part that is a simple path runs through `fhirip.fhirpath_simple`, the
others through fhirpathpy. A parameter is *supported* for a type when its expression
compiles and its type can be indexed; the CapabilityStatement declares exactly
those (see `capability_search_params`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from collections.abc import Callable, Iterable
from typing import Any

from fhirpathpy import compile as fhirpath_compile
from fhirpathpy.models import models

from fhirip.fhirpath_simple import compile_path, split_unions

ROOT = Path(__file__).resolve().parents[2]
OFFICIAL_PARAMETERS = ROOT / "spec" / "r4" / "search-parameters.json"
PROJECT_PARAMETERS = ROOT / "profiles" / "search-parameters"
PATIENT_COMPARTMENT = ROOT / "spec" / "r4" / "compartmentdefinition-patient.json"

INDEXED_TYPES = ("string", "token", "reference", "date", "number", "quantity", "uri", "composite")

# Parameters every resource has that are answered from the `resource` row itself.
RESOURCE_COLUMN_PARAMS = ("_id", "_lastUpdated")

# `X.where(resolve() is Patient)`: fhirpathpy cannot resolve, and the test is
# only about the reference's target type, which the indexer checks instead.
_RESOLVE_IS = re.compile(r"\.where\(resolve\(\) is ([A-Za-z]+)\)")

Extractor = Callable[[dict[str, Any]], list[Any]]


@dataclass(frozen=True)
class Component:
    definition: str  # canonical URL of the component's SearchParameter
    expression: str  # relative to each value of the composite's expression


@dataclass
class SearchParam:
    code: str
    url: str
    type: str
    description: str
    bases: tuple[str, ...]
    targets: tuple[str, ...] = ()
    modifiers: tuple[str, ...] = ()
    components: tuple[Component, ...] = ()
    # resource type -> that type's part of the expression
    expressions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TypedExtractor:
    """A compiled expression of one parameter for one resource type."""

    evaluate: Extractor
    # Reference targets allowed by `where(resolve() is X)`; empty = any.
    resolve_types: tuple[str, ...]


def _first_deciding(equivalent: Callable[[Any], list[Any] | None], engine: Extractor) -> Extractor:
    """`equivalent`, or the engine for a resource it leaves undecided."""
    def evaluate(resource: Any) -> list[Any]:
        found = equivalent(resource)
        return engine(resource) if found is None else found

    return evaluate


def _closing_parenthesis(text: str, opening: int) -> int:
    depth = 0
    for i in range(opening, len(text)):
        depth += text[i] == "("
        depth -= text[i] == ")"
        if depth == 0:
            return i
    return -1


def _strip_outer_parentheses(part: str) -> str:
    while part.startswith("(") and _closing_parenthesis(part, 0) == len(part) - 1:
        part = part[1:-1].strip()
    return part


def _leading_type(part: str) -> str:
    return re.match(r"[A-Za-z]*", _strip_outer_parentheses(part)).group(0)


def expressions_by_type(expression: str, bases: tuple[str, ...]) -> dict[str, str]:
    """One expression per base resource type, from a definition's union expression."""
    by_type: dict[str, list[str]] = {}
    for part in split_unions(expression):
        by_type.setdefault(_leading_type(part), []).append(part)
    result = {}
    for base in bases:
        parts = by_type.get(base, [])
        if parts:
            result[base] = " | ".join(parts)
    return result


def _from_resource(resource: dict[str, Any]) -> SearchParam:
    bases = tuple(resource.get("base", ()))
    return SearchParam(
        code=resource["code"], url=resource["url"], type=resource["type"],
        description=resource.get("description", ""), bases=bases,
        targets=tuple(resource.get("target", ())), modifiers=tuple(resource.get("modifier", ())),
        components=tuple(Component(c["definition"], c["expression"])
                         for c in resource.get("component", ())),
        expressions=expressions_by_type(resource.get("expression") or "", bases),
    )


class Registry:
    """All search parameters by resource type and by canonical URL."""

    def __init__(self, definitions: list[dict[str, Any]], resource_types: Iterable[str] | None = None):
        """`resource_types`: the types a search may name (default: those with parameters of their own)."""
        self.by_url: dict[str, SearchParam] = {}
        self._by_type: dict[str, dict[str, SearchParam]] = {}
        self._common: dict[str, SearchParam] = {}
        for definition in definitions:
            param = _from_resource(definition)
            self.by_url[param.url] = param
            for base in param.bases:
                if base in ("Resource", "DomainResource"):
                    self._common[param.code] = param
                else:
                    self._by_type.setdefault(base, {})[param.code] = param
        # Every type has the common parameters (_id, _lastUpdated, _tag, …), so a type
        # without parameters of its own (Binary, Parameters, …) is searchable all the same.
        self._types = frozenset(resource_types if resource_types is not None else self._by_type)
        self._extractors: dict[tuple[str, str], TypedExtractor | None] = {}
        compartment = json.loads(PATIENT_COMPARTMENT.read_text(encoding="utf-8"))
        self.patient_compartment: dict[str, tuple[str, ...]] = {
            entry["code"]: tuple(entry.get("param", ())) for entry in compartment["resource"]
            if entry.get("param")}

    # -- lookup ----------------------------------------------------------------------

    def resource_types(self) -> list[str]:
        return sorted(self._types)

    def is_resource_type(self, name: str) -> bool:
        return name in self._types

    def get(self, res_type: str, code: str) -> SearchParam | None:
        """The parameter `code` of `res_type`, if it is defined and supported."""
        param = self._by_type.get(res_type, {}).get(code) or self._common.get(code)
        if param is None or not self.is_supported(res_type, param):
            return None
        return param

    def defined(self, res_type: str, code: str) -> bool:
        return code in self._by_type.get(res_type, {}) or code in self._common

    def params_for(self, res_type: str) -> dict[str, SearchParam]:
        """Every supported parameter of `res_type`, by code."""
        candidates = {**self._common, **self._by_type.get(res_type, {})}
        return {code: p for code, p in candidates.items() if self.is_supported(res_type, p)}

    def is_supported(self, res_type: str, param: SearchParam) -> bool:
        if param.code in RESOURCE_COLUMN_PARAMS:
            return True
        if param.type not in INDEXED_TYPES:
            return False
        if param.type == "composite":
            return bool(param.components) and self.extractor(res_type, param) is not None and all(
                c.definition in self.by_url and self.by_url[c.definition].type in INDEXED_TYPES
                and self.by_url[c.definition].type != "composite" for c in param.components)
        return self.extractor(res_type, param) is not None

    # -- expressions -----------------------------------------------------------------

    @staticmethod
    def expression(res_type: str, param: SearchParam) -> str | None:
        """The part of `param`'s expression that applies to `res_type`."""
        expression = param.expressions.get(res_type)
        if expression is None:
            common = param.expressions.get("Resource") or param.expressions.get("DomainResource")
            if common is None:
                return None
            expression = re.sub(r"\b(Resource|DomainResource)\.", "", common)
        return expression

    def extractor(self, res_type: str, param: SearchParam) -> TypedExtractor | None:
        """The compiled expression of `param` for `res_type` (compiled once)."""
        key = (res_type, param.url)
        if key not in self._extractors:
            self._extractors[key] = self._compile(res_type, param)
        return self._extractors[key]

    @staticmethod
    def _compile(res_type: str, param: SearchParam) -> TypedExtractor | None:
        expression = Registry.expression(res_type, param)
        if not expression:
            return None
        resolve_types = tuple(sorted(set(_RESOLVE_IS.findall(expression))))
        param_expression = _RESOLVE_IS.sub("", expression)
        fast = compile_path(param_expression)
        if fast is not None:
            return TypedExtractor(fast, resolve_types)
        try:
            compiled = fhirpath_compile(param_expression, models["r4"])
            compiled({"resourceType": res_type})
        except Exception:  # an expression fhirpathpy cannot run is an unsupported parameter
            return None
        from fhirip.search.own_expressions import EQUIVALENTS

        equivalent = EQUIVALENTS.get(param_expression)
        if equivalent is not None:
            return TypedExtractor(_first_deciding(equivalent, compiled), resolve_types)
        return TypedExtractor(compiled, resolve_types)

    @cache
    def component_extractor(self, expression: str) -> Extractor:
        return fhirpath_compile(expression, models["r4"])

    # -- conformance -----------------------------------------------------------------

    def capability_search_params(self, res_type: str) -> list[dict[str, str]]:
        """The searchParam entries of CapabilityStatement.rest.resource for `res_type`."""
        return [
            {"name": code, "definition": p.url, "type": p.type, "documentation": p.description}
            for code, p in sorted(self.params_for(res_type).items())
        ]


def load_definitions() -> list[dict[str, Any]]:
    definitions = json.loads(OFFICIAL_PARAMETERS.read_text(encoding="utf-8"))
    if PROJECT_PARAMETERS.is_dir():
        for path in sorted(PROJECT_PARAMETERS.glob("*.json")):
            resource = json.loads(path.read_text(encoding="utf-8"))
            if resource.get("resourceType") != "SearchParameter":
                raise ValueError(f"{path}: not a SearchParameter")
            definitions.append(resource)
    return definitions


@cache
def registry() -> Registry:
    """The process-wide registry (definitions are read on first use) over the storable types."""
    from fhirip.model.resources import RESOURCE_TYPES

    return Registry(load_definitions(), RESOURCE_TYPES)


def params_for(res_type: str) -> dict[str, SearchParam]:
    return registry().params_for(res_type)


def capability_search_params(res_type: str) -> list[dict[str, str]]:
    return registry().capability_search_params(res_type)
