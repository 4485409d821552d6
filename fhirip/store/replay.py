"""Keys seen once: the DPoP proofs (RFC 9449 §11.1) every server process has accepted.

A proof may be used once. Each process of a deployment verifies proofs on its own, so the
proofs already seen live in the database (`dpop_jti`), one row per key with a unique key:
the first process to insert it wins, in a short transaction of its own that commits before
the request goes on; the other finds the row and refuses the replay. Rows past their
expiry no longer count and are purged now and then.

Every DPoP request makes this transaction, so it goes straight through the driver (like the
audit journal's, `fhirip.audit.journal`): through SQLAlchemy the same statement costs
several times the CPU of the insert itself.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from fhirip.store.engine import driver_insert, driver_transaction
from fhirip.store.schema import dpop_jti

if TYPE_CHECKING:
    from fhirip.store.store import Store

# INSERT the key; on a conflict renew it only if the row there has expired; RETURNING says whether
# either happened (SQLite and PostgreSQL spell it alike).
_TAKE = ("INSERT INTO dpop_jti (key, expires) VALUES ({m}, {m}) ON CONFLICT (key) DO UPDATE "
         "SET expires = excluded.expires WHERE dpop_jti.expires < {m} RETURNING key")
_PURGE = "DELETE FROM dpop_jti WHERE expires < {m}"


def first_use(store: Store, key: str, expires: datetime, now: datetime, *, purge: bool = False) -> bool:
    """Record `key` until `expires`; False when it is already recorded and not yet expired.

    One statement decides, so two processes inserting the same key at once cannot both
    win: the insert, or — when the row left is expired — its renewal, returns the row;
    a live row makes it return nothing. Datetimes are naive UTC, like every stored time.
    With `purge`, expired rows are deleted in the same transaction first.
    """
    dialect = store.engine.dialect
    _, (_, (_, to_column)) = driver_insert(dpop_jti, dialect, ("key", "expires"))
    mark = "?" if dialect.paramstyle == "qmark" else "%s"

    def stored(moment: datetime) -> Any:
        return to_column(moment) if to_column else moment

    def take(cursor: Any) -> bool:
        if purge:
            cursor.execute(_PURGE.format(m=mark), (stored(now),))
        cursor.execute(_TAKE.format(m=mark), (key, stored(expires), stored(now)))
        return cursor.fetchone() is not None

    return driver_transaction(store, take)


class SeenOnce:
    """`first_use` on one store, purging expired rows at most every `purge_seconds`."""

    def __init__(self, store: Store, *, purge_seconds: float = 60.0) -> None:
        self.store = store
        self.purge_seconds = purge_seconds
        self._next_purge = 0.0

    def __call__(self, key: str, expires: datetime) -> bool:
        moment = time.time()
        purge = moment >= self._next_purge
        if purge:
            self._next_purge = moment + self.purge_seconds
        now = datetime.fromtimestamp(moment, timezone.utc).replace(tzinfo=None)
        return first_use(self.store, key, expires, now, purge=purge)
