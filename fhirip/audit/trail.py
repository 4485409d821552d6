"""The audit trail of one server process: events journalled with group commit, stored in bulk.

https://hl7.org/fhir/R4/auditevent.html

Every request leaves an AuditEvent, committed before the response is sent. Stored as a
resource one by one, each request would pay for a dozen index rows. Instead its event is
committed to the audit journal (one row): a write's in its own transaction (`append_in`), a
read's in a transaction concurrent reads share: whoever holds the writer commits everything
queued so far, the others wait for that commit. The journal is moved into the resource
tables in bulk, in the background about once a second (by a thread, or by a process of
its own as a deployed server does: `fhirip.audit.mover`) and always before a request
that may read AuditEvents (`flush`), so searches see every event committed before them.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from fhirip.audit.event_index import AuditEventIndex
from fhirip.audit.journal import append, journal_in
from fhirip.store import Store, Tx


# Events moved per transaction. On SQLite a move holds the one write lock, which every request's
# journal commit waits for, so it must stay short. On PostgreSQL a move locks only the journal
# rows it claims and the keys it inserts, none of which a request waits for, and a larger one
# costs less per event (fewer statements and round trips for the same rows).
_CHUNK = {"sqlite": 100}
_CHUNK_ELSEWHERE = 500


class _Pending:
    __slots__ = ("done", "error", "events")

    def __init__(self, events: list[dict[str, Any]]):
        self.events = events
        self.done = False
        self.error: BaseException | None = None


class AuditTrail:
    """Appends audit records (AuditEvents, and the notices that go with them) to the store."""

    def __init__(self, store: Store, *, flush_seconds: float = 1.0, flush_count: int = 500,
                 mover: str = "thread"):
        self._store = store
        # Who moves the journal in the background: a thread of this process, or a process of
        # its own (`fhirip.audit.mover`), as a deployed server does.
        if mover not in ("thread", "process"):
            raise ValueError(f"the audit journal mover is 'thread' or 'process', not {mover!r}")
        self.mover = mover
        self._mover_process: Any = None
        self._mover_owner = 0  # the process that started it, the only one that may stop it
        # How long an event may wait in the journal when nobody asks for it, or how many may gather.
        self.flush_seconds, self.flush_count = flush_seconds, flush_count
        self.chunk = _CHUNK.get(store.dialect, _CHUNK_ELSEWHERE)  # events moved per transaction
        self.index = AuditEventIndex()  # the index rows of the events this trail stores or moves
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()
        self._writer = threading.Lock()
        self._journalled = 0  # since the last flush, by this process
        self._wake = threading.Event()
        self._flusher: threading.Thread | None = None
        self._flusher_pid = 0
        self._flushing = threading.Lock()
        self._closed = False

    def flush(self) -> int:
        """Move every journalled event (of any process) into the resource tables; how many.

        In transactions of `chunk` events: on SQLite a move holds the one write lock, and the
        requests committing their own events wait for it, so no move may hold it for long."""
        from fhirip.audit.mover import move_all

        return self._move(move_all)

    def _move_in_background(self) -> int:
        """`flush` as the background mover does it (`fhirip.audit.mover.move_in_background`)."""
        from fhirip.audit.mover import move_in_background

        return self._move(move_in_background)

    def _move(self, mover: Callable[[Store, int, AuditEventIndex], int]) -> int:
        with self._flushing:
            self._journalled = 0
            return mover(self._store, self.chunk, self.index)

    @contextmanager
    def held(self) -> Iterator[None]:
        """No flush of this process runs meanwhile (e.g. while a test empties every table)."""
        with self._flushing:
            yield

    def append(self, events: list[dict[str, Any]]) -> None:
        """Store `events` (each gets a fresh id); returns once they are committed."""
        if not events:
            return
        pending = _Pending(events)
        with self._queue_lock:
            self._queue.append(pending)
        while True:
            with self._writer:  # waits while another request commits a batch, maybe with ours in it
                if not pending.done:
                    with self._queue_lock:
                        batch, self._queue = self._queue, []
                    self._commit(batch)
            if pending.done:
                break
        if pending.error is not None:
            raise pending.error
        self._journalled += len(events)
        self._ensure_flusher()
        if self._journalled >= self.flush_count:
            self._wake.set()

    def append_in(self, tx: Tx, events: list[dict[str, Any]]) -> None:
        """Journal `events` (each gets a fresh id unless it has one) inside an open write
        transaction, so that a write and its record commit together; moved like the others."""
        _give_ids(events)
        journal_in(tx, events)
        self._journalled += len(events)  # a hint for the background mover, moot if it rolls back
        self._ensure_flusher()

    def start(self) -> None:
        """Start the background moves now instead of at the first event: a server starting up,
        so that the mover's own start-up (a new interpreter importing the server) does not fall
        on its first requests."""
        self._ensure_flusher()

    def _ensure_flusher(self) -> None:
        # Started in the serving process itself: neither a thread nor a child survives a fork.
        if self._flusher_pid == os.getpid() or self._closed:
            return
        if self.mover == "process" and self._mover_owner == os.getppid():
            # Forked from the process that started the mover (gunicorn's workers under --preload):
            # that one mover moves for the master and all its workers.
            self._flusher_pid = os.getpid()
            return
        self._flusher_pid = os.getpid()
        if self.mover == "process":
            from fhirip.audit.mover import start_mover

            self._mover_process = start_mover(self._store.url, interval=self.flush_seconds, chunk=self.chunk)
            self._mover_owner = os.getpid()
        else:
            self._flusher = threading.Thread(target=self._flush_forever, name="audit-journal", daemon=True)
            self._flusher.start()

    def close(self) -> None:
        """Move what is journalled and stop the background flushes (the store is going away)."""
        from fhirip import companions

        self._closed = True
        self._wake.set()
        if self._mover_owner == os.getpid():
            companions.stop(self._mover_process)
        self.flush()

    def _flush_forever(self) -> None:
        while not self._closed:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            if self._journalled and not self._closed:
                try:
                    self._move_in_background()
                except Exception:  # noqa: BLE001 - the events stay journalled; the next flush retries
                    time.sleep(self.flush_seconds)

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            _journal(self._store, [e for p in batch for e in p.events])
        except Exception as error:  # noqa: BLE001 - handed to the waiting requests, which raise it
            if len(batch) == 1:
                batch[0].error = error
            else:  # one bad record must not cost the others theirs: store each alone
                for pending in batch:
                    try:
                        _journal(self._store, pending.events)
                    except Exception as alone:  # noqa: BLE001 - raised by its own request
                        pending.error = alone
        finally:
            for pending in batch:
                pending.done = True


def _journal(store: Store, events: list[dict[str, Any]]) -> None:
    _give_ids(events)
    append(store, events)


def _give_ids(events: list[dict[str, Any]]) -> None:
    for event in events:
        event.setdefault("id", str(uuid.uuid4()))
