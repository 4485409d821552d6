"""Set and get values inside FHIR JSON by the small path language of the mapping specs.

A path is dot-separated segments, each one of
  ``name``          a plain element (``description``),
  ``name[i]``       the i-th item of a list (``identifier[0]``),
  ``name(key)``     the list item whose discriminator equals ``key``; created when missing.

Discriminators by list name: ``extension`` → ``url`` (a bare name is expanded to
``{STRUCTURE_DEFINITION}/<name>``), ``identifier``/``telecom`` → ``system``,
``item`` → ``linkId``, ``input``/``output`` → ``type.text``; any other list → ``system``.
The specs stay declarative (``detail.extension(ip-measure-status).valueCode``), and the
same path reads the value back on export.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from fhirip.canonical import STRUCTURE_DEFINITION

_SEGMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\]|\(([^()]*)\))?")

_DISCRIMINATOR = {"extension": ("url",), "identifier": ("system",), "telecom": ("system",),
                  "item": ("linkId",), "input": ("type", "text"), "output": ("type", "text")}


@dataclass(frozen=True)
class Segment:
    name: str
    index: int | None = None
    key: str | None = None


class PathError(ValueError):
    """A path in a mapping spec that the path language cannot read."""


@lru_cache(maxsize=None)
def parse_path(path: str) -> tuple[Segment, ...]:
    segments: list[Segment] = []
    position = 0
    while position < len(path):
        match = _SEGMENT.match(path, position)
        if not match:
            raise PathError(f"cannot read path {path!r} at character {position}")
        name, index, key = match.groups()
        if key is not None and name == "extension" and "/" not in key:
            key = f"{STRUCTURE_DEFINITION}/{key}"
        segments.append(Segment(name, int(index) if index is not None else None, key))
        position = match.end()
        if position < len(path):
            if path[position] != ".":
                raise PathError(f"expected '.' in path {path!r} at character {position}")
            position += 1
    return tuple(segments)


def _discriminator(list_name: str) -> tuple[str, ...]:
    return _DISCRIMINATOR.get(list_name, ("system",))


def _item_key(item: Any, fields: tuple[str, ...]) -> Any:
    for field in fields:
        if not isinstance(item, dict):
            return None
        item = item.get(field)
    return item


def _new_keyed_item(fields: tuple[str, ...], key: str) -> dict[str, Any]:
    item: dict[str, Any] = {}
    cursor = item
    for field in fields[:-1]:
        cursor = cursor.setdefault(field, {})
    cursor[fields[-1]] = key
    return item


def _child(container: dict[str, Any], segment: Segment, create: bool) -> Any:
    if segment.index is None and segment.key is None:
        if segment.name not in container and create:
            container[segment.name] = {}
        return container.get(segment.name)
    items = container.get(segment.name)
    if items is None:
        if not create:
            return None
        items = container[segment.name] = []
    if segment.index is not None:
        while create and len(items) <= segment.index:
            items.append({})
        return items[segment.index] if segment.index < len(items) else None
    fields = _discriminator(segment.name)
    for item in items:
        if _item_key(item, fields) == segment.key:
            return item
    if not create:
        return None
    item = _new_keyed_item(fields, segment.key)  # type: ignore[arg-type]
    items.append(item)
    return item


def set_value(target: dict[str, Any], path: str, value: Any) -> None:
    """Put value at path, creating the elements on the way."""
    segments = parse_path(path)
    cursor = target
    for segment in segments[:-1]:
        cursor = _child(cursor, segment, create=True)
    last = segments[-1]
    if last.index is None and last.key is None:
        cursor[last.name] = value
        return
    slot = _child(cursor, last, create=True)
    if isinstance(value, dict):
        slot.update(value)
    else:  # a primitive in a list slot: replace the placeholder
        items = cursor[last.name]
        items[items.index(slot)] = value


def get_value(source: dict[str, Any] | None, path: str) -> Any:
    """Read the value at path, or None when any step is missing."""
    cursor: Any = source
    for segment in parse_path(path):
        if not isinstance(cursor, dict):
            return None
        cursor = _child(cursor, segment, create=False)
        if cursor is None:
            return None
    return cursor
