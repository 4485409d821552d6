"""Writing the index of new AuditEvents from `fhirip.audit.event_index`, straight to the driver.

An indexer for the store that hands every other resource, and every AuditEvent when the
registry is not the one the fast rows were written for, to the store's own indexer
(`fhirip.search.index`), so the rows written are the same either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from fhirip.audit.event_index import RES_TYPE, audit_event_rows, fast_path_fits, table_of
from fhirip.search import index as search_index
from fhirip.search.registry import registry
from fhirip.store.engine import driver_insert

if TYPE_CHECKING:
    from fhirip.store.store import Tx


class AuditEventIndexer:
    """The generic indexer, except that new AuditEvents get their rows from `audit_event_rows`."""

    def __init__(self, generic: ModuleType = search_index):
        self.generic = generic

    def write_index(self, conn: Connection, rid: int, res_type: str, resource: dict[str, Any], *,
                    fresh: bool = False) -> None:
        self.generic.write_index(conn, rid, res_type, resource, fresh=fresh)

    def delete_index(self, conn: Connection, rid: int) -> None:
        self.generic.delete_index(conn, rid)

    def write_new_indexes(self, conn: Connection, items: Sequence[tuple[int, str, dict[str, Any]]]) -> None:
        if not fast_path_fits(registry()):
            self.generic.write_new_indexes(conn, items)
            return
        others = [item for item in items if item[1] != RES_TYPE]
        if others:
            self.generic.write_new_indexes(conn, others)
        insert_audit_event_rows(conn, [(rid, event) for rid, res_type, event in items if res_type == RES_TYPE])


def insert_audit_event_rows(conn: Connection, events: Sequence[tuple[int, dict[str, Any]]]) -> None:
    """The index rows of new AuditEvents (rid, event), one statement per table for them all
    (an executemany on SQLite, a COPY on PostgreSQL, as `fhirip.search.index_sql` sends them)."""
    batch: dict[str, list[tuple[Any, ...]]] = {}
    for rid, event in events:
        for kind, rows in audit_event_rows(event).items():
            found = batch.get(kind)
            if found is None:
                found = batch[kind] = []
            found.extend([(rid, *row) for row in rows])
    for kind, values in batch.items():
        table = table_of(kind)
        statement, columns = driver_insert(table, conn.dialect)
        converted = [(position, convert) for position, (_, convert) in enumerate(columns) if convert]
        if converted:  # SQLite: dates as the dialect writes them
            values = [_converted(row, converted) for row in values]
        if conn.dialect.name == "postgresql":
            names = ", ".join(name for name, _ in columns)
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
                for row in values:
                    copy.write_row(row)
        else:
            conn.exec_driver_sql(statement, values)


def _converted(row: tuple[Any, ...], converted: list[tuple[int, Any]]) -> tuple[Any, ...]:
    values = list(row)
    for position, convert in converted:
        values[position] = convert(values[position])
    return tuple(values)


class _StoreIndexedBy:
    """A store as it is, but for the indexer its transactions write new resources' index with."""

    def __init__(self, store: Any, indexer: AuditEventIndexer):
        self._store = store
        self.indexer = indexer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


_INDEXER = AuditEventIndexer()


def indexing_audit_events_fast(tx: Tx) -> Tx:
    """`tx` itself (same connection and transaction) whose new AuditEvents are indexed by
    `AuditEventIndexer`; `tx` as it is when its store does not index with the generic indexer."""
    if tx.store.indexer is not search_index:
        return tx
    return type(tx)(tx.conn, _StoreIndexedBy(tx.store, _INDEXER))  # type: ignore[arg-type]
