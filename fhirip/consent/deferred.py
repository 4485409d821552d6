"""A decision made only as far as the request needs it.

A practitioner on hundreds of care teams has hundreds of patients; deciding all of
them costs far more than a request about one person (`CarePlan/$current`). So the
request starts with `DeferredPolicy`: who the actor is (their own patients, whether
they are a relative, break-the-glass) is decided at once, cheaply; the grants are not.

- `scoped(conn, patients)`: the decision within those patients' compartments
  (`decide(..., within=patients)`): exactly the grants the whole decision gives them,
  and none to anyone else. An operation about known patients reads under it.
- anything else (`sql`, `may`, `mask`, writes ...) makes the whole decision, once,
  with the same moment, and hands it to the decision cache.
- `consents_for` and `bases` (the audit record) answer for a patient already decided
  within a scope without the whole decision.

What is decided is kept between requests as a `PartialDecision` (who the actor is,
and the decisions within the patients asked about so far), in the decision cache under
the same key as the whole decision would be: the same caller reading another of the
same patient's resources pays for nothing. A `DeferredPolicy` itself (it holds the
request's connection) never outlives its request.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from fhirip.auth.actor import Actor
from fhirip.consent.access import Access
from fhirip.consent.policy import AccessPolicy


# Patient sets whose scoped decisions one partial decision keeps (a caller reads a few records).
_KEPT_SCOPES = 256


class PartialDecision:
    """What a deferred decision has settled so far, reusable by the same caller's next
    requests while the decision's inputs are unchanged (see `fhirip.consent.cache`)."""

    def __init__(self, who: Any, base: AccessPolicy):
        self.who = who
        self.base = base  # the decision within no patient's compartment
        self.scopes: dict[frozenset[str], AccessPolicy] = {}  # decisions within these patients
        self.known: dict[str, tuple[Access, ...]] = {}  # each decided patient's grants

    @property
    def decided_at(self) -> datetime:
        return self.base.decided_at

    def learn(self, patients: frozenset[str], policy: AccessPolicy) -> None:
        # Plain assignments: two threads learning at once at worst decide twice.
        if len(self.scopes) < _KEPT_SCOPES:
            self.scopes[patients] = policy
        for patient in patients:
            self.known[patient] = tuple(policy.grants.get(patient, ()))


class DeferredPolicy:
    """An `AccessPolicy` for one request whose grants are decided when first needed."""

    def __init__(self, conn: Connection, actor: Actor, *, now: datetime, token_issued_at: datetime | None,
                 keep: Callable[[AccessPolicy], None], partial: PartialDecision | None = None):
        self._conn = conn
        self._token_issued_at = token_issued_at
        self._keep = keep
        if partial is None:
            from fhirip.consent.decide import decide
            from fhirip.consent.identity import who

            known = who(conn, actor, now)  # read once, for every part of the decision
            # Who the actor is, without any patient's grants but their own.
            partial = PartialDecision(known, decide(conn, actor, now=now, token_issued_at=token_issued_at,
                                                    within=(), known=known))
        self.partial = partial
        self._base = partial.base
        self._whole: AccessPolicy | None = None

    # -- decided at once ----------------------------------------------------------------------

    @property
    def actor(self) -> Actor | None:
        return self._base.actor

    @property
    def decided_at(self) -> datetime:
        return self._base.decided_at

    @property
    def break_the_glass(self) -> bool:
        return self._base.break_the_glass

    @property
    def resolved_actor(self) -> Actor | None:
        return self._base.resolved_actor

    # -- decided as far as needed ---------------------------------------------------------------

    def whole(self) -> AccessPolicy:
        """The whole decision (made once, at the moment this policy was started)."""
        if self._whole is None:
            from fhirip.consent.decide import decide

            self._whole = decide(self._conn, self.actor, now=self.decided_at,
                                 token_issued_at=self._token_issued_at, known=self.partial.who)
            self._keep(self._whole)
        return self._whole

    def scoped(self, conn: Connection, patients: Collection[str]) -> AccessPolicy:
        """The decision within these patients' compartments (see the module docstring)."""
        if self._whole is not None:
            return self._whole
        if not patients:
            return self._base  # decided within no patient's compartment at the start
        wanted = frozenset(patients)
        policy = self.partial.scopes.get(wanted)
        if policy is None:
            from fhirip.consent.decide import decide

            policy = decide(conn, self.actor, now=self.decided_at, token_issued_at=self._token_issued_at,
                            within=wanted, known=self.partial.who)
            self.partial.learn(wanted, policy)
        return policy

    def may(self, interaction: str, res_type: str | None) -> bool:
        """As `AccessPolicy.may`; an operation and a bundle are decided entry by entry, so
        they need no grants here."""
        if self.actor is not None and (interaction in ("capabilities", "batch", "transaction")
                                       or interaction.startswith("operation:")):
            return True
        return self.whole().may(interaction, res_type)

    def _accesses(self, patient_id: str) -> tuple[Access, ...]:
        if self._whole is None and patient_id in self.partial.known:
            return self.partial.known[patient_id]
        return tuple(self.whole().grants.get(patient_id, ()))

    def consents_for(self, patient_id: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for a in self._accesses(patient_id) for c in a.consents))

    def bases(self, patient_id: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a.basis.value for a in self._accesses(patient_id)))

    def sql(self, alias: Any) -> Any:
        return self.whole().sql(alias)

    __call__ = sql

    def __getattr__(self, name: str) -> Any:
        return getattr(self.whole(), name)
