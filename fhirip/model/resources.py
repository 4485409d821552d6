"""Parse, check and serialise FHIR R4 JSON resources.

https://hl7.org/fhir/R4/json.html

The wire format is FHIR 4.0.1 JSON. Structure and datatypes are checked with the
`fhir.resources.R4B` models (R4B shares R4's JSON for the types both define);
the dict the client sent is kept as it was, so what is stored is what was sent
plus the server's `id` and `meta`.
"""

from __future__ import annotations

import json
import re
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from fhirip.errors import BadRequest, Issue, Unprocessable
from fhirip.model.json_types import check_json_types

SPEC_DIR = Path(__file__).resolve().parent.parent.parent / "spec" / "r4"

ID_PATTERN = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def _supported_types() -> frozenset[str]:
    """R4 resource types for which an R4B model exists (R4-only types lack one)."""
    import pkgutil

    import fhir.resources.R4B as r4b

    modules = {name for _, name, _ in pkgutil.iter_modules(r4b.__path__)}
    r4_types = json.loads((SPEC_DIR / "resource-types.json").read_text())
    return frozenset(t for t in r4_types if t.lower() in modules)


RESOURCE_TYPES: frozenset[str] = _supported_types()


def is_resource_type(name: str) -> bool:
    return name in RESOURCE_TYPES


def new_id() -> str:
    """A logical id for a resource the server names itself."""
    return str(uuid.uuid4())


def is_valid_id(value: str) -> bool:
    return bool(ID_PATTERN.match(value))


@lru_cache(maxsize=None)
def model_class(resource_type: str) -> Any:
    from fhir.resources.R4B import get_fhir_model_class

    return get_fhir_model_class(resource_type)


def parse_json(body: bytes) -> Any:
    """Bytes → JSON value, with a 400 that says where the JSON is broken."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"The body is not valid JSON: {exc}") from None


def parse_resource(body: bytes, expected_type: str | None = None) -> dict[str, Any]:
    """Parse a request body into a checked resource dict."""
    data = parse_json(body)
    return check_resource(data, expected_type)


def check_resource(data: Any, expected_type: str | None = None) -> dict[str, Any]:
    """Check that `data` is a structurally valid resource of a supported type."""
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object holding a FHIR resource")
    resource_type = data.get("resourceType")
    if not isinstance(resource_type, str):
        raise BadRequest("The resource has no resourceType", expression=["resourceType"])
    if expected_type is not None and resource_type != expected_type:
        raise BadRequest(
            f"The resourceType '{resource_type}' does not match the '{expected_type}' in the URL",
            expression=["resourceType"],
        )
    if not is_resource_type(resource_type):
        raise BadRequest(f"Unknown or unsupported resource type '{resource_type}'",
                         expression=["resourceType"])
    if "id" in data and (not isinstance(data["id"], str) or not is_valid_id(data["id"])):
        raise BadRequest("The id must be 1-64 characters of A-Z, a-z, 0-9, '-' and '.'",
                         expression=[f"{resource_type}.id"])
    check_json_types(data)
    try:
        model_class(resource_type).model_validate(data)
    except ValidationError as exc:
        raise_validation_error(resource_type, exc)
    except (KeyError, TypeError) as exc:  # the models fail this way on shapes they do not expect
        raise BadRequest(f"The {resource_type} cannot be parsed: {exc!r}") from None
    return data


# Pydantic error types that mean the JSON does not have FHIR's shape at all
# (unknown element, object where a list belongs): 400. Everything else is a
# value that breaks a datatype or cardinality rule: 422.
_STRUCTURAL = ("extra_forbidden", "list_type", "dict_type", "model_type", "model_attributes_type")


def raise_validation_error(resource_type: str, exc: ValidationError) -> None:
    issues: list[Issue] = []
    structural = False
    for error in exc.errors():
        kind = error.get("type", "")
        path = fhirpath_of(resource_type, error.get("loc", ()))
        if kind == "extra_forbidden":
            message = f"Unknown element '{path}'"
            code = "structure"
        else:
            message = f"{path}: {error.get('msg', 'invalid value')}"
            code = "structure" if kind in _STRUCTURAL else "value"
            if kind == "model_field_validation.missing" or "required" in error.get("msg", ""):
                code = "required"
        structural = structural or kind in _STRUCTURAL
        issues.append(Issue("error", code, message, (path,)))
    error_type = BadRequest if structural else Unprocessable
    raise error_type(issues[0].diagnostics, issues=issues)


def fhirpath_of(resource_type: str, loc: tuple[Any, ...]) -> str:
    """('name', 0, 'given') → 'Patient.name[0].given'."""
    path = resource_type
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif isinstance(part, str) and not part.startswith("function-") and part != "__root__":
            path += f".{part.removesuffix('__ext')}"
    return path


def canonical_bytes(resource: dict[str, Any]) -> bytes:
    """The stored form: compact JSON, resourceType, id and meta first."""
    head = {k: resource[k] for k in ("resourceType", "id", "meta") if k in resource}
    ordered = head | {k: v for k, v in resource.items() if k not in head}
    return orjson.dumps(ordered)


def pretty(body: bytes) -> bytes:
    return orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2)
