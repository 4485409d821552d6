"""One Patient record per person: a second Patient with the same fødselsnummer/D-nummer is refused.

The plan rules speak of the person, matched by national identifier; a second record for the
same number would split the person's plan, consents and coordinator between two records. The
database holds the rule: each Patient claims its national identifiers (`Tx.claim`) in the
transaction that writes it, so two records written at once cannot both carry one number.
The refusal names the number, never the other record: the writer may not be allowed to see it,
and the words must not depend on that.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fhirip.errors import Conflict, Issue
from fhirip.context import Context
from fhirip.plans.codes import DNR_SYSTEM, NATIONAL_ID_SYSTEMS
from fhirip.store import Current

# The claim column's width; a longer identifier value claims by its digest.
_CLAIM_WIDTH = 255


def national_identifiers(patient: dict[str, Any]) -> set[tuple[str, str]]:
    """The (system, value) fødselsnummer and D-nummer identifiers a Patient carries."""
    found = set()
    for identifier in patient.get("identifier") or []:
        if not isinstance(identifier, dict):
            continue
        system, value = identifier.get("system"), identifier.get("value")
        if system in NATIONAL_ID_SYSTEMS and isinstance(value, str) and value:
            found.add((system, value))
    return found


def identifier_claim(system: str, value: str) -> str:
    """What a Patient claims for one national identifier (`Tx.claim`)."""
    claim = f"national-id|{system}|{value}"
    if len(claim) <= _CLAIM_WIDTH:
        return claim
    return f"national-id|{system}|sha256:{hashlib.sha256(value.encode('utf-8')).hexdigest()}"


def refuse_second_patient(ctx: Context, patient: dict[str, Any], previous: Current | None) -> list[Issue]:
    """Write hook on Patient: 409 when another Patient record carries one of its national identifiers."""
    identifiers = national_identifiers(patient)
    if not identifiers and (previous is None or previous.deleted):
        return []
    by_claim = {identifier_claim(system, value): (system, value) for system, value in identifiers}
    held = ctx.tx.claim("Patient", patient["id"], by_claim)
    if not held:
        return []
    system, value = min(by_claim[claim] for claim in held)
    kind = "D-nummer" if system == DNR_SYSTEM else "fødselsnummer"
    raise Conflict(
        f"Another Patient record already carries the {kind} {value} ({system}); a person has one "
        f"Patient record. Update that record (Patient?identifier={system}|{value}) instead of "
        "writing a second", expression=["Patient.identifier"])
