"""Moving the audit journal into AuditEvent resources from a process of its own.

https://hl7.org/fhir/R4/auditevent.html

Every read journals its AuditEvent before the response leaves (`fhirip.audit.trail`);
turning journal rows into resources with their search index is the larger part of the
work, and done by a thread of the serving process it competes with the requests for
that process's interpreter lock, so every request in flight waits a little longer. A
server started from the environment (`FHIRIP_AUDIT_MOVER`, default `process`) therefore
moves the journal from a separate process, which the operating system runs beside the
requests: `$current` on the national tier (PostgreSQL, every call a first call) went from
p95 33–36 ms to 23–29 ms.

Every serving process starts a mover, but on one machine only one of them moves a database's
journal at a time (`MoverTurn`, a file lock): a second mover would compete for the same write
lock and the same cores without moving any more. When the one moving ends, another takes over
within its interval. Movers on other machines may run too: a drain claims the rows it moves
(`fhirip.audit.journal.drain`), so none is stored twice.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fhirip import companions

if TYPE_CHECKING:
    from fhirip.audit.event_index import AuditEventIndex

_LOG = logging.getLogger(__name__)
# The database URL reaches the mover through its environment, not its command line (where any
# user of the machine could read a password in it).
_URL_VARIABLE = "FHIRIP_AUDIT_MOVER_DATABASE_URL"


def start_mover(url: str, *, interval: float, chunk: int) -> subprocess.Popen[bytes]:
    """A process moving the journal of the database at `url` every `interval` seconds until this
    process ends (or `companions.stop`)."""
    return companions.start("fhirip.audit.mover", [str(interval), str(chunk)], url_variable=_URL_VARIABLE, url=url)


def move_forever(url: str, parent_pid: int, interval: float, chunk: int) -> None:
    from fhirip.audit.event_index import AuditEventIndex
    from fhirip.heap import settle_heap
    from fhirip.search import index as search_index
    from fhirip.store import Store

    store = Store(url, indexer=search_index)
    settle_heap()
    turn = MoverTurn(url)
    index = AuditEventIndex()  # for as long as this mover runs
    try:
        while os.getppid() == parent_pid:  # a mover outlives no server
            if turn.take():
                try:
                    move_in_background(store, chunk, index)
                except Exception:  # noqa: BLE001 - the events stay journalled; the next round moves them
                    _LOG.exception("moving the audit journal failed; retrying in %s s", interval)
            time.sleep(interval)
    except companions.Stopped:
        pass  # what is journalled stays there for the next mover
    finally:
        turn.release()
        store.dispose()


def main(argv: list[str]) -> int:
    """`python -m fhirip.audit.mover PARENT_PID INTERVAL CHUNK`, the database URL in the environment."""
    companions.stop_on_signals()
    logging.basicConfig(level=logging.WARNING)
    parent_pid, interval, chunk = int(argv[0]), float(argv[1]), int(argv[2])
    try:
        move_forever(os.environ[_URL_VARIABLE], parent_pid, interval, chunk)
    except companions.Stopped:
        pass
    return 0


class MoverTurn:
    """Which mover on this machine moves the journal of one database: the one holding an
    exclusive lock on a file named after the database's URL. The lock belongs to the open
    file, so it is released when its process ends, however it ends."""

    def __init__(self, url: str):
        digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:20]
        self.path = Path(tempfile.gettempdir()) / f"fhirip-audit-mover-{digest}.lock"
        self._file: Any = None

    @property
    def held(self) -> bool:
        return self._file is not None

    def take(self) -> bool:
        """Whether this mover has the turn (taking it if nobody holds it); never waits."""
        if self._file is not None:
            return True
        try:
            import fcntl
        except ImportError:  # no POSIX file locks: every mover moves, as claims keep them apart
            return True
        handle = open(self.path, "a+b")  # noqa: SIM115 - held while this mover has the turn
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._file = handle
        return True

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def move_all(store: Any, chunk: int, index: AuditEventIndex) -> int:
    """Move every journalled event, `chunk` to a transaction, indexed by `index` (the mover's);
    how many.

    Each chunk is read and prepared (parsed, its index rows found) before the write
    transaction, which then only claims and inserts it: every request's journal commit
    waits for that transaction on SQLite, so it must be short."""
    from fhirip.audit.journal import drain, oldest, prepare

    moved = 0
    while True:  # the server's own work: not held to a request's time limit
        rows = store.run(lambda tx: oldest(tx, chunk), write=False, unlimited=True)
        if not rows:
            return moved
        prepared = prepare(rows, index)
        moved += store.run(lambda tx: drain(tx, prepared=prepared), write=True, unlimited=True)
        if len(rows) < chunk:
            return moved


def move_in_background(store: Any, chunk: int, index: AuditEventIndex) -> int:
    """One round of a background mover: move every journalled event, then checkpoint SQLite's
    write-ahead log (`fhirip.store.engine.checkpoint_wal`); how many moved.

    The round writes more than anything else on a busy server (every read journals an event,
    and the round stores it with a score of index rows), so the log grows mostly by its doing;
    copied here, after the round and outside the write queue, it stays short, and the commits
    of the requests, which would otherwise find it full and copy it while every other writer
    waits, no longer do. Not after a `flush` in a request: that one must return quickly."""
    from fhirip.store.engine import checkpoint_wal

    moved = move_all(store, chunk, index)
    checkpoint_wal(store.engine)
    return moved


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
