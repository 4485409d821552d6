"""Creates that wait: within `Tx.deferred_creates` a trusted job's new resources are inserted
together, one statement per table, just before the next statement on the connection runs."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Connection, Table, insert

from fhirip.store.engine import driver_insert, driver_values
from fhirip.store.schema import resource, resource_link, resource_version

_INSERT_NUMBERED = insert(resource).returning(resource.c.rid, resource.c.res_type, resource.c.res_id)
_VERSION_COLUMNS = ("rid", "res_type", "res_id", "version", "last_updated", "method", "deleted", "content")
_LINK_COLUMNS = ("rid", "target_type", "target_id", "path")

PENDING_CREATES = "fhirip.store.pending_creates"
NOT_YET_NUMBERED = -1


def write_waiting_creates(conn: Connection, *_statement: Any) -> None:
    """Insert the resources waiting in `Tx.deferred_creates`: the same rows `Tx.write` inserts one
    by one, in one statement per table (resource, version, links, each index table)."""
    store, waiting = conn.info.get(PENDING_CREATES, (None, None))
    if not waiting:
        return
    items = list(waiting)
    waiting.clear()  # the inserts below pass through this hook again: nothing is left to write
    # Matched back by (type, id): asking for the rows in parameter order makes SQLite insert one by one.
    numbered = {(res_type, res_id): rid for rid, res_type, res_id in conn.execute(_INSERT_NUMBERED, [
        {"res_type": res_type, "res_id": res_id, "version": 1, "last_updated": moment, "deleted": False,
         "content": content.decode("utf-8")} for res_type, res_id, moment, _, content, _ in items])}
    rids = [numbered[(item[0], item[1])] for item in items]
    # Versions and links go straight to the driver: SQLAlchemy's per-row processing of these
    # small rows would cost more than inserting them.
    _insert_values(conn, resource_version, _VERSION_COLUMNS, [
        (rid, res_type, res_id, 1, moment, method, False, content)
        for rid, (res_type, res_id, moment, method, content, _) in zip(rids, items, strict=True)])
    _insert_values(conn, resource_link, _LINK_COLUMNS, [
        (rid, t, i, p) for rid, item in zip(rids, items, strict=True)
        for t, i, p in {(link.res_type, link.res_id, link.path[:255]) for link in item[5]}])
    if store.indexer is not None:  # indexed from the stored bytes: the version as it was written
        store.indexer.write_new_indexes(conn, [(rid, item[0], orjson.loads(item[4]))
                                               for rid, item in zip(rids, items, strict=True)])


def _insert_values(conn: Connection, table: Table, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    sql, converters = driver_insert(table, conn.dialect, columns)
    conn.exec_driver_sql(sql, driver_values(rows, converters))
