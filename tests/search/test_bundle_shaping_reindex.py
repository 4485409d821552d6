"""The searchset Bundle, _summary/_elements shaping, and rebuilding the index."""

import orjson
from ipdata import individual_plan_records
from search_support import BASE
from sqlalchemy import func, select

from fhirip.search import searchset_bundle
from fhirip.search.index import reindex_all
from fhirip.search.shaping import shape_resource
from fhirip.store.schema import search_token

PATIENT = {"resourceType": "Patient", "id": "p", "meta": {"versionId": "1"},
           "text": {"status": "generated", "div": "<div>x</div>"}, "gender": "female",
           "name": [{"family": "Nordmann"}], "contact": [{"name": {"family": "Mor"}}],
           "_gender": {"extension": []}, "multipleBirthInteger": 2}


def test_summary_true_keeps_summary_elements_and_marks_subsetted():
    shaped = shape_resource(PATIENT, "true", None)
    assert set(shaped) == {"resourceType", "id", "meta", "gender", "_gender", "name"}
    assert shaped["meta"]["tag"][-1]["code"] == "SUBSETTED"
    assert "tag" not in PATIENT["meta"]  # the input is not changed


def test_summary_text_keeps_text_and_mandatory_elements():
    care_plan = {"resourceType": "CarePlan", "id": "c", "status": "active", "intent": "plan",
                 "text": {"status": "generated", "div": "<div/>"}, "title": "x",
                 "subject": {"reference": "Patient/p"}}
    assert set(shape_resource(care_plan, "text", None)) == {
        "resourceType", "id", "meta", "text", "status", "intent", "subject"}


def test_summary_data_drops_only_text():
    assert set(shape_resource(PATIENT, "data", None)) == set(PATIENT) - {"text"}


def test_elements_keeps_the_named_elements_and_choices():
    shaped = shape_resource(PATIENT, None, ["gender", "multipleBirth"])
    assert set(shaped) == {"resourceType", "id", "meta", "gender", "_gender", "multipleBirthInteger"}


def test_no_shaping_returns_the_resource_as_is():
    assert shape_resource(PATIENT, None, None) is PATIENT


def test_searchset_bundle(db):
    db.put(*individual_plan_records())
    result = db.search("CarePlan", "_id=cp1&_include=CarePlan:goal&bogus=1&_summary=true")
    bundle = searchset_bundle(result, BASE)
    assert bundle["type"] == "searchset" and bundle["total"] == 1
    assert bundle["link"][0]["relation"] == "self"
    modes = [(e["search"]["mode"], e.get("fullUrl")) for e in bundle["entry"]]
    assert modes == [("match", f"{BASE}/CarePlan/cp1"), ("include", f"{BASE}/Goal/g1"),
                     ("include", f"{BASE}/Goal/g2"), ("outcome", None)]
    plan = bundle["entry"][0]["resource"]
    assert "activity" not in plan and plan["meta"]["tag"][-1]["code"] == "SUBSETTED"


def test_entries_carry_the_stored_bytes(db):
    db.put(*individual_plan_records())
    entry = db.search("Goal", "_id=g1").entries[0]
    assert orjson.loads(entry.content)["meta"]["versionId"] == "1"


def test_reindex_rebuilds_the_same_index(db):
    db.put(*individual_plan_records())
    with db.store.transaction(write=True) as tx:
        before = tx.conn.execute(select(func.count()).select_from(search_token)).scalar_one()
        tx.conn.execute(search_token.delete())
    assert db.ids("CarePlan", "status=active") == []
    with db.store.transaction(write=True) as tx:
        assert reindex_all(tx.conn) == len(individual_plan_records())
        after = tx.conn.execute(select(func.count()).select_from(search_token)).scalar_one()
    assert after == before
    assert db.ids("CarePlan", "status=active") == ["cp1", "cp2"]


def test_update_replaces_and_delete_removes_index_rows(db):
    db.put(*individual_plan_records())
    db.put({"resourceType": "CarePlan", "id": "cp2", "status": "revoked", "intent": "plan",
            "subject": {"reference": "Patient/p2"}})
    assert db.ids("CarePlan", "status=active") == ["cp1"]
    assert db.ids("CarePlan", "status=revoked") == ["cp2"]
    db.delete("CarePlan", "cp1")
    assert db.ids("CarePlan", "status=active") == []
