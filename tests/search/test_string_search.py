"""String search: https://hl7.org/fhir/R4/search.html#string"""

import pytest


@pytest.fixture
def people(db):
    db.put(
        {"resourceType": "Patient", "id": "eve", "name": [{"family": "Øvrebø", "given": ["Eve", "Marie"]}],
         "address": [{"line": ["Storgata 1"], "city": "Tromsø", "postalCode": "9008"}]},
        {"resourceType": "Patient", "id": "jose", "name": [{"family": "Hernández", "given": ["José"]}]},
        {"resourceType": "Patient", "id": "jo", "name": [{"text": "Jo Nilsen", "family": "Nilsen", "given": ["Jo"]}]},
    )
    return db


def test_string_matches_start_of_any_name_part_ignoring_case(people):
    assert people.ids("Patient", "name=JO") == ["jo", "jose"]
    assert people.ids("Patient", "given=mar") == ["eve"]


def test_string_ignores_accents(people):
    assert people.ids("Patient", "family=hernandez") == ["jose"]
    assert people.ids("Patient", "given=jose") == ["jose"]


def test_string_does_not_match_inside_a_word(people):
    assert people.ids("Patient", "family=ilsen") == []


def test_exact_is_case_and_accent_sensitive_and_whole(people):
    assert people.ids("Patient", "family:exact=Hernández") == ["jose"]
    assert people.ids("Patient", "family:exact=Hernandez") == []
    assert people.ids("Patient", "family:exact=Hernán") == []


def test_contains_matches_anywhere(people):
    assert people.ids("Patient", "family:contains=ILS") == ["jo"]
    assert people.ids("Patient", "family:contains=100%") == []


def test_address_parts_are_searchable(people):
    assert people.ids("Patient", "address=storgata") == ["eve"]
    assert people.ids("Patient", "address-city=tromso") == ["eve"]
    assert people.ids("Patient", "address-postalcode=9008") == ["eve"]


def test_comma_means_or_and_repetition_means_and(people):
    assert people.ids("Patient", "family=nil,hern") == ["jo", "jose"]
    assert people.ids("Patient", "given=eve&given=marie") == ["eve"]
    assert people.ids("Patient", "given=eve&given=jo") == []


def test_escaped_comma_is_part_of_the_value(db):
    db.put({"resourceType": "Organization", "id": "o1", "name": "Helse, Nord"},
           {"resourceType": "Organization", "id": "o2", "name": "Helse"})
    assert db.ids("Organization", r"name=helse\, nord") == ["o1"]
    assert db.ids("Organization", "name=helse") == ["o1", "o2"]


def test_missing_string(people):
    assert people.ids("Patient", "address:missing=true") == ["jo", "jose"]
    assert people.ids("Patient", "address:missing=false") == ["eve"]
