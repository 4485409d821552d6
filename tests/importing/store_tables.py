"""A store's resource, version, link and search index tables, with what differs between equal stores
taken out: row numbers and server-assigned ids become the business identity of the resource,
write times are dropped. Two stores that took the same plans give equal views."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import orjson
from sqlalchemy import Table, select

from fhirip.context import Services
from fhirip.store import schema

INDEX_TABLES: tuple[Table, ...] = (schema.search_string, schema.search_token, schema.search_reference,
                                   schema.search_date, schema.search_number, schema.search_quantity,
                                   schema.search_uri, schema.search_sort)
_ASSIGNED_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}")  # new_id(): uuid4
_WRITE_TIMES = ("last_updated",)
_TIME_PARAMS = {"_lastUpdated"}


def _content(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return orjson.loads(bytes(value))
    return value if isinstance(value, dict) else orjson.loads(value)


def _identity(resource: dict[str, Any]) -> str:
    identifiers = resource.get("identifier") or []
    identifiers = [identifiers] if isinstance(identifiers, dict) else identifiers
    keys = sorted(f"{i.get('system')}|{i.get('value')}" for i in identifiers)
    return f"{resource['resourceType']}[{','.join(keys)}]" if keys else f"{resource['resourceType']}/{resource['id']}"


def _without_ids(value: Any, identities: dict[str, str]) -> Any:
    if isinstance(value, str):
        return _ASSIGNED_ID.sub(lambda m: identities.get(m.group(0), m.group(0)), value)
    if isinstance(value, dict):
        return {k: _without_ids(v, identities) for k, v in value.items()
                if not (k == "lastUpdated" and isinstance(v, str))}
    if isinstance(value, (list, tuple)):
        return [_without_ids(v, identities) for v in value]
    return value


def table_views(services: Services) -> dict[str, Counter[str]]:
    """Each table as a multiset of normalised rows."""
    with services.store.engine.connect() as conn:
        resources = conn.execute(select(schema.resource)).mappings().all()
        identities: dict[str, str] = {}
        by_rid: dict[int, str] = {}
        for row in resources:
            content = _content(row["content"]) or {"resourceType": row["res_type"], "id": row["res_id"]}
            identities[row["res_id"]] = by_rid[row["rid"]] = _identity(content)
        views: dict[str, Counter[str]] = {}
        for table in (schema.resource, schema.resource_version, schema.resource_link, *INDEX_TABLES):
            rows: Counter[str] = Counter()
            for row in conn.execute(select(table)).mappings():
                if row.get("param") in _TIME_PARAMS:
                    continue
                shown = {}
                for column, value in row.items():
                    if column in ("rid", "seq") or column in _WRITE_TIMES:
                        continue
                    if column == "content":
                        value = _content(value)
                    shown[str(column)] = _without_ids(value, identities)
                shown["of"] = by_rid.get(row["rid"]) if "rid" in row else None
                rows[orjson.dumps(shown, option=orjson.OPT_SORT_KEYS, default=str).decode()] += 1
            views[table.name] = rows
    return views
