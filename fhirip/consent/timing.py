"""Time in the access rules: periods in force, and whether a patient is still a minor.

A partial date names the whole period it covers (`2026-01` is all of January), so
a period starting `2026-01` is in force from 1 January and one ending `2026-01`
until the end of January. A malformed date never grants anything.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from fhirip.model.dates import parse_range, to_naive_utc

# Pasient- og brukerrettighetsloven § 4-4 (parents consent on behalf of a patient under 16)
# and § 3-4 (parents are informed, and see the record, while the patient is under 16): the
# proxy rights of parents end on the patient's 16th birthday (§ 4-3 sets the age of health
# majority at 16). § 3-4 second paragraph lets a 12-16 year old's reasons to keep information
# from the parents be respected, which is what a deny provision naming the parent expresses.
PROXY_AGE_LIMIT_YEARS = 16


def period_covers(period: Any, now: datetime) -> bool:
    """Whether `now` lies within a FHIR Period (an absent period or bound is open)."""
    if period is None:
        return True
    if not isinstance(period, dict):
        return False
    start, end = period.get("start"), period.get("end")
    if not isinstance(start, (str, type(None))) or not isinstance(end, (str, type(None))):
        return False
    bounds = _bounds(start, end)
    if bounds is None:
        return False
    moment = to_naive_utc(now)
    low, high = bounds
    return (low is None or moment >= low) and (high is None or moment < high)


@lru_cache(maxsize=16384)
def _bounds(start: str | None, end: str | None) -> tuple[datetime | None, datetime | None] | None:
    """First instant in force and first instant after (None = open); None when malformed.
    Periods repeat across thousands of memberships and consents: each is parsed once."""
    try:
        low = parse_range(start)[0] if start is not None else None
        high = parse_range(end)[1] if end is not None else None
    except (ValueError, TypeError, AttributeError):
        return None
    return low, high


def is_minor(birth_date: Any, now: datetime) -> bool:
    """Certainly under 16 on `now`: even the earliest birth date a partial value allows
    (`2010` → 1 January 2010) has not reached its 16th birthday. Unknown → not a minor,
    so proxy access is never granted on a guess."""
    if not isinstance(birth_date, str):
        return False
    try:
        earliest = parse_range(birth_date)[0]
    except ValueError:
        return False
    moment = to_naive_utc(now)
    try:
        sixteenth = earliest.replace(year=earliest.year + PROXY_AGE_LIMIT_YEARS)
    except ValueError:  # born 29 February: the birthday falls on 1 March in other years
        sixteenth = earliest.replace(year=earliest.year + PROXY_AGE_LIMIT_YEARS, month=3, day=1)
    return moment < sixteenth
