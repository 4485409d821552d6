"""Sending index rows to the database: many rows of one table in one statement, straight to the
driver (an executemany on SQLite; on PostgreSQL at most two statements whatever the tables, one
clearing the rows a new version replaces and one filling every table from arrays of values, or,
for thousands of rows at once, a COPY per table)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table

from fhirip.store.engine import copied_insert, driver_insert, driver_values, unnested_insert

# PostgreSQL: from this many rows at once (the audit journal moves hundreds of events, each with
# a score of rows), a COPY per table costs less than one statement of arrays; below, its
# statements, one per table, cost more than they save.
COPIED_FROM_ROWS = 500


def insert_rows(conn: Connection, per_resource: Sequence[dict[Table, list[dict] | list[tuple]]],
                tables: Sequence[Table] = (), replacing: int | None = None) -> None:
    """The index rows of several resources (per resource: table → rows), one statement per table.
    A row is a dict by column name, or a tuple of every column's value in the table's order.
    `replacing`: the resource whose rows in `tables` are deleted first (its new version's rows)."""
    batch: dict[Table, list[Any]] = {}
    for rows in per_resource:
        for table, found in rows.items():
            if found:
                batch.setdefault(table, []).extend(found)
    if conn.dialect.name == "postgresql":
        if tables and replacing is not None:
            _delete_in_one_statement(conn, tables, replacing)
        if sum(len(rows) for rows in batch.values()) >= COPIED_FROM_ROWS:
            _copy_rows(conn, batch)
        else:
            _unnest_rows(conn, batch)
        return
    for table in tables if replacing is not None else ():
        conn.exec_driver_sql(f"DELETE FROM {table.name} WHERE rid = ?", (replacing,))
    for table, rows in batch.items():
        statement, columns = driver_insert(table, conn.dialect)
        # Straight to the driver: the rows are plain values in the table's column order
        # (dates through the dialect's own conversion), so SQLAlchemy's per-row parameter
        # processing, which costs more than the insert itself, is left out.
        conn.exec_driver_sql(statement, driver_values([_as_tuple(row, columns) for row in rows], columns))


def _as_tuple(row: dict | tuple, columns: list[tuple[str, Any]]) -> tuple:
    return row if isinstance(row, tuple) else tuple(row.get(name) for name, _ in columns)


def _delete_in_one_statement(conn: Connection, tables: Sequence[Table], rid: int) -> None:
    """PostgreSQL: the rows of `rid` out of `tables` in one statement (data-modifying WITH
    clauses). Not in the statement that inserts the new rows: the parts of one statement all see
    the same snapshot, and a new row would meet the unique key of the old one it replaces."""
    # By `rid = %s`: with `rid = ANY(%s)` and an array the server planned the statement anew at every
    # call, its custom plan always looking cheaper than the prepared one.
    conn.exec_driver_sql("WITH " + ", ".join(f"d{number} AS (DELETE FROM {table.name} WHERE rid = %s)"
                                             for number, table in enumerate(tables)) + " SELECT 1",
                         tuple(rid for _ in tables))


def _copy_rows(conn: Connection, batch: dict[Table, list[Any]]) -> None:
    """PostgreSQL: each table's rows by a COPY (`copied_insert`), the tables in one order."""
    for table in sorted(batch, key=lambda t: t.name):
        _, columns = driver_insert(table, conn.dialect)
        copied_insert(conn, table, [_as_tuple(row, columns) for row in batch[table]])


def _unnest_rows(conn: Connection, batch: dict[Table, list[Any]]) -> None:
    """PostgreSQL: every table's rows in one statement whose text depends only on the tables
    (`unnested_insert`): prepared once, for every resource of a kind."""
    parts: list[str] = []
    values: list[Any] = []
    for number, table in enumerate(sorted(batch, key=lambda t: t.name)):
        _, columns = driver_insert(table, conn.dialect)
        insert, arrays = unnested_insert(table, conn.dialect, [_as_tuple(row, columns) for row in batch[table]])
        parts.append(f"i{number} AS ({insert})")
        values.extend(arrays)
    if parts:
        conn.exec_driver_sql(f"WITH {', '.join(parts)} SELECT 1", tuple(values))
