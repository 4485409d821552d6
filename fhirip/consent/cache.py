"""Reusing a decision until anything it was made from changes.

A decision reads the caller's consents, care teams, relations and identities; for a
practitioner on many teams that is hundreds of resources. Those inputs change far
less often than they are read, so a decision is kept and reused while

- no Consent, CareTeam, Patient, RelatedPerson, Practitioner, PractitionerRole,
  Organization or EpisodeOfCare has been written since (the newest version sequence
  of each of those types, read in one statement of index seeks, is part of the key:
  a withdrawn consent changes it, so the next request decides afresh), and
- it is younger than `MAX_AGE` (periods, ages and break-the-glass windows run out
  with time, not with writes).

A limit on PostgreSQL: version numbers are taken when a row is inserted and committed in
any order, so two concurrent writes of one input type that commit in the reverse order
of their numbers leave the newest number unchanged by the later commit; a decision made
between the two commits is then kept until `MAX_AGE`. (SQLite has one writer at a time:
numbers are committed in order.)

The key also holds everything of the caller the decision depends on, so two
callers never share one. What is kept is the whole decision once made, and until
then what a deferred decision has settled (`PartialDecision`: who the caller is and
the decisions within the patients asked about), under the same rules.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, any_, func, literal_column, select
from sqlalchemy.dialects.postgresql import array

from fhirip.auth import Actor
from fhirip.auth.actor import ActorKind
from fhirip.consent.deferred import DeferredPolicy, PartialDecision
from fhirip.consent.identity import is_coordinating_unit
from fhirip.consent.policy import AccessPolicy
from fhirip.store.schema import resource_version

INPUT_TYPES = ("Consent", "CareTeam", "Patient", "RelatedPerson", "Practitioner", "PractitionerRole",
               "Organization", "EpisodeOfCare")
MAX_AGE = timedelta(seconds=10)
MAX_ENTRIES = 4096

_MARKER = select(*[select(func.max(resource_version.c.seq))
                   .where(resource_version.c.res_type == res_type).scalar_subquery()
                   for res_type in INPUT_TYPES])
# PostgreSQL answers `max(seq) WHERE res_type = …` by walking the primary key backwards until
# a row of the type turns up: past every AuditEvent written since, tens of milliseconds once
# reads have been audited for a while. Asked as a one-element `= ANY` list, ordered by the
# (res_type, seq) index's own columns, it can only be that index's seek.
_MARKER_POSTGRESQL = select(*[
    select(resource_version.c.seq)
    .where(resource_version.c.res_type == any_(array([literal_column(f"'{res_type}'")])))  # constants: a
    # parameter would let a prepared statement's generic plan pick the primary key again
    .order_by(resource_version.c.res_type.desc(), resource_version.c.seq.desc())
    .limit(literal_column("1")).scalar_subquery()  # no parameter at all: see below
    for res_type in INPUT_TYPES])
# The statement is prepared by the driver once a connection has sent it a few times. With its
# LIMITs as parameters PostgreSQL kept planning it afresh for every execution (a custom plan:
# 0.5 ms of planning for 0.15 ms of execution); without any parameter it is planned once per
# connection.


def change_marker(conn: Connection) -> tuple[Any, ...]:
    """The newest version sequence of every type a decision reads."""
    return tuple(conn.execute(_MARKER_POSTGRESQL if conn.dialect.name == "postgresql" else _MARKER).one())


def actor_key(actor: Actor, token_issued_at: datetime | None) -> tuple[Any, ...]:
    return (actor.sub, actor.kind, actor.issuer, actor.client_id, actor.hpr_number, actor.person_id,
            actor.org_number, actor.roles, actor.scopes, actor.purpose_of_use, actor.btg_reason,
            token_issued_at)


class DecisionCache:
    def __init__(self, max_entries: int = MAX_ENTRIES, max_age: timedelta = MAX_AGE):
        self.max_entries = max_entries
        self.max_age = max_age
        # A whole decision, or what a deferred one has settled so far.
        self._entries: OrderedDict[tuple[Any, ...], AccessPolicy | PartialDecision] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...], now: datetime) -> AccessPolicy | PartialDecision | None:
        with self._lock:
            policy = self._entries.get(key)
            if policy is None:
                return None
            if now - policy.decided_at > self.max_age:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return policy

    def put(self, key: tuple[Any, ...], policy: AccessPolicy | PartialDecision) -> None:
        with self._lock:
            self._entries[key] = policy
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)


_CACHE = DecisionCache()


def decide_cached(conn: Connection, actor: Actor | None, *, token_issued_at: datetime | None = None,
                  cache: DecisionCache = _CACHE) -> AccessPolicy | DeferredPolicy:
    """`decide`, reused while its inputs are unchanged (see the module docstring).

    Without a kept decision, a person's or practitioner's grants are decided only as far
    as the request needs them (`DeferredPolicy`); the whole decision, once made, is kept."""
    from fhirip.consent.decide import decide

    if actor is None:
        return decide(conn, actor, token_issued_at=token_issued_at)
    now = datetime.now(UTC)
    # A system client's decision follows from its token alone (it reads no data), so no change
    # of the data needs to be looked for; the coordinating unit's reads its organisations' patients.
    from_token_alone = actor.kind is ActorKind.SYSTEM and not is_coordinating_unit(actor)
    key = (actor_key(actor, token_issued_at), None if from_token_alone else change_marker(conn),
           conn.dialect.name, str(conn.engine.url))
    kept = cache.get(key, now)
    if isinstance(kept, AccessPolicy):
        return kept
    if actor.kind is ActorKind.SYSTEM:  # no patients to decide: the whole decision is cheap
        policy = decide(conn, actor, now=now, token_issued_at=token_issued_at)
        cache.put(key, policy)
        return policy
    # A partial decision goes on at its own moment, as a kept whole decision would.
    deferred = DeferredPolicy(conn, actor, now=kept.decided_at if kept else now, token_issued_at=token_issued_at,
                              keep=lambda whole: cache.put(key, whole), partial=kept)
    if kept is None:
        cache.put(key, deferred.partial)
    return deferred
