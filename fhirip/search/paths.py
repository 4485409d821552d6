"""A fast evaluator for the simple FHIRPath expressions most search parameters use.

https://hl7.org/fhirpath/N1/#path-selection

About three in four search-parameter expressions are plain paths such as
`CarePlan.activity.detail.code` or `CarePlan.extension('url').value`. Indexing
runs them on every write, and walking the JSON directly is an order of
magnitude faster than the general FHIRPath engine, so those are evaluated here
with the same result (tests compare the two on real resources); anything else
goes to fhirpathpy.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from fhirpathpy.models import models

from fhirip.search.registry import split_unions

_SEGMENT = (r"(?:[a-zA-Z][a-zA-Z0-9]*|extension\('[^']+'\)|where\([a-zA-Z]+='[^']*'\)"
            r"|ofType\([a-zA-Z]+\))")
_SIMPLE = re.compile(rf"^(?:[A-Z][A-Za-z]*\.)?{_SEGMENT}(?:\.{_SEGMENT})*$")
_SEGMENTS = re.compile(r"extension\('[^']+'\)|where\([a-zA-Z]+='[^']*'\)|ofType\([a-zA-Z]+\)"
                       r"|[a-zA-Z][a-zA-Z0-9]*")
# `Goal.start.ofType(date)` right after a choice element is its typed name, `startDate`.
_OF_TYPE = re.compile(r"^ofType\(([a-zA-Z]+)\)$")
_EXTENSION = re.compile(r"^extension\('([^']+)'\)$")
# `telecom.where(system='email')`: keep the items whose element equals the literal.
_WHERE_EQUALS = re.compile(r"^where\(([a-zA-Z]+)='([^']*)'\)$")


@cache
def _choice_names() -> frozenset[str]:
    """Element names that are choices ([x]) somewhere in R4, e.g. value, scheduled."""
    return frozenset(path.rsplit(".", 1)[-1] for path in models["r4"]["choiceTypePaths"])


Step = Callable[[list[Any]], list[Any]]


def _compiled_step(segment: str) -> Step:
    """One path segment as a function from the nodes before it to the nodes after it, with the
    kind of segment (filter, extension, element, choice element) settled once, here."""
    where = _WHERE_EQUALS.match(segment)
    if where:
        name, literal = where.groups()
        return lambda nodes: [node for node in nodes if isinstance(node, dict) and node.get(name) == literal]
    extension = _EXTENSION.match(segment)
    if extension:
        url = extension.group(1)
        return lambda nodes: _flattened(
            [e for e in node.get("extension") or () if e.get("url") == url] for node in nodes if isinstance(node, dict))
    if segment in _choice_names():
        return lambda nodes: _flattened(_choice_value(node, segment) for node in nodes if isinstance(node, dict))
    return lambda nodes: _flattened(node.get(segment) for node in nodes if isinstance(node, dict))


def _choice_value(node: dict[str, Any], name: str) -> Any:
    """`value` of a node with `valueQuantity`: the element itself if present, else the typed one."""
    if name in node:
        return node[name]
    return next((v for k, v in node.items() if k.startswith(name) and k[len(name):len(name) + 1].isupper()), None)


def _flattened(values: Any) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if isinstance(value, list):
            out.extend(v for v in value if v is not None)
        elif value is not None:
            out.append(value)
    return out


def _unwrap(part: str) -> str:
    """`(Goal.start.ofType(date))` → `Goal.start.ofType(date)`."""
    while part.startswith("(") and part.endswith(")") and _closes_at_end(part):
        part = part[1:-1].strip()
    return part


def _closes_at_end(text: str) -> bool:
    depth = 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0:
            return i == len(text) - 1
    return False


def _typed_choices(segments: list[str]) -> list[str] | None:
    """Fold `choice.ofType(T)` into the element name `choiceT`; None if ofType is elsewhere."""
    out: list[str] = []
    for segment in segments:
        of_type = _OF_TYPE.match(segment)
        if of_type is None:
            out.append(segment)
            continue
        if not out or out[-1] not in _choice_names():
            return None
        type_name = of_type.group(1)
        out[-1] += type_name[0].upper() + type_name[1:]
    return out


def simple_path_evaluator(expression: str) -> Callable[[dict[str, Any]], list[Any]] | None:
    """A function equal to the FHIRPath `expression`, or None if it is not a plain path."""
    parts = [_unwrap(p) for p in split_unions(expression)]
    if not parts or not all(_SIMPLE.match(p) for p in parts):
        return None
    roots: list[str | None] = []
    paths: list[list[str]] = []
    for part in parts:
        segments = _typed_choices(_SEGMENTS.findall(part))
        if segments is None:
            return None
        rooted = segments[0][:1].isupper()
        roots.append(segments[0] if rooted else None)  # `meta.tag`: any resource type
        paths.append([_compiled_step(segment) for segment in (segments[1:] if rooted else segments)])

    def evaluate(resource: dict[str, Any]) -> list[Any]:
        result: list[Any] = []
        for root, steps in zip(roots, paths):
            if root is not None and resource.get("resourceType") != root:
                continue
            nodes: list[Any] = [resource]
            for step in steps:
                nodes = step(nodes)
                if not nodes:
                    break
            result.extend(nodes)
        return result

    return evaluate
