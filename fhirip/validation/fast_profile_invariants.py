"""fhirip's own profile invariants evaluated in Python, with the FHIRPath engine's exact verdict.

https://hl7.org/fhirpath/N1/#boolean-logic

The plan profiles' invariants run on every plan and on every measure in it; through the general
FHIRPath engine they were about an eighth of validating an imported plan. Each function here
answers what `fhirpath.holds(..., empty_passes=False)` answers for the one (key, expression) it is
registered under, so a changed profile goes back to the engine, and returns None for a shape it
does not decide (a primitive with an extension, an unexpected type), which the engine then
evaluates. FHIRPath's three-valued logic matters here: `a or b` holds only when one side is true,
and `a implies b` holds when `a` is false or `b` is true; a missing `status` is empty, not false.
Tests compare every function with the engine on generated JSON.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fhirip.canonical import CANONICAL_BASE
from fhirip.fhirpath_simple import present_at

_UNDECIDED = object()
MEASURE_STATUS = f"{CANONICAL_BASE}/StructureDefinition/ip-measure-status"
NEXT_EVALUATION = f"{CANONICAL_BASE}/StructureDefinition/ip-next-evaluation"
LEGAL_BASIS = f"{CANONICAL_BASE}/StructureDefinition/ip-legal-basis"
_STATUS_PAIRS = ("^(onsket/not-started|planlagt/(not-started|scheduled)|sokt/(not-started|scheduled|on-hold)|"
                 "igangsatt/(in-progress|on-hold)|avsluttet/(completed|stopped|cancelled))$")
_STATUS_PAIR = re.compile(_STATUS_PAIRS, re.DOTALL)  # as the engine compiles `matches`


def _code(element: Any, name: str) -> Any:
    """A primitive string element's value, None when absent, _UNDECIDED for anything else."""
    if not isinstance(element, dict) or f"_{name}" in element:
        return _UNDECIDED
    value = element.get(name)
    return value if value is None or isinstance(value, str) else _UNDECIDED


def _extensions(element: dict[str, Any], url: str) -> list[dict[str, Any]] | None:
    """The element's extensions with this url; None when the list is not plain JSON objects."""
    found = element.get("extension")
    if found is None:
        return []
    if not isinstance(found, list) or not all(isinstance(e, dict) for e in found):
        return None
    return [e for e in found if e.get("url") == url]


def _status_implies(statuses: tuple[str, ...], consequence: Callable[[dict[str, Any]], bool | None]
                    ) -> Callable[[Any], bool | None]:
    """`(status = s1 or status = s2 …) implies <consequence>`."""
    def holds(element: Any) -> bool | None:
        status = _code(element, "status")
        if status is _UNDECIDED:
            return None
        if isinstance(status, str) and status not in statuses:
            return True  # false implies anything
        return consequence(element)  # true implies b is b; empty implies b holds only when b is true

    return holds


def _has_extension(url: str) -> Callable[[dict[str, Any]], bool | None]:
    def exists(element: dict[str, Any]) -> bool | None:
        found = _extensions(element, url)
        return None if found is None else bool(found)

    return exists


def _exists(*path: str) -> Callable[[dict[str, Any]], bool]:
    return lambda element: bool(present_at(element, *path))


def _plan_is_started(element: dict[str, Any]) -> bool:
    return bool(present_at(element, "period", "start")) and bool(present_at(element, "careTeam")) and bool(present_at(element, "goal"))


def _measure_status_agrees(element: Any) -> bool | None:
    """ip-cp-9: the measure status extension and the FHIR status form an allowed pair."""
    if not isinstance(element, dict):
        return None
    found = _extensions(element, MEASURE_STATUS)
    status = _code(element, "status")  # the engine evaluates every operand of `or`
    if found is None or status is _UNDECIDED:
        return None
    if not found:
        return True
    values = [value for extension in found for key, value in extension.items() if key.startswith("value")]
    if (status is None or not values or not isinstance(values[0], str)
            or any(key.startswith("_value") for e in found for key in e)):
        return None  # the engine may fail on the concatenation even when a status decides
    if status in ("entered-in-error", "unknown"):
        return True
    return _STATUS_PAIR.search(f"{values[0]}/{status}") is not None


def _goals_in_plan(element: Any) -> bool | None:
    """ip-cp-4: every goal a measure names is one of the plan's goals."""
    if not isinstance(element, dict):
        return None
    named = present_at(element, "activity", "detail", "goal")
    listed = present_at(element, "goal")
    references = []
    for reference in (*named, *listed):
        if not isinstance(reference, dict) or "_reference" in reference:
            return None
        value = reference.get("reference")
        if value is not None and not isinstance(value, str):
            return None
        references.append(value)
    wanted = {r for r in references[len(named):] if r is not None}
    return all(r in wanted for r in references[:len(named)] if r is not None)


def _goal_given(element: Any) -> bool | None:
    return bool(present_at(element, "goal")) if isinstance(element, dict) else None


PROFILE_FAST: dict[tuple[str, str], Callable[[Any], bool | None]] = {
    ("ip-cp-2", "status = 'active' implies (period.start.exists() and careTeam.exists() and goal.exists())"):
        _status_implies(("active",), _plan_is_started),
    ("ip-cp-4", "activity.detail.goal.reference.subsetOf(goal.reference)"): _goals_in_plan,
    ("ip-cp-5", "(status = 'cancelled' or status = 'stopped') implies statusReason.exists()"):
        _status_implies(("cancelled", "stopped"), _exists("statusReason")),
    ("ip-cp-6", "(status = 'completed' or status = 'revoked') implies period.end.exists()"):
        _status_implies(("completed", "revoked"), _exists("period", "end")),
    ("ip-cp-7", f"status = 'active' implies extension('{NEXT_EVALUATION}').exists()"):
        _status_implies(("active",), _has_extension(NEXT_EVALUATION)),
    ("ip-cp-8", f"status = 'active' implies extension('{LEGAL_BASIS}').exists()"):
        _status_implies(("active",), _has_extension(LEGAL_BASIS)),
    ("ip-cp-9", (f"extension('{MEASURE_STATUS}').empty() or status = 'entered-in-error' or status = 'unknown' or "
                 f"(extension('{MEASURE_STATUS}').value.first() & '/' & status).matches('{_STATUS_PAIRS}')")):
        _measure_status_agrees,
    ("ip-cp-10", "goal.exists()"): _goal_given,
}
