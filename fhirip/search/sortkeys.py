"""Sort keys: each resource's lowest and highest value of an ordered parameter, as text.

https://hl7.org/fhir/R4/search.html#sort

`_sort` on a date, string, number or quantity parameter reads `search_sort`, one
row per resource and parameter, whose `low` and `high` columns hold the values
as order-preserving text: byte order of the text is the order of the values, so
one index serves every type and a sorted first page is an index walk that stops
at the page bound. Ascending sorts use the lowest value, descending the highest;
dates sort on the start of their range both ways (see `sorting`). Token,
reference and uri parameters have no sort row: sorting on them computes the key
per match (correct, but it costs time in the number of matches).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, insert, select, func

from fhirip.store.schema import search_date, search_number, search_quantity, search_sort, search_string

# parameter type → the index row field its sort key comes from
SORTED_COLUMNS: dict[str, str] = {"date": "low", "string": "value", "number": "value",
                                  "quantity": "value"}


def encode_instant(moment: datetime) -> str:
    """Fixed width, so text order is time order (years 0001-9999)."""
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:"
            f"{moment.minute:02d}:{moment.second:02d}.{moment.microsecond:06d}")


def encode_number(number: float) -> str:
    """IEEE 754 bits, sign-adjusted so that unsigned order is numeric order, in hex."""
    bits = struct.unpack(">Q", struct.pack(">d", float(number) + 0.0))[0]  # + 0.0: no -0.0
    bits = bits ^ 0xFFFFFFFFFFFFFFFF if bits >> 63 else bits | (1 << 63)
    return f"{bits:016x}"


def encode(param_type: str, value: Any) -> str:
    if param_type == "date":
        return encode_instant(value)
    if param_type == "string":
        return value
    return encode_number(value)


def sort_rows(res_type: str, typed_rows: Iterable[tuple[str, list[dict[str, Any]]]]
              ) -> list[dict[str, Any]]:
    """One sort row per parameter from a resource's index rows, given as (type, rows)."""
    keys: dict[str, list[str]] = {}
    for param_type, rows in typed_rows:
        column = SORTED_COLUMNS.get(param_type)
        if column is None:
            continue
        for row in rows:
            if row["grp"]:  # composite components are not sortable
                continue
            key = encode(param_type, row[column])
            bounds = keys.get(row["param"])
            if bounds is None:
                keys[row["param"]] = [key, key]
            elif key < bounds[0]:
                bounds[0] = key
            elif key > bounds[1]:
                bounds[1] = key
    return [{"res_type": res_type, "param": param, "low": low, "high": high}
            for param, (low, high) in keys.items()]


_SOURCES: tuple[tuple[str, Table, str], ...] = (
    ("date", search_date, "low"), ("string", search_string, "value"),
    ("number", search_number, "value"), ("quantity", search_quantity, "value"))


def _grouped(conn: Connection, table: Table, column: str) -> Iterator[Any]:
    value = table.c[column]
    yield from conn.execute(
        select(table.c.rid, table.c.res_type, table.c.param, func.min(value), func.max(value))
        .where(table.c.grp == 0).group_by(table.c.rid, table.c.res_type, table.c.param))


def rebuild_sort_keys(conn: Connection, batch_size: int = 10_000) -> int:
    """Fill `search_sort` from the index tables (for an index written before it existed)."""
    conn.execute(search_sort.delete())
    written, batch = 0, []
    for param_type, table, column in _SOURCES:
        for rid, res_type, param, low, high in _grouped(conn, table, column):
            batch.append({"rid": rid, "res_type": res_type, "param": param,
                          "low": encode(param_type, low), "high": encode(param_type, high)})
            if len(batch) >= batch_size:
                conn.execute(insert(search_sort), batch)
                written, batch = written + len(batch), []
    if batch:
        conn.execute(insert(search_sort), batch)
    return written + len(batch)
