"""Finding the few resources a decision needs, through the search index.

Every lookup starts from an identifier or a reference value and uses the index
tables' leading columns, so a decision reads a handful of rows however large the
store is. Only current, non-deleted resources count.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import orjson
from sqlalchemy import (
    Connection,
    Text,
    bindparam,
    or_,
    select,
    tuple_,
    type_coerce,
)

from fhirip.store.schema import resource, resource_link, search_reference, search_token

Ref = tuple[str, str]  # (resource type, id)


@dataclass
class Found:
    rid: int
    res_type: str
    res_id: str
    raw: Any  # the stored JSON, parsed only when a rule looks at it

    @property
    def ref(self) -> Ref:
        return self.res_type, self.res_id

    @cached_property
    def content(self) -> dict[str, Any]:
        return _content(self.raw)


def _content(value: Any) -> dict[str, Any]:
    if isinstance(value, (str, bytes)):
        return orjson.loads(value)
    return value or {}


def _found(rows: Iterable[Any]) -> list[Found]:
    seen: dict[int, Found] = {}
    for rid, res_type, res_id, content in rows:
        seen.setdefault(rid, Found(rid, res_type, res_id, content))
    return list(seen.values())


# The content as the driver returns it (text on SQLite, parsed JSONB on PostgreSQL),
# without the generic JSON type's decoding: orjson parses it, and only when needed.
_COLUMNS = (resource.c.rid, resource.c.res_type, resource.c.res_id, type_coerce(resource.c.content, Text))

# Built once: a decision runs these on every request, so they are compiled once and
# use plain IN lists that the (leading) index columns serve on both databases.
_BY_IDENTIFIER = (select(*_COLUMNS, search_token.c.system, search_token.c.code)
                  .join(search_token, search_token.c.rid == resource.c.rid)
                  .where(search_token.c.res_type.in_(bindparam("types", expanding=True)),
                         search_token.c.param == "identifier",
                         search_token.c.code.in_(bindparam("values", expanding=True)),
                         resource.c.deleted.is_(False)))
_REFERRING = (select(*_COLUMNS, search_reference.c.target_type, search_reference.c.target_id)
              .join(search_reference, search_reference.c.rid == resource.c.rid)
              .where(search_reference.c.target_id.in_(bindparam("ids", expanding=True)),
                     search_reference.c.target_type.in_(bindparam("target_types", expanding=True)),
                     search_reference.c.res_type == bindparam("res_type"),
                     search_reference.c.param == bindparam("param"), resource.c.deleted.is_(False)))
_REFERRING_BY_IDENTIFIER = (
    select(*_COLUMNS, search_reference.c.ident_system, search_reference.c.ident_value)
    .join(search_reference, search_reference.c.rid == resource.c.rid)
    .where(search_reference.c.res_type == bindparam("res_type"), search_reference.c.param == bindparam("param"),
           search_reference.c.ident_value.in_(bindparam("values", expanding=True)),
           resource.c.deleted.is_(False)))
_BY_IDS = select(*_COLUMNS).where(resource.c.res_type == bindparam("res_type"),
                                  resource.c.res_id.in_(bindparam("ids", expanding=True)),
                                  resource.c.deleted.is_(False))


def by_identifiers(conn: Connection, wanted: Collection[tuple[str, str, str]]) -> list[Found]:
    """Current resources with one of the (resource type, identifier system, value), in one query."""
    if not wanted:
        return []
    keys = set(wanted)
    rows = conn.execute(_BY_IDENTIFIER, {"types": sorted({t for t, _, _ in keys}),
                                         "values": sorted({v for _, _, v in keys})})
    return _found(row[:4] for row in rows if (row[1], row[4], row[5]) in keys)


def referring(conn: Connection, res_type: str, param: str, targets: Collection[Ref],
              identifiers: Collection[tuple[str, str]] = ()) -> list[Found]:
    """Current `res_type` resources whose reference parameter `param` points at a target,
    literally (Type/id) or logically (Reference.identifier system|value)."""
    rows: list[Any] = []
    wanted = set(targets)
    if wanted:
        result = conn.execute(_REFERRING, {"ids": sorted({i for _, i in wanted}),
                                           "target_types": sorted({t for t, _ in wanted}),
                                           "res_type": res_type, "param": param})
        rows += [row[:4] for row in result if (row[4], row[5]) in wanted]
    by_identifier = set(identifiers)
    if by_identifier:
        result = conn.execute(_REFERRING_BY_IDENTIFIER, {"values": sorted({v for _, v in by_identifier}),
                                                         "res_type": res_type, "param": param})
        rows += [row[:4] for row in result if (row[4], row[5]) in by_identifier]
    return _found(rows)


def by_ids(conn: Connection, refs: Collection[Ref]) -> list[Found]:
    found: list[Found] = []
    for res_type in sorted({t for t, _ in refs}):
        ids = sorted(i for t, i in refs if t == res_type)
        found += _found(conn.execute(_BY_IDS, {"res_type": res_type, "ids": ids}))
    return found


def local_ref(reference: Any) -> Ref | None:
    """`{"reference": "Patient/1"}` (or a URL ending in Type/id) → ("Patient", "1")."""
    if not isinstance(reference, dict):
        return None
    text = reference.get("reference")
    if not isinstance(text, str):
        return None
    return _split(text)


@lru_cache(maxsize=65536)
def _split(text: str) -> Ref | None:
    """The (type, id) at the end of a literal reference; decisions meet the same few
    thousand references again and again, so each is split once."""
    if text.startswith("#"):
        return None
    parts = text.split("/_history/")[0].rstrip("/").split("/")
    if len(parts) < 2 or not parts[-2][:1].isupper():
        return None
    return parts[-2], parts[-1]


def linking(conn: Connection, res_type: str, path: str, targets: Collection[Ref]) -> list[Found]:
    """Current `res_type` resources with a literal reference at `path` (an element path,
    any index) to one of the targets: for references no search parameter covers."""
    if not targets:
        return []
    query = (select(*_COLUMNS).join(resource_link, resource_link.c.rid == resource.c.rid)
             .where(tuple_(resource_link.c.target_type, resource_link.c.target_id).in_(sorted(targets)),
                    resource.c.res_type == res_type, resource.c.deleted.is_(False),
                    or_(resource_link.c.path == path, resource_link.c.path.like(f"{path}[%"))))
    return _found(conn.execute(query))
