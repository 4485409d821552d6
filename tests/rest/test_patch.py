"""patch: JSON Patch and FHIRPath Patch, with If-Match and Prefer.

https://hl7.org/fhir/R4/http.html#patch  https://hl7.org/fhir/R4/fhirpatch.html
https://datatracker.ietf.org/doc/html/rfc6902 (JSON Patch)
"""

from __future__ import annotations

import orjson
import pytest
from rest_checks import assert_outcome, patient, version_of

JSON_PATCH = "application/json-patch+json"


def _json_patch(fhir, url: str, operations: object, **headers: str):
    return fhir.patch(url, content=orjson.dumps(operations),
                      headers={"Content-Type": JSON_PATCH, **headers})


def _fhirpath_patch(fhir, url: str, *operations: dict, **headers: str):
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "operation", "part": [_part(k, v) for k, v in op.items()]} for op in operations]}
    return fhir.send_json("PATCH", url, body, **headers)


def _part(name: str, value: object) -> dict:
    if name == "type":
        return {"name": name, "valueCode": value}
    if name in ("index", "source", "destination"):
        return {"name": name, "valueInteger": value}
    if name == "value" and isinstance(value, dict):
        return {"name": name, **value}  # already typed, e.g. {"valueDate": ...}
    return {"name": name, "valueString": value}


@pytest.fixture
def kari(fhir) -> dict:
    return fhir.update(patient(id="kari", active=True, gender="female",
                               telecom=[{"system": "phone", "value": "1"},
                                        {"system": "phone", "value": "2"},
                                        {"system": "email", "value": "k@example.no"}])).json()


def test_json_patch_add_replace_remove_make_a_new_version(fhir, kari):
    response = _json_patch(fhir, "/Patient/kari", [
        {"op": "add", "path": "/birthDate", "value": "1980-02-03"},
        {"op": "replace", "path": "/gender", "value": "other"},
        {"op": "remove", "path": "/active"},
    ])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["birthDate"] == "1980-02-03" and body["gender"] == "other" and "active" not in body
    assert body["meta"]["versionId"] == "2"
    assert version_of(response) == 2
    assert fhir.get("/Patient/kari").json() == body
    history = fhir.get("/Patient/kari/_history").json()["entry"]
    assert history[0]["request"]["method"] == "PATCH"


def test_json_patch_test_operation_that_holds_lets_the_patch_through(fhir, kari):
    response = _json_patch(fhir, "/Patient/kari", [
        {"op": "test", "path": "/gender", "value": "female"},
        {"op": "replace", "path": "/gender", "value": "male"}])
    assert response.status_code == 200
    assert response.json()["gender"] == "male"


def test_json_patch_failed_test_is_422_and_changes_nothing(fhir, kari):
    response = _json_patch(fhir, "/Patient/kari", [
        {"op": "test", "path": "/gender", "value": "male"},
        {"op": "replace", "path": "/gender", "value": "unknown"}])
    assert_outcome(response, 422)
    assert fhir.get("/Patient/kari").json() == kari


def test_json_patch_that_changes_the_id_is_422(fhir, kari):
    response = _json_patch(fhir, "/Patient/kari", [{"op": "replace", "path": "/id", "value": "other"}])
    assert_outcome(response, 422)
    assert fhir.get("/Patient/other").status_code == 404


def test_json_patch_that_breaks_the_resource_is_rejected(fhir, kari):
    response = _json_patch(fhir, "/Patient/kari", [{"op": "add", "path": "/birthDate", "value": "2020-13-01"}])
    assert_outcome(response, 422, expression="Patient.birthDate")
    response = _json_patch(fhir, "/Patient/kari", [{"op": "add", "path": "/colour", "value": "blue"}])
    assert_outcome(response, 400, expression="Patient.colour")
    assert version_of(fhir.get("/Patient/kari")) == 1


@pytest.mark.parametrize("document", [
    {"op": "add", "path": "/active", "value": True},  # an object, not an array
    [{"op": "frobnicate", "path": "/active"}],
    [{"op": "remove", "path": "/notThere"}],
    [{"op": "replace"}],
], ids=["not-an-array", "unknown-op", "missing-target", "missing-path"])
def test_bad_json_patch_document_is_400(fhir, kari, document):
    assert_outcome(_json_patch(fhir, "/Patient/kari", document), 400)
    assert version_of(fhir.get("/Patient/kari")) == 1


def test_json_patch_that_is_not_json_is_400(fhir, kari):
    response = fhir.patch("/Patient/kari", content=b"[{", headers={"Content-Type": JSON_PATCH})
    assert_outcome(response, 400)


def test_patch_of_an_unknown_resource_is_404(fhir):
    response = _json_patch(fhir, "/Patient/nobody", [{"op": "add", "path": "/active", "value": True}])
    assert_outcome(response, 404)


def test_patch_of_a_deleted_resource_is_410_like_its_read(fhir, kari):
    fhir.delete("/Patient/kari")
    response = _json_patch(fhir, "/Patient/kari", [{"op": "add", "path": "/active", "value": True}])
    assert_outcome(response, 410)
    assert fhir.get("/Patient/kari/_history").json()["total"] == 2


