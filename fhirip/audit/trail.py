"""The audit trail of one server process: events appended with group commit.

https://hl7.org/fhir/R4/auditevent.html

Every request leaves an AuditEvent, stored before the response is sent. Written one
by one, each read would pay for a write transaction of its own (and on SQLite queue
for the single write lock). Instead, concurrent requests share one: whoever holds the
writer commits everything queued so far, and the others wait for that commit. Nobody
returns before their own events are committed, so the guarantee is unchanged; under
load, one transaction carries several requests' events.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from fhirip.store import Store, Tx


class _Pending:
    __slots__ = ("done", "error", "events")

    def __init__(self, events: list[dict[str, Any]]):
        self.events = events
        self.done = False
        self.error: BaseException | None = None


class AuditTrail:
    """Appends audit records (AuditEvents, and the notices that go with them) to the store."""

    def __init__(self, store: Store):
        self._store = store
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()
        self._writer = threading.Lock()

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

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            self._store.run(lambda tx: append_in(tx, [e for p in batch for e in p.events]), write=True)
        except Exception as error:  # noqa: BLE001 - handed to the waiting requests, which raise it
            if len(batch) == 1:
                batch[0].error = error
            else:  # one bad record must not cost the others theirs: store each alone
                for pending in batch:
                    try:
                        self._store.run(lambda tx, p=pending: append_in(tx, p.events), write=True)
                    except Exception as alone:  # noqa: BLE001 - raised by its own request
                        pending.error = alone
        finally:
            for pending in batch:
                pending.done = True


def append_in(tx: Tx, events: list[dict[str, Any]]) -> None:
    """Append audit records inside an open transaction (a write records itself in its own)."""
    for event in events:
        event.setdefault("id", str(uuid.uuid4()))
    tx.append(events)
