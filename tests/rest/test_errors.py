"""Errors: each kind of bad request gets its status and an OperationOutcome that says what and where.

https://hl7.org/fhir/R4/http.html#summary (status codes)
https://hl7.org/fhir/R4/json.html (what valid FHIR JSON is)
https://hl7.org/fhir/R4/operationoutcome.html
"""

from __future__ import annotations

import orjson
import pytest
from rest_checks import SMALL_BODY_LIMIT, assert_outcome, patient, data_versions


def _post_raw(fhir, url: str, content: bytes, content_type: str = "application/fhir+json"):
    return fhir.post(url, content=content, headers={"Content-Type": content_type})


@pytest.mark.parametrize("body", [b"{", b'{"resourceType": "Patient",}', b"\xff\xfe{}", b"[" * 5000, b""],
                         ids=["truncated", "trailing-comma", "not-utf8", "too-deep", "empty"])
def test_malformed_json_is_400(fhir, body):
    assert_outcome(_post_raw(fhir, "/Patient", body), 400)
    assert data_versions(fhir) == 0


@pytest.mark.parametrize("body", [b"null", b"[]", b"42", b'"Patient"'])
def test_a_body_that_is_not_a_json_object_is_400(fhir, body):
    assert_outcome(_post_raw(fhir, "/Patient", body), 400)


def test_a_resource_type_the_url_does_not_name_is_400(fhir):
    assert_outcome(fhir.send_json("POST", "/Patient", {"resourceType": "Observation", "status": "final",
                                                       "code": {"text": "x"}}), 400, expression="resourceType")
    assert_outcome(fhir.send_json("PUT", "/Patient/p", {"resourceType": "Practitioner", "id": "p"}), 400,
                   expression="resourceType")


def test_a_missing_or_unknown_resource_type_in_the_body_is_400(fhir):
    assert_outcome(fhir.send_json("POST", "/Patient", {"name": [{"family": "X"}]}), 400, expression="resourceType")
    assert_outcome(fhir.send_json("POST", "/Patient", {"resourceType": "Pasient"}), 400, expression="resourceType")


@pytest.mark.parametrize("body, path", [
    (patient(colour="blue"), "Patient.colour"),
    (patient(name=[{"family": "X", "nick": "K"}]), "Patient.name[0].nick"),
    (patient(contact=[{"name": {"family": "Y", "middle": "Z"}}]), "Patient.contact[0].name.middle"),
])
def test_an_unknown_element_is_400_with_its_path(fhir, body, path):
    assert_outcome(fhir.create(body), 400, code="structure", expression=path, mentions=path)


@pytest.mark.parametrize("body, path", [
    (patient(active="true"), "Patient.active"),
    (patient(active=1), "Patient.active"),
    (patient(multipleBirthInteger="2"), "Patient.multipleBirthInteger"),
    (patient(birthDate=19800203), "Patient.birthDate"),
    (patient(name={"family": "X"}), "Patient.name"),
    (patient(name=[{"given": "Kari"}]), "Patient.name[0].given"),
    (patient(name=[{"family": ["X"]}]), "Patient.name[0].family"),
    (patient(active=None), "Patient.active"),
    (patient(name=[]), "Patient.name"),
    ({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
      "valueQuantity": {"value": "72"}}, "Observation.valueQuantity.value"),
    (patient(contained=[{"resourceType": "Nope", "id": "n"}]), "Patient.contained[0]"),
    (patient(contained=[{"resourceType": "Organization", "id": "o", "active": "yes"}]),
     "Patient.contained[0].active"),
], ids=["bool-as-string", "bool-as-number", "int-as-string", "date-as-number", "object-for-array",
        "string-for-array", "array-for-string", "null", "empty-array", "decimal-as-string", "contained-unknown-type",
        "contained-wrong-type"])
def test_a_wrong_json_type_is_400_with_its_path(fhir, body, path):
    assert_outcome(fhir.create(body), 400, expression=path)
    assert data_versions(fhir) == 0


