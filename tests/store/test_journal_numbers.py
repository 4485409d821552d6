"""The audit journal never hands a number out twice, on either store: a drain that read rows
before another drain moved them claims nothing when it comes, even after the journal emptied
and took new events (SQLite reused the numbers, and the late drain stored old events twice).
The migration keeps the rows a journal holds when it is applied."""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select, text

from fhirip.store import Store
from fhirip.audit.event_index import AuditEventIndex
from fhirip.audit.journal import append, drain, journal_in, oldest, prepare
from fhirip.store.migrations import upgrade
from fhirip.store.schema import audit_journal, resource
from fhirip.testing.postgres import TemporaryPostgres


def _url(kind: str, tmp_path: Path, postgres: TemporaryPostgres | None, name: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / (name + '.sqlite3')}"
    assert postgres is not None
    return postgres.create_database(f"{name}_{tmp_path.name[-8:].lower()}")


def _event() -> dict:
    return {"resourceType": "AuditEvent", "id": str(uuid.uuid4()), "recorded": "2026-12-07T01:00:00Z",
            "type": {"code": "rest"}, "source": {"observer": {"display": "fhirip"}},
            "agent": [{"requestor": True}]}


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_late_drain_claims_nothing_after_the_journal_emptied_and_refilled(
        kind: str, tmp_path: Path, postgres: TemporaryPostgres | None) -> None:
    from fhirip.search import index

    store = Store(_url(kind, tmp_path, postgres, "journal_numbers"), indexer=index)
    store.migrate()
    first = [_event(), _event()]
    store.run(lambda tx: journal_in(tx, first), write=True)
    late = prepare(store.run(lambda tx: oldest(tx, 10), write=False), AuditEventIndex())  # a mover reads them ...
    assert store.run(lambda tx: drain(tx), write=True) == 2  # ... another moves them first
    later = [_event()]
    store.run(lambda tx: journal_in(tx, later), write=True)
    numbers = store.run(lambda tx: tx.conn.execute(select(audit_journal.c.seq)).scalars().all(), write=False)
    assert not set(numbers) & set(late), (numbers, sorted(late))
    assert store.run(lambda tx: drain(tx, prepared=late), write=True) == 0
    assert store.run(lambda tx: drain(tx), write=True) == 1
    stored = store.run(lambda tx: tx.conn.execute(
        select(resource.c.res_id).where(resource.c.res_type == "AuditEvent")).scalars().all(), write=False)
    assert sorted(stored) == sorted(e["id"] for e in first + later)
    store.dispose()


def test_the_migration_keeps_journalled_rows_and_numbers_on_sqlite(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'journal_migration.sqlite3'}")
    upgrade(store.engine, "0007")
    journalled = [_event(), _event()]
    with store.engine.connect() as conn:
        with conn.begin():
            for n, item in enumerate(journalled, start=7):
                conn.execute(audit_journal.insert().values(seq=n, last_updated=func.current_timestamp(),
                                                           content=orjson.dumps(item)))
    store.migrate()
    with store.engine.connect() as conn:
        rows = conn.execute(select(audit_journal.c.seq, audit_journal.c.content).order_by(audit_journal.c.seq)).all()
        created = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'audit_journal'")).scalar_one()
    assert [(seq, orjson.loads(content)["id"]) for seq, content in rows] == [(7, journalled[0]["id"]),
                                                                            (8, journalled[1]["id"])]
    assert "AUTOINCREMENT" in created
    store.dispose()


def test_a_journal_row_of_a_few_kilobytes_is_kept_uncompressed_on_postgresql(
        tmp_path: Path, postgres: TemporaryPostgres | None) -> None:
    """A read's event past 2 KB (a person, a client, a few entities) costs its commit no compression."""
    if postgres is None:
        pytest.skip("PostgreSQL is not installed")
    store = Store(_url("postgresql", tmp_path, postgres, "journal_uncompressed"))
    store.migrate()
    event = _event() | {"outcomeDesc": "GET /fhir/CarePlan/cp-1 -> HTTP 200 " * 100}  # compresses well
    append(store, [event])
    with store.engine.connect() as conn:
        stored, length = conn.execute(text(
            "SELECT pg_column_size(content), octet_length(content) FROM audit_journal")).one()
    assert 3000 < length < 8000 and stored >= length
    store.dispose()
