"""A pooled PostgreSQL connection the server has closed (a restart, an idle timeout) costs
no request: the transaction runs again on a fresh connection, unless it was committing."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from fhirip.audit.journal import drain, journal_in
from fhirip.store import Store
from fhirip.testing.postgres import TemporaryPostgres


@pytest.fixture
def pg_store(postgres: TemporaryPostgres | None):
    if postgres is None:
        pytest.skip("PostgreSQL is not installed")
    store = Store(postgres.create_database(f"lost_{uuid.uuid4().hex[:12]}"))
    store.migrate()
    yield store
    store.dispose()


def _close_every_pooled_connection(store: Store) -> int:
    """What a server restart does to the pool: every other session of the database ends."""
    with store.engine.connect() as conn:
        ended = conn.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar_one()
        conn.commit()
    return int(ended)


def _warm_pool(store: Store, connections: int) -> None:
    held = [store.engine.connect() for _ in range(connections)]
    for conn in held:
        conn.execute(text("SELECT 1"))
    for conn in held:
        conn.close()


def test_a_read_on_a_closed_connection_runs_again_on_a_fresh_one(pg_store: Store) -> None:
    _warm_pool(pg_store, 3)
    assert _close_every_pooled_connection(pg_store) >= 2
    assert pg_store.run(lambda tx: tx.current("Patient", "nobody"), write=False) is None


def test_a_write_on_a_closed_connection_runs_again_and_is_stored_once(pg_store: Store) -> None:
    _warm_pool(pg_store, 3)
    assert _close_every_pooled_connection(pg_store) >= 2
    pg_store.run(lambda tx: journal_in(tx, [{"resourceType": "AuditEvent", "id": "after-restart"}]), write=True)
    assert pg_store.run(lambda tx: drain(tx), write=True) == 1


def test_a_connection_lost_while_committing_is_not_run_again(pg_store: Store) -> None:
    _warm_pool(pg_store, 1)
    runs = []

    def lose_the_connection_then_commit(tx) -> None:
        runs.append(1)
        journal_in(tx, [{"resourceType": "AuditEvent", "id": f"try-{len(runs)}"}])
        # The server ends this very session as the transaction is about to commit.
        pid = tx.conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with pg_store.engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    with pytest.raises(Exception):  # noqa: B017,PT011 - the driver's own error for a closed connection
        pg_store.run(lose_the_connection_then_commit, write=True)
    assert runs == [1]
    assert pg_store.run(lambda tx: drain(tx), write=True) == 0  # nothing was committed


def test_a_journal_append_on_a_closed_connection_is_sent_again_and_stored_once(pg_store: Store) -> None:
    from fhirip.audit.journal import append

    _warm_pool(pg_store, 3)
    assert _close_every_pooled_connection(pg_store) >= 2
    append(pg_store, [{"resourceType": "AuditEvent", "id": "journalled-after-restart"}])
    assert pg_store.run(lambda tx: drain(tx), write=True) == 1
    assert pg_store.run(lambda tx: tx.read("AuditEvent", "journalled-after-restart"), write=False) is not None