def test_a_null_holding_the_place_of_an_extended_primitive_is_valid_json(fhir):
    body = patient(name=[{"given": ["Kari", None],
                          "_given": [None, {"extension": [{"url": "http://example.org/x", "valueString": "y"}]}]}])
    response = fhir.create(body)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("body, path", [
    (patient(birthDate="2020-13-01"), "Patient.birthDate"),
    (patient(birthDate="03.02.1980"), "Patient.birthDate"),
    ({"resourceType": "Observation", "code": {"text": "x"}}, "Observation.status"),
    (patient(name=[{"family": "Nord\u0000mann"}]), "Patient.name[0].family"),
    (patient(gender="male", _gender={"extension": [{"url": "http://example.org/x", "valueString": "\u0007"}]}),
     "Patient._gender.extension[0].valueString"),
], ids=["month-13", "norwegian-date-format", "missing-required", "nul-character", "bell-in-extension"])
def test_an_invalid_value_is_422_with_its_path(fhir, body, path):
    assert_outcome(fhir.create(body), 422, expression=path)
    assert data_versions(fhir) == 0


def test_an_invalid_id_in_the_body_of_an_update_is_400(fhir):
    assert_outcome(fhir.send_json("PUT", "/Patient/ok", patient(id=5)), 400, expression="Patient.id")


def test_an_oversized_body_is_413(small_body_fhir):
    big = patient(text={"status": "generated",
                        "div": '<div xmlns="http://www.w3.org/1999/xhtml">' + "x" * SMALL_BODY_LIMIT + "</div>"})
    assert_outcome(small_body_fhir.create(big), 413)
    small = small_body_fhir.create(patient())
    assert small.status_code == 201
    # The limit holds for update, patch and bundles too, and without a Content-Length.
    pid = small.json()["id"]
    assert_outcome(small_body_fhir.update({**big, "id": pid}), 413)
    chunks = (orjson.dumps({**big, "id": pid})[i:i + 512] for i in range(0, 4 * SMALL_BODY_LIMIT, 512))
    streamed = small_body_fhir.put(f"/Patient/{pid}", content=chunks,
                                   headers={"Content-Type": "application/fhir+json"})
    assert_outcome(streamed, 413)
    assert small_body_fhir.get(f"/Patient/{pid}").json()["meta"]["versionId"] == "1"


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/fhir+xml",
                                          "application/x-www-form-urlencoded"])
def test_an_unsupported_content_type_is_415(fhir, content_type):
    assert_outcome(_post_raw(fhir, "/Patient", orjson.dumps(patient()), content_type), 415)
    assert data_versions(fhir) == 0


def test_a_missing_content_type_is_415(fhir):
    response = fhir.post("/Patient", content=orjson.dumps(patient()), headers={"Content-Type": ""})
    assert_outcome(response, 415)


@pytest.mark.parametrize("method, url", [("GET", "/Pasient/1"), ("POST", "/Pasient"), ("GET", "/Pasient"),
                                         ("DELETE", "/patient/1"), ("GET", "/Pasient/1/_history")])
def test_an_unknown_resource_type_is_404(fhir, method, url):
    body = orjson.dumps(patient()) if method == "POST" else None
    response = fhir.request(method, url, content=body, headers={"Content-Type": "application/fhir+json"})
    assert_outcome(response, 404, mentions=url.split("/")[1])


def test_an_unknown_url_shape_is_404(fhir):
    assert_outcome(fhir.get("/Patient/x/_history/1/extra"), 404)


@pytest.mark.parametrize("method, url, allowed", [
    ("DELETE", "/metadata", {"GET"}),
    ("POST", "/Patient/x", {"GET", "PUT", "PATCH", "DELETE"}),
    ("PUT", "/Patient/x/_history/1", {"GET"}),
    ("DELETE", "/Patient/x/_history", {"GET"}),
    ("PUT", "/_history", {"GET"}),
])
def test_an_unsupported_method_is_405_with_allow(fhir, method, url, allowed):
    body = orjson.dumps(patient(id="x")) if method in ("POST", "PUT") else None
    response = fhir.request(method, url, content=body, headers={"Content-Type": "application/fhir+json"})
    assert_outcome(response, 405)
    assert {m.strip() for m in response.headers["Allow"].split(",")} == allowed


