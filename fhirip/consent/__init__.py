"""Consent-based access as data.

- `grants`: grant derivation, pure functions from a Consent, CareTeam, EpisodeOfCare,
  RelatedPerson, Patient, Practitioner, PractitionerRole or Organization to the rows it
  puts in the access index; `index` writes them in the transaction of every write.
- `decide(conn, actor)`: resolving a caller to grantee keys and reading their rows in
  force at the request's moment into an `AccessPolicy`, at the start of every request.
- `AccessPolicy.sql(alias)`: the one SQL condition every statement that reads resources
  for a caller carries; `may()` the upper bound per interaction and type (scopes and role),
  `can_write()` / `can_delete()` for writes, `mask()` for the administrative view.
"""

from fhirip.consent.access import Access, Basis
from fhirip.consent.decide import BREAK_THE_GLASS_MINUTES, decide
from fhirip.consent.policy import AccessPolicy, Decision

__all__ = ["BREAK_THE_GLASS_MINUTES", "Access", "AccessPolicy", "Basis", "Decision", "decide"]
