"""Search values on both sides: string folding, date ranges, number precision.

https://hl7.org/fhir/R4/search.html#string  (case and accent insensitive)
https://hl7.org/fhir/R4/search.html#date    (values are ranges at their precision)
https://hl7.org/fhir/R4/search.html#number  (implicit range from significant figures)

The same functions normalise stored values (index.py) and query values
(conditions.py), so both sides always agree.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from functools import lru_cache

# Index columns hold at most this many characters; longer values are cut (the
# exact comparison happens on the cut value too, so searches stay consistent).
MAX_INDEXED_CHARS = 512

MIN_INSTANT = datetime(1, 1, 1)
MAX_INSTANT = datetime(9999, 12, 31, 23, 59, 59, 999999)

_DATE = re.compile(
    r"^(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<fraction>\d{1,9}))?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


# Letters that carry their "accent" without a Unicode decomposition; folded so that
# `tromso` finds Tromsø just as `hernandez` finds Hernández.
_UNDECOMPOSED = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "đ": "d", "ł": "l", "þ": "th",
                               "ð": "d", "ı": "i"})


@lru_cache(maxsize=65536)  # the same displays and names recur in every resource of a kind
def normalise_string(value: str) -> str:
    """Case- and accent-insensitive form: NFKD, combining marks dropped, casefolded."""
    decomposed = unicodedata.normalize("NFKD", value)
    folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return " ".join(folded.translate(_UNDECOMPOSED).split())[:MAX_INDEXED_CHARS]


def cut(value: str) -> str:
    return value[:MAX_INDEXED_CHARS]


# A reference's type, id and canonical version are indexed in columns of 64 characters.
_TARGET_TYPE = re.compile(r"[A-Z][A-Za-z]{0,63}")
_TARGET_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
MAX_VERSION_CHARS = 64


def is_local_target(res_type: str, res_id: str) -> bool:
    """Whether `Type/id` names a resource on this server (else it is a URL like any other):
    a type name and a FHIR id, which is at most 64 characters."""
    return bool(_TARGET_TYPE.fullmatch(res_type) and _TARGET_ID.fullmatch(res_id))


def prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string greater than every string that starts with `prefix`, in code point
    (and so UTF-8 byte) order; None when there is none (an empty prefix, or one of U+10FFFF
    only). The surrogates U+D800-U+DFFF are no characters: after U+D7FF comes U+E000."""
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF:
            return prefix[:-1] + chr(0xE000 if last == 0xD7FF else last + 1)
        prefix = prefix[:-1]
    return None


def date_range(value: str) -> tuple[datetime, datetime]:
    """The first and last instant (naive UTC) a FHIR date/dateTime/instant covers.

    A value without a time zone is read as UTC. Raises ValueError if malformed.
    """
    match = _DATE.match(value.strip())
    if not match:
        raise ValueError(f"not a FHIR date/dateTime: {value!r}")
    parts = match.groupdict()
    year = int(parts["year"])
    if parts["month"] is None:
        return datetime(year, 1, 1), datetime(year, 12, 31, 23, 59, 59, 999999)
    month = int(parts["month"])
    if not 1 <= month <= 12:
        raise ValueError(f"month out of range: {value!r}")
    if parts["day"] is None:
        last = calendar.monthrange(year, month)[1]
        return datetime(year, month, 1), datetime(year, month, last, 23, 59, 59, 999999)
    day = int(parts["day"])
    start = datetime(year, month, day)
    if parts["hour"] is None:
        return start, start.replace(hour=23, minute=59, second=59, microsecond=999999)
    if parts["second"] is None:
        width = timedelta(minutes=1)
    elif parts["fraction"] is None:
        width = timedelta(seconds=1)
    else:
        digits = min(len(parts["fraction"]), 6)
        width = timedelta(microseconds=10 ** (6 - digits))
    fraction = (parts["fraction"] or "0")[:6].ljust(6, "0")
    moment = datetime(year, month, day, int(parts["hour"]), int(parts["minute"]),
                      int(parts["second"] or 0), int(fraction))
    if parts["tz"] and parts["tz"] != "Z":
        sign = 1 if parts["tz"][0] == "+" else -1
        hours, minutes = parts["tz"][1:].split(":")
        moment = _shifted(moment, -sign * timedelta(hours=int(hours), minutes=int(minutes)))
    return moment, _shifted(moment, width - timedelta(microseconds=1))


def _shifted(moment: datetime, delta: timedelta) -> datetime:
    """`moment + delta`, held within the instants Python (and the index) can hold: the first
    and last moments of years 1 and 9999 are valid FHIR values whose UTC or end may lie past."""
    try:
        return moment + delta
    except OverflowError:
        return MAX_INSTANT if delta > timedelta(0) else MIN_INSTANT


def approximate_margin(low: datetime, high: datetime, now: datetime | None = None) -> timedelta:
    """The `ap` tolerance: 10% of the distance between now and the value (spec advice)."""
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    middle = low + (high - low) / 2
    return abs(now - middle) / 10


def decimal_value(value: str) -> Decimal:
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return number


def implicit_range(number: Decimal) -> tuple[float, float]:
    """[low, high) of the values a search number stands for at its precision.

    `100` means 99.5 <= x < 100.5 and `1e2` means 50 <= x < 150: half a unit of
    the last significant digit on either side.
    """
    exponent = number.as_tuple().exponent
    half = Decimal(5).scaleb(int(exponent) - 1)  # type: ignore[arg-type]
    return float(number - half), float(number + half)
