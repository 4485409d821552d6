"""read, vread and HEAD: versions, HTTP caching headers, conditional read, shaping.

https://hl7.org/fhir/R4/http.html#read  https://hl7.org/fhir/R4/http.html#vread
https://hl7.org/fhir/R4/http.html#cread (conditional read)
https://hl7.org/fhir/R4/search.html#summary  https://hl7.org/fhir/R4/search.html#elements
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

from rest_checks import assert_outcome, id_from_location, patient, version_of

SUBSETTED = "SUBSETTED"


def _created(fhir, resource=None) -> tuple[str, dict]:
    response = fhir.create(resource or patient())
    assert response.status_code == 201, response.text
    return response.json()["id"], response.json()


def _tags(resource: dict) -> list[str]:
    return [t.get("code") for t in resource.get("meta", {}).get("tag", [])]


def test_read_returns_the_stored_resource_with_etag_and_last_modified(fhir):
    pid, created = _created(fhir)
    response = fhir.get(f"/Patient/{pid}")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/fhir+json")
    body = response.json()
    assert body == created
    assert body["meta"]["versionId"] == "1"
    assert response.headers["ETag"] == 'W/"1"'
    last_modified = parsedate_to_datetime(response.headers["Last-Modified"])
    last_updated = datetime.fromisoformat(body["meta"]["lastUpdated"])
    assert abs((last_modified - last_updated).total_seconds()) < 1


def test_create_location_names_the_new_version(fhir, base):
    response = fhir.create(patient())
    pid = response.json()["id"]
    assert response.headers["Location"] == f"{base}/Patient/{pid}/_history/1"
    assert id_from_location(response.headers["Location"]) == pid


def test_head_gives_the_read_headers_without_a_body(fhir):
    pid, _ = _created(fhir)
    get = fhir.get(f"/Patient/{pid}")
    head = fhir.head(f"/Patient/{pid}")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["ETag"] == get.headers["ETag"]
    assert head.headers["Last-Modified"] == get.headers["Last-Modified"]


def test_head_of_an_unknown_resource_is_404(fhir):
    assert fhir.head("/Patient/nobody").status_code == 404


def test_read_of_an_unknown_id_is_404_with_an_outcome(fhir):
    assert_outcome(fhir.get("/Patient/does-not-exist"), 404, code="not-found")


def test_read_after_delete_is_gone(fhir):
    pid, _ = _created(fhir)
    assert fhir.delete(f"/Patient/{pid}").status_code in (200, 204)
    assert_outcome(fhir.get(f"/Patient/{pid}"), 410)


def test_vread_of_older_versions_still_works_after_delete(fhir):
    pid, created = _created(fhir)
    changed = {**created, "gender": "female"}
    assert fhir.update(changed).status_code == 200
    fhir.delete(f"/Patient/{pid}")
    first = fhir.get(f"/Patient/{pid}/_history/1")
    assert first.status_code == 200
    assert first.json()["meta"]["versionId"] == "1"
    assert "gender" not in first.json()
    assert first.headers["ETag"] == 'W/"1"'
    second = fhir.get(f"/Patient/{pid}/_history/2")
    assert second.json()["gender"] == "female"
    # The third version is the deletion itself.
    assert_outcome(fhir.get(f"/Patient/{pid}/_history/3"), 410)


def test_vread_of_an_unknown_version_is_404(fhir):
    pid, _ = _created(fhir)
    assert_outcome(fhir.get(f"/Patient/{pid}/_history/7"), 404)
    assert_outcome(fhir.get(f"/Patient/{pid}/_history/latest"), 404)
    assert_outcome(fhir.get("/Patient/nobody/_history/1"), 404)


def test_if_none_match_with_the_current_etag_is_304(fhir):
    pid, _ = _created(fhir)
    response = fhir.get(f"/Patient/{pid}", headers={"If-None-Match": 'W/"1"'})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["ETag"] == 'W/"1"'


def test_if_none_match_with_a_list_containing_the_current_etag_is_304(fhir):
    pid, _ = _created(fhir)
    assert fhir.get(f"/Patient/{pid}", headers={"If-None-Match": 'W/"7", W/"1"'}).status_code == 304
    assert fhir.get(f"/Patient/{pid}", headers={"If-None-Match": 'W/"7", W/"8"'}).status_code == 200
    assert fhir.get(f"/Patient/{pid}", headers={"If-None-Match": "*"}).status_code == 304


def test_if_none_match_with_an_old_etag_returns_the_resource(fhir):
    pid, created = _created(fhir)
    fhir.update({**created, "active": True})
    response = fhir.get(f"/Patient/{pid}", headers={"If-None-Match": 'W/"1"'})
    assert response.status_code == 200
    assert response.json()["active"] is True
    assert version_of(response) == 2


def test_if_modified_since_after_the_last_change_is_304(fhir):
    pid, _ = _created(fhir)
    later = format_datetime(datetime.now(UTC) + timedelta(minutes=5), usegmt=True)
    assert fhir.get(f"/Patient/{pid}", headers={"If-Modified-Since": later}).status_code == 304


def test_if_modified_since_the_last_modified_value_is_304(fhir):
    pid, _ = _created(fhir)
    last_modified = fhir.get(f"/Patient/{pid}").headers["Last-Modified"]
    response = fhir.get(f"/Patient/{pid}", headers={"If-Modified-Since": last_modified})
    assert response.status_code == 304


def test_if_modified_since_before_the_last_change_returns_the_resource(fhir):
    pid, _ = _created(fhir)
    earlier = format_datetime(datetime.now(UTC) - timedelta(days=1), usegmt=True)
    assert fhir.get(f"/Patient/{pid}", headers={"If-Modified-Since": earlier}).status_code == 200


def test_malformed_if_modified_since_is_400(fhir):
    pid, _ = _created(fhir)
    assert_outcome(fhir.get(f"/Patient/{pid}", headers={"If-Modified-Since": "yesterday"}), 400)


def _rich_patient() -> dict:
    return patient(
        text={"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">Kari</div>'},
        gender="female", birthDate="1980-02-03",
        maritalStatus={"text": "gift"},
        communication=[{"language": {"text": "norsk"}}],
    )


def test_summary_true_keeps_only_summary_elements_and_marks_subsetted(fhir):
    pid, _ = _created(fhir, _rich_patient())
    body = fhir.get(f"/Patient/{pid}", params={"_summary": "true"}).json()
    assert body["id"] == pid
    assert body["name"] and body["gender"] == "female" and body["birthDate"] == "1980-02-03"
    # maritalStatus, communication and text are not summary elements of Patient.
    assert "maritalStatus" not in body and "communication" not in body and "text" not in body
    assert SUBSETTED in _tags(body)


def test_summary_text_keeps_text_id_and_meta(fhir):
    pid, _ = _created(fhir, _rich_patient())
    body = fhir.get(f"/Patient/{pid}", params={"_summary": "text"}).json()
    assert set(body) <= {"resourceType", "id", "meta", "text"}
    assert body["text"]["status"] == "generated"
    assert SUBSETTED in _tags(body)


def test_summary_data_drops_only_the_text(fhir):
    pid, _ = _created(fhir, _rich_patient())
    body = fhir.get(f"/Patient/{pid}", params={"_summary": "data"}).json()
    assert "text" not in body
    assert body["maritalStatus"] == {"text": "gift"}
    assert body["communication"]
    assert SUBSETTED in _tags(body)


def test_summary_false_is_the_whole_resource(fhir):
    pid, created = _created(fhir, _rich_patient())
    body = fhir.get(f"/Patient/{pid}", params={"_summary": "false"}).json()
    assert body == created
    assert SUBSETTED not in _tags(body)


def test_summary_with_an_unknown_mode_is_400(fhir):
    pid, _ = _created(fhir)
    assert_outcome(fhir.get(f"/Patient/{pid}", params={"_summary": "some"}), 400, expression="_summary")


def test_elements_keeps_the_named_elements_and_marks_subsetted(fhir):
    pid, _ = _created(fhir, _rich_patient())
    body = fhir.get(f"/Patient/{pid}", params={"_elements": "gender,birthDate"}).json()
    assert body["gender"] == "female" and body["birthDate"] == "1980-02-03"
    assert "name" not in body and "text" not in body and "maritalStatus" not in body
    assert body["id"] == pid
    assert SUBSETTED in _tags(body)


def test_elements_keeps_mandatory_elements(fhir):
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "puls"},
                   "valueQuantity": {"value": 72}, "note": [{"text": "i ro"}]}
    oid = fhir.create(observation).json()["id"]
    body = fhir.get(f"/Observation/{oid}", params={"_elements": "note"}).json()
    # status and code are 1..1 in Observation: a subset must still carry them.
    assert body["status"] == "final" and body["code"] == {"text": "puls"}
    assert body["note"] == [{"text": "i ro"}]
    assert "valueQuantity" not in body


def test_summary_and_elements_apply_to_vread(fhir):
    pid, _ = _created(fhir, _rich_patient())
    body = fhir.get(f"/Patient/{pid}/_history/1", params={"_elements": "gender"}).json()
    assert body["gender"] == "female" and "name" not in body
    assert SUBSETTED in _tags(body)


def test_pretty_indents_the_same_resource(fhir):
    pid, _ = _created(fhir)
    compact = fhir.get(f"/Patient/{pid}")
    pretty = fhir.get(f"/Patient/{pid}", params={"_pretty": "true"})
    assert b"\n" not in compact.content.strip()
    assert b"\n  " in pretty.content
    assert pretty.json() == compact.json()


def test_pretty_applies_to_error_outcomes(fhir):
    response = fhir.get("/Patient/nobody", params={"_pretty": "true"})
    assert_outcome(response, 404)
    assert b"\n  " in response.content


def test_format_json_is_accepted(fhir):
    pid, _ = _created(fhir)
    for value in ("json", "application/fhir+json", "application/json"):
        assert fhir.get(f"/Patient/{pid}", params={"_format": value}).status_code == 200
