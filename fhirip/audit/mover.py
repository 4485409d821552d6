"""Moving the audit journal into AuditEvent resources from a process of its own.

https://hl7.org/fhir/R4/auditevent.html

Every read journals its AuditEvent before the response leaves (`fhirip.audit.trail`);
turning journal rows into resources with their search index is the larger part of the
work, and done by a thread of the serving process it competes with the requests for
that process's interpreter lock, so every request in flight waits a little longer. A
server started from the environment (`FHIRIP_AUDIT_MOVER`, default `process`) therefore
moves the journal from a separate process, which the operating system runs beside the
requests: `$current` on the national tier (PostgreSQL, every call a first call) went from
p95 33–36 ms to 23–29 ms. Any number of movers may run against one database: a drain
claims the rows it moves (`Tx.drain_journal`), so none is stored twice.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from typing import Any

_LOG = logging.getLogger(__name__)
# One interpreter started afresh, never a fork of a serving process that holds threads and locks.
_SPAWN = multiprocessing.get_context("spawn")


def start_mover(url: str, *, interval: float, chunk: int) -> Any:
    """A daemon process moving the journal of the database at `url` every `interval` seconds
    until this process ends (or `stop_mover`)."""
    process = _SPAWN.Process(target=move_forever, args=(url, os.getpid(), interval, chunk),
                             name="fhirip-audit-mover", daemon=True)
    process.start()
    return process


def stop_mover(process: Any, timeout: float = 5.0) -> None:
    if process is not None and process.is_alive():
        process.terminate()
        process.join(timeout)


def move_forever(url: str, parent_pid: int, interval: float, chunk: int) -> None:
    from fhirip.heap import settle_heap
    from fhirip.search import index as search_index
    from fhirip.store import Store

    store = Store(url, indexer=search_index)
    settle_heap()
    try:
        while os.getppid() == parent_pid:  # a mover outlives no server
            try:
                move_all(store, chunk)
            except Exception:  # noqa: BLE001 - the events stay journalled; the next round moves them
                _LOG.exception("moving the audit journal failed; retrying in %s s", interval)
            time.sleep(interval)
    finally:
        store.dispose()


def move_all(store: Any, chunk: int) -> int:
    """Move every journalled event, `chunk` to a transaction; how many."""
    moved = 0
    while True:
        count = store.run(lambda tx: tx.drain_journal(limit=chunk), write=True)
        moved += count
        if count < chunk:
            return moved
