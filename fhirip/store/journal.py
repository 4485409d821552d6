"""The audit journal: where a read's AuditEvent is committed before the response leaves, one row
each, until it is moved into the resource tables in bulk (`fhirip.audit.trail`).

A read commits nothing else, so its journal row gets a short transaction of its own, sent
straight through the driver (`append`): through a `Store.run` transaction the same insert
costs three times the CPU, a share a read's own work does not dwarf.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import delete, insert, select

from fhirip.store.engine import driver_insert
from fhirip.store.records import _stamped, now_utc
from fhirip.store.schema import audit_journal

if TYPE_CHECKING:
    from fhirip.store.store import Store, Tx

_DRAIN = delete(audit_journal).returning(audit_journal.c.seq, audit_journal.c.last_updated,
                                         audit_journal.c.content)


def journal_in(tx: Tx, resources: Sequence[dict[str, Any]], moment: datetime | None = None) -> None:
    """Record new resources in the journal inside an open transaction."""
    moment = moment or now_utc()
    if resources:
        tx.conn.execute(insert(audit_journal), [
            {"last_updated": moment, "content": _stamped(item, 1, moment)} for item in resources])


def append(store: Store, resources: Sequence[dict[str, Any]]) -> None:
    """Record new resources in the journal and commit them, in a transaction of their own.

    The write lock is queued for as by every writer (`Store.transaction`). A pooled
    connection the database has closed is replaced and the insert sent again, unless it
    was lost while committing (it may have committed: an event is never journalled twice)."""
    if not resources:
        return
    moment = now_utc()
    dialect = store.engine.dialect
    sql, ((_, to_column), _) = driver_insert(audit_journal, dialect, ("last_updated", "content"))
    stamp = to_column(moment) if to_column else moment
    rows = [(stamp, _stamped(item, 1, moment)) for item in resources]
    for attempt in (1, 2):
        with store.write_gate():
            connection = store.engine.raw_connection()
            committing = False
            try:
                cursor = connection.cursor()
                if dialect.name == "sqlite":
                    cursor.execute("BEGIN IMMEDIATE")  # the sqlite3 module leaves BEGIN to us
                cursor.executemany(sql, rows)
                committing = True
                connection.commit()
                return
            except Exception:
                lost = bool(getattr(connection.dbapi_connection, "closed", False))
                if lost:  # the database went away: so did every connection pooled before
                    connection.invalidate()
                    store.engine.dispose(close=False)
                else:
                    connection.rollback()
                if not lost or committing or attempt == 2:
                    raise
            finally:
                connection.close()


def drain(tx: Tx, limit: int | None = None) -> int:
    """Move journalled resources into the resource tables, every one or the oldest `limit`;
    returns how many.

    The rows are claimed by deleting them, so concurrent drains never store one twice
    (on PostgreSQL a drain skips the rows another is claiming instead of waiting for them).
    """
    statement = _DRAIN
    if limit is not None:
        oldest = select(audit_journal.c.seq).order_by(audit_journal.c.seq).limit(limit)
        if tx.conn.dialect.name == "postgresql":
            oldest = oldest.with_for_update(skip_locked=True)
        statement = statement.where(audit_journal.c.seq.in_(oldest.scalar_subquery()))
    rows = sorted(tx.conn.execute(statement).all())
    from fhirip.audit.event_index import audit_event_rows_by_table
    from fhirip.search.index_ahead import rows_ahead

    # The generic extractor evaluates every AuditEvent parameter's path on its own: most of a
    # move. The events' rows come from one walk over each instead (the same rows).
    with rows_ahead(tx.conn, audit_event_rows_by_table):
        tx._insert_new([(orjson.loads(content), moment, content) for _, moment, content in rows])
    return len(rows)
