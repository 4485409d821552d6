"""The parameters the worklist operations share: the day they are computed for."""

from __future__ import annotations

from datetime import date

from fhirip.interactions.request import FhirRequest
from fhirip.plans.parameters import date_value


def as_of(req: FhirRequest) -> date:
    """`date=YYYY-MM-DD` (default today): the day the worklist is computed for."""
    value = req.param("date")
    return date_value(value, "date") if value is not None else date.today()
