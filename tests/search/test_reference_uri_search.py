"""Reference and uri search.

https://hl7.org/fhir/R4/search.html#reference
https://hl7.org/fhir/R4/search.html#uri
"""

import pytest
from search_support import BASE

from fhirip.errors import BadRequest

FNR = "urn:oid:2.16.578.1.12.4.1.4.1"


@pytest.fixture
def plans(db):
    db.put(
        {"resourceType": "CarePlan", "id": "mine", "status": "active", "intent": "plan",
         "subject": {"reference": "Patient/p1"}, "careTeam": [{"reference": "CareTeam/t1"}]},
        {"resourceType": "CarePlan", "id": "group", "status": "active", "intent": "plan",
         "subject": {"reference": "Group/p1"}},
        {"resourceType": "CarePlan", "id": "absolute", "status": "active", "intent": "plan",
         "subject": {"reference": "http://other.example/fhir/Patient/p1"}},
        {"resourceType": "CarePlan", "id": "logical", "status": "active", "intent": "plan",
         "subject": {"identifier": {"system": FNR, "value": "13031353453"}}},
        {"resourceType": "CarePlan", "id": "canonical", "status": "active", "intent": "plan",
         "subject": {"reference": "Patient/p2"},
         "instantiatesCanonical": ["http://fhirip.no/fhir/PlanDefinition/ip|2"]},
    )
    return db


def test_type_and_id(plans):
    assert plans.ids("CarePlan", "subject=Patient/p1") == ["mine"]
    assert plans.ids("CarePlan", "subject=Group/p1") == ["group"]


def test_id_alone_matches_any_target_type(plans):
    assert plans.ids("CarePlan", "subject=p1") == ["group", "mine"]


def test_type_modifier(plans):
    assert plans.ids("CarePlan", "subject:Patient=p1") == ["mine"]
    with pytest.raises(BadRequest, match="subject"):
        plans.ids("CarePlan", "subject:Practitioner=p1")


def test_this_servers_base_url_is_a_local_reference(plans):
    assert plans.ids("CarePlan", f"subject={BASE}/Patient/p1") == ["mine"]


def test_absolute_reference_to_another_server(plans):
    assert plans.ids("CarePlan", "subject=http://other.example/fhir/Patient/p1") == ["absolute"]


def test_patient_parameter_only_holds_patients(plans):
    # CarePlan.subject.where(resolve() is Patient)
    assert plans.ids("CarePlan", "patient=p1") == ["mine"]


def test_identifier_modifier_matches_logical_references(plans):
    assert plans.ids("CarePlan", f"subject:identifier={FNR}|13031353453") == ["logical"]
    assert plans.ids("CarePlan", "subject:identifier=13031353453") == ["logical"]


def test_canonical_with_and_without_version(plans):
    url = "http://fhirip.no/fhir/PlanDefinition/ip"
    assert plans.ids("CarePlan", f"instantiates-canonical={url}") == ["canonical"]
    assert plans.ids("CarePlan", f"instantiates-canonical={url}|2") == ["canonical"]
    assert plans.ids("CarePlan", f"instantiates-canonical={url}|3") == []


def test_missing_reference(plans):
    assert plans.ids("CarePlan", "care-team:missing=false") == ["mine"]
    assert plans.ids("CarePlan", "care-team:missing=true") == ["absolute", "canonical", "group", "logical"]


def test_malformed_reference_is_refused(plans):
    with pytest.raises(BadRequest, match="subject"):
        plans.ids("CarePlan", "subject=Patient/p1/extra")


@pytest.fixture
def profiled(db):
    db.put(
        {"resourceType": "CarePlan", "id": "ip", "status": "active", "intent": "plan",
         "subject": {"reference": "Patient/p"}, "instantiatesUri": ["http://fhirip.no/fhir/guide/ip/v2"],
         "meta": {"profile": ["http://fhirip.no/fhir/StructureDefinition/ip-CarePlan"],
                  "source": "http://planpro.kommune.no/export#1"}},
        {"resourceType": "CarePlan", "id": "plain", "status": "active", "intent": "plan",
         "subject": {"reference": "Patient/p"}, "instantiatesUri": ["http://fhirip.no/fhir"]},
    )
    return db


def test_uri_equality_below_and_above(profiled):
    assert profiled.ids("CarePlan", "instantiates-uri=http://fhirip.no/fhir") == ["plain"]
    assert profiled.ids("CarePlan", "instantiates-uri:below=http://fhirip.no/fhir/guide") == ["ip"]
    assert profiled.ids("CarePlan", "instantiates-uri:below=http://fhirip.no/fhir") == ["ip", "plain"]
    assert profiled.ids("CarePlan",
                        "instantiates-uri:above=http://fhirip.no/fhir/guide/ip/v2/page") == ["ip", "plain"]
    assert profiled.ids("CarePlan", "instantiates-uri:above=http://fhirip.no/") == []


def test_profile_and_source(profiled):
    assert profiled.ids("CarePlan", "_profile=http://fhirip.no/fhir/StructureDefinition/ip-CarePlan") == ["ip"]
    assert profiled.ids("CarePlan", "_source=http://planpro.kommune.no/export#1") == ["ip"]
    assert profiled.ids("CarePlan", "_profile:missing=true") == ["plain"]
