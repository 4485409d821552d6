"""_sort: ordering expressions over the search index.

https://hl7.org/fhir/R4/search.html#sort

A parameter with several values sorts by its lowest value ascending and by its
highest value descending. Dates sort on the start of their range both ways: an
open-ended period (every active plan) has no end to sort by, and "newest
first" means the latest start. Resources without a value come last either way.
The rid is always the final key, so the order is total and paging is stable.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.sql.expression import FromClause

from fhirip.search.index import TABLES
from fhirip.search.registry import Registry

_SORT_COLUMN = {"string": "value", "token": "code", "reference": "target_id", "number": "value",
                "quantity": "value", "uri": "value"}


def sort_expression(r: FromClause, code: str, descending: bool, types: tuple[str, ...],
                    registry: Registry) -> Any:
    if code == "_id":
        key: Any = r.c.res_id
    elif code == "_lastUpdated":
        key = r.c.last_updated
    else:
        param = registry.get(types[0], code)
        assert param is not None and param.type in TABLES  # checked by the parser
        table = TABLES[param.type].alias()
        if param.type == "date":
            column = (func.max if descending else func.min)(table.c.low)
        else:
            column = (func.max if descending else func.min)(table.c[_SORT_COLUMN[param.type]])
        key = (select(column)
               .where(table.c.rid == r.c.rid, table.c.res_type == r.c.res_type,
                      table.c.param == code)
               .scalar_subquery())
    return (key.desc() if descending else key.asc()).nulls_last()


def order_by(r: FromClause, sort: list[tuple[str, bool]], types: tuple[str, ...],
             registry: Registry) -> list[Any]:
    return [sort_expression(r, code, desc, types, registry) for code, desc in sort] + [r.c.rid]
