"""The simple FHIRPath the hot paths evaluate in Python, compiled once, with the engine's result.

https://hl7.org/fhirpath/N1/#path-selection

Most search-parameter expressions and the operands of the invariants every write meets are
plain paths: `CarePlan.activity.detail.code`, `Patient.telecom.where(system='email')`,
`Goal.start.ofType(date)`, `extension('url').value`, unions of such with `|`. Walking the JSON
for them is an order of magnitude faster than the general FHIRPath engine (fhirpathpy), so
search indexing (`fhirip.search.registry`), the AuditEvent index (`fhirip.audit.event_index`)
and the fast invariants (`fhirip.validation.fast_invariants`) all navigate through here.
`compile_path` answers None for anything else, and the caller then runs the engine: each
fast path stays with its owner, which also decides when its assumptions no longer hold.
`tests/test_fhirpath_simple.py` compares this module with the engine on every search
parameter the server registers and on realistic resources.

Two ways of stepping, as the callers need them:

- `children`: the values of an element (`nodes.name`), lists flattened, nulls left out; a
  choice element (`value[x]`) is also found under its typed name (`valueQuantity`). What a
  search index stores.
- `present`: what the engine counts as present for `exists()`/`empty()`: the element and its
  primitive extension (`_name`), which alone makes a primitive present.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from fhirpathpy.models import models

Step = Callable[[list[Any]], list[Any]]


# Element names that are choices ([x]) somewhere in R4 (value, effective, onset, …).
CHOICE_NAMES = frozenset(path.rsplit(".", 1)[-1] for path in models["r4"]["choiceTypePaths"])


def children(nodes: Iterable[Any], name: str, *, choice: bool = False) -> list[Any]:
    """`nodes.name`: the `name` elements of the nodes, lists flattened, nulls left out; with
    `choice`, a node without `name` gives its typed element (`valueQuantity` for `value`)."""
    out: list[Any] = []
    for node in nodes:
        if not isinstance(node, dict):
            continue
        if name in node:
            values = node[name]
        elif choice:
            values = next((v for k, v in node.items()
                           if k.startswith(name) and k[len(name):len(name) + 1].isupper()), None)
        else:
            continue
        if isinstance(values, list):
            out.extend(v for v in values if v is not None)
        elif values is not None:
            out.append(values)
    return out


def present(nodes: Iterable[Any], name: str) -> list[Any]:
    """`nodes.name` as the engine counts what is there: the element's items and those of its
    primitive extension `_name` (a primitive with only an extension is present)."""
    found: list[Any] = []
    for node in nodes:
        if not isinstance(node, dict):
            continue
        for key in (name, "_" + name):
            value = node.get(key)
            if value is None:
                continue
            if isinstance(value, list):
                found.extend(value)
            else:
                found.append(value)
    return found


def present_at(element: Any, *names: str) -> list[Any]:
    """`element.a.b.c` by `present`, step by step."""
    items = [element]
    for name in names:
        items = present(items, name)
        if not items:
            break
    return items


# --- compiling a path -------------------------------------------------------------------

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


def split_unions(expression: str) -> list[str]:
    """Split at `|` that are outside parentheses and string literals."""
    parts, depth, quoted, start = [], 0, False, 0
    for i, ch in enumerate(expression):
        if ch == "'" and (i == 0 or expression[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        elif not quoted and depth == 0 and ch == "|":
            parts.append(expression[start:i].strip())
            start = i + 1
    parts.append(expression[start:].strip())
    return [p for p in parts if p]


def compile_path(expression: str) -> Callable[[dict[str, Any]], list[Any]] | None:
    """A function from a resource to what the FHIRPath `expression` selects in it (the values
    `children` gives), or None if the expression is not a simple path."""
    parts = [_unwrap(p) for p in split_unions(expression)]
    if not parts or not all(_SIMPLE.match(p) for p in parts):
        return None
    roots: list[str | None] = []
    paths: list[list[Step]] = []
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
        return lambda nodes: [e for e in children(nodes, "extension") if isinstance(e, dict) and e.get("url") == url]
    choice = segment in CHOICE_NAMES
    return lambda nodes: children(nodes, segment, choice=choice)


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
        if not out or out[-1] not in CHOICE_NAMES:
            return None
        type_name = of_type.group(1)
        out[-1] += type_name[0].upper() + type_name[1:]
    return out
