"""batch and transaction: reference resolution, all-or-nothing, processing order, per-entry outcomes.

https://hl7.org/fhir/R4/http.html#transaction  https://hl7.org/fhir/R4/http.html#trules
https://hl7.org/fhir/R4/bundle.html#references
"""

from __future__ import annotations

import base64
import uuid

import orjson
from rest_checks import assert_outcome, id_from_location, patient, data_versions


def _uuid() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _bundle(kind: str, *entries: dict) -> dict:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def _entry(method: str, url: str, resource: dict | None = None, full_url: str | None = None,
           **request: str) -> dict:
    entry: dict = {"request": {"method": method, "url": url, **request}}
    if resource is not None:
        entry["resource"] = resource
    if full_url is not None:
        entry["fullUrl"] = full_url
    return entry


def _observation(subject: str) -> dict:
    return {"resourceType": "Observation", "status": "final", "code": {"text": "puls"},
            "subject": {"reference": subject}}


def _post(fhir, bundle: dict):
    return fhir.send_json("POST", "/", bundle)


def _total(fhir, url: str) -> int:
    return fhir.get(url, params={"_count": "0"}).json()["total"]


def test_transaction_resolves_urn_uuid_references_between_entries(fhir):
    patient_url = _uuid()
    response = _post(fhir, _bundle(
        "transaction",
        _entry("POST", "Observation", _observation(patient_url), _uuid()),
        _entry("POST", "Patient", patient(), patient_url)))
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in bundle["entry"]]
    assert statuses == ["201 Created", "201 Created"]
    obs_id = id_from_location(bundle["entry"][0]["response"]["location"])
    pid = id_from_location(bundle["entry"][1]["response"]["location"])
    stored = fhir.get(f"/Observation/{obs_id}").json()
    assert stored["subject"]["reference"] == f"Patient/{pid}"
    assert fhir.get(f"/Patient/{pid}").status_code == 200


def test_transaction_urn_uuid_reference_to_an_updated_resource(fhir):
    patient_url = _uuid()
    response = _post(fhir, _bundle(
        "transaction",
        _entry("PUT", "Patient/tx-put", patient(id="tx-put"), patient_url),
        _entry("POST", "Observation", _observation(patient_url))))
    assert response.status_code == 200, response.text
    obs_id = id_from_location(response.json()["entry"][1]["response"]["location"])
    assert fhir.get(f"/Observation/{obs_id}").json()["subject"]["reference"] == "Patient/tx-put"


def test_transaction_with_an_unresolvable_urn_uuid_fails(fhir):
    response = _post(fhir, _bundle("transaction",
                                   _entry("POST", "Observation", _observation(_uuid()))))
    assert_outcome(response, 400, mentions="Bundle.entry[0]")
    assert data_versions(fhir) == 0


def test_failing_entry_fails_the_whole_transaction_and_stores_nothing(fhir):
    fhir.update(patient(id="before"))
    response = _post(fhir, _bundle(
        "transaction",
        _entry("POST", "Patient", patient()),
        _entry("PUT", "Patient/before", patient(id="before", gender="male")),
        _entry("DELETE", "Patient/before-other"),
        _entry("POST", "Observation", _observation("Patient/missing"))))
    assert_outcome(response, 422, mentions="Bundle.entry[3]", expression="Observation.subject")
    assert _total(fhir, "/Patient/_history") == 1
    assert _total(fhir, "/Observation/_history") == 0
    assert "gender" not in fhir.get("/Patient/before").json()


def test_a_failing_delete_fails_the_transaction(fhir):
    fhir.update(patient(id="held"))
    fhir.create(_observation("Patient/held"))
    response = _post(fhir, _bundle("transaction",
                                   _entry("POST", "Patient", patient()),
                                   _entry("DELETE", "Patient/held")))
    assert_outcome(response, 409, mentions="Bundle.entry[1]")
    assert _total(fhir, "/Patient/_history") == 1


