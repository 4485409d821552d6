"""Search as independent conformance kits exercise it: token forms of :identifier, value sets by
reference, and system searches that understand nothing of their query.

https://hl7.org/fhir/R4/search.html#reference  https://hl7.org/fhir/R4/search.html#token
"""

from __future__ import annotations

import pytest
from rest_checks import assert_outcome, patient

SYSTEM = "http://example.org/cs/tiltak"
FNR = "urn:oid:2.16.578.1.12.4.1.4.1"


def _goal(code: str, subject: dict) -> dict:
    return {"resourceType": "Goal", "lifecycleStatus": "active", "description": {"text": code},
            "category": [{"coding": [{"system": SYSTEM, "code": code}]}], "subject": subject}


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return sorted(e["resource"]["description"]["text"] for e in response.json().get("entry", [])
                  if e["search"]["mode"] == "match")


@pytest.fixture
def goals(fhir):
    fhir.update(patient(id="p"))
    for code in ("bolig", "arbeid"):
        assert fhir.create(_goal(code, {"reference": "Patient/p"})).status_code == 201
    assert fhir.create(_goal("logisk", {"identifier": {"system": FNR, "value": "13031353453"}})).status_code == 201
    assert fhir.create(_goal("uten-system", {"identifier": {"value": "42"}})).status_code == 201
    return fhir


def test_identifier_modifier_with_a_system_only_finds_every_identifier_of_that_system(goals):
    assert _ids(goals.get("/Goal", params={"subject:identifier": f"{FNR}|"})) == ["logisk"]
    assert _ids(goals.get("/Goal", params={"subject:identifier": f"{FNR}|13031353453"})) == ["logisk"]
    assert _ids(goals.get("/Goal", params={"subject:identifier": "|42"})) == ["uten-system"]
    assert _ids(goals.get("/Goal", params={"subject:identifier": "http://other.example|"})) == []


def test_in_and_not_in_take_a_stored_value_set_by_reference(goals, base):
    value_set = {"resourceType": "ValueSet", "id": "bolig-tiltak", "url": "http://example.org/vs/bolig",
                 "status": "active",
                 "compose": {"include": [{"system": SYSTEM, "concept": [{"code": "bolig"}]}]}}
    assert goals.update(value_set).status_code == 201
    for reference in ("ValueSet/bolig-tiltak", f"{base}/ValueSet/bolig-tiltak", "http://example.org/vs/bolig"):
        assert _ids(goals.get("/Goal", params={"category:in": reference})) == ["bolig"], reference
        assert "bolig" not in _ids(goals.get("/Goal", params={"category:not-in": reference}))
    assert_outcome(goals.get("/Goal", params={"category:in": "ValueSet/finnes-ikke"}), 400)


@pytest.mark.parametrize("method, url, params", [
    ("GET", "/", {"identifier": "x|1"}),
    ("GET", "/", {"shoeSize": "44", "colour": "blue"}),
    ("POST", "/_search", {"_content": "kari"}),
    ("GET", "/Goal", {"colour": "blue"}),
])
def test_a_search_that_understands_nothing_of_its_query_is_400(goals, method, url, params):
    if method == "GET":
        response = goals.get(url, params=params)
    else:
        response = goals.post(url, data=params)
    assert_outcome(response, 400)
    assert next(iter(params)) in response.json()["issue"][0]["expression"]


def test_a_search_with_something_understood_ignores_the_rest_with_a_warning(goals):
    """fhirpy's count() sends `_count=0&_totalMethod=count` (a parameter of another server)."""
    counted = goals.get("/Goal", params={"_count": "0", "_totalMethod": "count"})
    assert counted.status_code == 200 and counted.json()["total"] == 4
    typed = goals.get("/", params={"_type": "Goal", "colour": "blue"})
    assert typed.status_code == 200 and len([e for e in typed.json()["entry"] if e["search"]["mode"] == "match"]) == 4


def test_a_search_with_one_understood_criterion_ignores_the_others_with_a_warning(goals):
    bundle = goals.get("/Goal", params={"colour": "blue", "category": f"{SYSTEM}|bolig"}).json()
    assert [e["resource"]["description"]["text"] for e in bundle["entry"] if e["search"]["mode"] == "match"] == ["bolig"]
    outcome = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert outcome and outcome[0]["resource"]["issue"][0]["expression"] == ["colour"]
