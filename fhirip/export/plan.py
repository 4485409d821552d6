"""What one export job reads, as sweeps of its caller's search (`fhirip.export.sweeps`).

- system level (`/$export`): one sweep over every type asked for, in row-id order;
- patient level (`/Patient/$export`): the same over the types of a patient's record;
- group level (`/Group/[id]/$export`): for each member, the member's Patient, then its compartment.

The sweeps follow from the job's stored plan alone, so a job's cursor (sweep number and row id)
means the same after a restart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fhirip.export.sweeps import Sweep, compartment_types, patient_sweeps, since_params


def sweeps_of(level: str, plan: dict[str, Any]) -> list[Sweep]:
    types = tuple(plan["types"])
    since = datetime.fromisoformat(plan["since"]) if plan.get("since") else None
    params = since_params(since)
    if level == "group":
        return [sweep for member in plan["members"] for sweep in patient_sweeps(member, types, params)]
    if level == "patient":
        types = tuple(t for t in types if t in compartment_types())
    return [Sweep(types, params)] if types else []