def test_a_stale_if_match_fails_the_transaction(fhir):
    current = fhir.update(patient(id="v")).json()
    fhir.update(current)
    response = _post(fhir, _bundle("transaction",
                                   _entry("POST", "Patient", patient()),
                                   _entry("PUT", "Patient/v", patient(id="v"), ifMatch='W/"1"')))
    assert_outcome(response, 412, mentions="Bundle.entry[1]")
    assert _total(fhir, "/Patient/_history") == 2


def test_get_in_a_transaction_sees_a_put_listed_after_it(fhir):
    response = _post(fhir, _bundle(
        "transaction",
        _entry("GET", "Patient/ordered"),
        _entry("PUT", "Patient/ordered", patient(id="ordered", gender="female"))))
    assert response.status_code == 200, response.text
    read, put = response.json()["entry"]
    assert put["response"]["status"] == "201 Created"
    assert read["response"]["status"] == "200 OK"
    assert read["resource"]["gender"] == "female"


def test_transaction_runs_deletes_then_creates_then_updates(fhir):
    fhir.update(patient(id="old"))
    response = _post(fhir, _bundle(
        "transaction",
        _entry("PUT", "Patient/upd", patient(id="upd")),
        _entry("POST", "Patient", patient("Ny")),
        _entry("DELETE", "Patient/old")))
    assert response.status_code == 200, response.text
    # The system history is newest first: the reverse of the processing order.
    methods = [e["request"]["method"] for e in fhir.get("/_history", params={"_count": "3"}).json()["entry"]]
    assert methods == ["PUT", "POST", "DELETE"]
    # The response entries stay in the order of the request.
    statuses = [e["response"]["status"][:3] for e in response.json()["entry"]]
    assert statuses[:2] == ["201", "201"] and statuses[2] in ("200", "204")


def test_the_same_resource_twice_in_a_transaction_is_400(fhir):
    response = _post(fhir, _bundle(
        "transaction",
        _entry("PUT", "Patient/dup", patient(id="dup")),
        _entry("PUT", "Patient/dup", patient(id="dup", gender="male"))))
    assert_outcome(response, 400, mentions="Patient/dup")
    assert fhir.get("/Patient/dup").status_code == 404


def test_update_and_delete_of_one_resource_in_a_transaction_is_400(fhir):
    fhir.update(patient(id="both"))
    response = _post(fhir, _bundle("transaction",
                                   _entry("DELETE", "Patient/both"),
                                   _entry("PUT", "Patient/both", patient(id="both"))))
    assert_outcome(response, 400)
    assert fhir.get("/Patient/both").status_code == 200


def test_transaction_patch_entries_apply(fhir):
    fhir.update(patient(id="pt", active=True))
    binary = {"resourceType": "Binary", "contentType": "application/json-patch+json",
              "data": base64.b64encode(orjson.dumps(
                  [{"op": "replace", "path": "/active", "value": False}])).decode()}
    parameters = {"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [
        {"name": "type", "valueCode": "replace"}, {"name": "path", "valueString": "Patient.gender"},
        {"name": "value", "valueCode": "female"}]}]}
    fhir.update(patient(id="pt2", gender="male"))
    response = _post(fhir, _bundle("transaction",
                                   _entry("PATCH", "Patient/pt", binary),
                                   _entry("PATCH", "Patient/pt2", parameters)))
    assert response.status_code == 200, response.text
    assert fhir.get("/Patient/pt").json()["active"] is False
    assert fhir.get("/Patient/pt2").json()["gender"] == "female"


def test_batch_entries_succeed_or_fail_on_their_own(fhir):
    fhir.update(patient(id="exists"))
    response = _post(fhir, _bundle(
        "batch",
        _entry("POST", "Patient", patient("God")),
        _entry("POST", "Observation", _observation("Patient/missing")),
        _entry("GET", "Patient/absent"),
        _entry("GET", "Patient/exists"),
        _entry("PUT", "Patient/other", patient(id="wrong-id"))))
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["type"] == "batch-response"
    codes = [e["response"]["status"][:3] for e in bundle["entry"]]
    assert codes == ["201", "422", "404", "200", "400"]
    for failed in bundle["entry"][1:3] + bundle["entry"][4:]:
        outcome = failed["response"]["outcome"]
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["diagnostics"]
    assert bundle["entry"][3]["resource"]["id"] == "exists"
    pid = id_from_location(bundle["entry"][0]["response"]["location"])
    assert fhir.get(f"/Patient/{pid}").status_code == 200
    assert _total(fhir, "/Observation/_history") == 0
    assert fhir.get("/Patient/other").status_code == 404


