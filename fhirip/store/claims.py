"""Facts one resource holds alone, and named locks: what lets the database hold a rule that
compares resources (one open plan per person, one Patient per national identifier, one
coordinator at a time) under concurrent writers instead of a check that only a single writer
makes safe.

A claim is a row of `schema.resource_claim` whose primary key admits one holder; a resource
states its claims in the transaction that writes it (`Tx.claim`) and gives them up when it is
deleted. A lock (`Tx.hold`) is for a rule no key can express (overlapping periods): the
writers of one person queue on it, then check and write.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from sqlalchemy import BigInteger, Connection, bindparam, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from fhirip.store.schema import resource_claim

_CLAIMS_OF = select(resource_claim.c.claim).where(resource_claim.c.res_type == bindparam("t"),
                                                  resource_claim.c.res_id == bindparam("i"))
_HOLDERS = select(resource_claim.c.claim, resource_claim.c.res_type, resource_claim.c.res_id).where(
    resource_claim.c.claim.in_(bindparam("claims", expanding=True)))
_GIVE_UP = delete(resource_claim).where(resource_claim.c.res_type == bindparam("t"),
                                        resource_claim.c.res_id == bindparam("i"),
                                        resource_claim.c.claim.in_(bindparam("claims", expanding=True)))
_GIVE_UP_ALL = delete(resource_claim).where(resource_claim.c.res_type == bindparam("t"),
                                            resource_claim.c.res_id == bindparam("i"))
# A claim another resource holds is left to it (no error, so the transaction goes on and can say
# who holds it); on PostgreSQL, one that another transaction is taking waits for that one to end.
# It returns the claims it took: when those are all that were wanted, nobody else holds any.
_TAKE_IF_FREE: dict[str, Any] = {
    name: dialect.insert(resource_claim).on_conflict_do_nothing(index_elements=["claim"])
    .returning(resource_claim.c.claim)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))}
_ADVISORY_LOCK = select(func.pg_advisory_xact_lock(bindparam("key", type_=BigInteger)))


def claim(conn: Connection, res_type: str, res_id: str, claims: Iterable[str]) -> dict[str, tuple[str, str]]:
    """Make `claims` the ones (res_type, res_id) holds, giving up the others it held; the wanted
    claims another resource holds, with their holder (they stay with it).

    The answer is the committed state even under concurrent writers: on PostgreSQL a claim that
    another open transaction has just taken waits for that transaction to end, so the loser of a
    race is told of the winner (SQLite runs one writer at a time).
    """
    wanted = sorted(set(claims))  # one order for every writer: two never wait on each other
    key = {"t": res_type, "i": res_id}
    held = set(conn.execute(_CLAIMS_OF, key).scalars())
    if held - set(wanted):
        conn.execute(_GIVE_UP, {**key, "claims": sorted(held - set(wanted))})
    new = [name for name in wanted if name not in held]
    if not new:
        return {}
    taken = set(conn.execute(_TAKE_IF_FREE[conn.dialect.name],
                             [{"claim": name, "res_type": res_type, "res_id": res_id} for name in new]).scalars())
    others = [name for name in new if name not in taken]
    if not others:
        return {}
    return {name: (t, i) for name, t, i in conn.execute(_HOLDERS, {"claims": others})
            if (t, i) != (res_type, res_id)}


def holders(conn: Connection, res_type: str, res_id: str, claims: Iterable[str]) -> dict[str, tuple[str, str]]:
    """The claims of `claims` another resource than (res_type, res_id) holds now, with their
    holder: what `claim` would answer, read without taking anything."""
    wanted = sorted(set(claims))
    if not wanted:
        return {}
    return {name: (t, i) for name, t, i in conn.execute(_HOLDERS, {"claims": wanted})
            if (t, i) != (res_type, res_id)}


def give_up(conn: Connection, res_type: str, res_id: str) -> None:
    """A deleted resource holds nothing."""
    conn.execute(_GIVE_UP_ALL, {"t": res_type, "i": res_id})


def hold(conn: Connection, names: Iterable[str]) -> None:
    """Locks on names until the transaction ends. PostgreSQL: advisory locks, taken in one order
    by every writer; SQLite: a writer already holds the database's only write lock."""
    if conn.dialect.name != "postgresql":
        return
    for number in sorted({_lock_number(name) for name in names}):
        conn.execute(_ADVISORY_LOCK, {"key": number})


def _lock_number(name: str) -> int:
    """A lock name as the signed 64-bit number PostgreSQL's advisory locks take."""
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest(), "big", signed=True)
