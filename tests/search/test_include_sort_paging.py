"""_include/_revinclude (:iterate, *), _sort, paging, _count and _total.

https://hl7.org/fhir/R4/search.html#include
https://hl7.org/fhir/R4/search.html#sort
https://hl7.org/fhir/R4/http.html#paging
"""

from urllib.parse import parse_qsl, urlsplit

import pytest
from ipdata import FNR, individual_plan_records
from search_support import parse_query


@pytest.fixture
def ip(db):
    db.put(*individual_plan_records())
    return db


def entries(result):
    return sorted((e.mode, e.res_type, e.res_id) for e in result.entries)


def test_include_follows_named_references(ip):
    result = ip.search("CarePlan", f"patient.identifier={FNR}|13031353453&status=active"
                                   "&_include=CarePlan:goal&_include=CarePlan:care-team")
    assert entries(result) == [("include", "CareTeam", "t1"), ("include", "Goal", "g1"),
                               ("include", "Goal", "g2"), ("match", "CarePlan", "cp1")]
    assert result.total == 1  # includes are not counted


def test_include_with_target_type_and_wildcard(ip):
    result = ip.search("CarePlan", "_id=cp1&_include=CarePlan:subject:Group")
    assert entries(result) == [("match", "CarePlan", "cp1")]
    result = ip.search("CarePlan", "_id=cp1&_include=*")
    assert entries(result) == [("include", "CareTeam", "t1"), ("include", "Goal", "g1"),
                               ("include", "Goal", "g2"), ("include", "Patient", "p1"),
                               ("match", "CarePlan", "cp1")]


def test_revinclude(ip):
    result = ip.search("Patient", "_id=p1&_revinclude=Consent:patient&_revinclude=CareTeam:subject")
    assert entries(result) == [("include", "CareTeam", "t1"), ("include", "Consent", "c1"),
                               ("match", "Patient", "p1")]


def test_include_without_iterate_stops_at_the_matches(ip):
    result = ip.search("CarePlan", "_id=cp1&_include=CarePlan:care-team&_include=CareTeam:participant")
    assert ("include", "Practitioner", "dr1") not in entries(result)


def test_include_iterate_follows_included_resources(ip):
    result = ip.search("CarePlan", "_id=cp1&_include=CarePlan:care-team"
                                   "&_include:iterate=CareTeam:participant"
                                   "&_include:iterate=Patient:organization&_include=CarePlan:patient")
    assert entries(result) == [("include", "CareTeam", "t1"), ("include", "Organization", "bodo"),
                               ("include", "Patient", "p1"), ("include", "Practitioner", "dr1"),
                               ("include", "Practitioner", "old"), ("match", "CarePlan", "cp1")]


def test_revinclude_iterate(ip):
    result = ip.search("Patient", "_id=p1&_revinclude=CarePlan:patient"
                                  "&_revinclude:iterate=Provenance:target")
    assert ("include", "Provenance", "prov1") in entries(result)


def test_policy_hides_included_resources(ip):
    def policy(r, types=None, per_row=False):
        return r.c.res_type != "Goal"
    result = ip.search("CarePlan", "_id=cp1&_include=CarePlan:goal&_revinclude=Provenance:target",
                       policy=policy)
    assert entries(result) == [("include", "Provenance", "prov1"), ("match", "CarePlan", "cp1")]


def test_include_reaches_the_types_its_parameter_points_at(ip):
    ip.put({"resourceType": "Observation", "id": "not-a-goal", "status": "final",
            "code": {"text": "x"}, "subject": {"reference": "Patient/p1"}},
           {"resourceType": "CarePlan", "id": "odd", "status": "active", "intent": "plan",
            "subject": {"reference": "Patient/p1"},
            "goal": [{"reference": "Goal/g1"}, {"reference": "Observation/not-a-goal"}]})
    result = ip.search("CarePlan", "_id=odd&_include=CarePlan:goal")
    assert entries(result) == [("include", "Goal", "g1"), ("match", "CarePlan", "odd")]


def test_include_statements_tell_the_policy_which_types_they_read(ip):
    """The policy may leave out what concerns no other type only when told the types."""
    asked = []

    def policy(r, types=None, per_row=False):
        asked.append((r.name, tuple(sorted(types)) if types else None))
        return r.c.res_type != "Nothing"
    result = ip.search("CarePlan", "_id=cp1&_include=CarePlan:goal&_include=CarePlan:subject"
                                   "&_revinclude=Provenance:target", policy=policy)
    assert ("include", "Provenance", "prov1") in entries(result)
    assert ("target", ("Goal", "Group", "Patient")) in asked
    assert ("source", ("Provenance",)) in asked
    asked.clear()
    ip.search("CarePlan", "_id=cp1&_include=*&_revinclude=*:*", policy=policy)
    assert ("target", None) in asked and ("source", None) in asked


def test_sort_on_several_keys(ip):
    assert ip.ids("CarePlan", "_sort=status,-date") == ["cp2", "cp1", "old-plan"]
    assert ip.ids("CarePlan", "_sort=-status,date") == ["old-plan", "cp1", "cp2"]
    assert ip.ids("Goal", "_sort=-_id") == ["g2", "g1"]
    assert ip.ids("Patient", "_sort=name") == ["p2", "p1"]  # Hansen < Nordmann... by lowest name part


def test_sort_puts_resources_without_a_value_last(ip):
    ip.put({"resourceType": "CarePlan", "id": "undated", "status": "draft", "intent": "plan",
            "subject": {"reference": "Patient/p2"}})
    assert ip.ids("CarePlan", "_sort=date")[-1] == "undated"
    assert ip.ids("CarePlan", "_sort=-date")[-1] == "undated"