def test_batch_entries_do_not_see_each_others_urn_uuids(fhir):
    patient_url = _uuid()
    response = _post(fhir, _bundle("batch",
                                   _entry("POST", "Patient", patient(), patient_url),
                                   _entry("POST", "Observation", _observation(patient_url))))
    assert response.status_code == 200
    # In a batch the urn:uuid is not resolved: it is not a local reference and is stored as sent.
    first, second = response.json()["entry"]
    assert first["response"]["status"].startswith("201")
    if second["response"]["status"].startswith("201"):
        assert second["resource"]["subject"]["reference"] == patient_url


def test_a_nested_batch_or_transaction_is_refused(fhir, base):
    inner = _bundle("transaction", _entry("POST", "Patient", patient()))
    for kind in ("transaction", "batch"):
        response = _post(fhir, _bundle(kind, _entry("POST", base, inner)))
        if kind == "transaction":
            assert_outcome(response, 400, mentions="Bundle.entry[0]")
        else:
            assert response.json()["entry"][0]["response"]["status"].startswith("400")
    assert data_versions(fhir) == 0


def test_a_bundle_of_another_type_posted_to_the_base_is_400(fhir):
    response = _post(fhir, _bundle("collection", {"resource": patient()}))
    assert_outcome(response, 400, expression="Bundle.type")


def test_an_entry_without_request_is_400(fhir):
    response = _post(fhir, _bundle("transaction", {"resource": patient()}))
    assert_outcome(response, 400, mentions="Bundle.entry[0]")


def test_an_entry_with_an_unknown_method_is_400(fhir):
    response = _post(fhir, _bundle("transaction", _entry("FETCH", "Patient/x")))
    assert_outcome(response, 400, mentions="Bundle.entry[0]")


def test_an_invalid_resource_in_a_transaction_names_its_entry(fhir):
    response = _post(fhir, _bundle("transaction",
                                   _entry("POST", "Patient", patient()),
                                   _entry("POST", "Patient", patient(birthDate="2020-13-01"))))
    assert_outcome(response, 422, mentions="Bundle.entry[1]")
    assert data_versions(fhir) == 0


def test_empty_transaction_answers_an_empty_response(fhir):
    response = _post(fhir, _bundle("transaction"))
    assert response.status_code == 200
    assert response.json()["type"] == "transaction-response"
    assert not response.json().get("entry")


def test_a_transaction_may_delete_a_resource_together_with_its_referrer(fhir):
    fhir.update(patient(id="p"))
    fhir.update({**_observation("Patient/p"), "id": "o"})
    response = _post(fhir, _bundle("transaction",
                                   _entry("DELETE", "Patient/p"),
                                   _entry("DELETE", "Observation/o")))
    assert response.status_code == 200, response.text
    assert fhir.get("/Patient/p").status_code == 410
    assert fhir.get("/Observation/o").status_code == 410


def test_a_transaction_may_delete_a_resource_whose_referrer_it_updates_away(fhir):
    fhir.update(patient(id="p"))
    observation = {**_observation("Patient/p"), "id": "o"}
    fhir.update(observation)
    unlinked = {k: v for k, v in observation.items() if k != "subject"}
    response = _post(fhir, _bundle("transaction",
                                   _entry("DELETE", "Patient/p"),
                                   _entry("PUT", "Observation/o", unlinked)))
    assert response.status_code == 200, response.text
    assert fhir.get("/Patient/p").status_code == 410


