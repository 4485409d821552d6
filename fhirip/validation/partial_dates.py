"""Order FHIR date/dateTime values of any precision, as FHIRPath compares them.

https://hl7.org/fhirpath/N1/#comparison ("if one value is specified to a different
level of precision than the other, the result is empty"): 2024-05 vs 2024-05-20 is
undecided, 2024-04 vs 2024-05-20 is before.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_PATTERN = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$")


def _parts(value: str) -> tuple[list[int], datetime | None] | None:
    match = _PATTERN.match(value)
    if not match:
        return None
    parts = [int(match[g]) for g in ("y", "m", "d") if match[g]]
    instant = None
    if match["time"]:
        tz = timezone.utc
        if match["tz"] and match["tz"] != "Z":
            sign = 1 if match["tz"][0] == "+" else -1
            hours, minutes = int(match["tz"][1:3]), int(match["tz"][4:6])
            tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
        time = match["time"] if match["time"].count(":") == 2 else match["time"] + ":00"
        instant = datetime.fromisoformat(f"{match['y']}-{match['m']}-{match['d']}T{time}").replace(tzinfo=tz)
    return parts, instant


def compare_partial(left: str, right: str) -> int | None:
    """-1, 0 or 1 when the order is decided; None when undecided or unparseable."""
    a, b = _parts(left), _parts(right)
    if a is None or b is None:
        return None
    (a_parts, a_instant), (b_parts, b_instant) = a, b
    if a_instant is not None and b_instant is not None:
        return (a_instant > b_instant) - (a_instant < b_instant)
    for x, y in zip(a_parts, b_parts):
        if x != y:
            return -1 if x < y else 1
    if len(a_parts) == len(b_parts) and a_instant is None and b_instant is None:
        return 0
    return None
