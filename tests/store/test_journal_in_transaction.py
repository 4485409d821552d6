"""A write's journal rows (`Tx.journal`: a write's AuditEvent) wait in its buffer with its versions
and share their fate: committed together, rolled back together, dropped with a failed savepoint."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from sqlalchemy import delete, select

from fhirip.audit.journal import journal_in
from fhirip.store import Store
from fhirip.store.schema import audit_journal


@pytest.fixture(autouse=True)
def _empty_journal(store: Store) -> None:
    store.run(lambda tx: tx.conn.execute(delete(audit_journal)), write=True)


def _journalled(store: Store) -> list[str]:
    rows = store.run(lambda tx: tx.conn.execute(select(audit_journal.c.content).order_by(audit_journal.c.seq)).scalars().all(),
                     write=False)
    return [orjson.loads(content)["id"] for content in rows]


def _patient(res_id: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": res_id, "name": [{"family": "Nordmann"}]}


def test_journal_rows_are_committed_with_the_versions_they_record(store: Store) -> None:
    def work(tx: Any) -> None:
        tx.write(_patient("journal-a"), method="POST", previous=None)
        journal_in(tx, [{"resourceType": "AuditEvent", "id": "recorded-a"}])

    store.run(work, write=True)
    assert _journalled(store) == ["recorded-a"]
    assert store.run(lambda tx: tx.current("Patient", "journal-a"), write=False) is not None


def test_journal_rows_are_rolled_back_with_a_failed_write(store: Store) -> None:
    def work(tx: Any) -> None:
        tx.write(_patient("journal-b"), method="POST", previous=None)
        journal_in(tx, [{"resourceType": "AuditEvent", "id": "recorded-b"}])
        tx.flush()  # sent, and still undone by the failure that follows
        raise RuntimeError("the write fails after it was sent")

    with pytest.raises(RuntimeError):
        store.run(work, write=True)
    assert _journalled(store) == []
    assert store.run(lambda tx: tx.current("Patient", "journal-b"), write=False) is None


def test_journal_rows_of_a_failed_savepoint_are_dropped_and_the_others_kept(store: Store) -> None:
    def work(tx: Any) -> None:
        journal_in(tx, [{"resourceType": "AuditEvent", "id": "kept"}])
        with pytest.raises(RuntimeError), tx.savepoint():
            journal_in(tx, [{"resourceType": "AuditEvent", "id": "dropped"}])
            raise RuntimeError("this part fails alone")
        journal_in(tx, [{"resourceType": "AuditEvent", "id": "after"}])

    store.run(work, write=True)
    assert _journalled(store) == ["kept", "after"]
