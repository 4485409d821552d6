"""Consent-based access: the policy decision point and the SQL filter it produces.

`decide(conn, actor)` runs at the start of every request and returns an
`AccessPolicy`: `sql(alias)` for every statement that reads resources, `may()` as
the upper bound per interaction and type, `can_write()` / `can_delete()` for
writes, and `mask()` for the coordinating unit's administrative view.
"""

from fhirip.consent.access import Access, Basis
from fhirip.consent.cache import decide_cached
from fhirip.consent.decide import BREAK_THE_GLASS_MINUTES, decide
from fhirip.consent.policy import AccessPolicy, Decision

__all__ = ["BREAK_THE_GLASS_MINUTES", "Access", "AccessPolicy", "Basis", "Decision", "decide", "decide_cached"]
