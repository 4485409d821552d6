"""delete (versioned tombstones, 409 for referenced resources, _cascade) and referential integrity.

https://hl7.org/fhir/R4/http.html#delete
https://hl7.org/fhir/R4/references.html#literal
"""

from __future__ import annotations

from rest_checks import assert_outcome, patient, version_of


def _observation(subject: str, **extra) -> dict:
    return {"resourceType": "Observation", "status": "final", "code": {"text": "vekt"},
            "subject": {"reference": subject}, **extra}


def test_delete_records_a_versioned_tombstone(fhir):
    fhir.update(patient(id="gone"))
    response = fhir.delete("/Patient/gone")
    assert response.status_code in (200, 204)
    assert response.headers["ETag"] == 'W/"2"'
    assert_outcome(fhir.get("/Patient/gone"), 410)
    history = fhir.get("/Patient/gone/_history").json()
    assert [e["response"]["etag"] for e in history["entry"]] == ['W/"2"', 'W/"1"']
    tombstone = history["entry"][0]
    assert "resource" not in tombstone
    assert tombstone["request"]["method"] == "DELETE"


def test_delete_of_a_never_existing_id_succeeds_and_creates_nothing(fhir):
    response = fhir.delete("/Patient/never-was")
    assert response.status_code in (200, 204)
    assert_outcome(fhir.get("/Patient/never-was"), 404)
    assert fhir.get("/Patient/_history").json().get("total") == 0


def test_delete_of_a_deleted_resource_adds_no_version(fhir):
    fhir.update(patient(id="twice"))
    fhir.delete("/Patient/twice")
    assert fhir.delete("/Patient/twice").status_code in (200, 204)
    assert fhir.get("/Patient/twice/_history").json()["total"] == 2


def test_delete_with_a_stale_if_match_is_412(fhir):
    created = fhir.update(patient(id="locked")).json()
    fhir.update({**created, "active": True})
    assert_outcome(fhir.delete("/Patient/locked", headers={"If-Match": 'W/"1"'}), 412)
    assert fhir.get("/Patient/locked").status_code == 200
    assert fhir.delete("/Patient/locked", headers={"If-Match": 'W/"2"'}).status_code in (200, 204)


def test_delete_of_a_referenced_resource_is_409_naming_the_referrer(fhir):
    fhir.update(patient(id="target"))
    obs = fhir.create(_observation("Patient/target")).json()
    response = fhir.delete("/Patient/target")
    assert_outcome(response, 409, mentions=f"Observation/{obs['id']}")
    assert fhir.get("/Patient/target").status_code == 200


def test_delete_is_allowed_once_the_referrer_is_gone(fhir):
    fhir.update(patient(id="target"))
    obs = fhir.create(_observation("Patient/target")).json()
    fhir.delete(f"/Observation/{obs['id']}")
    assert fhir.delete("/Patient/target").status_code in (200, 204)


def test_delete_is_allowed_once_the_referrer_drops_the_reference(fhir):
    fhir.update(patient(id="target"))
    obs = fhir.create(_observation("Patient/target")).json()
    del obs["subject"]
    assert fhir.update(obs).status_code == 200
    assert fhir.delete("/Patient/target").status_code in (200, 204)


def test_cascade_delete_removes_the_referrers_too(fhir):
    fhir.update(patient(id="root"))
    obs = fhir.create(_observation("Patient/root")).json()
    # A second level: a report that points at the observation.
    report = fhir.create({"resourceType": "DiagnosticReport", "status": "final", "code": {"text": "r"},
                          "result": [{"reference": f"Observation/{obs['id']}"}]}).json()
    unrelated = fhir.create(patient()).json()
    response = fhir.delete("/Patient/root", params={"_cascade": "delete"})
    assert response.status_code in (200, 204)
    assert_outcome(fhir.get("/Patient/root"), 410)
    assert_outcome(fhir.get(f"/Observation/{obs['id']}"), 410)
    assert_outcome(fhir.get(f"/DiagnosticReport/{report['id']}"), 410)
    assert fhir.get(f"/Patient/{unrelated['id']}").status_code == 200


def test_cascade_with_an_unknown_mode_is_400(fhir):
    fhir.update(patient(id="root"))
    assert_outcome(fhir.delete("/Patient/root", params={"_cascade": "yes"}), 400, expression="_cascade")
    assert fhir.get("/Patient/root").status_code == 200


def test_a_reference_to_a_missing_local_resource_is_422_with_its_path(fhir):
    response = fhir.create(_observation("Patient/nobody"))
    assert_outcome(response, 422, expression="Observation.subject", mentions="Patient/nobody")
    assert fhir.get("/Observation/_history").json()["total"] == 0


def test_an_update_with_a_dangling_reference_is_422_and_keeps_the_old_version(fhir):
    fhir.update(patient(id="p"))
    obs = fhir.create(_observation("Patient/p")).json()
    response = fhir.update({**obs, "performer": [{"reference": "Practitioner/ghost"}]})
    assert_outcome(response, 422, expression="Observation.performer[0]")
    assert version_of(fhir.get(f"/Observation/{obs['id']}")) == 1


def test_a_reference_to_a_deleted_resource_is_422(fhir):
    fhir.update(patient(id="late"))
    fhir.delete("/Patient/late")
    assert_outcome(fhir.create(_observation("Patient/late")), 422, expression="Observation.subject")


def test_a_versioned_or_absolute_local_reference_is_checked(fhir, base):
    fhir.update(patient(id="p"))
    assert fhir.create(_observation("Patient/p/_history/1")).status_code == 201
    assert fhir.create(_observation(f"{base}/Patient/p")).status_code == 201
    assert_outcome(fhir.create(_observation(f"{base}/Patient/absent")), 422,
                   expression="Observation.subject")


def test_references_outside_the_server_are_not_checked(fhir):
    for reference in ("http://other.example.org/fhir/Patient/123", "urn:oid:2.16.578.1.12.4.1.1.1",
                      "urn:uuid:0b3c8a9e-3a34-4bb8-9a43-2a1a1e0a8b0f"):
        assert fhir.create(_observation(reference)).status_code == 201, reference


def test_contained_references_are_not_checked(fhir):
    contained = {"resourceType": "Patient", "id": "p1", "name": [{"family": "Inni"}]}
    response = fhir.create(_observation("#p1", contained=[contained]))
    assert response.status_code == 201, response.text



def test_references_are_not_checked_when_referential_integrity_is_off(lenient_fhir):
    response = lenient_fhir.create(_observation("Patient/nobody-here"))
    assert response.status_code == 201, response.text
    statement = lenient_fhir.get("/metadata").json()
    policy = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Observation")["referencePolicy"]
    assert "enforced" not in policy


def test_the_etag_a_delete_answers_with_is_the_one_if_match_then_matches(fhir):
    """A deletion is a version: its ETag is current, so If-Match with it re-creates (as HAPI FHIR)."""
    fhir.update(patient(id="gone"))
    deleted = fhir.delete("/Patient/gone")
    assert deleted.status_code == 204 and deleted.headers["ETag"] == 'W/"2"'
    assert_outcome(fhir.update(patient(id="gone"), **{"If-Match": 'W/"1"'}), 412)
    again = fhir.update(patient(id="gone"), **{"If-Match": deleted.headers["ETag"]})
    assert again.status_code == 201 and again.json()["meta"]["versionId"] == "3"
