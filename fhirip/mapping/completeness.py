"""When is an imported plan complete enough to keep its legacy status?

An incomplete plan is imported as ``draft`` and never ``active`` (forskrift om individuell
plan: no plan without consent unless under compulsory mental health care; one responsible
coordinator at all times; the plan holds goals). The rules mirror what profiles/ip-CarePlan.json
demands of an active plan (ip-cp-2: period start, care team and goal; ip-cp-8: legal basis) and
what the server's activation rule checks (fhirip.plans.lifecycle: a plan consent and a
coordinator in force today), so an active legacy plan the server would refuse lands as a draft
instead of not at all.
Each rule named in mappings/ip-resources.json ("completeness.rules") is a function here.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Callable

from fhirip.canonical import STRUCTURE_DEFINITION
from fhirip.mapping.paths import get_value
from fhirip.plans.codes import covers

COORDINATOR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.1.9034"
COORDINATOR_CODES = {"8", "18"}
PLAN_CONSENT_CODE = "ip-samtykke-plan"
LEGAL_BASIS_PATH = f"extension({STRUCTURE_DEFINITION}/ip-legal-basis).valueCodeableConcept"


def _of_type(resources: list[dict[str, Any]], resource_type: str) -> list[dict[str, Any]]:
    return [r for r in resources if r.get("resourceType") == resource_type]


def _in_force(period: dict[str, Any] | None, today: date) -> bool:
    try:
        return covers(period or {}, today)
    except ValueError:
        return False


def has_active_plan_consent(resources: list[dict[str, Any]], today: date) -> bool:
    """An active consent to draw up the plan, in force today, among the resources."""
    for consent in _of_type(resources, "Consent"):
        codes = {c.get("code") for cat in consent.get("category", []) for c in cat.get("coding", [])}
        if PLAN_CONSENT_CODE in codes and consent.get("status") == "active" \
                and _in_force((consent.get("provision") or {}).get("period"), today):
            return True
    return False


def _has_legal_basis(plan: dict[str, Any], resources: list[dict[str, Any]], today: date) -> str | None:
    codes = [c.get("code") for c in (get_value(plan, LEGAL_BASIS_PATH) or {}).get("coding", [])]
    if not codes:
        return "no legal basis (consent or compulsory care) recorded"
    if any(str(code).startswith("tvungent") for code in codes) or has_active_plan_consent(resources, today):
        return None
    return "no consent to the plan in force today and no compulsory-care legal basis"


def _has_period_start(plan: dict[str, Any], resources: list[dict[str, Any]], today: date) -> str | None:
    return None if get_value(plan, "period.start") else "no start of the plan period"


def _has_one_current_coordinator(plan: dict[str, Any], resources: list[dict[str, Any]], today: date) -> str | None:
    count = 0
    for team in _of_type(resources, "CareTeam"):
        for participant in team.get("participant", []):
            codings = [c for role in participant.get("role", []) for c in role.get("coding", [])]
            if any(c.get("system") == COORDINATOR_SYSTEM and c.get("code") in COORDINATOR_CODES for c in codings) \
                    and _in_force(participant.get("period"), today):
                count += 1
    if count == 1:
        return None
    return "no current coordinator" if count == 0 else f"{count} current coordinators, the rule is exactly one"


def _has_goal(plan: dict[str, Any], resources: list[dict[str, Any]], today: date) -> str | None:
    return None if plan.get("goal") else "no goals"


RULES: dict[str, Callable[[dict[str, Any], list[dict[str, Any]], date], str | None]] = {
    "has-legal-basis": _has_legal_basis,
    "has-period-start": _has_period_start,
    "has-one-current-coordinator": _has_one_current_coordinator,
    "has-goal": _has_goal,
}


def incompleteness(plan: dict[str, Any], resources: list[dict[str, Any]], rules: list[str], today: date) -> list[str]:
    """What the plan lacks, one phrase per broken rule; empty when complete."""
    return [problem for name in rules if (problem := RULES[name](plan, resources, today))]
