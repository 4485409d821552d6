"""Token search: https://hl7.org/fhir/R4/search.html#token"""

import pytest

from fhirip.errors import BadRequest

FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
DNR = "urn:oid:2.16.578.1.12.4.1.4.2"
LIVS = "http://fhirip.no/fhir/CodeSystem/ip-livsomrade"


@pytest.fixture
def goals(db):
    db.put(
        {"resourceType": "Goal", "id": "housing", "lifecycleStatus": "active",
         "category": [{"coding": [{"system": LIVS, "code": "bolig", "display": "Bolig og dagligliv"}]}],
         "description": {"text": "Egen leilighet"}, "subject": {"reference": "Patient/p1"}},
        {"resourceType": "Goal", "id": "work", "lifecycleStatus": "proposed",
         "category": [{"coding": [{"system": LIVS, "code": "arbeid"}], "text": "Arbeid og aktivitet"}],
         "description": {"text": "Deltidsjobb"}, "subject": {"reference": "Patient/p1"}},
        {"resourceType": "Goal", "id": "local", "lifecycleStatus": "active",
         "category": [{"coding": [{"code": "bolig"}]}],
         "description": {"text": "Uten kodeverk"}, "subject": {"reference": "Patient/p1"}},
    )
    return db


def test_code_alone_matches_any_system(goals):
    assert goals.ids("Goal", "category=bolig") == ["housing", "local"]


def test_system_and_code(goals):
    assert goals.ids("Goal", f"category={LIVS}|bolig") == ["housing"]


def test_empty_system_means_no_system(goals):
    assert goals.ids("Goal", "category=|bolig") == ["local"]


def test_system_alone_matches_any_code_of_it(goals):
    assert goals.ids("Goal", f"category={LIVS}|") == ["housing", "work"]


def test_not_excludes_resources_with_the_code_and_keeps_those_without(goals):
    assert goals.ids("Goal", "lifecycle-status:not=active") == ["work"]
    assert goals.ids("Goal", f"category:not={LIVS}|bolig") == ["local", "work"]


def test_text_matches_display_and_codeable_concept_text(goals):
    assert goals.ids("Goal", "category:text=bolig og") == ["housing"]
    assert goals.ids("Goal", "category:text=ARBEID") == ["work"]


def test_in_and_not_in_use_the_value_set_expansion(goals):
    expansions = {"http://vs/bolig": {(LIVS, "bolig")}}
    expand = expansions.get
    assert goals.ids("Goal", "category:in=http://vs/bolig", expand=expand) == ["housing"]
    assert goals.ids("Goal", "category:not-in=http://vs/bolig", expand=expand) == ["local", "work"]
    with pytest.raises(BadRequest, match="category:in"):
        goals.ids("Goal", "category:in=http://vs/unknown", expand=expand)


def test_identifier_with_and_without_system(db):
    db.put({"resourceType": "Patient", "id": "p1", "identifier": [{"system": FNR, "value": "13031353453"}]},
           {"resourceType": "Patient", "id": "p2", "identifier": [{"system": DNR, "value": "13031353453"}]})
    assert db.ids("Patient", f"identifier={FNR}|13031353453") == ["p1"]
    assert db.ids("Patient", "identifier=13031353453") == ["p1", "p2"]


def test_identifier_of_type(db):
    v2 = "http://terminology.hl7.org/CodeSystem/v2-0203"
    db.put({"resourceType": "Patient", "id": "p1", "identifier": [
        {"type": {"coding": [{"system": v2, "code": "NNNOR"}]}, "system": FNR, "value": "1"}]},
        {"resourceType": "Patient", "id": "p2", "identifier": [
            {"type": {"coding": [{"system": v2, "code": "MR"}]}, "value": "1"}]})
    assert db.ids("Patient", f"identifier:of-type={v2}|NNNOR|1") == ["p1"]
    assert db.ids("Patient", f"identifier:of-type={v2}|MR|1") == ["p2"]
    with pytest.raises(BadRequest, match="identifier:of-type"):
        db.ids("Patient", "identifier:of-type=NNNOR")


def test_boolean_and_contact_point_tokens(db):
    db.put({"resourceType": "Patient", "id": "p1", "active": True,
            "telecom": [{"system": "phone", "value": "+4791234567"}, {"system": "email", "value": "a@b.no"}]},
           {"resourceType": "Patient", "id": "p2", "active": False})
    assert db.ids("Patient", "active=true") == ["p1"]
    assert db.ids("Patient", "active=false") == ["p2"]
    assert db.ids("Patient", "phone=+4791234567") == ["p1"]
    assert db.ids("Patient", "email=a@b.no") == ["p1"]
    assert db.ids("Patient", "telecom=phone|+4791234567") == ["p1"]


def test_id_parameter(goals):
    assert goals.ids("Goal", "_id=housing,work") == ["housing", "work"]
    assert goals.ids("Goal", "_id:not=housing") == ["local", "work"]


def test_tag_and_security(db):
    db.put({"resourceType": "Consent", "id": "c1", "status": "active", "scope": {"text": "x"},
            "category": [{"text": "x"}],
            "meta": {"tag": [{"system": "http://t", "code": "migrated"}],
                     "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}]}},
           {"resourceType": "Consent", "id": "c2", "status": "active", "scope": {"text": "x"}, "category": [{"text": "x"}]})
    assert db.ids("Consent", "_tag=http://t|migrated") == ["c1"]
    assert db.ids("Consent", "_security=R") == ["c1"]
    assert db.ids("Consent", "_tag:missing=true") == ["c2"]
