"""The individual plan as a living process: its rules (write hooks) and the views built on them.

Rules, each a write hook (https://hl7.org/fhir/R4/http.html#update — every write passes them):

- one open individual plan per person, matched by fødselsnummer/D-nummer (409),
- one Patient record per fødselsnummer/D-nummer (409),
- no overlapping coordinator periods on a CareTeam or across coordinator episodes (422),
- a plan is activated only with consent or compulsory-care basis, a coordinator,
  a period and a goal (422, one issue per missing piece),
- a new plan consent supersedes the old; withdrawing it revokes the plan,
- the plan's narrative (`CarePlan.text`) is generated when it is absent or generated.

`write_hooks()` returns them in the order they must run; the server appends
them to `Services.write_hooks`.
"""

from __future__ import annotations

from typing import Any

from fhirip.errors import Issue
from fhirip.context import Context, WriteHook
from fhirip.plans.coordinator import refuse_overlapping_coordinators
from fhirip.plans.lifecycle import apply_plan_consent, check_activation
from fhirip.plans.narrative import fill_plan_narrative
from fhirip.plans.one_patient import refuse_second_patient
from fhirip.plans.one_plan import (
    DuplicatePlans,
    find_duplicate_plans,
    refuse_second_plan,
)
from fhirip.store import Current

_BY_TYPE: dict[str, tuple[WriteHook, ...]] = {
    "CarePlan": (refuse_second_plan, check_activation, fill_plan_narrative),
    "CareTeam": (refuse_overlapping_coordinators,),
    "EpisodeOfCare": (refuse_overlapping_coordinators,),
    "Consent": (apply_plan_consent,),
    "Patient": (refuse_second_patient,),
}


def plan_rules(ctx: Context, resource: dict[str, Any], previous: Current | None) -> list[Issue]:
    """The one write hook that runs the plan rules for the resource types they concern."""
    issues: list[Issue] = []
    for hook in _BY_TYPE.get(resource.get("resourceType", ""), ()):
        found = hook(ctx, resource, previous)
        issues += found
        if any(issue.severity in ("error", "fatal") for issue in found):
            break  # a refused write needs no narrative
    return issues


def write_hooks() -> list[WriteHook]:
    """The write hooks of the individual-plan rules, for `Services.write_hooks`."""
    return [plan_rules]


__all__ = ["DuplicatePlans", "find_duplicate_plans", "plan_rules", "write_hooks"]
