"""The parameters common to all resources work on every type the server stores, over HTTP.

https://hl7.org/fhir/R4/search.html#all

Types with no search parameters of their own (Binary, Parameters, …) are still
searchable by `_id`, `_lastUpdated`, `_tag`, `_profile`, `_security` and `_source`.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from fhirip.model.resources import RESOURCE_TYPES

COMMON = {"_id", "_lastUpdated", "_tag", "_profile", "_security", "_source"}
TAG = {"system": "http://fhirip.no/fhir/test-tag", "code": "kopi"}
PROFILE = "http://hl7.org/fhir/StructureDefinition/Binary"  # a profile the server knows
SECURITY = {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}
SOURCE = "http://kommune.example/journal#42"


def binary(text: str, **meta: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Binary", "contentType": "text/plain",
                                "data": base64.b64encode(text.encode()).decode()}
    if meta:
        resource["meta"] = meta
    return resource


def created(fhir, resource: dict[str, Any]) -> dict[str, Any]:
    response = fhir.create(resource)
    assert response.status_code == 201, response.text
    return response.json()


def found_ids(fhir, url: str, **params: str) -> list[str]:
    response = fhir.get(url, params=params)
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["type"] == "searchset"
    return sorted(e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match")


def test_every_storable_type_declares_search_with_the_common_parameters(fhir):
    statement = fhir.get("/metadata").json()
    declared = {entry["type"]: entry for entry in statement["rest"][0]["resource"]}
    for res_type in sorted(RESOURCE_TYPES):
        entry = declared[res_type]
        assert "search-type" in {i["code"] for i in entry["interaction"]}, res_type
        assert COMMON <= {p["name"] for p in entry["searchParam"]}, res_type


def test_types_without_parameters_of_their_own_answer_a_search(fhir):
    statement = fhir.get("/metadata").json()
    bare = [entry["type"] for entry in statement["rest"][0]["resource"]
            if all(p["name"].startswith("_") for p in entry["searchParam"])]
    assert "Binary" in bare and "Parameters" in bare
    for res_type in bare:
        assert found_ids(fhir, f"/{res_type}", _id="none", _lastUpdated="ge2000-01-01") == [], res_type


def test_binary_is_found_by_id(fhir):
    first = created(fhir, binary("første"))
    created(fhir, binary("andre"))
    assert found_ids(fhir, "/Binary", _id=first["id"]) == [first["id"]]
    assert found_ids(fhir, "/Binary", _id="not-there") == []


def test_binary_is_found_by_last_updated(fhir):
    first = created(fhir, binary("første"))
    time.sleep(0.01)  # the two versions must not share a timestamp
    second = created(fhir, binary("andre"))
    between = second["meta"]["lastUpdated"]
    assert found_ids(fhir, "/Binary", _lastUpdated=f"ge{between}") == [second["id"]]
    assert found_ids(fhir, "/Binary", _lastUpdated=f"lt{between}") == [first["id"]]
    assert found_ids(fhir, "/Binary", _lastUpdated="lt2000-01-01") == []


def test_binary_is_found_by_tag_profile_security_and_source(fhir):
    marked = created(fhir, binary("merket", tag=[TAG], profile=[PROFILE], security=[SECURITY], source=SOURCE))
    created(fhir, binary("umerket"))
    assert found_ids(fhir, "/Binary", _tag=f"{TAG['system']}|{TAG['code']}") == [marked["id"]]
    assert found_ids(fhir, "/Binary", _profile=PROFILE) == [marked["id"]]
    assert found_ids(fhir, "/Binary", _security=f"{SECURITY['system']}|{SECURITY['code']}") == [marked["id"]]
    assert found_ids(fhir, "/Binary", _source=SOURCE) == [marked["id"]]


def test_parameters_is_found_by_id_and_last_updated(fhir):
    stored = created(fhir, {"resourceType": "Parameters",
                            "parameter": [{"name": "svar", "valueString": "ja"}]})
    assert found_ids(fhir, "/Parameters", _id=stored["id"]) == [stored["id"]]
    assert found_ids(fhir, "/Parameters", _lastUpdated=f"ge{stored['meta']['lastUpdated']}") == [stored["id"]]


def test_system_search_accepts_a_type_without_parameters_of_its_own(fhir):
    stored = created(fhir, binary("system"))
    assert found_ids(fhir, "/", _type="Binary", _id=stored["id"]) == [stored["id"]]
