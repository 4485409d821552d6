"""Conditional create, update, delete and patch, and conditional references in transactions.

https://hl7.org/fhir/R4/http.html#ccreate  https://hl7.org/fhir/R4/http.html#cond-update
https://hl7.org/fhir/R4/http.html#3.1.0.7.1  https://hl7.org/fhir/R4/http.html#trules
"""

from __future__ import annotations

import orjson
import pytest
from rest_checks import assert_outcome, id_from_location, patient

from fhirip.demo import synthetic_fnr
from fhirip.testing.live import Fhir, token_for

SYSTEM = "http://example.org/fhir/mrn"
FNR = "urn:oid:2.16.578.1.12.4.1.4.1"


def _with_mrn(value: str, **extra) -> dict:
    return patient(identifier=[{"system": SYSTEM, "value": value}], **extra)


def _criteria(value: str) -> str:
    return f"identifier={SYSTEM}|{value}"


def _patients(fhir) -> int:
    return fhir.get("/Patient", params={"_summary": "count"}).json()["total"]


def test_conditional_create_without_a_match_creates(fhir):
    response = fhir.create(_with_mrn("1"), **{"If-None-Exist": _criteria("1")})
    assert response.status_code == 201
    assert _patients(fhir) == 1


def test_conditional_create_with_one_match_returns_it_and_creates_nothing(fhir):
    first = fhir.create(_with_mrn("1")).json()
    response = fhir.create(_with_mrn("1", gender="male"), **{"If-None-Exist": _criteria("1")})
    assert response.status_code == 200
    assert id_from_location(response.headers["Location"]) == first["id"]
    assert response.json()["id"] == first["id"] and "gender" not in response.json()
    assert _patients(fhir) == 1


def test_conditional_create_with_several_matches_is_412(fhir):
    fhir.create(_with_mrn("1"))
    fhir.create(_with_mrn("1"))
    assert_outcome(fhir.create(_with_mrn("1"), **{"If-None-Exist": _criteria("1")}), 412)
    assert _patients(fhir) == 2


def test_conditional_create_with_an_unknown_parameter_is_400(fhir):
    assert_outcome(fhir.create(_with_mrn("1"), **{"If-None-Exist": "shoeSize=44"}), 400)
    assert _patients(fhir) == 0


def test_conditional_update_without_a_match_creates(fhir):
    response = fhir.send_json("PUT", f"/Patient?{_criteria('1')}", _with_mrn("1"))
    assert response.status_code == 201
    assert _patients(fhir) == 1


def test_conditional_update_without_a_match_creates_for_a_caller_who_may_not_choose_ids(fhir, live_server):
    """The server picks the id when nothing matches, so this is a create any writer may make."""
    fnr = synthetic_fnr(3, 5, 90, 300)
    kari = fhir.create(patient(identifier=[{"system": FNR, "value": fnr}])).json()
    token = token_for(live_server.services, sub="kari", scope="patient/*.cruds",
                      **{"helseid://claims/identity/pid": fnr})
    goal = {"resourceType": "Goal", "lifecycleStatus": "proposed", "description": {"text": "Egen bolig"},
            "subject": {"reference": f"Patient/{kari['id']}"},
            "identifier": [{"system": SYSTEM, "value": "g1"}]}
    with Fhir(base_url=live_server.url, timeout=30, headers={"Authorization": f"Bearer {token}"}) as person:
        created = person.send_json("PUT", f"/Goal?{_criteria('g1')}", goal)
        assert created.status_code == 201, created.text
        updated = person.send_json("PUT", f"/Goal?{_criteria('g1')}", {**goal, "lifecycleStatus": "active"})
    assert updated.status_code == 200 and updated.json()["id"] == created.json()["id"]
    assert fhir.get("/Goal", params={"identifier": f"{SYSTEM}|g1"}).json()["total"] == 1


