"""The JSON type of every element must be the one FHIR JSON prescribes.

https://hl7.org/fhir/R4/json.html#primitive

The R4B models coerce in lax mode ("true" → True, "2" → 2), so a boolean sent as
a string would pass them. This walk checks the JSON types themselves against the
models' element types: booleans are JSON true/false, integers and decimals JSON
numbers, everything else a JSON string; null and an empty array are not values.
"""

from __future__ import annotations

import datetime
import decimal
import re
import typing
from functools import cache
from typing import Any

from fhirip.errors import BadRequest, Issue, Unprocessable

# What a JSON value of each Python base type must be (bool is an int in Python: checked first).
_JSON_TYPES: dict[type, tuple[str, tuple[type, ...]]] = {
    bool: ("a JSON boolean (true or false)", (bool,)),
    int: ("a JSON integer", (int,)),
    decimal.Decimal: ("a JSON number", (int, float)),
    str: ("a JSON string", (str,)),
    bytes: ("a JSON string (base64)", (str,)),
    datetime.date: ("a JSON string", (str,)),
    datetime.datetime: ("a JSON string", (str,)),
    datetime.time: ("a JSON string", (str,)),
}

# https://hl7.org/fhir/R4/datatypes.html#integer: a signed 32-bit number.
INTEGER_RANGE = range(-2**31, 2**31)

# https://hl7.org/fhir/R4/datatypes.html#string: no characters below U+0020 except tab, CR and LF.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


@cache
def _elements(type_name: str) -> dict[str, tuple[Any, bool]] | None:
    """JSON name → (base type, repeats) for a FHIR type; None when no model has that name."""
    from fhir.resources.R4B import get_fhir_model_class

    try:
        cls = get_fhir_model_class(type_name)
    except ValueError:  # not a complex type or resource the models know
        return None
    elements = {}
    for name, info in cls.model_fields.items():
        annotation, repeats = info.annotation, False
        while typing.get_args(annotation):  # Optional[List[Annotated[T, ...]]] → T
            repeats = repeats or typing.get_origin(annotation) in (list, list)
            if typing.get_origin(annotation) is typing.Annotated:
                annotation = typing.get_args(annotation)[0]
                break
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        elements[info.alias or name] = (annotation, repeats)
    return elements


def check_json_types(resource: dict[str, Any]) -> None:
    """Raise BadRequest naming the first element whose JSON type is wrong (422 for a control character)."""
    _check_resource(resource, resource["resourceType"], resource["resourceType"])


def _check_resource(value: Any, type_name: str, path: str) -> None:
    if not isinstance(value, dict):
        raise _structure(f"{path} must be a JSON object", path)
    _check_object(value, type_name, path)


def _check_object(value: dict[str, Any], type_name: str, path: str) -> None:
    elements = _elements(type_name)
    if elements is None:
        return
    for key, item in value.items():
        if key == "resourceType":
            continue
        if key.startswith("_"):  # a primitive's id and extensions: an Element (or a list of them)
            elements_of = item if isinstance(item, list) else [item]
            for index, element in enumerate(elements_of):
                if isinstance(element, dict):
                    suffix = f"[{index}]" if isinstance(item, list) else ""
                    _check_object(element, "Element", f"{path}.{key}{suffix}")
            continue
        found = elements.get(key)
        if found is None:
            continue  # unknown elements are reported by the models, with their path
        base, repeats = found
        where = f"{path}.{key}"
        if repeats and isinstance(item, list):
            if not item:
                raise _structure(f"{where} is an empty array; FHIR JSON leaves out an element "
                                 "that has no value", where)
            for index, element in enumerate(item):
                # In a repeating primitive, null holds the place of a value that only has an extension.
                if element is None and f"_{key}" in value:
                    continue
                _check_value(element, base, f"{where}[{index}]")
        else:
            _check_value(item, base, where)


def _check_value(value: Any, base: Any, path: str) -> None:
    if value is None:
        raise _structure(f"{path} is null; FHIR JSON leaves out an element that has no value", path)
    if base in _JSON_TYPES:
        wanted, json_types = _JSON_TYPES[base]
        if not isinstance(value, json_types) or (base is not bool and isinstance(value, bool)):
            raise _structure(f"{path} must be {wanted}, not {_json_name(value)}", path)
        if base is int and value not in INTEGER_RANGE:
            message = f"{path} is {value}, out of the range of a FHIR integer (32 bits)"
            raise Unprocessable(message, issues=[Issue("error", "value", message, (path,))])
        if isinstance(value, str) and _CONTROL.search(value):
            message = (f"{path} contains a control character; FHIR strings allow only tab, "
                       "carriage return and line feed below U+0020")
            raise Unprocessable(message, issues=[Issue("error", "value", message, (path,))])
        return
    type_name = getattr(base, "__name__", "").removesuffix("Type")
    if type_name == "Resource":  # contained, Bundle.entry.resource, Parameters.parameter.resource
        if not isinstance(value, dict):
            raise _structure(f"{path} must be a JSON object holding a resource", path)
        _check_contained(value, path)
        return
    if isinstance(value, dict):
        _check_object(value, type_name, path)
    # Anything else (a list where one value belongs, a string where an object belongs) is
    # a structural error the models report with its path.


def _check_contained(value: dict[str, Any], path: str) -> None:
    from fhirip.model.resources import is_resource_type

    kind = value.get("resourceType")
    if not isinstance(kind, str) or not is_resource_type(kind):
        raise _structure(f"{path}.resourceType '{kind}' is not a known resource type",
                         f"{path}.resourceType")
    _check_object(value, kind, path)


def _structure(message: str, path: str) -> BadRequest:
    return BadRequest(message, issues=[Issue("error", "structure", message, (path,))])


def _json_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
