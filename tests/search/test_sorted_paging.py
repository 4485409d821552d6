"""Sorted searches over several pages: sort keys, the stored-result bound and _total.

https://hl7.org/fhir/R4/search.html#sort
https://hl7.org/fhir/R4/http.html#paging
https://hl7.org/fhir/R4/search.html#total
"""

from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from fhirip.search import execute
from fhirip.search.sortkeys import encode_instant, encode_number, rebuild_sort_keys
from fhirip.store.schema import search_sort


def plan(plan_id, start=None, status="active", title=None):
    body = {"resourceType": "CarePlan", "id": plan_id, "status": status, "intent": "plan",
            "subject": {"reference": "Patient/p"}}
    if start:
        body["period"] = {"start": start}
    if title:
        body["title"] = title
    return body


@pytest.fixture
def plans(db):
    db.put(*[plan(f"cp{n:02d}", f"20{10 + n}-01-01", "active" if n % 3 else "draft")
             for n in range(12)],
           plan("undated-1"), plan("undated-2", status="draft"))
    return db


def follow(db, url, **options):
    return db.search(None, parse_qsl(urlsplit(url).query), **options)


def all_pages(db, first):
    ids, page = [e.res_id for e in first.entries], first
    while "next" in page.links:
        page = follow(db, page.links["next"])
        ids += [e.res_id for e in page.entries]
    return ids


@pytest.mark.parametrize("sort", ["-date", "date", "status,-date", "-status,date", "-_lastUpdated",
                                  "activity-date,-date"])
def test_paged_order_is_the_single_page_order(plans, sort):
    one_page = plans.ids("CarePlan", f"_sort={sort}&_count=100")
    paged = all_pages(plans, plans.search("CarePlan", f"_sort={sort}&_count=3"))
    assert paged == one_page and len(paged) == 14


def test_descending_date_sort_puts_the_newest_first_and_undated_last(plans):
    ids = all_pages(plans, plans.search("CarePlan", "_sort=-date&_count=5"))
    assert ids[:3] == ["cp11", "cp10", "cp09"]
    assert set(ids[-2:]) == {"undated-1", "undated-2"}


def test_several_dates_sort_by_the_latest_descending_and_the_earliest_ascending(db):
    db.put({"resourceType": "Patient", "id": "wide", "birthDate": "1990-01-01"},
           {"resourceType": "Patient", "id": "early", "birthDate": "1950-01-01"},
           {"resourceType": "Patient", "id": "late", "birthDate": "2000-01-01"})
    assert db.ids("Patient", "_sort=birthdate&_count=1") == ["early"]
    # a multi-valued key: names sort by the lowest value up, the highest value down
    db.put({"resourceType": "Patient", "id": "two-names",
            "name": [{"family": "Aas"}, {"family": "Zahl"}]},
           {"resourceType": "Patient", "id": "middle", "name": [{"family": "Moe"}]})
    up = all_pages(db, db.search("Patient", "name:missing=false&_sort=name&_count=1"))
    down = all_pages(db, db.search("Patient", "name:missing=false&_sort=-name&_count=1"))
    assert up == ["two-names", "middle"] and down == ["two-names", "middle"]


def test_sorted_pages_survive_a_write_between_them(plans):
    first = plans.search("CarePlan", "status=active&_sort=-date&_count=3")
    shown = [e.res_id for e in first.entries]
    assert shown == ["cp11", "cp10", "cp08"]
    # cp07 (page 2) moves to the very front, a new plan sorts first, cp02 stops matching
    plans.put(plan("cp07", "2099-01-01"), plan("brand-new", "2100-01-01"),
              plan("cp02", "2012-01-01", status="draft"))
    second = follow(plans, first.links["next"])
    assert [e.res_id for e in second.entries] == ["cp07", "cp05", "cp04"]
    rest = all_pages(plans, second)[3:]
    assert rest == ["cp02", "cp01", "undated-1"]  # the order of the first request; cp02 as stored
    assert "brand-new" not in shown + rest


def test_the_stored_result_is_bounded(plans, monkeypatch):
    monkeypatch.setattr(execute, "MAX_STORED", 5)
    first = plans.search("CarePlan", "_sort=date&_count=2")
    assert first.total is None  # not known without counting, and not asked for
    assert "last" not in first.links
    assert any("only the first 5" in issue.diagnostics for issue in first.issues)
    ids = all_pages(plans, first)
    assert ids == ["cp00", "cp01", "cp02", "cp03", "cp04"]
    accurate = plans.search("CarePlan", "_sort=date&_count=2&_total=accurate")
    assert accurate.total == 14
    later = follow(plans, accurate.links["next"])
    assert later.total == 14  # counted again for the later page, since it was asked for
    hidden = follow(plans, accurate.links["next"], policy=lambda r, types=None, per_row=False: r.c.res_id != "cp05")
    assert hidden.total == 13


def test_bounded_total_is_the_stored_count_when_everything_fits(plans, monkeypatch):
    monkeypatch.setattr(execute, "MAX_STORED", 50)
    first = plans.search("CarePlan", "_sort=date&_count=2")
    assert first.total == 14 and "last" in first.links
    assert not first.issues


def test_sort_keys_follow_updates_and_deletes(plans):
    plans.put(plan("cp00", "2200-01-01"))
    assert plans.ids("CarePlan", "_sort=-date&_count=1") == ["cp00"]
    plans.delete("CarePlan", "cp00")
    # A deletion keeps the index rows of the version it deleted (the access condition judges
    # them); no sorted page shows it, whichever way it is sorted.
    assert plans.ids("CarePlan", "_sort=-date&_count=1") == ["cp11"]
    assert "cp00" not in plans.ids("CarePlan", "_sort=date&_count=100")


def test_rebuilding_sort_keys_from_the_index_gives_what_writes_gave(plans):
    plans.put({"resourceType": "Observation", "id": "o", "status": "final", "code": {"text": "x"},
               "valueQuantity": {"value": -2.5, "unit": "kg"}})

    def rows():
        with plans.store.transaction(write=False) as tx:
            return sorted(tuple(row) for row in tx.conn.execute(select(search_sort)))

    written = rows()
    assert any(row[2] == "value-quantity" for row in written)
    with plans.store.transaction(write=True) as tx:
        assert rebuild_sort_keys(tx.conn) == len(written)
    assert rows() == written


@given(st.floats(allow_nan=False), st.floats(allow_nan=False))
def test_number_keys_sort_as_the_numbers(a, b):
    if a < b:
        assert encode_number(a) < encode_number(b)
    elif a == b:
        assert encode_number(a) == encode_number(b)


def test_instant_keys_sort_as_the_instants():
    from datetime import datetime
    moments = [datetime(1, 1, 1), datetime(999, 12, 31, 23, 59, 59, 999999),
               datetime(2020, 1, 1), datetime(2020, 1, 1, 0, 0, 0, 1)]
    assert sorted(moments, key=encode_instant) == moments
