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

The whole decision is never cached before it is made, so a deferred policy never
outlives its request or its connection.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from fhirip.auth.actor import Actor
from fhirip.consent.access import Access
from fhirip.consent.policy import AccessPolicy


class DeferredPolicy:
    """An `AccessPolicy` for one request whose grants are decided when first needed."""

    def __init__(self, conn: Connection, actor: Actor, *, now: datetime, token_issued_at: datetime | None,
                 keep: Callable[[AccessPolicy], None]):
        from fhirip.consent.decide import decide
        from fhirip.consent.identity import who

        self._conn = conn
        self._token_issued_at = token_issued_at
        self._keep = keep
        self._who = who(conn, actor, now)  # read once, for every part of the decision
        # Who the actor is, without any patient's grants but their own.
        self._base = decide(conn, actor, now=now, token_issued_at=token_issued_at, within=(), known=self._who)
        self._whole: AccessPolicy | None = None
        self._known: dict[str, tuple[Access, ...]] = {}

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
                                 token_issued_at=self._token_issued_at, known=self._who)
            self._keep(self._whole)
        return self._whole

    def scoped(self, conn: Connection, patients: Collection[str]) -> AccessPolicy:
        """The decision within these patients' compartments (see the module docstring)."""
        if self._whole is not None:
            return self._whole
        from fhirip.consent.decide import decide

        policy = decide(conn, self.actor, now=self.decided_at, token_issued_at=self._token_issued_at,
                        within=patients, known=self._who)
        for patient in patients:
            self._known[patient] = tuple(policy.grants.get(patient, ()))
        return policy

    def may(self, interaction: str, res_type: str | None) -> bool:
        """As `AccessPolicy.may`; an operation and a bundle are decided entry by entry, so
        they need no grants here."""
        if self.actor is not None and (interaction in ("capabilities", "batch", "transaction")
                                       or interaction.startswith("operation:")):
            return True
        return self.whole().may(interaction, res_type)

    def _accesses(self, patient_id: str) -> tuple[Access, ...]:
        if self._whole is None and patient_id in self._known:
            return self._known[patient_id]
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