def test_conditional_update_with_one_match_updates_it(fhir):
    first = fhir.create(_with_mrn("1")).json()
    response = fhir.send_json("PUT", f"/Patient?{_criteria('1')}", _with_mrn("1", gender="female"))
    assert response.status_code == 200
    assert response.json()["id"] == first["id"] and response.json()["meta"]["versionId"] == "2"
    assert _patients(fhir) == 1


def test_conditional_update_with_several_matches_is_412(fhir):
    fhir.create(_with_mrn("1"))
    fhir.create(_with_mrn("1"))
    assert_outcome(fhir.send_json("PUT", f"/Patient?{_criteria('1')}", _with_mrn("1", gender="male")), 412)


def test_conditional_update_with_a_body_id_other_than_the_match_is_400(fhir):
    fhir.create(_with_mrn("1"))
    assert_outcome(fhir.send_json("PUT", f"/Patient?{_criteria('1')}", _with_mrn("1", id="elsewhere")), 400)


def test_conditional_update_without_criteria_is_400_or_405(fhir):
    response = fhir.send_json("PUT", "/Patient", _with_mrn("1"))
    assert response.status_code in (400, 405)
    assert_outcome(response, response.status_code)


def test_conditional_delete_of_one_match_deletes_it(fhir):
    first = fhir.create(_with_mrn("1")).json()
    other = fhir.create(_with_mrn("2")).json()
    assert fhir.delete("/Patient", params={"identifier": f"{SYSTEM}|1"}).status_code in (200, 204)
    assert fhir.get(f"/Patient/{first['id']}").status_code == 410
    assert fhir.get(f"/Patient/{other['id']}").status_code == 200


def test_conditional_delete_without_a_match_succeeds(fhir):
    assert fhir.delete("/Patient", params={"identifier": f"{SYSTEM}|9"}).status_code in (200, 204)


def test_conditional_delete_of_several_matches_is_412_when_only_single_is_supported(fhir):
    fhir.create(_with_mrn("1"))
    fhir.create(_with_mrn("1"))
    statement = fhir.get("/metadata").json()
    mode = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")["conditionalDelete"]
    response = fhir.delete("/Patient", params={"identifier": f"{SYSTEM}|1"})
    if mode == "single":
        assert_outcome(response, 412)
        assert _patients(fhir) == 2
    else:
        assert response.status_code in (200, 204)


def test_conditional_patch_patches_the_one_match(fhir):
    first = fhir.create(_with_mrn("1")).json()
    response = fhir.patch("/Patient", params={"identifier": f"{SYSTEM}|1"},
                          content=orjson.dumps([{"op": "add", "path": "/active", "value": True}]),
                          headers={"Content-Type": "application/json-patch+json"})
    assert response.status_code == 200, response.text
    assert fhir.get(f"/Patient/{first['id']}").json()["active"] is True


def test_transaction_resolves_a_conditional_reference(fhir):
    target = fhir.create(_with_mrn("7")).json()
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "POST", "url": "Observation"},
         "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "puls"},
                      "subject": {"reference": f"Patient?{_criteria('7')}"}}}]}
    response = fhir.send_json("POST", "/", bundle)
    assert response.status_code == 200, response.text
    oid = id_from_location(response.json()["entry"][0]["response"]["location"])
    assert fhir.get(f"/Observation/{oid}").json()["subject"]["reference"] == f"Patient/{target['id']}"


def test_transaction_with_a_conditional_reference_that_matches_nothing_fails(fhir):
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "POST", "url": "Patient"}, "resource": _with_mrn("1")},
        {"request": {"method": "POST", "url": "Observation"},
         "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "puls"},
                      "subject": {"reference": f"Patient?{_criteria('nobody')}"}}}]}
    response = fhir.send_json("POST", "/", bundle)
    assert 400 <= response.status_code < 500
    assert_outcome(response, response.status_code, mentions="Bundle.entry[1]")
    assert _patients(fhir) == 0


