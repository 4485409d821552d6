"""Legacy value syntax: dates and their precision, date-times, yes/no, fødselsnummer.

Neutral values are FHIR-shaped: dates are FHIR date strings (``2003``, ``2003-05``,
``2003-05-17``; https://hl7.org/fhir/R4/datatypes.html#date), date-times carry the Oslo offset,
booleans are bool. Each ``parse_*`` raises ``ValueError`` with a reason a loss report can show.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

OSLO = ZoneInfo("Europe/Oslo")

_NORWEGIAN_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
_NORWEGIAN_MONTH = re.compile(r"^(\d{1,2})\.(\d{4})$")
_YEAR = re.compile(r"^(\d{4})$")
_ISO_PARTIAL = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_NORWEGIAN_DATETIME = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})[ T](\d{1,2})[:.](\d{2})$")


def _checked(year: int, month: int | None = None, day: int | None = None) -> str:
    try:
        date(year, month or 1, day or 1)
    except ValueError as error:
        raise ValueError(f"impossible date ({error})") from None
    if year < 1800:
        raise ValueError(f"impossible date (year {year})")
    if day is not None:
        return f"{year:04d}-{month:02d}-{day:02d}"
    if month is not None:
        return f"{year:04d}-{month:02d}"
    return f"{year:04d}"


def parse_planpro_date(text: str, precision: str | None) -> str:
    """dd.mm.yyyy with the PlanPro partial-date rule reversed by the precision marker.

    Marker M: the day was entered as 01 for a known month → YYYY-MM.
    Marker A: the date was entered as 01.01 for a known year → YYYY.
    A marker that contradicts the date (M on a day other than 01) is an error: the
    source is inconsistent and we do not guess which part is right.
    """
    match = _NORWEGIAN_DATE.match(text.strip())
    if not match:
        raise ValueError(f"not a date in dd.mm.yyyy: {text!r}")
    day, month, year = (int(part) for part in match.groups())
    full = _checked(year, month, day)
    marker = (precision or "").strip().upper()
    if marker in ("", "D"):
        return full
    if marker == "M":
        if day != 1:
            raise ValueError(f"precision marker M (month known) but day is {day}, not 1")
        return _checked(year, month)
    if marker == "A":
        if (day, month) != (1, 1):
            raise ValueError(f"precision marker A (year known) but date is not 01.01: {text!r}")
        return _checked(year)
    raise ValueError(f"unknown precision marker {precision!r} (expected D, M or A)")


def format_planpro_date(value: str) -> tuple[str, str]:
    """FHIR date → (dd.mm.yyyy, precision marker); partial dates take the 1st/1 January rule."""
    match = _ISO_PARTIAL.match(value[:10])
    if not match:
        raise ValueError(f"not a FHIR date: {value!r}")
    year, month, day = match.groups()
    if day:
        return f"{day}.{month}.{year}", "D"
    if month:
        return f"01.{month}.{year}", "M"
    return f"01.01.{year}", "A"


def parse_written_date(text: str) -> str:
    """A date as people write it in Norwegian documents: 17.05.2003, 05.2003 or 2003."""
    text = text.strip()
    if match := _NORWEGIAN_DATE.match(text):
        day, month, year = (int(part) for part in match.groups())
        return _checked(year, month, day)
    if match := _NORWEGIAN_MONTH.match(text):
        month, year = (int(part) for part in match.groups())
        return _checked(year, month)
    if match := _YEAR.match(text):
        return _checked(int(match.group(1)))
    raise ValueError(f"not a date (dd.mm.yyyy, mm.yyyy or yyyy): {text!r}")


def format_written_date(value: str) -> str:
    match = _ISO_PARTIAL.match(value[:10])
    if not match:
        raise ValueError(f"not a FHIR date: {value!r}")
    year, month, day = match.groups()
    if day:
        return f"{day}.{month}.{year}"
    return f"{month}.{year}" if month else year


def parse_iso_date(text: str) -> str:
    match = _ISO_PARTIAL.match(text.strip())
    if not match:
        raise ValueError(f"not an ISO date (yyyy, yyyy-mm or yyyy-mm-dd): {text!r}")
    year, month, day = match.groups()
    return _checked(int(year), int(month) if month else None, int(day) if day else None)


def parse_norwegian_datetime(text: str) -> str:
    """dd.mm.yyyy hh:mm (Oslo local time) → FHIR dateTime; a bare date stays a date."""
    text = text.strip()
    match = _NORWEGIAN_DATETIME.match(text)
    if not match:
        return parse_planpro_date(text, None)
    day, month, year, hour, minute = (int(part) for part in match.groups())
    _checked(year, month, day)
    if hour > 23 or minute > 59:
        raise ValueError(f"impossible time in {text!r}")
    return datetime(year, month, day, hour, minute, tzinfo=OSLO).isoformat()


def format_norwegian_datetime(value: str) -> str:
    if "T" not in value:
        return format_planpro_date(value)[0]
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(OSLO)
    return moment.strftime("%d.%m.%Y %H:%M")


def parse_iso_datetime(text: str) -> str:
    text = text.strip()
    if "T" not in text:
        return parse_iso_date(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not an ISO date-time: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=OSLO)
    return moment.isoformat()


def parse_boolean(text: str, true: str, false: str) -> bool:
    folded = text.strip().casefold()
    if folded == true.casefold():
        return True
    if folded == false.casefold():
        return False
    raise ValueError(f"expected {true} or {false}, got {text!r}")


_FNR_WEIGHTS_1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_FNR_WEIGHTS_2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def fnr_check_digits(first_nine: str) -> str | None:
    """The two mod-11 control digits of a fødselsnummer, or None when none exist."""
    digits = [int(c) for c in first_nine]
    k1 = 11 - sum(d * w for d, w in zip(digits, _FNR_WEIGHTS_1)) % 11
    k1 = 0 if k1 == 11 else k1
    if k1 == 10:
        return None
    k2 = 11 - sum(d * w for d, w in zip(digits + [k1], _FNR_WEIGHTS_2)) % 11
    k2 = 0 if k2 == 11 else k2
    if k2 == 10:
        return None
    return f"{k1}{k2}"


def parse_fnr(text: str) -> str:
    value = re.sub(r"\s", "", text)
    if not re.fullmatch(r"\d{11}", value):
        raise ValueError(f"a fødselsnummer has 11 digits: {text!r}")
    if fnr_check_digits(value[:9]) != value[9:]:
        raise ValueError(f"wrong control digits in fødselsnummer {text!r}")
    return value
