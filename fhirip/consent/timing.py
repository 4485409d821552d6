"""Time in the access rules: periods in force, and whether a patient is still a minor.

A partial date names the whole period it covers (`2026-01` is all of January), so
a period starting `2026-01` is in force from 1 January and one ending `2026-01`
until the end of January. A malformed date never grants anything.
"""

from __future__ import annotations

from datetime import datetime
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
    moment = to_naive_utc(now)
    try:
        if period.get("start") is not None and moment < parse_range(period["start"])[0]:
            return False
        if period.get("end") is not None and moment >= parse_range(period["end"])[1]:
            return False
    except (ValueError, TypeError, AttributeError):
        return False
    return True


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