def test_a_transaction_may_not_leave_a_deleted_resource_referenced(fhir):
    fhir.update(patient(id="p"))
    fhir.update({**_observation("Patient/p"), "id": "o"})
    response = _post(fhir, _bundle("transaction",
                                   _entry("PUT", "Observation/o", {**_observation("Patient/p"), "id": "o",
                                                                   "status": "amended"}),
                                   _entry("DELETE", "Patient/p")))
    # Either side of the conflict may be reported: the delete (409) or the dangling reference (422).
    assert response.status_code in (409, 422)
    assert_outcome(response, response.status_code, mentions="Bundle.entry[")
    assert fhir.get("/Patient/p").status_code == 200
    assert fhir.get("/Observation/o").json()["status"] == "final"


def test_relative_references_resolve_against_the_entry_fullurl_base(fhir):
    """https://hl7.org/fhir/R4/bundle.html#references: fullUrls that are not yet server ids."""
    remote = "http://example.org/fhir"
    response = _post(fhir, _bundle(
        "transaction",
        _entry("POST", "Patient", patient(), f"{remote}/Patient/tmp-1"),
        _entry("POST", "Observation", _observation("Patient/tmp-1"), f"{remote}/Observation/tmp-2"),
        _entry("POST", "Observation", _observation(f"{remote}/Patient/tmp-1"))))
    assert response.status_code == 200, response.text
    entries = response.json()["entry"]
    pid = id_from_location(entries[0]["response"]["location"])
    for entry in entries[1:]:
        oid = id_from_location(entry["response"]["location"])
        assert fhir.get(f"/Observation/{oid}").json()["subject"]["reference"] == f"Patient/{pid}"


def test_a_binary_patch_that_is_not_json_patch_fails_its_entry(fhir):
    fhir.update(patient(id="pt"))
    wrong_type = {"resourceType": "Binary", "contentType": "text/plain", "data": "eA=="}
    not_base64 = {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": "%%%"}
    response = _post(fhir, _bundle("batch", _entry("PATCH", "Patient/pt", wrong_type),
                                   _entry("PATCH", "Patient/pt", not_base64)))
    codes = [e["response"]["status"][:3] for e in response.json()["entry"]]
    assert codes == ["415", "400"]
    assert fhir.get("/Patient/pt").json()["meta"]["versionId"] == "1"


def test_transaction_rewrites_narrative_links_and_images_to_other_entries(fhir):
    patient_url, photo_url = _uuid(), _uuid()
    photo = {"resourceType": "Binary", "contentType": "image/png", "data": base64.b64encode(b"png").decode()}
    observation = _observation(patient_url)
    observation["text"] = {"status": "generated", "div": (
        f'<div xmlns="http://www.w3.org/1999/xhtml"><a href="{patient_url}">Pasienten</a> '
        f"<img src='{photo_url}' alt='bilde'/> <a href=\"urn:uuid:{uuid.uuid4()}\">annet</a></div>")}
    response = _post(fhir, _bundle("transaction", _entry("POST", "Observation", observation, _uuid()),
                                   _entry("POST", "Patient", patient(), patient_url),
                                   _entry("POST", "Binary", photo, photo_url)))
    assert response.status_code == 200, response.text
    obs_id, pid, bid = (id_from_location(e["response"]["location"]) for e in response.json()["entry"])
    div = fhir.get(f"/Observation/{obs_id}").json()["text"]["div"]
    assert f'href="Patient/{pid}"' in div and f"src='Binary/{bid}'" in div
    assert patient_url not in div and photo_url not in div
    assert 'href="urn:uuid:' in div  # a link to nothing in the Bundle is left as written


def test_transaction_and_batch_response_entries_carry_the_full_url_of_their_resource(fhir, base):
    fhir.update(patient(id="kjent"))
    for kind in ("transaction", "batch"):
        response = _post(fhir, _bundle(kind, _entry("POST", "Patient", patient(), _uuid()),
                                       _entry("PUT", "Patient/kjent", patient(id="kjent", gender="male")),
                                       _entry("GET", "Patient/kjent")))
        assert response.status_code == 200, response.text
        created, updated, read = response.json()["entry"]
        assert created["fullUrl"] == created["response"]["location"].split("/_history/")[0]
        assert created["fullUrl"].startswith(f"{base}/Patient/")
        assert updated["fullUrl"] == read["fullUrl"] == f"{base}/Patient/kjent"
