"""Time in the access rules: periods as validity intervals, and the 16th birthday.

A partial date names the whole period it covers (`2026-01` is all of January), so
a period starting `2026-01` is in force from 1 January and one ending `2026-01`
until the end of January. A malformed date never grants anything.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fhirip.model.dates import parse_range, to_naive_utc

# Pasient- og brukerrettighetsloven § 4-4 (parents consent on behalf of a patient under 16)
# and § 3-4 (parents are informed, and see the record, while the patient is under 16): the
# proxy rights of parents end on the patient's 16th birthday (§ 4-3 sets the age of health
# majority at 16), which begins at midnight in Norway. § 3-4 second paragraph lets a 12-16
# year old's reasons to keep information from the parents be respected, which is what a deny
# provision naming the parent expresses.
PROXY_AGE_LIMIT_YEARS = 16
OSLO = ZoneInfo("Europe/Oslo")


def period_covers(period: Any, now: datetime) -> bool:
    """Whether `now` lies within a FHIR Period (an absent period or bound is open)."""
    interval = validity(period)
    if interval is None:
        return False
    moment = to_naive_utc(now)
    low, high = interval
    return (low is None or moment >= low) and (high is None or moment < high)


def validity(period: Any) -> tuple[datetime | None, datetime | None] | None:
    """A FHIR Period as (first instant in force, first instant after), naive UTC, None for an
    open bound; None when malformed."""
    if period is None:
        return None, None
    if not isinstance(period, dict):
        return None
    start, end = period.get("start"), period.get("end")
    if not isinstance(start, (str, type(None))) or not isinstance(end, (str, type(None))):
        return None
    try:
        low = parse_range(start)[0] if start is not None else None
        high = parse_range(end)[1] if end is not None else None
    except (ValueError, TypeError, AttributeError):
        return None
    return low, high


def sixteenth_birthday(birth_date: Any) -> datetime | None:
    """The instant (naive UTC) a patient turns 16 in Norway: midnight Europe/Oslo starting the
    16th birthday of the earliest birth date a partial value allows (`2010` → 1 January
    2010), so proxy rights are never granted on a guess. None when unknown or malformed."""
    if not isinstance(birth_date, str):
        return None
    try:
        earliest = parse_range(birth_date)[0].date()
    except ValueError:
        return None
    try:
        birthday = earliest.replace(year=earliest.year + PROXY_AGE_LIMIT_YEARS)
    except ValueError:  # born 29 February: the birthday falls on 1 March in other years
        birthday = date(earliest.year + PROXY_AGE_LIMIT_YEARS, 3, 1)
    return to_naive_utc(datetime(birthday.year, birthday.month, birthday.day, tzinfo=OSLO))


def is_minor(birth_date: Any, now: datetime) -> bool:
    """Certainly under 16 on `now` in Norway. Unknown → not a minor, so proxy access is never
    granted on a guess."""
    sixteenth = sixteenth_birthday(birth_date)
    return sixteenth is not None and to_naive_utc(now) < sixteenth
