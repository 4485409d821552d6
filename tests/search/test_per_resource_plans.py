"""A condition tested once per resource (a sort key, a range criterion that does not drive the
search) seeks that resource's index rows by rid. SQLite, unguided, sought the index that starts
(res_type, param, value) instead and walked it to the rid for every resource: a search of 20 000
AuditEvents sorted on `action` or filtered by `date=sa2020-02-29` ran for minutes. The plans are
SQLite's (PostgreSQL's depend on its statistics); both stores' answers are tested elsewhere."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from fhirip.search.conditions import BuildContext, criterion_rids, utc_now
from fhirip.search.execute import _R
from fhirip.search.query import QueryParser
from fhirip.search.registry import registry
from fhirip.search.sorting import ordered_steps, sort_keys


def _plan(conn, statement) -> str:
    compiled = statement.compile(dialect=conn.dialect)
    rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), tuple(None for _ in compiled.positiontup))
    return "\n".join(row[3] for row in rows)


@pytest.fixture
def sqlite_conn(database_store):
    if database_store.dialect != "sqlite":
        pytest.skip("the plans of SQLite's planner")
    with database_store.transaction(write=False) as tx:
        yield tx.conn


def test_a_token_sort_key_is_found_by_rid(sqlite_conn):
    r = _R
    keys = sort_keys(r, [("action", False)], ("AuditEvent",), registry())
    step = ordered_steps(r, select(r.c.rid).where(r.c.res_type == "AuditEvent"), keys)[0]
    plan = _plan(sqlite_conn, step.limit(1001))
    assert "ix_search_token_rid_res_type_param (rid=?" in plan, plan


@pytest.mark.parametrize("query", ["date=sa2020-02-29", "date=lt2020", "entity-name:contains=x"])
def test_a_range_criterion_tested_per_resource_is_found_by_rid(sqlite_conn, query):
    r = _R
    ctx = BuildContext(registry(), None, None, utc_now())
    name, _, value = query.partition("=")
    parsed = QueryParser(ctx.registry, ("AuditEvent",), strict=True, base_url=None).parse([(name, value)])
    test = criterion_rids(parsed.criteria[0], ctx).test(r.c.rid)  # not driving: EXISTS per resource
    plan = _plan(sqlite_conn, select(r.c.rid).where(r.c.res_type == "AuditEvent", test).limit(21))
    assert "(rid=?)" in plan, plan
