"""FHIR date, dateTime and instant values as ranges of naive UTC datetimes.

https://hl7.org/fhir/R4/datatypes.html#dateTime

A partial date stands for the whole period it names: `2013` is all of 2013,
`2013-05` all of May. `parse_range` returns [low, high) for such a value.
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta, timezone

_DATE_TIME = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?"
    r"(Z|[+-]\d{2}:\d{2})?)?)?)?$")


def parse_range(value: str) -> tuple[datetime, datetime]:
    """'2013-05' → (2013-05-01T00:00, 2013-06-01T00:00), in naive UTC. ValueError if malformed."""
    match = _DATE_TIME.match(value.strip())
    if not match:
        raise ValueError(f"'{value}' is not a FHIR date, dateTime or instant")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if month is None:
        low = datetime(int(year), 1, 1)
        return low, _shifted(low, timedelta(days=366 if calendar.isleap(low.year) else 365))
    if day is None:
        low = datetime(int(year), int(month), 1)
        return low, _shifted(low, timedelta(days=calendar.monthrange(low.year, low.month)[1]))
    if hour is None:
        low = datetime(int(year), int(month), int(day))
        return low, _shifted(low, timedelta(days=1))
    micro = int(round(float(fraction) * 1_000_000)) if fraction else 0
    moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0),
                      min(micro, 999_999))
    # A time without a zone is read as UTC, the zone of the server's own timestamps.
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        moment = _shifted(moment, -sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    if second is None:
        step = timedelta(minutes=1)
    elif fraction:
        step = timedelta(microseconds=max(1, 10 ** (6 - min(6, len(fraction) - 1))))
    else:
        step = timedelta(seconds=1)
    return moment, _shifted(moment, step)


def _shifted(moment: datetime, delta: timedelta) -> datetime:
    """`moment + delta`, held within the datetimes Python has: the end of 9999 (or the UTC of a
    moment near either end of the calendar) lies past them, and is the last (or first) there is."""
    try:
        return moment + delta
    except OverflowError:
        return datetime.max if delta > timedelta(0) else datetime.min


def parse_instant(value: str) -> datetime:
    """The start of the range a date/dateTime/instant names, naive UTC."""
    return parse_range(value)[0]


def to_naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment
