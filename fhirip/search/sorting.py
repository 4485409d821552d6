"""_sort: the order of matches, readable from an index where possible.

https://hl7.org/fhir/R4/search.html#sort

A parameter with several values sorts by its lowest value ascending and by its
highest value descending. Dates sort on the start of their range both ways: an
open-ended period (every active plan) has no end to sort by, and "newest
first" means the latest start. Resources without a value come last either way.
The rid is always the final key (in the direction of the last sort key, so one
index walk serves both), which makes the order total and paging stable.

Keys of date, string, number and quantity parameters come from `search_sort`
(see `sortkeys`); `_id` and `_lastUpdated` from the resource row. When the first
key is one of those, a LIMIT-ed ordered query is a walk of one index that stops
after LIMIT rows, whatever the number of matches. Resources lacking the first
key are read in a second step after the ones that have it (`ordered_steps`).
Token, reference and uri keys are computed per match by a subquery.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, and_, exists, func, not_, select
from sqlalchemy.sql.expression import FromClause

from fhirip.search.index import TABLES
from fhirip.search.registry import Registry
from fhirip.search.sortkeys import SORTED_COLUMNS
from fhirip.store.schema import search_sort

_COMPUTED_COLUMN = {"token": "code", "reference": "target_id", "uri": "value"}


@dataclass
class SortKey:
    column: Any  # the key expression
    descending: bool
    table: FromClause | None = None  # the search_sort alias it is read from, if any
    joined_on: ColumnElement[bool] | None = None
    nullable: bool = True  # False for resource columns, which an index reads in order

    def order(self, *, nulls_last: bool = True) -> Any:
        ordered = self.column.desc() if self.descending else self.column.asc()
        return ordered.nulls_last() if nulls_last and self.nullable else ordered


def sort_keys(r: FromClause, sort: list[tuple[str, bool]], types: tuple[str, ...],
              registry: Registry) -> list[SortKey]:
    return [_key(r, code, descending, types, registry, position)
            for position, (code, descending) in enumerate(sort)]


@cache
def _alias(table: Table, position: int) -> FromClause:
    return table.alias(f"sort_{table.name}_{position}")


def _key(r: FromClause, code: str, descending: bool, types: tuple[str, ...],
         registry: Registry, position: int) -> SortKey:
    if code == "_id":
        return SortKey(r.c.res_id, descending, nullable=False)
    if code == "_lastUpdated":
        return SortKey(r.c.last_updated, descending, nullable=False)
    param = registry.get(types[0], code)
    assert param is not None and param.type in TABLES  # checked by the parser
    if param.type in SORTED_COLUMNS:
        s = _alias(search_sort, position)
        type_match = s.c.res_type == types[0] if len(types) == 1 else s.c.res_type == r.c.res_type
        return SortKey(s.c.high if descending else s.c.low, descending, s,
                       and_(s.c.rid == r.c.rid, type_match, s.c.param == code))
    table = _alias(TABLES[param.type], position)
    column = table.c[_COMPUTED_COLUMN[param.type]]
    # By rid and parameter only (a rid has one type): with the type too, SQLite seeks the index
    # that starts (res_type, param, value) and walks it to the rid, once per match; a sort of
    # 6 000 AuditEvents on `action` took 10 s that way, 0.03 s along the (rid, ...) index.
    key = (select((func.max if descending else func.min)(column))
           .where(table.c.rid == r.c.rid, table.c.param == code)
           .scalar_subquery())
    return SortKey(key, descending)


def _tiebreak(rid: Any, keys: list[SortKey]) -> Any:
    return rid.desc() if keys and keys[-1].descending else rid.asc()


def _joined(query: Select[Any], keys: list[SortKey]) -> Select[Any]:
    for key in keys:
        if key.table is not None:
            query = query.outerjoin(key.table, key.joined_on)
    return query


def ordered(r: FromClause, query: Select[Any], keys: list[SortKey]) -> Select[Any]:
    """`query` (selecting from `r`) in sort order; keys without a value last."""
    return _joined(query, keys).order_by(*[k.order() for k in keys], _tiebreak(r.c.rid, keys))


def ordered_steps(r: FromClause, query: Select[Any], keys: list[SortKey]) -> list[Select[Any]]:
    """`query` in sort order as consecutive steps whose results, concatenated, are the order.

    With a `search_sort` key first: the resources that have it, by an inner join
    the database can read in index order, then those without it.
    """
    if not keys or keys[0].table is None:
        return [ordered(r, query, keys)]
    first, rest = keys[0], keys[1:]
    # the sort row's own rid breaks ties, so (res_type, param, key, rid) gives the whole order
    having = _joined(query.join(first.table, first.joined_on), rest).order_by(
        first.order(nulls_last=False), *[k.order() for k in rest],
        _tiebreak(first.table.c.rid, keys))
    lacking = _joined(query.where(not_(exists(select(first.table.c.rid).where(first.joined_on)))),
                      rest).order_by(*[k.order() for k in rest], _tiebreak(r.c.rid, keys))
    return [having, lacking]