def test_patch_with_a_matching_if_match_succeeds_and_a_stale_one_is_412(fhir, kari):
    ops = [{"op": "replace", "path": "/active", "value": False}]
    assert_outcome(_json_patch(fhir, "/Patient/kari", ops, **{"If-Match": 'W/"7"'}), 412)
    assert fhir.get("/Patient/kari").json()["active"] is True
    response = _json_patch(fhir, "/Patient/kari", ops, **{"If-Match": 'W/"1"'})
    assert response.status_code == 200
    assert response.json()["active"] is False


def test_patch_honours_prefer_return(fhir, kari):
    ops = [{"op": "replace", "path": "/active", "value": False}]
    minimal = _json_patch(fhir, "/Patient/kari", ops, Prefer="return=minimal")
    assert minimal.status_code == 200 and minimal.content == b""
    assert minimal.headers["ETag"] == 'W/"2"'
    outcome = _json_patch(fhir, "/Patient/kari", ops, Prefer="return=OperationOutcome")
    assert outcome.json()["resourceType"] == "OperationOutcome"
    full = _json_patch(fhir, "/Patient/kari", ops, Prefer="return=representation")
    assert full.json()["meta"]["versionId"] == "4"


def test_patch_with_an_unsupported_content_type_is_415(fhir, kari):
    response = fhir.patch("/Patient/kari", content=b"<Parameters/>", headers={"Content-Type": "application/xml"})
    assert_outcome(response, 415)


def test_fhirpath_patch_replace_and_add(fhir, kari):
    response = _fhirpath_patch(
        fhir, "/Patient/kari",
        {"type": "replace", "path": "Patient.gender", "value": {"valueCode": "other"}},
        {"type": "add", "path": "Patient", "name": "birthDate", "value": {"valueDate": "1980-02-03"}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["gender"] == "other" and body["birthDate"] == "1980-02-03"


def test_fhirpath_patch_delete_with_where(fhir, kari):
    response = _fhirpath_patch(fhir, "/Patient/kari",
                               {"type": "delete", "path": "Patient.telecom.where(system = 'email')"})
    assert response.status_code == 200, response.text
    assert [t["value"] for t in response.json()["telecom"]] == ["1", "2"]


def test_fhirpath_patch_insert_and_move(fhir, kari):
    response = _fhirpath_patch(
        fhir, "/Patient/kari",
        {"type": "insert", "path": "Patient.telecom", "index": 0,
         "value": {"valueContactPoint": {"system": "phone", "value": "0"}}},
        {"type": "move", "path": "Patient.telecom", "source": 3, "destination": 1})
    assert response.status_code == 200, response.text
    assert [t["value"] for t in response.json()["telecom"]] == ["0", "k@example.no", "1", "2"]


def test_fhirpath_patch_add_of_a_complex_value_built_from_parts(fhir, kari):
    body = {"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [
        {"name": "type", "valueCode": "add"},
        {"name": "path", "valueString": "Patient"},
        {"name": "name", "valueString": "contact"},
        {"name": "value", "part": [{"name": "gender", "valueCode": "male"},
                                   {"name": "name", "valueHumanName": {"family": "Far"}}]}]}]}
    response = fhir.send_json("PATCH", "/Patient/kari", body)
    assert response.status_code == 200, response.text
    assert response.json()["contact"] == [{"gender": "male", "name": {"family": "Far"}}]


def test_fhirpath_patch_changing_the_id_is_422(fhir, kari):
    response = _fhirpath_patch(fhir, "/Patient/kari",
                               {"type": "replace", "path": "Patient.id", "value": {"valueId": "other"}})
    assert_outcome(response, 422)


def test_fhirpath_patch_replace_of_a_missing_element_is_422(fhir, kari):
    response = _fhirpath_patch(fhir, "/Patient/kari",
                               {"type": "replace", "path": "Patient.birthDate", "value": {"valueDate": "1980-01-01"}})
    assert_outcome(response, 422)


def test_fhirpath_patch_with_an_unknown_operation_is_400(fhir, kari):
    response = _fhirpath_patch(fhir, "/Patient/kari", {"type": "rotate", "path": "Patient.telecom"})
    assert_outcome(response, 400)


def test_fhir_json_patch_body_that_is_not_parameters_is_400(fhir, kari):
    assert_outcome(fhir.send_json("PATCH", "/Patient/kari", patient(id="kari")), 400)


def test_json_patch_sent_as_plain_json_is_applied(fhir, kari):
    """A JSON array can only be a JSON Patch; some clients label it plain application/json."""
    operations = [{"op": "replace", "path": "/gender", "value": "other"}]
    response = fhir.patch("/Patient/kari", content=orjson.dumps(operations),
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert response.json()["gender"] == "other" and response.json()["meta"]["versionId"] == "2"


def test_partial_resource_as_patch_is_400_naming_both_patch_formats(fhir, kari):
    response = fhir.patch("/Patient/kari", content=orjson.dumps({"gender": "other"}),
                          headers={"Content-Type": "application/json"})
    outcome = assert_outcome(response, 400, mentions="JSON Patch")
    assert "FHIRPath Patch" in outcome["issue"][0]["diagnostics"]
    assert fhir.get("/Patient/kari").json()["meta"]["versionId"] == "1"
