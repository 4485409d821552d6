"""Parsing one search parameter's value: escapes, prefixes, and the value of each type.

https://hl7.org/fhir/R4/search.html#escaping
https://hl7.org/fhir/R4/search.html#prefix

Every function raises ValueError with a short reason; the query parser turns it
into a BadRequest that names the parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from fhirip.search.values import MAX_VERSION_CHARS, date_range, decimal_value, is_local_target

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
ORDERED_TYPES = ("date", "number", "quantity")


def split_escaped(text: str, separator: str, maxsplit: int = -1) -> list[str]:
    """Split at `separator` unless it is escaped with a backslash (escapes are kept)."""
    parts, current, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            current.append(text[i:i + 2])
            i += 2
            continue
        if ch == separator and (maxsplit < 0 or len(parts) < maxsplit):
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


def unescape(text: str) -> str:
    return (text.replace("\\,", ",").replace("\\$", "$").replace("\\|", "|")
            .replace("\\\\", "\\"))


def split_prefix(text: str) -> tuple[str, str]:
    if len(text) > 2 and text[:2] in PREFIXES and not text[2].isalpha():
        return text[:2], text[2:]
    return "eq", text


@dataclass(frozen=True)
class TokenValue:
    system: str | None  # None: any system; "": no system (`|code`)
    code: str | None  # None: any code (`system|`)


@dataclass(frozen=True)
class DateValue:
    prefix: str
    low: datetime
    high: datetime


@dataclass(frozen=True)
class NumberValue:
    prefix: str
    number: Decimal


@dataclass(frozen=True)
class QuantityValue:
    prefix: str
    number: Decimal
    system: str | None
    code: str | None


@dataclass(frozen=True)
class ReferenceValue:
    target_type: str | None
    target_id: str | None
    url: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class OfTypeValue:
    type_system: str | None
    type_code: str
    value: str


def parse_token(text: str) -> TokenValue:
    parts = split_escaped(text, "|", 1)
    if len(parts) == 1:
        return TokenValue(None, unescape(parts[0]))
    system, code = (unescape(p) for p in parts)
    if not system and not code:
        raise ValueError("a token needs a system or a code")
    return TokenValue(system, code or None)


def parse_of_type(text: str) -> OfTypeValue:
    parts = [unescape(p) for p in split_escaped(text, "|")]
    if len(parts) != 3 or not parts[1] or not parts[2]:
        raise ValueError("expected [type-system]|[type-code]|[value]")
    return OfTypeValue(parts[0] or None, parts[1], parts[2])


def parse_date(text: str) -> DateValue:
    prefix, rest = split_prefix(text)
    low, high = date_range(rest)
    return DateValue(prefix, low, high)


def parse_number(text: str) -> NumberValue:
    prefix, rest = split_prefix(text)
    return NumberValue(prefix, decimal_value(rest))


def parse_quantity(text: str) -> QuantityValue:
    parts = [unescape(p) for p in split_escaped(text, "|")]
    if len(parts) not in (1, 3):
        raise ValueError("expected [prefix][number]|[system]|[code]")
    prefix, number = split_prefix(parts[0])
    system, code = (parts[1] or None, parts[2] or None) if len(parts) == 3 else (None, None)
    return QuantityValue(prefix, decimal_value(number), system, code)


def parse_reference(text: str, type_modifier: str | None, base_url: str | None) -> ReferenceValue:
    """`Type/id`, `id`, `<base>/Type/id`, an absolute URL, or a canonical `url|version`."""
    text = unescape(text)
    if base_url and text.startswith(base_url.rstrip("/") + "/"):
        text = text[len(base_url.rstrip("/")) + 1:]
    if "://" in text or text.startswith("urn:"):
        url, _, version = text.partition("|")
        return ReferenceValue(None, None, url, version[:MAX_VERSION_CHARS] or None)
    parts = text.split("/")
    if len(parts) == 4 and parts[2] == "_history":
        parts = parts[:2]
    if len(parts) == 1 and parts[0]:
        return ReferenceValue(type_modifier, parts[0])
    if len(parts) == 2 and parts[0] and parts[1] and not is_local_target(parts[0], parts[1]):
        return ReferenceValue(None, None, text, None)  # indexed as a URL, as the stored one is
    if len(parts) == 2 and parts[0] and parts[1]:
        if type_modifier and type_modifier != parts[0]:
            raise ValueError(f"type {parts[0]} contradicts the modifier :{type_modifier}")
        return ReferenceValue(parts[0], parts[1])
    raise ValueError("expected [type]/[id], [id] or an absolute URL")
