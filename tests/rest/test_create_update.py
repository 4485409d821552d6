"""create and update: ids, versions, update-as-create, If-Match and Prefer.

https://hl7.org/fhir/R4/http.html#create  https://hl7.org/fhir/R4/http.html#update
https://hl7.org/fhir/R4/http.html#concurrency  https://hl7.org/fhir/R4/http.html#ops (Prefer)
"""

from __future__ import annotations

import pytest
from rest_checks import assert_outcome, id_from_location, patient, version_of


def test_create_assigns_the_id_and_ignores_an_id_in_the_body(fhir, base):
    response = fhir.create(patient(id="chosen-by-client"))
    assert response.status_code == 201
    body = response.json()
    assert body["id"] != "chosen-by-client"
    assert body["meta"]["versionId"] == "1"
    assert response.headers["ETag"] == 'W/"1"'
    assert response.headers["Location"] == f"{base}/Patient/{body['id']}/_history/1"
    assert response.headers["Last-Modified"]
    assert fhir.get("/Patient/chosen-by-client").status_code == 404
    assert fhir.get(f"/Patient/{body['id']}").json() == body


def test_create_gives_distinct_ids(fhir):
    ids = {fhir.create(patient()).json()["id"] for _ in range(5)}
    assert len(ids) == 5


def test_create_overwrites_client_meta_version_and_timestamp(fhir):
    sent = patient(meta={"versionId": "99", "lastUpdated": "2001-01-01T00:00:00Z",
                         "tag": [{"system": "urn:test", "code": "kept"}]})
    body = fhir.create(sent).json()
    assert body["meta"]["versionId"] == "1"
    assert not body["meta"]["lastUpdated"].startswith("2001")
    assert body["meta"]["tag"] == [{"system": "urn:test", "code": "kept"}]


def test_create_with_a_resource_type_other_than_the_url_is_400(fhir):
    response = fhir.send_json("POST", "/Observation", patient())
    assert_outcome(response, 400, expression="resourceType")


def test_update_stores_the_next_version(fhir, base):
    created = fhir.create(patient()).json()
    response = fhir.update({**created, "gender": "male"})
    assert response.status_code == 200
    assert response.json()["meta"]["versionId"] == "2"
    assert response.json()["gender"] == "male"
    assert version_of(response) == 2
    assert response.headers["Location"] == f"{base}/Patient/{created['id']}/_history/2"
    assert fhir.get(f"/Patient/{created['id']}").json()["gender"] == "male"


def test_update_as_create_keeps_the_client_id_and_answers_201(fhir, base):
    response = fhir.update(patient(id="client-chosen-1"))
    assert response.status_code == 201
    assert response.json()["id"] == "client-chosen-1"
    assert response.json()["meta"]["versionId"] == "1"
    assert response.headers["Location"] == f"{base}/Patient/client-chosen-1/_history/1"
    assert fhir.get("/Patient/client-chosen-1").status_code == 200


def test_update_after_delete_recreates_with_the_next_version(fhir):
    fhir.update(patient(id="phoenix"))
    fhir.delete("/Patient/phoenix")
    response = fhir.update(patient(id="phoenix", gender="other"))
    assert response.status_code == 201
    assert response.json()["meta"]["versionId"] == "3"
    assert fhir.get("/Patient/phoenix").json()["gender"] == "other"


def test_update_with_an_id_other_than_the_url_is_400(fhir):
    fhir.update(patient(id="one"))
    response = fhir.send_json("PUT", "/Patient/one", patient(id="two"))
    assert_outcome(response, 400, expression="Patient.id")
    assert fhir.get("/Patient/two").status_code == 404
    assert fhir.get("/Patient/one").json()["meta"]["versionId"] == "1"


def test_update_without_an_id_in_the_body_is_400(fhir):
    response = fhir.send_json("PUT", "/Patient/one", patient())
    assert_outcome(response, 400, expression="Patient.id")
    assert fhir.get("/Patient/one").status_code == 404


@pytest.mark.parametrize("bad_id", ["has_underscore", "x" * 65, "spaces in"])
def test_update_with_an_invalid_id_is_400(fhir, bad_id):
    from urllib.parse import quote

    response = fhir.send_json("PUT", f"/Patient/{quote(bad_id)}", patient(id=bad_id))
    assert_outcome(response, 400, expression="Patient.id")


def test_update_with_a_matching_if_match_succeeds(fhir):
    created = fhir.create(patient()).json()
    response = fhir.update({**created, "active": True}, **{"If-Match": 'W/"1"'})
    assert response.status_code == 200
    assert version_of(response) == 2


def test_update_with_a_stale_if_match_is_412_and_changes_nothing(fhir):
    created = fhir.create(patient()).json()
    fhir.update({**created, "active": True})
    response = fhir.update({**created, "active": False}, **{"If-Match": 'W/"1"'})
    assert_outcome(response, 412)
    current = fhir.get(f"/Patient/{created['id']}")
    assert current.json()["active"] is True and version_of(current) == 2


def test_update_as_create_with_if_match_is_412(fhir):
    response = fhir.update(patient(id="not-there"), **{"If-Match": 'W/"1"'})
    assert_outcome(response, 412)
    assert fhir.get("/Patient/not-there").status_code == 404


