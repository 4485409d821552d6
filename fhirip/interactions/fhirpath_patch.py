"""FHIRPath Patch: add, insert, delete, replace and move on a resource.

https://hl7.org/fhir/R4/fhirpatch.html

Paths are the subset of FHIRPath that names elements: `Type.a.b`, `[n]`,
`.where(criteria)`, `.first()`, `.last()`. Criteria inside `where` are evaluated
with fhirpathpy against each candidate element.
"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass
from typing import Any

from fhirpathpy import evaluate as fhirpath

from fhirip.errors import BadRequest, Unprocessable
from fhirip.model.parameters import parameter_parts


@dataclass
class Location:
    """Where a value sits: parent container, key in it, and index when in a list."""

    parent: Any
    key: str | None
    index: int | None

    @property
    def value(self) -> Any:
        node = self.parent[self.key] if self.key is not None else self.parent
        return node[self.index] if self.index is not None else node


_STEP = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_]*)(\((.*)\))?|\[(\d+)\]")


def _split(path: str) -> list[str]:
    """Split a path into steps, keeping parentheses of where(...) together."""
    steps, depth, current = [], 0, ""
    for char in path:
        if char == "." and depth == 0:
            steps.append(current)
            current = ""
            continue
        if char == "[" and depth == 0 and current:
            steps.append(current)
            current = ""
        depth += char == "("
        depth -= char == ")"
        current += char
    steps.append(current)
    return [s for s in steps if s]


def locate(resource: dict[str, Any], path: str) -> list[Location]:
    steps = _split(path)
    if steps and steps[0] == resource.get("resourceType"):
        steps = steps[1:]
    found = [Location(resource, None, None)]
    for step in steps:
        found = _step(found, step, path)
    return found


def _step(locations: list[Location], step: str, path: str) -> list[Location]:
    if step.startswith("[") and step.endswith("]"):
        n = int(step[1:-1])
        return [locations[n]] if n < len(locations) else []
    if step in ("first()", "last()"):
        return locations[:1] if step == "first()" else locations[-1:]
    if step.startswith("where(") and step.endswith(")"):
        criteria = step[len("where("):-1]
        return [loc for loc in locations if _true(loc.value, criteria, path)]
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", step):
        raise BadRequest(f"FHIRPath Patch path '{path}': step '{step}' is not supported")
    result = []
    for loc in locations:
        node = loc.value
        if not isinstance(node, dict) or step not in node:
            continue
        child = node[step]
        if isinstance(child, list):
            result.extend(Location(node, step, i) for i in range(len(child)))
        else:
            result.append(Location(node, step, None))
    return result


def _true(node: Any, criteria: str, path: str) -> bool:
    try:
        return fhirpath(node, criteria) == [True]
    except Exception as exc:  # fhirpathpy raises plain exceptions for bad expressions
        raise BadRequest(f"FHIRPath Patch path '{path}': cannot evaluate '{criteria}': {exc}") from None


def _parts(parameter: dict[str, Any]) -> dict[str, Any]:
    return {p.get("name"): p for p in parameter.get("part", []) if isinstance(p, dict)}


def _value(part: dict[str, Any] | None) -> Any:
    if part is None:
        return None
    for key, value in part.items():
        if key.startswith("value") and key != "value":
            return value
    if "part" in part:  # an anonymous (backbone) element built from its parts
        return {p["name"]: _value(p) for p in part["part"]}
    return None


def apply_fhirpath_patch(resource: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    for number, operation in enumerate(parameter_parts(parameters, "patch")):
        if operation.get("name") != "operation":
            raise BadRequest(f"Parameters.parameter[{number}] must be named 'operation'")
        parts = _parts(operation)
        kind = (parts.get("type") or {}).get("valueCode")
        path = (parts.get("path") or {}).get("valueString")
        where = f"Parameters.parameter[{number}]"
        if not kind or not path:
            raise BadRequest(f"{where} needs a type and a path", expression=[where])
        handler = _OPERATIONS.get(kind)
        if handler is None:
            raise BadRequest(f"{where}: unknown FHIRPath Patch operation '{kind}'", expression=[where])
        handler(resource, path, parts, where)
    return resource


def _single(resource: dict[str, Any], path: str, where: str, *, allow_none: bool = False) -> Location | None:
    found = locate(resource, path)
    if len(found) > 1:
        raise Unprocessable(f"{where}: path '{path}' matches {len(found)} elements, not one", expression=[where])
    if not found and not allow_none:
        raise Unprocessable(f"{where}: path '{path}' matches nothing", expression=[where])
    return found[0] if found else None


def _add(resource: dict[str, Any], path: str, parts: dict[str, Any], where: str) -> None:
    target = _single(resource, path, where).value
    name = (parts.get("name") or {}).get("valueString")
    value = _value(parts.get("value"))
    if not isinstance(target, dict) or not name or value is None:
        raise BadRequest(f"{where}: add needs an element path, a name and a value", expression=[where])
    existing = target.get(name)
    if isinstance(existing, list):
        existing.append(value)
    elif existing is None:
        # A repeating element is a JSON array even when it holds a single value.
        target[name] = [value] if _repeats(resource["resourceType"], path, name) else value
    else:
        raise Unprocessable(f"{where}: '{path}.{name}' already has a value; use replace", expression=[where])


def _insert(resource: dict[str, Any], path: str, parts: dict[str, Any], where: str) -> None:
    found = locate(resource, path)
    index = (parts.get("index") or {}).get("valueInteger")
    value = _value(parts.get("value"))
    if index is None or value is None:
        raise BadRequest(f"{where}: insert needs an index and a value", expression=[where])
    if not found:
        raise Unprocessable(f"{where}: path '{path}' matches nothing", expression=[where])
    first = found[0]
    lst = first.parent[first.key]
    if first.index is None or not 0 <= index <= len(lst):
        raise Unprocessable(f"{where}: index {index} is outside the list at '{path}'", expression=[where])
    lst.insert(index, value)


def _delete(resource: dict[str, Any], path: str, parts: dict[str, Any], where: str) -> None:
    loc = _single(resource, path, where, allow_none=True)
    if loc is None or loc.key is None:
        return
    if loc.index is None:
        del loc.parent[loc.key]
    else:
        del loc.parent[loc.key][loc.index]
        if not loc.parent[loc.key]:
            del loc.parent[loc.key]


def _replace(resource: dict[str, Any], path: str, parts: dict[str, Any], where: str) -> None:
    loc = _single(resource, path, where)
    value = _value(parts.get("value"))
    if value is None or loc.key is None:
        raise BadRequest(f"{where}: replace needs an element path and a value", expression=[where])
    if loc.index is None:
        loc.parent[loc.key] = value
    else:
        loc.parent[loc.key][loc.index] = value


def _move(resource: dict[str, Any], path: str, parts: dict[str, Any], where: str) -> None:
    found = locate(resource, path)
    source = (parts.get("source") or {}).get("valueInteger")
    destination = (parts.get("destination") or {}).get("valueInteger")
    if not found or found[0].index is None or source is None or destination is None:
        raise BadRequest(f"{where}: move needs a list path, a source and a destination", expression=[where])
    lst = found[0].parent[found[0].key]
    if not (0 <= source < len(lst) and 0 <= destination < len(lst)):
        raise Unprocessable(f"{where}: source or destination is outside the list", expression=[where])
    lst.insert(destination, lst.pop(source))


def _repeats(resource_type: str, path: str, name: str) -> bool:
    """Whether element `name` below `path` has max cardinality '*', from the R4B models."""
    from fhir.resources.R4B import get_fhir_model_class

    from fhirip.model.resources import model_class

    def field_type(cls: Any, element: str) -> tuple[Any, bool] | None:
        for field_name, info in cls.model_fields.items():
            if element in (info.alias, field_name):
                annotation, repeats = info.annotation, False
                while typing.get_args(annotation):  # unwrap Optional[List[Annotated[...]]]
                    repeats = repeats or typing.get_origin(annotation) is list
                    annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
                return annotation, repeats
        return None

    cls: Any = model_class(resource_type)
    steps = [s for s in _split(path) if re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", s)]
    if steps and steps[0] == resource_type:
        steps = steps[1:]
    for step in steps:
        found = field_type(cls, step)
        if found is None:
            return False
        type_name = getattr(found[0], "__name__", "").removesuffix("Type")
        try:
            cls = get_fhir_model_class(type_name)
        except ValueError:  # a primitive or an unknown type: nothing below it to walk
            return False
    found = field_type(cls, name)
    return found is not None and found[1]


_OPERATIONS = {"add": _add, "insert": _insert, "delete": _delete, "replace": _replace, "move": _move}
