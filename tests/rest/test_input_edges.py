"""Inputs at the edges of what FHIR allows: each answered with a 4xx OperationOutcome, or stored
and found when valid, on both stores.

https://hl7.org/fhir/R4/search.html#chaining, #has (depth bounded by the server)
https://hl7.org/fhir/R4/datatypes.html#date, #integer, #string
https://hl7.org/fhir/R4/json.html (no null, no empty array)
"""

from __future__ import annotations

import pytest
from rest_checks import assert_outcome, patient

from fhirip.search.query import MAX_HAS_NESTING, MAX_LINKS


def _ids(bundle: dict) -> set[str]:
    return {e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"}


def test_a_criterion_following_more_references_than_the_limit_is_400_naming_it(fhir):
    organization = fhir.create({"resourceType": "Organization", "name": "Helse"}).json()
    practitioner = fhir.create({"resourceType": "Practitioner", "name": [{"family": "Lege"}]}).json()
    person = fhir.create(patient(generalPractitioner=[{"reference": f"Practitioner/{practitioner['id']}"}],
                                 managingOrganization={"reference": f"Organization/{organization['id']}"})).json()
    observation = fhir.create({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                               "subject": {"reference": f"Patient/{person['id']}"}}).json()
    # Three references, chained or reverse, are answered.
    found = fhir.get("/Observation?subject:Patient.organization.partof:missing=true")
    assert found.status_code == 200, found.text
    assert _ids(found.json()) == {observation["id"]}
    assert fhir.get("/Patient?_has:Observation:subject:_has:Provenance:target:agent.name=x").status_code == 200
    assert fhir.get("/Observation?subject.organization.partof.name=x").status_code == 200
    # A fourth is refused with the limit, chained, reverse or both.
    for url in ("/Observation?subject.general-practitioner.organization.partof.name=x",
                "/Patient?_has:Observation:subject:_has:Provenance:target:agent:PractitionerRole.organization.name=x",
                "/Patient?_has:Observation:subject:subject:Patient.organization.partof.name=x"):
        assert_outcome(fhir.get(url), 400, mentions=f"at most {MAX_LINKS} references")
    nested = "/Patient?_has:Observation:subject:_has:Provenance:target:_has:AuditEvent:entity:_id=1"
    assert_outcome(fhir.get(nested), 400, mentions=f"nested at most {MAX_HAS_NESTING} deep",
                   expression="_has:Observation:subject:_has:Provenance")


@pytest.mark.parametrize("value", ["9999-12-31", "9999-12", "9999", "0001-01-01"])
def test_a_date_at_the_end_of_the_calendar_is_stored_and_found(fhir, value):
    created = fhir.create(patient(birthDate=value))
    assert created.status_code == 201, created.text
    found = fhir.get(f"/Patient?birthdate={value}")
    assert found.status_code == 200, found.text
    assert _ids(found.json()) == {created.json()["id"]}
    assert fhir.get(f"/Patient?birthdate=gt{value}").status_code == 200


@pytest.mark.parametrize("moment", ["9999-12-31T23:00:00-05:00", "9999-12-31T23:59:59.999Z",
                                    "0001-01-01T00:30:00+01:00"])
def test_an_instant_whose_utc_lies_past_the_calendar_is_stored_and_found(fhir, moment):
    created = fhir.create({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                           "effectiveDateTime": moment})
    assert created.status_code == 201, created.text
    year = moment[:4]
    found = fhir.get(f"/Observation?date={year}")
    assert found.status_code == 200, found.text
    assert _ids(found.json()) == {created.json()["id"]}
    assert fhir.get(f"/Observation?date=sa{moment.replace('+', '%2B')}").status_code == 200


@pytest.mark.parametrize("url", ["/ConceptMap/$translate", "/ValueSet/$expand", "/Patient/$validate",
                                 "/$convert", "/CodeSystem/$lookup"])
@pytest.mark.parametrize("parts", [None, [], [None], ["name"]], ids=["null", "empty", "null-part", "string-part"])
def test_an_operation_body_whose_parameters_are_not_a_list_of_objects_is_400(fhir, url, parts):
    response = fhir.send_json("POST", url, {"resourceType": "Parameters", "parameter": parts})
    assert_outcome(response, 400, expression="Parameters.parameter")


def test_an_integer_past_32_bits_is_refused_in_a_query_and_a_body(fhir):
    gender = "http://hl7.org/fhir/ValueSet/administrative-gender"
    assert_outcome(fhir.get(f"/ValueSet/$expand?url={gender}&count=99999999999999999999"), 400,
                   expression="count", mentions="32 bits")
    body = {"resourceType": "Parameters", "parameter": [{"name": "url", "valueUri": gender},
                                                        {"name": "count", "valueInteger": 2 ** 31}]}
    assert_outcome(fhir.send_json("POST", "/ValueSet/$expand", body), 422, mentions="32 bits")
    assert fhir.get(f"/ValueSet/$expand?url={gender}&count=2147483647").status_code == 200


def test_a_prefix_at_the_edge_of_unicode_or_of_only_white_space_is_searched(fhir):
    edge = fhir.create(patient("\ud7ffsen")).json()  # the last character before the surrogates
    fhir.create(patient("\ue000sen"))  # the first after them
    found = fhir.get("/Patient?name=%ED%9F%BF")
    assert found.status_code == 200, found.text
    assert _ids(found.json()) == {edge["id"]}
    last = fhir.create(patient("a\U0010ffff")).json()
    assert _ids(fhir.get("/Patient?name=a%F4%8F%BF%BF").json()) == {last["id"]}
    fhir.create({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                 "category": [{"text": "vital"}]})
    for url in ("/Observation?category:text=%09", "/Observation?category:text=%20%20", "/Patient?name=%09"):
        response = fhir.get(url)
        assert response.status_code == 200, response.text
        assert "entry" not in response.json()


@pytest.mark.parametrize("url", ["/Patient/a%00b", "/Patient?name=a%00b", "/Patient?name%01=a",
                                 "/Patient/a%1Fb/_history", "/Observation?subject=Patient/a%00b"])
def test_a_control_character_in_the_url_is_400(fhir, url):
    assert_outcome(fhir.get(url), 400, mentions="control character")


def test_a_control_character_in_a_url_of_a_batch_entry_is_400_in_its_entry(fhir):
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Patient?name=a%00b"}},
        {"request": {"method": "GET", "url": "Patient/a%00b"}}]}
    response = fhir.send_json("POST", "/", batch)
    assert response.status_code == 200, response.text
    assert [e["response"]["status"][:3] for e in response.json()["entry"]] == ["400", "400"]


