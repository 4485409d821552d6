"""What the plan operations share per request: the day a worklist is computed for, and the
caller's view of a plan (masked where the caller has only the administrative view)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from fhirip.interactions.request import FhirRequest
from fhirip.operations.parameters import date_value


def as_of(req: FhirRequest) -> date:
    """`date=YYYY-MM-DD` (default today): the day the worklist is computed for."""
    value = req.param("date")
    return date_value(value, "date") if value is not None else date.today()


View = Callable[[dict[str, Any]], dict[str, Any]]


def view_of(ctx: Any) -> View | None:
    """The caller's view of a resource, as read and search serve it: a CarePlan seen only
    through the coordinating unit's administrative view is masked (`AccessPolicy.mask`).
    None when nothing would change (no policy, or no patient seen that way)."""
    access = getattr(ctx, "access", None)
    if access is None or not access.masks:
        return None
    return access.mask
