"""The base R4 rules the model parse does not check: required bindings, invariants, unknown elements."""

from __future__ import annotations

import json

from fhirip.validation import Validator
from fhirip.validation.definitions import base_definitions
from fhirip.validation.fhirpath import NATIVE, SKIPPED, compiled

NARRATIVE = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">Plan</div>'}


def careplan(**changes) -> dict:
    plan = {"resourceType": "CarePlan", "text": NARRATIVE, "status": "draft", "intent": "plan",
            "subject": {"reference": "Patient/p1"}}
    plan.update(changes)
    return plan


def found(validator: Validator, resource: dict) -> list[tuple[str, tuple[str, ...]]]:
    return [(i.severity, i.expression) for i in validator.validate(resource)]


def test_bogus_careplan_status_fails_the_required_binding(strict_validator: Validator) -> None:
    issues = strict_validator.validate(careplan(status="bogus"))
    assert [(i.severity, i.expression) for i in issues] == [("error", ("CarePlan.status",))]
    assert "request-status" in issues[0].diagnostics


def test_activity_with_reference_and_detail_fails_cpl_3(strict_validator: Validator) -> None:
    plan = careplan(activity=[{"reference": {"reference": "ServiceRequest/s1"},
                               "detail": {"status": "scheduled"}}])
    issues = strict_validator.validate(plan)
    assert [(i.expression, "cpl-3" in i.diagnostics) for i in issues] == [(("CarePlan.activity[0]",), True)]


def test_activity_detail_status_binding_is_checked_at_depth(strict_validator: Validator) -> None:
    plan = careplan(activity=[{"detail": {"status": "done"}}, {"detail": {"status": "completed"}}])
    assert found(strict_validator, plan) == [("error", ("CarePlan.activity[0].detail.status",))]


def test_required_binding_on_a_data_type_element(strict_validator: Validator) -> None:
    patient = {"resourceType": "Patient", "text": NARRATIVE,
               "telecom": [{"system": "mobil", "value": "+47 41 23 45 67"}]}
    assert found(strict_validator, patient) == [("error", ("Patient.telecom[0].system",))]


def test_missing_required_element_is_reported(strict_validator: Validator) -> None:
    plan = careplan()
    del plan["intent"]
    issues = strict_validator.validate(plan)
    assert [(i.code, i.expression) for i in issues] == [("required", ("CarePlan.intent",))]


def test_element_not_in_r4_is_rejected(strict_validator: Validator) -> None:
    issues = strict_validator.validate(careplan(instantiatesFoo=["x"]))
    assert [(i.code, "instantiatesFoo" in i.diagnostics) for i in issues] == [("structure", True)]


def test_period_end_before_start_fails_per_1_but_partial_dates_do_not(strict_validator: Validator) -> None:
    assert found(strict_validator, careplan(period={"start": "2025-03-01", "end": "2025-02"})) == [
        ("error", ("CarePlan.period",))]
    assert found(strict_validator, careplan(period={"start": "2025-03-01", "end": "2025-03"})) == []
    assert found(strict_validator, careplan(period={"start": "2025-03-01T10:00:00+01:00",
                                                    "end": "2025-03-01"})) == []


def test_extension_with_value_and_children_fails_ext_1(strict_validator: Validator) -> None:
    plan = careplan(extension=[{"url": "http://example.org/x", "valueString": "a",
                                "extension": [{"url": "y", "valueString": "b"}]}])
    assert found(strict_validator, plan) == [("error", ("CarePlan.extension[0]",))]


def test_local_reference_must_point_at_a_contained_resource(strict_validator: Validator) -> None:
    assert found(strict_validator, careplan(subject={"reference": "#p1"})) == [
        ("error", ("CarePlan.subject",))]
    contained = [{"resourceType": "Patient", "id": "p1", "text": NARRATIVE}]
    assert found(strict_validator, careplan(subject={"reference": "#p1"}, contained=contained)) == []


