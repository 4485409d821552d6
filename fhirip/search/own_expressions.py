"""Python equivalents of fhirip's own search parameter expressions that no fast path reads.

https://hl7.org/fhirpath/N1/#filtering-and-projection

The current-coordinator parameter (`profiles/search-parameters/careteam-coordinator.json`)
filters with a nested `where(...)`, which only the general FHIRPath engine runs, at about
1.5 ms a CareTeam: more than the rest of a CareTeam's index together. Each equivalent here is
keyed by the exact expression it replaces, so a changed definition falls back to the engine
until its equivalent is rewritten; tests compare the two on generated resources. The steps
between the filters are `fhirip.fhirpath_simple.children`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fhirip.fhirpath_simple import children

VOLVEN_9034 = "urn:oid:2.16.578.1.12.4.1.1.9034"  # Volven 9034, roles in an individual plan
_COORDINATOR_CODES = ("8", "18")  # coordinator; coordinator in specialist care

CURRENT_COORDINATOR = (
    "CareTeam.participant.where(role.coding.where(system='urn:oid:2.16.578.1.12.4.1.1.9034' and "
    "(code='8' or code='18')).exists() and period.end.empty()).member")


def current_coordinators(resource: dict[str, Any]) -> list[Any] | None:
    """`CURRENT_COORDINATOR` on a CareTeam; None for a shape it does not decide (the engine then
    evaluates the expression)."""
    if resource.get("resourceType") != "CareTeam":
        return []
    members: list[Any] = []
    for participant in children([resource], "participant"):
        if not isinstance(participant, dict):
            return None
        period = participant.get("period")
        if "_period" in participant or (isinstance(period, dict) and "_end" in period):
            return None  # an extension on a primitive: its FHIRPath presence is the engine's to say
        if period is not None and not isinstance(period, dict):
            return None
        if period is not None and period.get("end") is not None:
            continue
        if not any(_is_coordinator(coding) for coding in children(children([participant], "role"), "coding")):
            continue
        members.extend(children([participant], "member"))
    return members


def _is_coordinator(coding: Any) -> bool:
    return (isinstance(coding, dict) and coding.get("system") == VOLVEN_9034
            and coding.get("code") in _COORDINATOR_CODES)


# expression → its equivalent (None where it leaves the resource to the engine)
EQUIVALENTS: dict[str, Callable[[dict[str, Any]], list[Any] | None]] = {
    CURRENT_COORDINATOR: current_coordinators,
}