@pytest.mark.parametrize("headers, params", [
    ({"Accept": "application/fhir+xml"}, {}),
    ({"Accept": "application/xml, text/xml"}, {}),
    ({}, {"_format": "xml"}),
    ({}, {"_format": "application/fhir+xml"}),
], ids=["accept-fhir-xml", "accept-xml", "format-xml", "format-fhir-xml"])
def test_asking_for_xml_is_406(fhir, headers, params):
    fhir.update(patient(id="p"))
    assert_outcome(fhir.get("/Patient/p", headers=headers, params=params), 406)


def test_an_accept_header_that_includes_json_is_served(fhir):
    fhir.update(patient(id="p"))
    for accept in ("application/fhir+xml;q=1.0, application/fhir+json;q=0.9", "*/*", "application/json",
                   "application/fhir+json; fhirVersion=4.0"):
        response = fhir.get("/Patient/p", headers={"Accept": accept})
        assert response.status_code == 200, accept


def test_every_issue_names_severity_code_and_diagnostics(fhir):
    """One request per error status; each body is a complete OperationOutcome."""
    fhir.update(patient(id="p"))
    fhir.create({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                 "subject": {"reference": "Patient/p"}})
    fhir.update(patient(id="gone"))
    fhir.delete("/Patient/gone")
    responses = {
        400: _post_raw(fhir, "/Patient", b"{"),
        404: fhir.get("/Patient/nobody"),
        405: fhir.delete("/metadata"),
        406: fhir.get("/Patient/p", params={"_format": "xml"}),
        409: fhir.delete("/Patient/p"),
        410: fhir.get("/Patient/gone"),
        412: fhir.update(patient(id="p"), **{"If-Match": 'W/"9"'}),
        415: _post_raw(fhir, "/Patient", b"{}", "text/plain"),
        422: fhir.create(patient(birthDate="2020-13-01")),
    }
    for status, response in responses.items():
        assert_outcome(response, status)


NASTY_REQUESTS = [
    ("POST", "/Patient", b'{"resourceType":"Patient","birthDate":"' + b"9" * 10000 + b'"}'),
    ("POST", "/Patient", b'{"resourceType":"Patient","id":"' + b"x" * 1000 + b'"}'),
    ("POST", "/Patient", b'{"resourceType":"Patient","meta":"nope"}'),
    ("POST", "/Patient", b'{"resourceType":"Patient","meta":{"versionId":7}}'),
    ("POST", "/Patient", b'{"resourceType":"Patient","extension":[{"url":5}]}'),
    ("POST", "/Patient", b'{"resourceType":"Patient","extension":[{}]}'),
    ("POST", "/Patient", b'{"resourceType":"Patient","text":{"status":"generated","div":7}}'),
    ("POST", "/Patient", b'{"resourceType":"Patient","deceasedBoolean":true,"deceasedDateTime":"2020"}'),
    ("POST", "/Patient", b'{"resourceType":"Patient","contained":[5]}'),
    ("POST", "/Patient", b'{"resourceType":"Patient","contained":[{"id":"x"}]}'),
    ("POST", "/Patient", b'{"resourceType":"Patient","generalPractitioner":[{"reference":5}]}'),
    ("POST", "/Patient", b'{"resourceType":"Patient","managingOrganization":{"reference":"Organization/"}}'),
    ("POST", "/Bundle", b'{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"X"}}]}'),
    ("POST", "/Parameters", b'{"resourceType":"Parameters","parameter":[{"name":"a","resource":5}]}'),
    ("POST", "/", b'{"resourceType":"Bundle","type":"transaction","entry":5}'),
    ("POST", "/", b'{"resourceType":"Bundle","type":"transaction","entry":[5]}'),
    ("POST", "/", b'{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"POST","url":"Patient"},"resource":5}]}'),
    ("POST", "/", b'{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"PUT","url":"Patient/x"},"resource":{"resourceType":"Patient","id":"x","active":"x"}}]}'),
    ("POST", "/", b'{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"GET","url":"Patient/x/_history/y"}}]}'),
    ("POST", "/", b'{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"POST","url":"Patient","ifNoneExist":5},"resource":{"resourceType":"Patient"}}]}'),
    ("POST", "/", b'{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"GET","url":"Patient/x","ifModifiedSince":"then"}}]}'),
    ("POST", "/", b"[]"),
    ("PUT", "/Patient/x", b'{"resourceType":"Patient","id":"x","name":[{"family":"\\u0000"}]}'),
    ("PATCH", "/Patient/x", b"[]"),
    ("GET", "/Patient/x/_history/99999999999999999999999", b""),
    ("GET", "/Patient/x/_history/%C2%B2", b""),
    ("GET", "/_history?_cursor=99999999999999999999999", b""),
    ("POST", "/", b'{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":5}}]}'),
    ("GET", "/_history?_count=-1", b""),
    ("GET", "/_history?_count=99999999999999999999", b""),
    ("GET", "/_history?_cursor=abc", b""),
    ("GET", "/_history?_at=2020-02-30", b""),
    ("GET", "/_history?_since=2020-01-01T25:00:00Z", b""),
    ("GET", "/Patient/x?_summary=count", b""),
    ("GET", "/Patient/x?_elements=", b""),
    ("GET", "/%00", b""),
    ("GET", "/Patient/%2E%2E", b""),
    ("DELETE", "/Patient/x?_cascade=delete&_cascade=delete", b""),
]


