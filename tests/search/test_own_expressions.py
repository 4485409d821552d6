"""The Python equivalents of fhirip's own search parameter expressions give what fhirpathpy gives."""

import json

from fhirpathpy import compile as fhirpath_compile
from fhirpathpy.models import models
from hypothesis import given, settings
from hypothesis import strategies as st

from fhirip.search.index import extract
from fhirip.search.own_expressions import CURRENT_COORDINATOR, EQUIVALENTS, VOLVEN_9034
from fhirip.search.registry import registry

codings = st.fixed_dictionaries({}, optional={
    "system": st.sampled_from([VOLVEN_9034, "urn:oid:2.16.578.1.12.4.1.1.9060", "http://example.org"]),
    "code": st.sampled_from(["8", "18", "1", "80"]),
    "display": st.just("rolle"),
})
periods = st.fixed_dictionaries({}, optional={
    "start": st.sampled_from(["2024-01-01", "2025-06-30T10:00:00+01:00"]),
    "end": st.sampled_from(["2024-12-31", "2026-01-01T00:00:00Z"]),
})
members = st.sampled_from([{"reference": "Practitioner/koord"}, {"reference": "PractitionerRole/pr"},
                           {"reference": "RelatedPerson/rp", "display": "Mor"}, {"display": "uten lenke"}])
participants = st.fixed_dictionaries({}, optional={
    "role": st.lists(st.fixed_dictionaries({}, optional={"coding": st.lists(codings, max_size=3),
                                                         "text": st.just("rolle")}), max_size=2),
    "member": members,
    "period": periods,
})
care_teams = st.builds(lambda found: {"resourceType": "CareTeam", "id": "ct", "status": "active",
                                      "subject": {"reference": "Patient/p"}, "participant": found},
                       st.lists(participants, max_size=5))


def _engine(expression):
    return fhirpath_compile(expression, models["r4"])


@settings(max_examples=300, deadline=None)
@given(care_teams)
def test_current_coordinator_equals_the_fhirpath_engine(team):
    found = EQUIVALENTS[CURRENT_COORDINATOR](team)
    assert found is not None
    assert json.dumps(found) == json.dumps(_engine(CURRENT_COORDINATOR)(team))


def test_the_coordinator_parameter_uses_the_equivalent_and_indexes_as_the_engine_does():
    reg = registry()
    param = reg.params_for("CareTeam")["coordinator"]
    assert reg.expression("CareTeam", param) == CURRENT_COORDINATOR  # the definition it stands for
    team = {"resourceType": "CareTeam", "id": "ct", "participant": [
        {"role": [{"coding": [{"system": VOLVEN_9034, "code": "8"}]}], "member": {"reference": "Practitioner/old"},
         "period": {"start": "2023-01-01", "end": "2024-01-01"}},
        {"role": [{"coding": [{"system": VOLVEN_9034, "code": "18"}]}], "member": {"reference": "Practitioner/new"},
         "period": {"start": "2024-01-01"}},
        {"role": [{"coding": [{"system": VOLVEN_9034, "code": "1"}]}], "member": {"reference": "Practitioner/gp"}}]}
    rows = [row for row in extract(reg, "CareTeam", team)[_reference_table()] if row["param"] == "coordinator"]
    assert [(row["target_type"], row["target_id"]) for row in rows] == [("Practitioner", "new")]


def test_a_shape_the_equivalent_does_not_decide_goes_to_the_engine():
    team = {"resourceType": "CareTeam", "participant": [
        {"role": [{"coding": [{"system": VOLVEN_9034, "code": "8"}]}], "member": {"reference": "Practitioner/a"},
         "period": {"_end": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                                              "valueCode": "unknown"}]}}}]}
    assert EQUIVALENTS[CURRENT_COORDINATOR](team) is None
    extractor = registry().extractor("CareTeam", registry().params_for("CareTeam")["coordinator"])
    assert json.dumps(extractor.evaluate(team)) == json.dumps(_engine(CURRENT_COORDINATOR)(team))


def test_an_expression_without_an_equivalent_is_left_to_the_engine():
    changed = CURRENT_COORDINATOR.replace("code='18'", "code='19'")
    assert changed not in EQUIVALENTS


def _reference_table():
    from fhirip.search.index import TABLES
    return TABLES["reference"]
