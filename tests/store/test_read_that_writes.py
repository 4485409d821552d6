"""A read transaction that goes on to write (a search storing its pages) is not lost to SQLite's
write lock: when another writer holds it, the work runs again as a writer and waits its turn."""

from __future__ import annotations

import threading
from pathlib import Path

from fhirip.audit.journal import drain, journal_in
from fhirip.store import Store


def test_a_read_that_writes_while_another_writer_holds_the_lock_succeeds(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'lock.sqlite3'}")
    store.migrate()
    holding, release = threading.Event(), threading.Event()

    def other_writer() -> None:
        with store.transaction(write=True) as tx:
            journal_in(tx, [{"resourceType": "AuditEvent", "id": "held"}])
            tx.flush()  # sent: this transaction now holds SQLite's write lock
            holding.set()
            release.wait(5)

    writer = threading.Thread(target=other_writer)
    writer.start()
    holding.wait(5)
    threading.Timer(0.5, release.set).start()  # the other writer commits after half a second

    def read_then_write(tx) -> int:
        seen = tx.current("Patient", "nobody")  # the transaction has read: it cannot wait to upgrade
        journal_in(tx, [{"resourceType": "AuditEvent", "id": "mine"}])
        return 0 if seen is None else 1

    assert store.run(read_then_write, write=False) == 0
    assert release.is_set()  # it waited for the other writer instead of failing
    writer.join()
    assert store.run(lambda tx: drain(tx), write=True) == 2
    store.dispose()
