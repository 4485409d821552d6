"""The codes and extensions that make a resource part of an individual plan, and how to read them.

https://hl7.org/fhir/R4/careplan.html, https://hl7.org/fhir/R4/careteam.html,
https://hl7.org/fhir/R4/episodeofcare.html, https://hl7.org/fhir/R4/consent.html

Every other module in `fhirip.plans` asks these predicates, so what counts as
"an individual plan", "a plan consent" or "a coordinator" is decided in one place.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

from fhirip.canonical import CODE_SYSTEM, STRUCTURE_DEFINITION
from fhirip.model.dates import parse_range

CAREPLAN_CATEGORY = f"{CODE_SYSTEM}/ip-careplan-category"
IP_CATEGORY_CODE = "individuell-plan"
CONSENT_CATEGORY = f"{CODE_SYSTEM}/ip-consent-category"
# The plan consent: `plan`, and the codes of the published plan-basis group.
PLAN_CONSENT_CODES = frozenset({"plan", "ip-grunnlag-plan", "ip-samtykke-plan",
                                "ip-tvungent-psykisk-helsevern"})
SHARING_CONSENT_CODES = frozenset({"deling", "ip-samtykke-deling"})

LEGAL_BASIS = f"{CODE_SYSTEM}/ip-legal-basis"
# Compulsory mental health care: a plan may then be drawn up without consent.
COMPULSORY_CARE_CODES = frozenset({"tvungent-psykisk-helsevern", "tvungent-ettervern"})

NEXT_EVALUATION_URL = f"{STRUCTURE_DEFINITION}/ip-next-evaluation"
MEASURE_STATUS_URL = f"{STRUCTURE_DEFINITION}/ip-measure-status"
LEGAL_BASIS_URL = f"{STRUCTURE_DEFINITION}/ip-legal-basis"
LIVSOMRADE_URL = f"{STRUCTURE_DEFINITION}/ip-livsomrade"

VOLVEN_9034 = "urn:oid:2.16.578.1.12.4.1.1.9034"
COORDINATOR_CODES = frozenset({"8", "18"})  # 8: hol. § 7-2, 18: sphl. § 2-5 a

FNR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.1"
DNR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.2"
NATIONAL_ID_SYSTEMS = (FNR_SYSTEM, DNR_SYSTEM)

OPEN_PLAN_STATUSES = ("draft", "active", "on-hold")  # the statuses "one plan per person" counts
CLOSED_MEASURE_STATUSES = frozenset({"completed", "cancelled", "stopped", "entered-in-error"})
ENDED_GOAL_STATUSES = frozenset({"completed", "cancelled", "entered-in-error", "rejected"})
OPEN_GOAL_STATUSES = ("proposed", "planned", "accepted", "active", "on-hold")
OPEN_EPISODE_STATUSES = ("planned", "waitlist", "active", "onhold")


def codings(concept: Any) -> Iterator[dict[str, Any]]:
    if isinstance(concept, dict):
        yield from (c for c in concept.get("coding") or [] if isinstance(c, dict))


def has_code(concepts: Any, system: str, codes: frozenset[str] | set[str]) -> bool:
    """Whether any CodeableConcept (one or a list) carries system|code for one of `codes`."""
    items = concepts if isinstance(concepts, list) else [concepts]
    return any(c.get("system") == system and c.get("code") in codes
               for concept in items for c in codings(concept))


def is_individual_plan(careplan: dict[str, Any]) -> bool:
    """A CarePlan with the IP category that is not itself part of another plan."""
    return (careplan.get("resourceType") == "CarePlan" and not careplan.get("partOf")
            and has_code(careplan.get("category") or [], CAREPLAN_CATEGORY, {IP_CATEGORY_CODE}))


def is_plan_consent(consent: dict[str, Any]) -> bool:
    return (consent.get("resourceType") == "Consent"
            and has_code(consent.get("category") or [], CONSENT_CATEGORY, PLAN_CONSENT_CODES))


def is_sharing_consent(consent: dict[str, Any]) -> bool:
    return (consent.get("resourceType") == "Consent"
            and has_code(consent.get("category") or [], CONSENT_CATEGORY, SHARING_CONSENT_CODES))


def is_coordinator_role(roles: Any) -> bool:
    return has_code(roles or [], VOLVEN_9034, COORDINATOR_CODES)


def coordinator_code(roles: Any) -> str | None:
    for concept in roles or []:
        for c in codings(concept):
            if c.get("system") == VOLVEN_9034 and c.get("code") in COORDINATOR_CODES:
                return str(c["code"])
    return None


def extension_value(element: dict[str, Any], url: str, kind: str) -> Any:
    """The value[kind] of the first extension with `url`, e.g. kind 'Date' for valueDate."""
    for ext in element.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == url:
            return ext.get(f"value{kind}")
    return None


def has_compulsory_care_basis(careplan: dict[str, Any]) -> bool:
    basis = extension_value(careplan, LEGAL_BASIS_URL, "CodeableConcept")
    return basis is not None and has_code(basis, LEGAL_BASIS, COMPULSORY_CARE_CODES)


def measure_is_open(activity: dict[str, Any]) -> bool:
    detail = activity.get("detail") or {}
    if detail.get("status") in CLOSED_MEASURE_STATUSES:
        return False
    return extension_value(detail, MEASURE_STATUS_URL, "Code") != "avsluttet"


def reference_id(reference: Any, res_type: str) -> str | None:
    """'Patient/1' (or an absolute URL ending so) → '1' when it is of `res_type`."""
    if not isinstance(reference, dict) or not isinstance(reference.get("reference"), str):
        return None
    parts = reference["reference"].split("/_history/")[0].rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == res_type:
        return parts[-1]
    return None


def referenced(reference: Any) -> tuple[str, str] | None:
    """'Practitioner/1' → ('Practitioner', '1'); None for anything else."""
    if not isinstance(reference, dict) or not isinstance(reference.get("reference"), str):
        return None
    parts = reference["reference"].split("/_history/")[0].rstrip("/").split("/")
    return (parts[-2], parts[-1]) if len(parts) >= 2 else None


# -- periods ----------------------------------------------------------------------------------

def period_range(period: Any) -> tuple[datetime, datetime]:
    """A Period as [low, high) in naive UTC; an open end is unbounded; a partial date is its whole span.

    ValueError when a date is malformed.
    """
    period = period if isinstance(period, dict) else {}
    low = parse_range(period["start"])[0] if period.get("start") else datetime.min
    high = parse_range(period["end"])[1] if period.get("end") else datetime.max
    return low, high


def overlaps(a: tuple[datetime, datetime], b: tuple[datetime, datetime]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def covers(period: Any, day: date) -> bool:
    low, high = period_range(period)
    moment = datetime(day.year, day.month, day.day)
    return low < moment + timedelta(days=1) and moment < high


def day_before(day: date) -> date:
    return day - timedelta(days=1)
