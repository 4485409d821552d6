"""Keys seen once: the DPoP proofs (RFC 9449 §11.1) every server process has accepted.

A proof may be used once. Each process of a deployment verifies proofs on its own, so the
proofs already seen live in the database (`dpop_jti`), one row per key with a unique key:
the first process to insert it wins, in a short transaction of its own that commits before
the request goes on; the other finds the row and refuses the replay. Rows past their
expiry no longer count and are purged now and then.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, delete
from sqlalchemy.dialects import postgresql, sqlite

from fhirip.store.schema import dpop_jti

if TYPE_CHECKING:
    from fhirip.store.store import Store


def _take(dialect: object) -> object:
    """INSERT the key; on a conflict renew it only if the row there has expired; RETURNING says
    whether either happened. Built once per dialect: only the parameters change per proof."""
    statement = dialect.insert(dpop_jti).values(key=bindparam("k"), expires=bindparam("until"))  # type: ignore[attr-defined]
    return statement.on_conflict_do_update(
        index_elements=[dpop_jti.c.key], set_={"expires": statement.excluded.expires},
        where=dpop_jti.c.expires < bindparam("now")).returning(dpop_jti.c.key)


_TAKE = {"postgresql": _take(postgresql), "sqlite": _take(sqlite)}


def first_use(store: Store, key: str, expires: datetime, now: datetime, *, purge: bool = False) -> bool:
    """Record `key` until `expires`; False when it is already recorded and not yet expired.

    One statement decides, so two processes inserting the same key at once cannot both
    win: the insert, or — when the row left is expired — its renewal, returns the row;
    a live row makes it return nothing. Datetimes are naive UTC, like every stored time.
    With `purge`, expired rows are deleted in the same transaction first.
    """
    statement = _TAKE[store.dialect if store.dialect in _TAKE else "sqlite"]
    with store.transaction(write=True) as tx:
        if purge:
            tx.conn.execute(delete(dpop_jti).where(dpop_jti.c.expires < now))
        return tx.conn.execute(statement, {"k": key, "until": expires, "now": now}).first() is not None


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