def test_transaction_conditional_create_reuses_the_match_for_references(fhir):
    existing = fhir.create(_with_mrn("5")).json()
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:8f8c7d2e-2f4f-4a1b-9b0e-1f2a3b4c5d6e", "resource": _with_mrn("5"),
         "request": {"method": "POST", "url": "Patient", "ifNoneExist": _criteria("5")}},
        {"request": {"method": "POST", "url": "Observation"},
         "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "puls"},
                      "subject": {"reference": "urn:uuid:8f8c7d2e-2f4f-4a1b-9b0e-1f2a3b4c5d6e"}}}]}
    response = fhir.send_json("POST", "/", bundle)
    assert response.status_code == 200, response.text
    first, second = response.json()["entry"]
    assert first["response"]["status"].startswith("200")
    oid = id_from_location(second["response"]["location"])
    assert fhir.get(f"/Observation/{oid}").json()["subject"]["reference"] == f"Patient/{existing['id']}"
    assert _patients(fhir) == 1


def test_transaction_conditional_update_resolves_before_references(fhir):
    existing = fhir.create(_with_mrn("6")).json()
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:0c4f2b8a-9d7e-4e3a-8c1b-2a3b4c5d6e7f", "resource": _with_mrn("6", gender="male"),
         "request": {"method": "PUT", "url": f"Patient?{_criteria('6')}"}},
        {"request": {"method": "POST", "url": "Observation"},
         "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "puls"},
                      "subject": {"reference": "urn:uuid:0c4f2b8a-9d7e-4e3a-8c1b-2a3b4c5d6e7f"}}}]}
    response = fhir.send_json("POST", "/", bundle)
    assert response.status_code == 200, response.text
    assert fhir.get(f"/Patient/{existing['id']}").json()["gender"] == "male"
    oid = id_from_location(response.json()["entry"][1]["response"]["location"])
    assert fhir.get(f"/Observation/{oid}").json()["subject"]["reference"] == f"Patient/{existing['id']}"


def test_a_conditional_update_resolving_to_another_entry_s_resource_fails_the_transaction(fhir):
    existing = fhir.create(_with_mrn("8")).json()
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {**_with_mrn("8"), "id": existing["id"]},
         "request": {"method": "PUT", "url": f"Patient/{existing['id']}"}},
        {"resource": _with_mrn("8", gender="male"), "request": {"method": "PUT", "url": f"Patient?{_criteria('8')}"}}]}
    response = fhir.send_json("POST", "/", bundle)
    assert_outcome(response, 400, mentions=f"Patient/{existing['id']}")
    assert fhir.get(f"/Patient/{existing['id']}").json()["meta"]["versionId"] == "1"


def test_a_create_with_search_criteria_in_its_url_is_a_conditional_create(fhir):
    """`POST [type]?[search]` (fhirpy's get_or_create) finds the match instead of creating a twin."""
    first = fhir.send_json("POST", f"/Patient?{_criteria('1')}", _with_mrn("1"))
    assert first.status_code == 201
    again = fhir.send_json("POST", f"/Patient?{_criteria('1')}", _with_mrn("1", gender="male"))
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert _patients(fhir) == 1


def test_criteria_in_the_url_and_a_different_if_none_exist_are_400(fhir):
    response = fhir.send_json("POST", f"/Patient?{_criteria('1')}", _with_mrn("1"),
                              **{"If-None-Exist": _criteria("2")})
    assert_outcome(response, 400)
    assert _patients(fhir) == 0


@pytest.mark.parametrize("criteria", ["invalid search parameters", "identifier", "identifier=", "=x"])
def test_if_none_exist_criteria_that_do_not_parse_are_400_even_with_a_resource_stored(fhir, criteria):
    fhir.create(_with_mrn("1"))
    assert_outcome(fhir.create(_with_mrn("2"), **{"If-None-Exist": criteria}), 400)
    assert _patients(fhir) == 1
