"""Sending index rows to the database: many rows of one table in one statement, straight to the
driver (an executemany on SQLite, a COPY on PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table

from fhirip.store.engine import driver_insert, driver_values


def insert_rows(conn: Connection, per_resource: Sequence[dict[Table, list[dict] | list[tuple]]]) -> None:
    """The index rows of several resources (per resource: table → rows), one statement per table.
    A row is a dict by column name, or a tuple of every column's value in the table's order."""
    batch: dict[Table, list[Any]] = {}
    for rows in per_resource:
        for table, found in rows.items():
            batch.setdefault(table, []).extend(found)
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
