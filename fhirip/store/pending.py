"""Creates that wait: within `Tx.deferred_creates` a trusted job's new resources are inserted
together, one statement per table, just before the next statement on the connection runs."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Connection, insert

from fhirip.store.schema import resource, resource_link, resource_version

_INSERT_NUMBERED = insert(resource).returning(resource.c.rid, resource.c.res_type, resource.c.res_id)
_INSERT_VERSION = insert(resource_version)
_INSERT_LINK = insert(resource_link)

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
    conn.execute(_INSERT_VERSION, [
        {"rid": rid, "res_type": res_type, "res_id": res_id, "version": 1, "last_updated": moment,
         "method": method, "deleted": False, "content": content}
        for rid, (res_type, res_id, moment, method, content, _) in zip(rids, items, strict=True)])
    links = [{"rid": rid, "target_type": t, "target_id": i, "path": p}
             for rid, item in zip(rids, items, strict=True)
             for t, i, p in {(link.res_type, link.res_id, link.path[:255]) for link in item[5]}]
    if links:
        conn.execute(_INSERT_LINK, links)
    if store.indexer is not None:  # indexed from the stored bytes: the version as it was written
        store.indexer.write_new_indexes(conn, [(rid, item[0], orjson.loads(item[4]))
                                               for rid, item in zip(rids, items, strict=True)])