@pytest.mark.parametrize("method, url, body", NASTY_REQUESTS, ids=[str(n) for n in range(len(NASTY_REQUESTS))])
def test_no_request_gives_a_server_error(fhir, method, url, body):
    fhir.update(patient(id="x"))
    response = fhir.request(method, url, content=body or None,
                            headers={"Content-Type": "application/fhir+json"} if body else {})
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert_outcome(response, response.status_code)


NASTY_HEADERS = [
    ("PUT", {"If-Match": "garbage"}),
    ("PUT", {"If-Match": 'W/""'}),
    ("PUT", {"If-Match": 'W/"99999999999999999999999"'}),
    ("GET", {"If-None-Match": 'W/"abc"'}),
    ("GET", {"If-Modified-Since": "Mon, 32 Foo 2020 99:99:99 GMT"}),
    ("GET", {"If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"}),
    ("GET", {"Accept": ""}),
    ("GET", {"Accept": ";;;,,,"}),
    ("PUT", {"Prefer": "return="}),
    ("PUT", {"Prefer": "handling=strict; return=minimal; respond-async"}),
    ("POST", {"If-None-Exist": ""}),
    ("POST", {"If-None-Exist": "&&&"}),
    ("PUT", {"Content-Type": "application/fhir+json; charset=latin-1"}),
    ("DELETE", {"If-Match": "*"}),
]


@pytest.mark.parametrize("method, headers", NASTY_HEADERS, ids=[str(n) for n in range(len(NASTY_HEADERS))])
def test_no_header_gives_a_server_error(fhir, method, headers):
    fhir.update(patient(id="x"))
    url = "/Patient" if method == "POST" else "/Patient/x"
    body = orjson.dumps(patient(id="x")) if method in ("PUT", "POST") else None
    response = fhir.request(method, url, content=body,
                            headers={"Content-Type": "application/fhir+json", **headers})
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert_outcome(response, response.status_code)


@pytest.mark.parametrize("version", ["4.0", "4.0.1"])
def test_the_fhir_version_parameter_for_r4_is_accepted(fhir, version):
    media = f"application/fhir+json; fhirVersion={version}"
    created = _post_raw(fhir, "/Patient", orjson.dumps(patient()), media)
    assert created.status_code == 201
    assert fhir.get(f"/Patient/{created.json()['id']}", headers={"Accept": media}).status_code == 200


@pytest.mark.parametrize("version", ["1.0", "3.0", "5.0", "4.3"])
def test_a_content_type_of_another_fhir_version_is_415(fhir, version):
    response = _post_raw(fhir, "/Patient", orjson.dumps(patient()), f"application/fhir+json; fhirVersion={version}")
    assert_outcome(response, 415)
    assert data_versions(fhir) == 0


@pytest.mark.parametrize("version", ["1.0", "5.0"])
def test_accepting_only_another_fhir_version_is_406(fhir, version):
    fhir.update(patient(id="p"))
    assert_outcome(fhir.get("/Patient/p", headers={"Accept": f"application/fhir+json; fhirVersion={version}"}), 406)
