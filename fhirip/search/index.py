"""Writing the search index: every parameter's values, extracted by its FHIRPath expression.

https://hl7.org/fhir/R4/search.html#ptypes

The store calls `write_index` inside its write transaction, so the index never
disagrees with the current version; a deleted resource keeps the rows of the version
it deleted (searches leave deleted rows out; the access condition judges them). Each value becomes one
row in the table of its parameter type; how a FHIR data type turns into rows
follows the mapping table of the specification (e.g. a CodeableConcept gives
one token row per coding, a Period one date row from start to end).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from fhirpathpy.engine.nodes import ResourceNode
from sqlalchemy import Connection, Table, delete, select

from fhirip.search.index_ahead import rows_by_table_name
from fhirip.search.index_sql import insert_rows
from fhirip.search.registry import RESOURCE_COLUMN_PARAMS, Registry, SearchParam, registry
from fhirip.search.sortkeys import sort_rows
from fhirip.search.values import (
    MAX_INSTANT,
    MAX_VERSION_CHARS,
    MIN_INSTANT,
    cut,
    date_range,
    is_local_target,
    normalise_string,
)
from fhirip.store.schema import (
    resource,
    resource_version,
    search_date,
    search_number,
    search_quantity,
    search_reference,
    search_sort,
    search_string,
    search_token,
    search_uri,
)

log = logging.getLogger("fhirip.search")

TABLES: dict[str, Table] = {
    "string": search_string, "token": search_token, "reference": search_reference,
    "date": search_date, "number": search_number, "quantity": search_quantity, "uri": search_uri,
}
# Everything written per resource: the value tables and the sort keys derived from them.
INDEX_TABLES = (*TABLES.values(), search_sort)
_TABLE_BY_NAME = {table.name: table for table in INDEX_TABLES}

_NAME_PARTS = ("text", "family", "given", "prefix", "suffix")
_ADDRESS_PARTS = ("text", "line", "city", "district", "state", "postalCode", "country")
_NOT_TEXT = frozenset({"system", "use", "url", "id", "extension", "reference", "type"})


# -- values to rows, per parameter type ------------------------------------------------

def string_rows(value: Any) -> Iterator[dict[str, Any]]:
    for text in _string_leaves(value):
        if text.strip():
            yield {"value": normalise_string(text), "exact": text}


def _string_leaves(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        keys = _NAME_PARTS if "family" in value or "given" in value else (
            _ADDRESS_PARTS if "city" in value or "line" in value or "postalCode" in value
            else [k for k in value if k not in _NOT_TEXT])
        for key in keys:
            yield from _string_leaves(value.get(key))
    elif isinstance(value, list):
        for item in value:
            yield from _string_leaves(item)


def token_rows(value: Any) -> Iterator[dict[str, Any]]:
    empty = {"system": None, "code": None, "text": None, "type_system": None, "type_code": None}
    if isinstance(value, bool):
        yield {**empty, "code": "true" if value else "false"}
    elif isinstance(value, (str, int, Decimal, float)):
        yield {**empty, "code": cut(str(value))}
    elif isinstance(value, dict):
        if "coding" in value or ("text" in value and "code" not in value and "value" not in value):
            for coding in value.get("coding") or ():
                yield from token_rows(coding)
            if value.get("text"):
                yield {**empty, "text": normalise_string(value["text"])}
        elif "code" in value:  # Coding (and Quantity used as a token)
            yield {**empty, "system": _opt(value.get("system")), "code": cut(str(value["code"])),
                   "text": normalise_string(value["display"]) if value.get("display") else None}
        elif "value" in value:  # Identifier, ContactPoint
            row = {**empty, "system": _opt(value.get("system")), "code": cut(str(value["value"]))}
            type_codings = (value.get("type") or {}).get("coding") or () if isinstance(
                value.get("type"), dict) else ()
            if isinstance(value.get("type"), dict) and value["type"].get("text"):
                row["text"] = normalise_string(value["type"]["text"])
            if not type_codings:
                yield row
            for coding in type_codings:
                yield {**row, "type_system": _opt(coding.get("system")),
                       "type_code": _opt(coding.get("code"))}


def reference_rows(value: Any, resolve_types: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    row = {"target_type": None, "target_id": None, "url": None, "url_version": None,
           "ident_system": None, "ident_value": None}
    if isinstance(value, str):  # canonical or uri used as a reference
        reference, identifier = value, None
    elif isinstance(value, dict):
        reference, identifier = value.get("reference"), value.get("identifier")
    else:
        return
    if reference and not reference.startswith("#"):
        row.update(_split_reference(reference))
        if resolve_types and _reference_type(row) not in resolve_types:
            return
    elif resolve_types and not (isinstance(value, dict) and value.get("type") in resolve_types):
        return
    if isinstance(identifier, dict) and identifier.get("value"):
        row["ident_system"] = _opt(identifier.get("system"))
        row["ident_value"] = cut(identifier["value"])
    if any(row.values()):
        yield row


def _split_reference(reference: str) -> dict[str, Any]:
    """Local `Type/id` → target; anything absolute/canonical → url (+ version)."""
    parts = reference.split("/")
    if "://" not in reference and not reference.startswith("urn:") and len(parts) in (2, 4) \
            and is_local_target(parts[0], parts[1]):
        return {"target_type": parts[0], "target_id": parts[1]}
    url, _, version = reference.partition("|")
    if "/_history/" in url:
        url = url.split("/_history/")[0]
    return {"url": cut(url), "url_version": version[:MAX_VERSION_CHARS] or None}


def _reference_type(row: dict[str, Any]) -> str | None:
    if row["target_type"]:
        return row["target_type"]
    parts = (row["url"] or "").rstrip("/").split("/")
    return parts[-2] if len(parts) >= 2 else None


def date_rows(value: Any) -> Iterator[dict[str, Any]]:
    bounds = _date_bounds(value)
    if bounds:
        yield {"low": bounds[0], "high": bounds[1]}


def _date_bounds(value: Any) -> tuple[datetime, datetime] | None:
    if isinstance(value, str):
        try:
            return date_range(value)
        except ValueError:
            return None
    if not isinstance(value, dict):
        return None
    if "start" in value or "end" in value:  # Period: an open end is unbounded
        low = date_range(value["start"])[0] if value.get("start") else MIN_INSTANT
        high = date_range(value["end"])[1] if value.get("end") else MAX_INSTANT
        return low, high
    # Timing: from the first event (or bounds start) to the last (or bounds end)
    ranges = [date_range(e) for e in value.get("event") or () if isinstance(e, str)]
    bounds = (value.get("repeat") or {}).get("boundsPeriod")
    if bounds:
        ranges.append(_date_bounds(bounds))  # type: ignore[arg-type]
    if not ranges:
        return None
    return min(r[0] for r in ranges), max(r[1] for r in ranges)


def number_rows(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        yield {"value": float(value)}


def quantity_rows(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict) and isinstance(value.get("value"), (int, float, Decimal)):
        yield {"value": float(value["value"]), "system": _opt(value.get("system")),
               "code": _opt(value.get("code")), "unit": _opt(value.get("unit"))}


def uri_rows(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, str) and value:
        yield {"value": cut(value)}


def _opt(value: Any) -> str | None:
    return cut(str(value)) if value not in (None, "") else None


def rows_for(param_type: str, value: Any, resolve_types: tuple[str, ...] = ()) -> Iterator[dict]:
    if param_type == "reference":
        return reference_rows(value, resolve_types)
    return _ROW_MAKERS[param_type](value)


_ROW_MAKERS = {"string": string_rows, "token": token_rows, "date": date_rows,
               "number": number_rows, "quantity": quantity_rows, "uri": uri_rows}


# -- extraction --------------------------------------------------------------------------

def extract(reg: Registry, res_type: str, resource_json: dict[str, Any]) -> dict[Table, list[dict]]:
    """All index rows of one resource, by table (without rid), sort keys included."""
    rows: dict[Table, list[dict]] = {table: [] for table in INDEX_TABLES}
    for code, param in _indexed_params(reg, res_type):
        try:
            found = _param_rows(reg, res_type, code, param, resource_json)
        except Exception:  # noqa: BLE001 - a definition's expression, not the resource, failed
            # A valid resource is stored whatever a search parameter's expression does with it;
            # it is then not found by that one parameter, and the log says which.
            log.warning("search parameter %s could not be extracted from a %s; not indexed",
                        param.url, res_type, exc_info=True)
            continue
        for table, new_rows in found.items():
            rows[table].extend(new_rows)
    rows[search_sort] = sort_rows(res_type, ((kind, rows[table]) for kind, table in TABLES.items()))
    return rows


def _param_rows(reg: Registry, res_type: str, code: str, param: SearchParam,
                resource_json: dict[str, Any]) -> dict[Table, list[dict]]:
    """The index rows of one parameter of one resource."""
    extractor = reg.extractor(res_type, param)
    assert extractor is not None
    values = extractor.evaluate(resource_json)
    if param.type == "composite":
        return _composite_rows(reg, res_type, param, values, resource_json)
    target: list[dict] = []
    seen = set()
    for value in values:
        for row in rows_for(param.type, value, extractor.resolve_types):
            key = tuple(row.values())
            if key not in seen:  # the same value twice is one match, one row
                seen.add(key)
                row.update(res_type=res_type, param=code, grp=0)
                target.append(row)
    return {TABLES[param.type]: target}


def _composite_rows(reg: Registry, res_type: str, param: SearchParam, items: list[Any],
                    resource_json: dict[str, Any]) -> dict[Table, list[dict]]:
    """Each item of a composite gets a group number; its components share it. A component's
    expression may name the whole resource as `%resource`."""
    rows: dict[Table, list[dict]] = {}
    base = _base_path(reg.expression(res_type, param) or res_type)
    environment = {"resource": resource_json}
    for group, item in enumerate(items, start=1):
        node = ResourceNode.create_node(item, base) if base != res_type else item
        for position, component in enumerate(param.components):
            component_param = reg.by_url[component.definition]
            for value in reg.component_extractor(component.expression)(node, environment):
                for row in rows_for(component_param.type, value):
                    row.update(res_type=res_type, param=f"{param.code}${position}", grp=group)
                    rows.setdefault(TABLES[component_param.type], []).append(row)
    return rows


def _base_path(expression: str) -> str:
    """`Observation.component.where(...)` → `Observation.component` (the items' type path)."""
    path = expression.split("|")[0].strip().strip("()")
    return ".".join(p for p in path.split(".") if "(" not in p and ")" not in p)


_PARAM_CACHE: dict[str, list[tuple[str, SearchParam]]] = {}


def _indexed_params(reg: Registry, res_type: str) -> list[tuple[str, SearchParam]]:
    params = _PARAM_CACHE.get(res_type)
    if params is None:
        params = [(code, p) for code, p in sorted(reg.params_for(res_type).items())
                  if code not in RESOURCE_COLUMN_PARAMS]
        _PARAM_CACHE[res_type] = params
    return params


# -- the store's entry points (`fhirip.store.Indexer`) ----------------------------------------

# A resource's rows as the store keeps them until it writes them: by table name, each row the
# values of the table's columns after `rid` (which is known only then).
IndexRows = dict[str, list[tuple[Any, ...]]]


def prepare(res_type: str, resource: dict[str, Any], ahead: IndexRows | None = None) -> IndexRows:
    """The index rows of one version, extracted when the write is made (before any lock), or
    `ahead`: rows extracted from exactly this content elsewhere, taken as they are."""
    return ahead if ahead is not None else rows_by_table_name(res_type, resource)


def write_index(conn: Connection, rid: int, res_type: str, resource: dict[str, Any],
                prepared: IndexRows | None = None) -> None:
    """Replace all index rows of `rid` with those of its new version."""
    insert_rows(conn, [_with_rid(rid, res_type, resource, prepared)], tables=INDEX_TABLES, replacing=rid)


def write_new_indexes(conn: Connection, items: Sequence[tuple[int, str, dict[str, Any], IndexRows | None]]) -> None:
    """Index rows of resources created in this transaction: one statement per table for them all."""
    insert_rows(conn, [_with_rid(rid, res_type, content, rows) for rid, res_type, content, rows in items])


def _with_rid(rid: int, res_type: str, content: dict[str, Any], rows: IndexRows | None) -> dict[Table, list[tuple]]:
    return {_TABLE_BY_NAME[name]: [(rid, *values) for values in found]
            for name, found in (rows if rows is not None else prepare(res_type, content)).items()}


def deleted(conn: Connection, rid: int) -> None:
    """A deletion keeps the index rows of the version it deleted: every search and lookup leaves
    deleted resources out, while the access condition judges the deletion by them (its 410 and its
    history go to exactly those who could see that version)."""


def delete_index(conn: Connection, rid: int) -> None:
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    for table in INDEX_TABLES:  # straight to the driver: one small statement per table, on every update
        conn.exec_driver_sql(f"DELETE FROM {table.name} WHERE rid = {mark}", (rid,))


def _insert_index(conn: Connection, rid: int, res_type: str, resource: dict[str, Any]) -> None:
    write_new_indexes(conn, [(rid, res_type, resource, None)])


def reindex_all(conn: Connection, batch_size: int = 500) -> int:
    """Rebuild the whole index from the current versions (a deleted resource from the version
    it deleted, as `Tx.delete` leaves it); returns the number indexed."""
    for table in INDEX_TABLES:
        conn.execute(delete(table))
    count, last_rid = 0, 0
    while True:
        batch = conn.execute(
            select(resource.c.rid, resource.c.res_type, resource.c.content, resource.c.deleted)
            .where(resource.c.rid > last_rid)
            .order_by(resource.c.rid).limit(batch_size)).all()
        if not batch:
            return count
        for rid, res_type, content, deleted in batch:
            if deleted:
                content = _last_content(conn, rid)
                if content is None:
                    continue
            if isinstance(content, (str, bytes)):
                content = orjson.loads(content)
            _insert_index(conn, rid, res_type, content)
            count += 1
        last_rid = batch[-1][0]


def _last_content(conn: Connection, rid: int) -> bytes | None:
    """The content of the newest version of `rid` that has any (the one a deletion deleted)."""
    return conn.execute(select(resource_version.c.content)
                        .where(resource_version.c.rid == rid, resource_version.c.content.is_not(None))
                        .order_by(resource_version.c.version.desc()).limit(1)).scalar()