def test_a_nul_in_a_resource_string_is_422(fhir):
    assert_outcome(fhir.create(patient("a\u0000b")), 422, expression="Patient.name[0].family")
    assert_outcome(fhir.put("/Patient/nul", {**patient("a\u0000b"), "id": "nul"}), 422)


def test_a_reference_whose_id_is_longer_than_an_id_is_stored_and_found_as_written(fhir):
    long_reference = "Patient/" + "a" * 70
    created = fhir.create({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                           "subject": {"reference": long_reference}})
    assert created.status_code == 201, created.text
    found = fhir.get(f"/Observation?subject={long_reference}")
    assert found.status_code == 200, found.text
    assert _ids(found.json()) == {created.json()["id"]}
    assert "entry" not in fhir.get("/Observation?subject=" + "a" * 70).json()
    canonical = "http://example.org/fhir/Questionnaire/q|" + "9" * 70
    response = fhir.create({"resourceType": "QuestionnaireResponse", "status": "completed",
                            "questionnaire": canonical})
    assert response.status_code == 201, response.text
    assert _ids(fhir.get(f"/QuestionnaireResponse?questionnaire={canonical}").json()) == {response.json()["id"]}


@pytest.mark.parametrize("since", ["9999-12-31T23:59:59Z", "9999", "9999-12-31T23:00:00-05:00"])
def test_history_since_the_end_of_the_calendar_is_empty(fhir, since):
    fhir.create(patient())
    response = fhir.get(f"/Patient/_history?_since={since.replace('+', '%2B')}")
    assert response.status_code == 200, response.text
    assert response.json()["total"] == 0 and not response.json().get("entry")


def test_a_control_character_in_conditional_criteria_is_400(fhir):
    assert_outcome(fhir.create(patient(), **{"If-None-Exist": "identifier=a%00b"}), 400,
                   mentions="control character")
    assert_outcome(fhir.create(patient(), **{"If-None-Exist": "name=a%01"}), 400, mentions="control character")


@pytest.mark.parametrize("parts", [None, [None], [{"name": "operation", "part": None}],
                                   [{"name": "operation", "part": [None]}]],
                         ids=["null", "null-operation", "null-parts", "null-part"])
def test_a_fhirpath_patch_with_null_parts_is_400(fhir, parts):
    created = fhir.create(patient()).json()
    response = fhir.send_json("PATCH", f"/Patient/{created['id']}", {"resourceType": "Parameters", "parameter": parts})
    assert_outcome(response, 400, expression="Parameters.parameter")


@pytest.mark.parametrize("body", [[], "x", 5])
def test_a_terminology_operation_body_that_is_no_object_is_400(fhir, body):
    assert_outcome(fhir.send_json("POST", "/ValueSet/$expand", body), 400)
