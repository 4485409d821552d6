"""Sending index rows to the database: many rows of one table in one statement, straight to the
driver (an executemany on SQLite; on PostgreSQL a COPY for many rows, and for the few rows of
one write two statements, one clearing and one filling every table: two round trips instead of
two per table)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table

from fhirip.store.engine import driver_insert, driver_values


# Above this many values a PostgreSQL write sends its rows by COPY (cheaper for the many rows of an
# import's batch than one statement's parameters, which are also limited to 65 535).
_MAX_STATEMENT_VALUES = 1200


def insert_rows(conn: Connection, per_resource: Sequence[dict[Table, list[dict] | list[tuple]]],
                tables: Sequence[Table] = (), replacing: Sequence[int] = ()) -> None:
    """The index rows of several resources (per resource: table → rows), one statement per table.
    A row is a dict by column name, or a tuple of every column's value in the table's order.
    `replacing`: resources whose rows in `tables` are deleted first (their new versions' rows)."""
    batch: dict[Table, list[Any]] = {}
    for rows in per_resource:
        for table, found in rows.items():
            if found:
                batch.setdefault(table, []).extend(found)
    if conn.dialect.name == "postgresql" and \
            sum(len(rows) * len(table.c) for table, rows in batch.items()) <= _MAX_STATEMENT_VALUES:
        _replace_in_two_statements(conn, batch, tables if replacing else (), list(replacing))
        return
    for table in tables if replacing else ():
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        for rid in replacing:
            conn.exec_driver_sql(f"DELETE FROM {table.name} WHERE rid = {mark}", (rid,))
    for table, rows in batch.items():
        statement, columns = driver_insert(table, conn.dialect)
        # Straight to the driver: the rows are plain values in the table's column order
        # (dates through the dialect's own conversion), so SQLAlchemy's per-row parameter
        # processing, which costs more than the insert itself, is left out.
        values = driver_values([row if isinstance(row, tuple) else tuple(row.get(name) for name, _ in columns)
                                for row in rows], columns)
        if conn.dialect.name == "postgresql":
            _copy_rows(conn, table, columns, values)
        else:
            conn.exec_driver_sql(statement, values)


def _copy_rows(conn: Connection, table: Table, columns: list[tuple[str, Any]], values: list[tuple]) -> None:
    """PostgreSQL: many rows by COPY, one stream; an executemany sends one INSERT per row."""
    names = ", ".join(name for name, _ in columns)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
        for row in values:
            copy.write_row(row)


def _replace_in_two_statements(conn: Connection, batch: dict[Table, list[Any]], tables: Sequence[Table],
                               rids: list[int]) -> None:
    """PostgreSQL: delete the rows of `rids` from `tables` in one statement, and insert `batch` in
    another (data-modifying WITH clauses; the two cannot share one, whose parts all see the same
    snapshot: a new row would meet the unique key of the old one it replaces)."""
    if tables:
        conn.exec_driver_sql("WITH " + ", ".join(f"d{number} AS (DELETE FROM {table.name} WHERE rid = ANY(%s))"
                                                 for number, table in enumerate(tables)) + " SELECT 1",
                             tuple(rids for _ in tables))
    parts: list[str] = []
    values: list[Any] = []
    for number, (table, rows) in enumerate(batch.items()):
        _, columns = driver_insert(table, conn.dialect)
        names = ", ".join(name for name, _ in columns)
        row_marks = "(" + ", ".join("%s" for _ in columns) + ")"
        parts.append(f"i{number} AS (INSERT INTO {table.name} ({names}) VALUES "
                     f"{', '.join(row_marks for _ in rows)})")
        for row in driver_values([row if isinstance(row, tuple) else tuple(row.get(name) for name, _ in columns)
                                  for row in rows], columns):
            values.extend(row)
    if parts:
        conn.exec_driver_sql(f"WITH {', '.join(parts)} SELECT 1", tuple(values))