def test_contained_resources_are_validated_with_their_own_rules(strict_validator: Validator) -> None:
    contained = [{"resourceType": "Patient", "id": "p1", "gender": "kvinne"}]
    issues = strict_validator.validate(careplan(subject={"reference": "#p1"}, contained=contained))
    assert ("error", ("CarePlan.contained[0].gender",)) in [(i.severity, i.expression) for i in issues]


def test_empty_element_fails_ele_1(strict_validator: Validator) -> None:
    assert found(strict_validator, careplan(period={})) == [("error", ("CarePlan.period",))]


def test_missing_narrative_is_a_warning_only(strict_validator: Validator) -> None:
    plan = careplan()
    del plan["text"]
    assert found(strict_validator, plan) == [("warning", ("CarePlan",))]


def test_coordinator_member_with_on_behalf_of_must_be_a_practitioner(strict_validator: Validator) -> None:
    team = {"resourceType": "CareTeam", "text": NARRATIVE, "participant": [
        {"member": {"reference": "PractitionerRole/r1"}, "onBehalfOf": {"reference": "Organization/o1"}}]}
    issues = strict_validator.validate(team)
    assert [(i.expression, "ctm-1" in i.diagnostics) for i in issues] == [(("CareTeam.participant[0]",), True)]


def test_every_base_invariant_is_evaluable() -> None:
    """Each base invariant of the profiled types either compiles in fhirpathpy or runs natively."""
    definitions = base_definitions()
    for type_name, elements in definitions.elements.items():
        for element in elements.values():
            for constraint in element.constraints:
                if constraint.key in NATIVE or constraint.key in SKIPPED:
                    continue
                assert compiled(constraint.expression), (type_name, constraint.key)


def test_vendored_definitions_cover_every_profiled_type(strict_validator: Validator) -> None:
    definitions = base_definitions()
    for sd in strict_validator.all_profiles():
        assert definitions.has_type(sd["type"]), sd["type"]
    assert json.dumps(definitions.root("CarePlan").constraints[0].key)


def test_contained_resource_nobody_refers_to_fails_dom_3(strict_validator: Validator) -> None:
    contained = [{"resourceType": "Patient", "id": "p1", "text": NARRATIVE}]
    issues = strict_validator.validate(careplan(contained=contained))
    assert [(i.expression, "dom-3" in i.diagnostics) for i in issues] == [(("CarePlan",), True)]


def test_null_placeholder_of_an_extended_primitive_is_accepted(strict_validator: Validator) -> None:
    patient = {"resourceType": "Patient", "text": NARRATIVE, "name": [{
        "given": ["Kari", None],
        "_given": [None, {"extension": [{"url": "http://example.org/x", "valueString": "y"}]}]}]}
    assert found(strict_validator, patient) == []


def _team_of_contained_practitioners(member_reference: str) -> dict:
    """A plan whose contained care team lists contained practitioners (as the R4 pregnancy plan does)."""
    practitioners = [{"resourceType": "Practitioner", "id": pid, "name": [{"family": name}]}
                     for pid, name in (("pr1", "Jordmor"), ("pr2", "Lege"))]
    team = {"resourceType": "CareTeam", "id": "team",
            "participant": [{"member": {"reference": member_reference}}, {"member": {"reference": "#pr2"}}]}
    return careplan(contained=[*practitioners, team], careTeam=[{"reference": "#team"}],
                    author={"reference": "#pr1"})


def test_ref_1_admits_a_reference_from_one_contained_resource_to_another(strict_validator: Validator) -> None:
    issues = strict_validator.validate(_team_of_contained_practitioners("#pr1"))
    assert [i.to_json() for i in issues if i.severity == "error"] == []


def test_ref_1_still_refuses_a_contained_reference_to_nothing(strict_validator: Validator) -> None:
    issues = strict_validator.validate(_team_of_contained_practitioners("#pr9"))
    assert [(i.expression, "ref-1" in i.diagnostics) for i in issues if i.severity == "error"] == \
        [(("CarePlan.contained[2].participant[0].member",), True)]
