"""Search criteria as SQL: each criterion becomes a set of matching resource rids.

https://hl7.org/fhir/R4/search.html#ptypes (matching rules per parameter type)
https://hl7.org/fhir/R4/search.html#prefix (prefixes and date ranges)

The matching of single values per parameter type is in `fhirip.search.matchers`.
A criterion turns into a `RidSet`: a SELECT of rids that the main query tests
with `rid IN (...)` (the most selective one, which then drives the query) or a
correlated EXISTS / NOT EXISTS (the others). Chains and `_has` join the
resources they pass through and apply the caller's policy there too, so a
resource the actor may not see can never make another one match.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cache
from typing import Any, Protocol

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    exists,
    false,
    not_,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.sql.expression import FromClause

from fhirip.errors import BadRequest
from fhirip.search.index import TABLES
from fhirip.search.matchers import ValueSetExpander, date_match, value_match
from fhirip.search.query import ChainCriterion, Criterion, HasCriterion, ValueCriterion
from fhirip.search.registry import Registry, SearchParam
from fhirip.store.schema import resource, search_reference

class Policy(Protocol):
    """The caller's read condition on a `resource` alias; `types`, when given, are the only types
    the statement reads through the alias (it restricts them itself), which lets the condition
    leave out what cannot concern them. `per_row`: the statement reaches only a few rows through
    the alias (a seek-driven page, its includes, a chain's target), so the condition may test each
    row by itself; it must admit the same rows either way."""

    def __call__(self, alias: FromClause, types: Collection[str] | None = None,
                 per_row: bool = False) -> ColumnElement[bool]: ...


@dataclass
class RidSet:
    """The rids matching one criterion (or, if `negated`, those that must not match)."""

    rid: Any  # the rid column inside `select`
    select: Select[Any]
    selectivity: int
    negated: bool = False
    correlated: Select[Any] | None = None  # the form to test one resource with, if different

    def test(self, outer_rid: Any, *, drive: bool = False) -> ColumnElement[bool]:
        if drive and not self.negated:
            return outer_rid.in_(self.select)
        # OFFSET 0 keeps PostgreSQL from turning the check into a join: its estimates of
        # (type, parameter, value) multiply as if independent, so for `status=active` it
        # would expect a few matches and hash them all instead of stopping at the LIMIT.
        found = exists((self.correlated if self.correlated is not None else self.select)
                       .where(self.rid == outer_rid).offset(0))
        return not_(found) if self.negated else found


@cache
def _numbered_alias(table: Table, number: int) -> FromClause:
    return table.alias(f"{table.name}_{number}")


class Aliases:
    """Distinct aliases within one request, the same objects across requests.

    An alias builds a proxy of every column the first time it is used; reusing
    them (and their names, so the compiled SQL is the same text) saves most of
    the Python time of building a statement.
    """

    def __init__(self) -> None:
        self.used: dict[str, int] = {}

    def __call__(self, table: Table) -> FromClause:
        number = self.used.get(table.name, 0)
        self.used[table.name] = number + 1
        return _numbered_alias(table, number)


@dataclass
class BuildContext:
    registry: Registry
    policy: Policy | None
    expand: ValueSetExpander | None
    now: datetime
    alias: Aliases = field(default_factory=Aliases)

    def visible(self, alias: FromClause, types: Collection[str] | None = None, *,
                per_row: bool = False) -> ColumnElement[bool]:
        """Not deleted and, if there is a policy, permitted by it. `types`: the statement itself
        restricts the rows of `alias` to these types (none: it does not). `per_row`: the statement
        reaches only a few rows of `alias` (see `Policy`)."""
        condition = alias.c.deleted.is_(False)
        if not self.policy:
            return condition
        return and_(condition, self.policy(alias, types or None, per_row))


def criterion_rids(c: Criterion, ctx: BuildContext) -> RidSet:
    if isinstance(c, ChainCriterion):
        return _chain(c, ctx)
    if isinstance(c, HasCriterion):
        return _has(c, ctx)
    if c.param.code == "_id":
        return _resource_column(c, ctx)
    if c.param.code == "_lastUpdated":
        return _resource_column(c, ctx)
    return _value(c, ctx)


def filter_only(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """`condition`, in a form no planner reads as an index lookup (`... IS true`).

    Without statistics SQLite prefers an equality on an indexed column (the
    resource type: every row of it) to a short `rid IN (...)` list; a condition
    that only checks the rows the list yields must not compete with it.
    """
    return condition.is_(True)


def _types_clause(column: Any, types: tuple[str, ...]) -> ColumnElement[bool]:
    if not types:
        return true()
    return column == types[0] if len(types) == 1 else column.in_(types)


# -- _id and _lastUpdated live on the resource row ----------------------------------------

def _resource_column(c: ValueCriterion, ctx: BuildContext) -> RidSet:
    r = ctx.alias(resource)
    if c.modifier == "missing":  # every resource has both; `missing=true` matches none
        condition = false() if c.values[0] else true()
        return RidSet(r.c.rid, select(r.c.rid).where(_types_clause(r.c.res_type, c.types),
                                                     condition), 1)
    if c.param.code == "_id":
        ids = [v.code for v in c.values]
        return RidSet(r.c.rid, select(r.c.rid).where(_types_clause(r.c.res_type, c.types),
                                                     r.c.res_id.in_(ids)),
                      100, negated=c.modifier == "not")
    conditions = [date_match(r.c.last_updated, r.c.last_updated, v, ctx.now) for v in c.values]
    return RidSet(r.c.rid, select(r.c.rid).where(_types_clause(r.c.res_type, c.types),
                                                 or_(*conditions)), 30)


# -- value parameters ------------------------------------------------------------------------

def _value(c: ValueCriterion, ctx: BuildContext) -> RidSet:
    param = c.param
    if param.type == "composite":
        return _composite(c, ctx)
    table = ctx.alias(TABLES[param.type])
    scope = and_(_types_clause(table.c.res_type, c.types), table.c.param == param.code)
    if c.modifier == "missing":
        return RidSet(table.c.rid, select(table.c.rid).where(scope), 5, negated=c.values[0])
    negated = c.modifier in ("not", "not-in")
    match = or_(*[value_match(table, param.type, c.modifier, v, c.name, now=ctx.now, expand=ctx.expand) for v in c.values])
    correlated = None
    if param.type in _RANGE_TYPES:
        # Tested per resource, a range must not look like an index range to SQLite's planner
        # (it would scan the range for every resource); `IS true` keeps it a plain filter. So
        # must the type: with it SQLite seeks (res_type, param, ...) and walks to the rid, once
        # per resource (20 000 AuditEvents, date=sa2020-02-29: 225 s), instead of seeking the rid.
        correlated = select(table.c.rid).where(filter_only(_types_clause(table.c.res_type, c.types)),
                                               table.c.param == param.code, filter_only(match))
    return RidSet(table.c.rid, select(table.c.rid).where(scope, match),
                  _selectivity(param, c.modifier), negated, correlated)


_RANGE_TYPES = frozenset({"date", "number", "quantity", "string", "uri"})


def _selectivity(param: SearchParam, modifier: str | None) -> int:
    if param.type == "reference":
        return 90
    if param.type == "token":
        return 70 if "identifier" in param.code or param.code in ("telecom", "email", "phone") \
            else 40
    if param.type == "string":
        return 10 if modifier == "contains" else 60
    if param.type == "uri":
        return 50
    return 30


# -- composites: components in the same group ------------------------------------------------

def _composite(c: ValueCriterion, ctx: BuildContext) -> RidSet:
    param = c.param
    alternatives = []
    for value in c.values:
        tables, conditions = [], []
        for position, (component, part) in enumerate(zip(param.components, value)):
            kind = ctx.registry.by_url[component.definition].type
            t = ctx.alias(TABLES[kind])
            conditions += [_types_clause(t.c.res_type, c.types),
                           t.c.param == f"{param.code}${position}",
                           value_match(t, kind, None, part, c.name, now=ctx.now, expand=ctx.expand)]
            if tables:
                conditions += [t.c.rid == tables[0].c.rid, t.c.grp == tables[0].c.grp]
            tables.append(t)
        alternatives.append((tables, conditions))
    selects = [select(ts[0].c.rid).select_from(*ts).where(*cs) for ts, cs in alternatives]
    union = selects[0] if len(selects) == 1 else selects[0].union(*selects[1:])
    sub = union.subquery() if len(selects) > 1 else None
    if sub is not None:
        return RidSet(sub.c.rid, select(sub.c.rid), 40)
    first_table = alternatives[0][0][0]
    return RidSet(first_table.c.rid, selects[0], 40)


# -- chains and reverse chains ------------------------------------------------------------

def _chain(c: ChainCriterion, ctx: BuildContext) -> RidSet:
    """Resources whose reference `c.param` points at a visible target matching `c.next`.

    Written as "the reference is in (the ids of the matching targets)", so that
    the few targets are found first and their referrers read from the target
    index; a join lets SQLite start from every reference of the parameter.
    """
    link = ctx.alias(search_reference)
    target = ctx.alias(resource)
    inner = criterion_rids(c.next, ctx)
    found = [filter_only(_types_clause(target.c.res_type, c.target_types)),
             ctx.visible(target, c.target_types, per_row=True), inner.test(target.c.rid, drive=True)]
    if len(c.target_types) == 1:
        points = and_(link.c.target_type == c.target_types[0],
                      link.c.target_id.in_(select(target.c.res_id).where(*found)))
    else:
        points = tuple_(link.c.target_type, link.c.target_id).in_(
            select(target.c.res_type, target.c.res_id).where(*found))
    query = select(link.c.rid).where(_types_clause(link.c.res_type, c.types),
                                     link.c.param == c.param.code, points)
    return RidSet(link.c.rid, query, 80)


def _has(c: HasCriterion, ctx: BuildContext) -> RidSet:
    """Resources some visible `c.source_type` refers to (via `c.ref_param`) and that matches.

    Read inside out, as nested lists: the matching sources, the ids they point
    at, then those resources by their unique (type, id).
    """
    link = ctx.alias(search_reference)
    source = ctx.alias(resource)
    target = ctx.alias(resource)
    inner = criterion_rids(c.next, ctx)
    sources = select(source.c.rid).where(filter_only(source.c.res_type == c.source_type),
                                         ctx.visible(source, (c.source_type,)),
                                         inner.test(source.c.rid, drive=True))
    pointing = [link.c.rid.in_(sources), link.c.res_type == c.source_type,
                link.c.param == c.ref_param.code]
    if len(c.types) == 1:
        query = select(target.c.rid).where(
            target.c.res_type == c.types[0],
            target.c.res_id.in_(select(link.c.target_id).where(
                *pointing, link.c.target_type == c.types[0])))
    else:
        query = select(target.c.rid).where(
            _types_clause(target.c.res_type, c.types),
            tuple_(target.c.res_type, target.c.res_id).in_(
                select(link.c.target_type, link.c.target_id).where(*pointing)))
    return RidSet(target.c.rid, query, 80)


def compartment_rids(types: tuple[str, ...], compartment: tuple[str, str],
                     ctx: BuildContext) -> RidSet:
    """`Patient/[id]/[type]`: resources that refer to the patient by a compartment parameter."""
    comp_type, comp_id = compartment
    if comp_type != "Patient":
        raise BadRequest(f"Compartment {comp_type} is not supported; only Patient")
    link = ctx.alias(search_reference)
    per_type = []
    for res_type in types:
        params = ctx.registry.patient_compartment.get(res_type)
        if not params:
            raise BadRequest(f"{res_type} is not in the Patient compartment")
        per_type.append(and_(link.c.res_type == res_type, link.c.param.in_(params)))
    query = select(link.c.rid).where(or_(*per_type), link.c.target_type == comp_type,
                                     link.c.target_id == comp_id)
    return RidSet(link.c.rid, query, 85)


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)