def test_sort_on_unknown_parameter_is_refused(ip):
    from fhirip.errors import BadRequest
    with pytest.raises(BadRequest, match="_sort"):
        ip.ids("CarePlan", "_sort=nonsense")


def _follow(db, url):
    query = urlsplit(url).query
    return db.search(None, parse_qsl(query))


@pytest.fixture
def many_goals(db):
    db.put(*[{"resourceType": "Goal", "id": f"g{n:02d}", "lifecycleStatus": "active",
              "description": {"text": f"goal {n}"}, "subject": {"reference": "Patient/p"}}
             for n in range(25)])
    return db


def test_paging_covers_every_match_once_despite_writes_between_pages(many_goals):
    db = many_goals
    first = db.search("Goal", "lifecycle-status=active&_count=10&_sort=_id")
    assert first.total == 25
    assert [e.res_id for e in first.entries] == [f"g{n:02d}" for n in range(10)]
    assert set(first.links) >= {"self", "first", "next", "last"}
    assert "previous" not in first.links
    # between the pages: a new match appears before the cursor and one on page 2 changes
    db.put({"resourceType": "Goal", "id": "a-new", "lifecycleStatus": "active",
            "description": {"text": "new"}, "subject": {"reference": "Patient/p"}},
           {"resourceType": "Goal", "id": "g12", "lifecycleStatus": "active",
            "description": {"text": "changed"}, "subject": {"reference": "Patient/p"}})
    second = _follow(db, first.links["next"])
    assert [e.res_id for e in second.entries] == [f"g{n:02d}" for n in range(10, 20)]
    assert b"changed" in next(e.content for e in second.entries if e.res_id == "g12")
    third = _follow(db, second.links["next"])
    assert [e.res_id for e in third.entries] == [f"g{n:02d}" for n in range(20, 25)]
    assert "next" not in third.links
    back = _follow(db, third.links["previous"])
    assert [e.res_id for e in back.entries] == [e.res_id for e in second.entries]


def test_stored_pages_are_filtered_by_the_policy_of_the_reader(many_goals):
    db = many_goals
    first = db.search("Goal", "_count=10&_sort=_id")
    hidden = _follow_with(db, first.links["next"], policy=lambda r, types=None, per_row=False: r.c.res_id != "g15")
    assert "g15" not in [e.res_id for e in hidden.entries]
    assert hidden.total == 24


def _follow_with(db, url, **options):
    return db.search(None, parse_qsl(urlsplit(url).query), **options)


def test_deleted_resource_drops_out_of_stored_pages(many_goals):
    db = many_goals
    first = db.search("Goal", "_count=10&_sort=_id")
    db.delete("Goal", "g11")
    second = _follow(db, first.links["next"])
    assert "g11" not in [e.res_id for e in second.entries]
    assert second.total == 24


def test_unknown_page_id_is_gone(many_goals):
    from fhirip.errors import Gone
    with pytest.raises(Gone):
        many_goals.search(None, "_getpages=nope&_getpagesoffset=10&_count=10")


def test_single_page_stores_nothing_and_has_no_next(many_goals):
    result = many_goals.search("Goal", "_count=100")
    assert result.search_id is None and result.total == 25 and "next" not in result.links


def test_total_modes_and_summary_count(many_goals):
    db = many_goals
    assert db.search("Goal", "_count=5&_total=none").total is None
    assert db.search("Goal", "_count=5&_total=accurate").total == 25
    assert db.search("Goal", "_count=5&_total=estimate").total == 25
    counted = db.search("Goal", "_summary=count")
    assert counted.total == 25 and counted.entries == []
    assert db.search("Goal", "_count=0").entries == []


def test_count_is_capped(many_goals):
    from fhirip.search.query import MAX_COUNT
    result = many_goals.search("Goal", "_count=100000")
    assert "_count=100000" in result.links["self"] and MAX_COUNT == 1000
    assert len(result.entries) == 25


def test_self_link_repeats_the_accepted_parameters(many_goals):
    result = many_goals.search("Goal", "lifecycle-status=active&bogus=1&_count=5")
    assert parse_query(urlsplit(result.links["self"]).query) == [
        ("lifecycle-status", "active"), ("_count", "5")]
    assert result.links["self"].startswith("http://fhirip.test/fhir/Goal?")


def test_system_search_with_type(ip):
    result = ip.search(None, "_type=Goal,Consent&_sort=_id")
    assert [(e.res_type, e.res_id) for e in result.entries] == [
        ("Consent", "c1"), ("Goal", "g1"), ("Goal", "g2")]
    result = ip.search(None, "_id=cp1")
    assert [(e.res_type, e.res_id) for e in result.entries] == [("CarePlan", "cp1")]


def test_planning_once_per_connection_ends_with_the_page(ip):
    """A page found by index seeks is planned generically; the transaction's later statements
    (a batch's next search, a broad one) are planned for their values again."""
    from fhirip.search import search
    from search_support import BASE, parse_query
    with ip.store.transaction(write=True) as tx:
        before = _plan_cache_mode(tx.conn)
        found = search(tx.conn, "CarePlan", parse_query(f"patient.identifier={FNR}|13031353453"
                                                        "&_include=CarePlan:goal"), base_url=BASE)
        assert sorted(e.res_id for e in found.entries if e.mode == "match") == ["cp1", "old-plan"]
        assert _plan_cache_mode(tx.conn) == before


def _plan_cache_mode(conn):
    if conn.dialect.name != "postgresql":
        return None
    return conn.exec_driver_sql("SHOW plan_cache_mode").scalar_one()
