"""Chaining and reverse chaining (_has), and the policy inside both.

https://hl7.org/fhir/R4/search.html#chaining
https://hl7.org/fhir/R4/search.html#has
"""

import pytest
from ipdata import FNR, individual_plan_records


@pytest.fixture
def ip(db):
    db.put(*individual_plan_records())
    return db


def hide(res_type, res_id):
    return lambda r, types=None, per_row=False: ~((r.c.res_type == res_type) & (r.c.res_id == res_id))


def test_chain_one_level(ip):
    assert ip.ids("CarePlan", f"patient.identifier={FNR}|13031353453") == ["cp1", "old-plan"]
    assert ip.ids("CarePlan", f"patient.identifier={FNR}|13031353453&status=active") == ["cp1"]


def test_chain_two_levels(ip):
    assert ip.ids("CarePlan", "patient.organization.name=bodo") == ["cp1", "old-plan"]
    assert ip.ids("CarePlan", "subject:Patient.organization.identifier=972418013") == ["cp1", "old-plan"]


def test_chain_three_levels_through_a_project_parameter(ip):
    assert ip.ids("CarePlan", "care-team.coordinator.name=kari") == ["cp1"]
    assert ip.ids("CarePlan", "care-team.coordinator.name=tidligere") == []


def test_chain_with_type_modifier_limits_the_targets(ip):
    assert ip.ids("CarePlan", "subject:Patient.name=ola") == ["cp1", "old-plan"]
    assert ip.ids("CarePlan", "subject:Group.code=ola") == []


def test_chain_on_a_non_reference_is_refused(ip):
    from fhirip.errors import BadRequest
    with pytest.raises(BadRequest, match="status.code"):
        ip.ids("CarePlan", "status.code=x")


def test_has_finds_targets_of_matching_referrers(ip):
    assert ip.ids("Patient", "_has:CarePlan:patient:status=active") == ["p1", "p2"]
    assert ip.ids("Patient", "_has:Consent:patient:status=active") == ["p1"]
    assert ip.ids("Patient", "_has:CarePlan:patient:status=draft") == []


def test_nested_has(ip):
    query = "_has:CareTeam:participant:_has:CarePlan:care-team:status=active"
    assert ip.ids("Practitioner", query) == ["dr1", "old"]


def test_has_combined_with_chain(ip):
    assert ip.ids("Patient", "_has:CarePlan:patient:care-team.coordinator=Practitioner/dr1") == ["p1"]


def test_policy_applies_to_matches(ip):
    assert ip.ids("CarePlan", "status=active", policy=hide("CarePlan", "cp1")) == ["cp2"]


def test_policy_applies_inside_chains(ip):
    query = f"patient.identifier={FNR}|13031353453"
    assert ip.ids("CarePlan", query, policy=hide("Patient", "p1")) == []


def test_policy_applies_inside_has(ip):
    assert ip.ids("Patient", "_has:Consent:patient:status=active", policy=hide("Consent", "c1")) == []


def test_policy_applies_to_the_total(ip):
    result = ip.search("CarePlan", "status=active", policy=hide("CarePlan", "cp1"))
    assert result.total == 1


def test_deleted_resources_do_not_match_or_chain(ip):
    ip.delete("Patient", "p2")
    assert ip.ids("CarePlan", f"patient.identifier={FNR}|01017012345") == []
    assert ip.ids("Patient", "_has:CarePlan:patient:status=active") == ["p1"]


def test_compartment_search(ip):
    assert ip.ids("CarePlan", "", compartment=("Patient", "p1")) == ["cp1", "old-plan"]
    assert ip.ids("CarePlan", "status=active", compartment=("Patient", "p2")) == ["cp2"]
    assert ip.ids("Goal", "", compartment=("Patient", "p1")) == ["g1", "g2"]
    everything = ip.search(None, "", compartment=("Patient", "p1"))
    assert sorted((e.res_type, e.res_id) for e in everything.entries) == [
        ("CarePlan", "cp1"), ("CarePlan", "old-plan"), ("CareTeam", "t1"), ("Consent", "c1"),
        ("Goal", "g1"), ("Goal", "g2")]


def test_type_outside_the_compartment_is_refused(ip):
    from fhirip.errors import BadRequest
    with pytest.raises(BadRequest, match="Practitioner"):
        ip.ids("Practitioner", "", compartment=("Patient", "p1"))
