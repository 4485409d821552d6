"""The audit journal: where every request's AuditEvent is committed before the response leaves,
one row each, until it is moved into the resource tables in bulk (`fhirip.audit.trail`).

A read commits nothing else, so its journal row gets a short transaction of its own, sent
straight through the driver (`append`): through a `Store.run` transaction the same insert
costs three times the CPU, a share a read's own work does not dwarf. A write journals its
event in its own transaction (`journal_in`), one row beside its versions, instead of storing
it there as a resource with a dozen index rows while it holds the write lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import delete, select

from fhirip.audit.event_index import AuditEventIndex
from fhirip.store.engine import driver_insert, driver_transaction
from fhirip.store.records import _stamped, now_utc
from fhirip.store.schema import audit_journal

if TYPE_CHECKING:
    from fhirip.store.store import Store, Tx

_DRAIN = delete(audit_journal).returning(audit_journal.c.seq, audit_journal.c.last_updated,
                                         audit_journal.c.content)
_CLAIM = delete(audit_journal).returning(audit_journal.c.seq)


def journal_in(tx: Tx, resources: Sequence[dict[str, Any]], moment: datetime | None = None) -> None:
    """Record new resources in the journal inside an open transaction: committed with its writes
    (a write records itself in its own transaction), sent with them (`Tx.journal`)."""
    moment = moment or now_utc()
    tx.journal([(moment, _stamped(item, 1, moment)) for item in resources])


def append(store: Store, resources: Sequence[dict[str, Any]]) -> None:
    """Record new resources in the journal and commit them, in a transaction of their own."""
    if not resources:
        return
    moment = now_utc()
    sql, ((_, to_column), _) = driver_insert(audit_journal, store.engine.dialect, ("last_updated", "content"))
    stamp = to_column(moment) if to_column else moment
    rows = [(stamp, _stamped(item, 1, moment)) for item in resources]
    driver_transaction(store, lambda cursor: cursor.executemany(sql, rows))


Prepared = tuple[dict[str, Any], datetime, bytes, Any]  # the event, its moment, its stored bytes, its rows


def oldest(tx: Tx, limit: int) -> list[tuple[int, datetime, bytes]]:
    """The oldest `limit` journalled rows (seq, moment, content), read without claiming them."""
    return [tuple(row) for row in tx.conn.execute(  # type: ignore[misc]
        select(audit_journal.c.seq, audit_journal.c.last_updated, audit_journal.c.content)
        .order_by(audit_journal.c.seq).limit(limit)).all()]


def prepare(rows: Sequence[tuple[int, datetime, bytes]], index: AuditEventIndex) -> dict[int, Prepared]:
    """Each journalled row parsed, with its index rows (`index`, the mover's), by seq.

    A journal row never changes once committed, so what is prepared from it outside any write
    transaction is what a drain would make from it inside one: a mover prepares the next rows
    first and then holds the write lock only to claim and insert them."""
    prepared: dict[int, Prepared] = {}
    for seq, moment, content in rows:
        item = orjson.loads(content)
        prepared[seq] = (item, moment, content, index.rows_by_table(item.get("resourceType", ""), item))
    return prepared


def drain(tx: Tx, limit: int | None = None, prepared: dict[int, Prepared] | None = None,
          index: AuditEventIndex | None = None) -> int:
    """Move journalled resources into the resource tables: every one, the oldest `limit`, or
    those `prepared` (by `prepare`) that are still journalled; returns how many. Rows not
    prepared are indexed by `index` (a new one if none is given).

    The rows are claimed by deleting them, so concurrent drains never store one twice
    (on PostgreSQL a drain skips the rows another is claiming instead of waiting for them).
    """
    if prepared is not None:
        if not prepared:
            return 0
        # A journal number is never given out twice (`audit_journal`), so a row still journalled
        # under a prepared number is the one prepared: the claim needs its number alone, not its
        # content back from the database again.
        chosen = select(audit_journal.c.seq).where(audit_journal.c.seq.in_(sorted(prepared)))
        claimed = sorted(tx.conn.execute(_CLAIM.where(audit_journal.c.seq.in_(_claimable(tx, chosen)))).scalars())
        _insert(tx, [prepared[seq] for seq in claimed])
        return len(claimed)
    statement = _DRAIN
    if limit is not None:
        chosen = select(audit_journal.c.seq).order_by(audit_journal.c.seq).limit(limit)
        statement = statement.where(audit_journal.c.seq.in_(_claimable(tx, chosen)))
    rows = sorted(tx.conn.execute(statement).all())
    ready = prepare(rows, index if index is not None else AuditEventIndex())
    _insert(tx, [ready[seq] for seq, _, _ in rows])
    return len(rows)


def _claimable(tx: Tx, chosen: Any) -> Any:
    if tx.conn.dialect.name != "postgresql":
        return chosen.scalar_subquery()
    # Materialised, so the choice is made once: as a plain subquery the planner may rescan it
    # for each journal row, and each rescan skips the rows this very delete has just claimed
    # and locks the next ones, so a drain of the oldest `limit` could claim every row.
    once = chosen.with_for_update(skip_locked=True).cte("claimable").prefix_with("MATERIALIZED")
    return select(once.c.seq)


def _insert(tx: Tx, events: list[Prepared]) -> None:
    # Each event's rows come from one walk over it, made before or now (the generic extractor,
    # which evaluates every AuditEvent parameter's path on its own, indexes anything else).
    tx.insert_new([event[:3] for event in events], index_rows=[event[3] for event in events])