def test_if_match_accepts_a_strong_etag(fhir):
    created = fhir.create(patient()).json()
    assert fhir.update({**created, "active": True}, **{"If-Match": '"1"'}).status_code == 200


def test_prefer_return_minimal_on_create_and_update_has_no_body(fhir, base):
    response = fhir.create(patient(), Prefer="return=minimal")
    assert response.status_code == 201
    assert response.content == b""
    pid = id_from_location(response.headers["Location"])
    assert response.headers["ETag"] == 'W/"1"'
    updated = fhir.update(patient(id=pid), Prefer="return=minimal")
    assert updated.status_code == 200
    assert updated.content == b""
    assert updated.headers["Location"] == f"{base}/Patient/{pid}/_history/2"


def test_prefer_return_representation_returns_the_stored_resource(fhir):
    response = fhir.create(patient(), Prefer="return=representation")
    assert response.status_code == 201
    body = response.json()
    assert body["resourceType"] == "Patient"
    assert fhir.get(f"/Patient/{body['id']}").json() == body


def test_prefer_return_operation_outcome_returns_an_outcome(fhir):
    response = fhir.create(patient(), Prefer="return=OperationOutcome")
    assert response.status_code == 201
    assert response.json()["resourceType"] == "OperationOutcome"
    assert response.headers["Location"]
    pid = id_from_location(response.headers["Location"])
    updated = fhir.update(patient(id=pid), Prefer="return=OperationOutcome")
    assert updated.status_code == 200
    assert updated.json()["resourceType"] == "OperationOutcome"


def test_prefer_with_an_unknown_return_value_is_400(fhir):
    assert_outcome(fhir.create(patient(), Prefer="return=everything"), 400)


def test_json_content_type_is_accepted_like_fhir_json(fhir):
    import orjson

    response = fhir.post("/Patient", content=orjson.dumps(patient()),
                         headers={"Content-Type": "application/json; charset=utf-8"})
    assert response.status_code == 201


def test_stored_bytes_keep_what_the_client_sent(fhir):
    sent = patient(extension=[{"url": "http://example.org/x", "valueString": "æøå"}],
                   _gender={"extension": [{"url": "http://example.org/y", "valueCode": "z"}]})
    body = fhir.create(sent).json()
    assert body["extension"] == sent["extension"]
    assert body["_gender"] == sent["_gender"]


@pytest.mark.parametrize("tag", ['W/"1"', '"1"', "*", 'W/"7", W/"1"'])
def test_an_update_whose_if_none_match_matches_the_current_version_is_412(fhir, tag):
    """RFC 9110 §13.1.2: If-None-Match on a write fails when it matches what is there."""
    assert fhir.update(patient(id="p")).status_code == 201
    assert_outcome(fhir.update(patient(id="p", gender="male"), **{"If-None-Match": tag}), 412)
    assert fhir.get("/Patient/p").json()["meta"]["versionId"] == "1"


def test_an_update_whose_if_none_match_names_another_version_goes_ahead(fhir):
    assert fhir.update(patient(id="p")).status_code == 201
    response = fhir.update(patient(id="p", gender="male"), **{"If-None-Match": 'W/"7"'})
    assert response.status_code == 200 and response.json()["meta"]["versionId"] == "2"


def test_a_molecular_sequence_with_its_variant_coordinates_is_created_and_found(fhir):
    """Its composite parameters read the chromosome from the whole resource (`%resource`)."""
    sequence = {"resourceType": "MolecularSequence", "type": "dna", "coordinateSystem": 0,
                "referenceSeq": {"chromosome": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                            "chromosome-human", "code": "9"}]},
                                 "genomeBuild": "GRCh37", "strand": "watson",
                                 "windowStart": 22125500, "windowEnd": 22125510},
                "variant": [{"start": 22125503, "end": 22125504, "observedAllele": "C", "referenceAllele": "G"}]}
    created = fhir.create(sequence)
    assert created.status_code == 201, created.text
    found = fhir.get("/MolecularSequence", params={"chromosome-variant-coordinate": "9$22125503$22125504"}).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [created.json()["id"]]


def test_validate_admits_a_contained_care_team_of_contained_practitioners(fhir):
    """ref-1 looks in the root resource's contained list (the R4 pregnancy plan's shape)."""
    plan = {"resourceType": "CarePlan", "status": "draft", "intent": "plan", "subject": {"display": "Kari"},
            "contained": [{"resourceType": "Practitioner", "id": "pr1", "name": [{"family": "Jordmor"}]},
                          {"resourceType": "Practitioner", "id": "pr2", "name": [{"family": "Lege"}]},
                          {"resourceType": "CareTeam", "id": "team", "participant": [
                              {"member": {"reference": "#pr1"}}, {"member": {"reference": "#pr2"}}]}],
            "careTeam": [{"reference": "#team"}], "author": {"reference": "#pr1"}}
    response = fhir.send_json("POST", "/CarePlan/$validate", plan)
    assert response.status_code == 200, response.text
    assert not [i for i in response.json()["issue"] if "ref-1" in i.get("diagnostics", "")], response.text
