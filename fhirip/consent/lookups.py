"""Finding the few resources a decision needs, through the search index.

Every lookup starts from an identifier or a reference value and uses the index
tables' leading columns, so a decision reads a handful of rows however large the
store is. Only current, non-deleted resources count.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, or_, select, tuple_

from fhirip.store.schema import resource, resource_link, search_reference, search_token

Ref = tuple[str, str]  # (resource type, id)


@dataclass(frozen=True)
class Found:
    rid: int
    res_type: str
    res_id: str
    content: dict[str, Any]

    @property
    def ref(self) -> Ref:
        return self.res_type, self.res_id


def _content(value: Any) -> dict[str, Any]:
    if isinstance(value, (str, bytes)):
        return orjson.loads(value)
    return value or {}


def _found(rows: Iterable[Any]) -> list[Found]:
    seen: dict[int, Found] = {}
    for rid, res_type, res_id, content in rows:
        seen.setdefault(rid, Found(rid, res_type, res_id, _content(content)))
    return list(seen.values())


_COLUMNS = (resource.c.rid, resource.c.res_type, resource.c.res_id, resource.c.content)


def by_identifier(conn: Connection, res_types: Collection[str], systems: Collection[str],
                  value: str) -> list[Found]:
    """Current resources of these types with an identifier system|value."""
    query = (select(*_COLUMNS).join(search_token, search_token.c.rid == resource.c.rid)
             .where(search_token.c.res_type.in_(list(res_types)), search_token.c.param == "identifier",
                    search_token.c.code == value, search_token.c.system.in_(list(systems)),
                    resource.c.deleted.is_(False)))
    return _found(conn.execute(query))


def referring(conn: Connection, res_type: str, param: str, targets: Collection[Ref],
              identifiers: Collection[tuple[str, str]] = ()) -> list[Found]:
    """Current `res_type` resources whose reference parameter `param` points at a target,
    literally (Type/id) or logically (Reference.identifier system|value)."""
    matches = []
    if targets:
        matches.append(tuple_(search_reference.c.target_type, search_reference.c.target_id)
                       .in_(sorted(targets)))
    if identifiers:
        matches.append(tuple_(search_reference.c.ident_system, search_reference.c.ident_value)
                       .in_(sorted(identifiers)))
    if not matches:
        return []
    query = (select(*_COLUMNS).join(search_reference, search_reference.c.rid == resource.c.rid)
             .where(search_reference.c.res_type == res_type, search_reference.c.param == param,
                    or_(*matches), resource.c.deleted.is_(False)))
    return _found(conn.execute(query))


def by_ids(conn: Connection, refs: Collection[Ref]) -> list[Found]:
    if not refs:
        return []
    query = select(*_COLUMNS).where(tuple_(resource.c.res_type, resource.c.res_id).in_(sorted(refs)),
                                    resource.c.deleted.is_(False))
    return _found(conn.execute(query))


def rids_of(conn: Connection, refs: Collection[Ref]) -> dict[Ref, int]:
    if not refs:
        return {}
    query = select(resource.c.res_type, resource.c.res_id, resource.c.rid).where(
        tuple_(resource.c.res_type, resource.c.res_id).in_(sorted(refs)), resource.c.deleted.is_(False))
    return {(t, i): rid for t, i, rid in conn.execute(query)}


def local_ref(reference: Any) -> Ref | None:
    """`{"reference": "Patient/1"}` (or a URL ending in Type/id) → ("Patient", "1")."""
    if not isinstance(reference, dict):
        return None
    text = reference.get("reference")
    if not isinstance(text, str) or text.startswith("#"):
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
