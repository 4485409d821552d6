"""A write prepared without SQLite's write lock (`Store.run(prepare=True)`) is written only over
the version it was prepared from, with its claims still free; otherwise it is prepared again.
Work that reads what it wrote runs under the lock instead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fhirip.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'prepared.sqlite3'}")
    store.migrate()
    yield store
    store.dispose()


def _patient(family: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": "kari", "name": [{"family": family}]}


def _write(store: Store, family: str) -> None:
    def work(tx: Any) -> None:
        tx.write(_patient(family), method="PUT", previous=tx.current("Patient", "kari"))

    store.run(work, write=True)


def test_a_version_that_moved_after_the_preparation_prepares_the_write_again(store: Store) -> None:
    _write(store, "Nordmann")
    seen: list[int] = []

    def work(tx: Any) -> int:
        previous = tx.current("Patient", "kari")
        seen.append(previous.version)
        if len(seen) == 1:
            _write(store, "Hansen")  # another writer, between this preparation and its write
        tx.write(_patient("Berg"), method="PUT", previous=previous)
        return previous.version + 1

    assert store.run(work, write=True, prepare=True) == 3
    assert seen == [1, 2]  # the first preparation lost the race and was not written
    assert store.run(lambda tx: tx.read("Patient", "kari").content, write=False).count(b"Berg") == 1
    assert [v.version for v in store.run(lambda tx: tx.history(res_type="Patient"), write=False)] == [3, 2, 1]


def test_a_claim_taken_after_the_preparation_prepares_the_write_again(store: Store) -> None:
    runs: list[dict[str, tuple[str, str]]] = []

    def work(tx: Any) -> None:
        held = tx.claim("Patient", "kari", ["fnr|123"])
        runs.append(held)
        if len(runs) == 1:
            store.run(lambda other: other.claim("Patient", "ola", ["fnr|123"]), write=True)
        if not held:
            tx.write(_patient("Nordmann"), method="POST", previous=None)

    store.run(work, write=True, prepare=True)
    assert runs == [{}, {"fnr|123": ("Patient", "ola")}]  # the second run is told who holds it
    assert store.run(lambda tx: tx.current("Patient", "kari"), write=False) is None


def test_work_that_reads_what_it_wrote_runs_under_the_lock(store: Store) -> None:
    runs: list[bool] = []

    def work(tx: Any) -> bool:
        runs.append(tx.preparing)
        tx.write(_patient("Nordmann"), method="POST", previous=None)
        return tx.current("Patient", "kari") is not None

    assert store.run(work, write=True, prepare=True) is True
    assert runs == [True, False]  # given up as soon as it read its own write, then run as a writer


def test_a_prepared_write_journals_its_rows_once_however_often_it_is_prepared(store: Store) -> None:
    from sqlalchemy import select

    from fhirip.audit.journal import journal_in
    from fhirip.store.schema import audit_journal

    _write(store, "Nordmann")
    runs: list[bool] = []

    def work(tx: Any) -> None:
        previous = tx.current("Patient", "kari")
        runs.append(tx.preparing)
        if len(runs) == 1:
            _write(store, "Hansen")  # another writer: this preparation is not written
        tx.write(_patient("Berg"), method="PUT", previous=previous)
        journal_in(tx, [{"resourceType": "AuditEvent", "id": f"run-{len(runs)}"}])

    store.run(work, write=True, prepare=True)
    assert runs == [True, True]
    journalled = store.run(lambda tx: tx.conn.execute(select(audit_journal.c.content)).scalars().all(), write=False)
    assert [row.count(b'"run-') for row in journalled] == [1]
    assert b'"run-2"' in journalled[0]
