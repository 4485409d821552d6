"""Matching one searched value against index rows, per parameter type.

https://hl7.org/fhir/R4/search.html#ptypes (matching rules per parameter type)
https://hl7.org/fhir/R4/search.html#prefix (prefixes and date ranges)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, false, literal, not_, or_, tuple_
from sqlalchemy.sql.expression import FromClause

from fhirip.errors import BadRequest
from fhirip.search import parameters as pv
from fhirip.search.values import (
    MAX_INSTANT,
    MIN_INSTANT,
    approximate_margin,
    implicit_range,
    normalise_string,
    prefix_upper_bound,
)

ValueSetExpander = Callable[[str], "set[tuple[str, str]] | None"]


def value_match(t: FromClause, kind: str, modifier: str | None, v: Any, name: str, *,
                now: datetime, expand: ValueSetExpander | None) -> ColumnElement[bool]:
    """The condition on one index row `t` of parameter type `kind` for one searched value."""
    if kind == "string":
        return _string_match(t, modifier, v)
    if kind == "token":
        return _token_match(t, modifier, v, expand, name)
    if kind == "reference":
        return _reference_match(t, modifier, v)
    if kind == "date":
        return date_match(t.c.low, t.c.high, v, now)
    if kind == "number":
        return _number_match(t.c.value, v)
    if kind == "quantity":
        return _quantity_match(t, v)
    if kind == "uri":
        return _uri_match(t, modifier, v)
    raise AssertionError(kind)


def _string_match(t: FromClause, modifier: str | None, text: str) -> ColumnElement[bool]:
    if modifier == "exact":
        return and_(t.c.value == normalise_string(text), t.c.exact == text)
    folded = normalise_string(text)
    if not folded:
        return false()
    if modifier == "contains":
        return t.c.value.like(f"%{_like_escape(folded)}%", escape="\\")
    # starts-with as an index range; correct under byte order on both databases
    return _starting_with(t.c.value, folded)


def _starting_with(column: Any, prefix: str) -> ColumnElement[bool]:
    """`column` starts with `prefix`, as an index range."""
    upper = prefix_upper_bound(prefix)
    return column >= prefix if upper is None else and_(column >= prefix, column < upper)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _token_match(t: FromClause, modifier: str | None, v: Any, expand: ValueSetExpander | None,
                 name: str) -> ColumnElement[bool]:
    if modifier == "text":
        folded = normalise_string(v)
        # a text that folds to nothing (white space) matches nothing, as for string parameters
        return _starting_with(t.c.text, folded) if folded else false()
    if modifier in ("in", "not-in"):
        codes = expand(v) if expand else None
        if codes is None:
            raise BadRequest(f"Value set {v!r} of {name!r} is not known to this server",
                             expression=(name,))
        if not codes:
            return false()
        return tuple_(t.c.system, t.c.code).in_(sorted(codes))
    if modifier == "of-type":
        condition = and_(t.c.type_code == v.type_code, t.c.code == v.value)
        return and_(condition, t.c.type_system == v.type_system) if v.type_system else condition
    conditions = []
    if v.code is not None:
        conditions.append(t.c.code == v.code)
    if v.system == "":
        conditions.append(t.c.system.is_(None))
    elif v.system is not None:
        conditions.append(t.c.system == v.system)
    return and_(*conditions)


def _reference_match(t: FromClause, modifier: str | None, v: Any) -> ColumnElement[bool]:
    if modifier == "identifier":  # as a token: `system|value`, `system|` (any value), `|value`, `value`
        conditions = [t.c.ident_value.is_not(None)]
        if v.code is not None:
            conditions.append(t.c.ident_value == v.code)
        if v.system == "":
            conditions.append(t.c.ident_system.is_(None))
        elif v.system is not None:
            conditions.append(t.c.ident_system == v.system)
        return and_(*conditions)
    if v.url is not None:
        condition = t.c.url == v.url
        return and_(condition, t.c.url_version == v.version) if v.version else condition
    condition = t.c.target_id == v.target_id
    if v.target_type:
        condition = and_(condition, t.c.target_type == v.target_type)
    return condition


def date_match(low: Any, high: Any, v: pv.DateValue, now: datetime) -> ColumnElement[bool]:
    """The specification's date comparisons between the stored and the searched range."""
    contained = and_(low >= v.low, high <= v.high)
    match v.prefix:
        case "eq":
            return contained
        case "ne":
            return not_(contained)
        case "gt":
            return high > v.high
        case "lt":
            return low < v.low
        case "ge":
            return or_(high > v.high, contained)
        case "le":
            return or_(low < v.low, contained)
        case "sa":
            return low > v.high
        case "eb":
            return high < v.low
        case "ap":
            margin = approximate_margin(v.low, v.high, now)
            start = max(MIN_INSTANT + margin, v.low) - margin
            end = min(MAX_INSTANT - margin, v.high) + margin
            return and_(low <= end, high >= start)
    raise AssertionError(v.prefix)


def _number_match(column: Any, v: Any) -> ColumnElement[bool]:
    number: Decimal = v.number
    low, high = implicit_range(number)
    exact = float(number)
    match v.prefix:
        case "eq":
            return and_(column >= low, column < high)
        case "ne":
            return or_(column < low, column >= high)
        case "gt" | "sa":
            return column > exact
        case "lt" | "eb":
            return column < exact
        case "ge":
            return column >= exact
        case "le":
            return column <= exact
        case "ap":
            margin = abs(exact) / 10
            return and_(column >= exact - margin, column <= exact + margin)
    raise AssertionError(v.prefix)


def _quantity_match(t: FromClause, v: pv.QuantityValue) -> ColumnElement[bool]:
    condition = _number_match(t.c.value, v)
    if v.system:
        condition = and_(condition, t.c.system == v.system)
    if v.code:
        unit = t.c.code == v.code if v.system else or_(t.c.code == v.code, t.c.unit == v.code)
        condition = and_(condition, unit)
    return condition


def _uri_match(t: FromClause, modifier: str | None, text: str) -> ColumnElement[bool]:
    if modifier == "below":
        return _starting_with(t.c.value, text)
    if modifier == "above":  # stored value is a prefix of the searched one
        return literal(text).like(t.c.value + "%")
    return t.c.value == text
