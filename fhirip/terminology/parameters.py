"""Building and reading FHIR Parameters resources for the terminology operations.

https://hl7.org/fhir/R4/parameters.html
"""

from __future__ import annotations

from typing import Any

from fhirip.errors import BadRequest

Part = dict[str, Any]


def part(name: str, value_type: str, value: Any) -> Part:
    """One parameter, e.g. part("result", "Boolean", True) -> {"name": "result", "valueBoolean": true}."""
    return {"name": name, f"value{value_type}": value}


def parts(name: str, *children: Part | None) -> Part:
    return {"name": name, "part": [c for c in children if c is not None]}


def parameters(*items: Part | None) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": [p for p in items if p is not None]}


def coding(system: str | None, code: str, display: str | None = None,
           version: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if system:
        out["system"] = system
    if version:
        out["version"] = version
    out["code"] = code
    if display:
        out["display"] = display
    return out


def get(params: dict[str, Any], name: str) -> Any:
    """The value of a named output parameter (first occurrence), or None."""
    for item in params.get("parameter", []):
        if item.get("name") == name:
            for key, value in item.items():
                if key.startswith("value") or key == "resource":
                    return value
            return item.get("part")
    return None


def parse_coding_token(text: str, name: str) -> dict[str, Any]:
    """A Coding given in a query string as `system|code` (or `code`)."""
    system, bar, code = text.rpartition("|")
    if not code:
        raise BadRequest(f"Parameter '{name}': expected system|code, got '{text}'", (name,))
    return coding(system if bar else None, code)
