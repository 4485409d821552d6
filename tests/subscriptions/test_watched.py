"""What a Subscription's criteria pin down, for the outbox to record events only for Subscriptions
a write can concern: never more than the criteria themselves could match."""

from __future__ import annotations

from fhirip.subscriptions.outbox import patients_named, watched


def test_a_reference_parameter_naming_one_patient_pins_that_patient() -> None:
    assert watched("CarePlan", [("subject", "Patient/kari")]) == (None, "subject", "kari")
    assert watched("Goal", [("patient", "Patient/kari"), ("lifecycle-status", "active")]) == (None, "patient", "kari")
    assert watched("CarePlan", [("_id", "plan-1")]) == ("plan-1", None, None)


def test_anything_else_pins_nothing() -> None:
    assert watched("CarePlan", [("subject", "Patient/kari,Patient/ola")]) == (None, None, None)  # any of several
    assert watched("CarePlan", [("subject", "kari")]) == (None, None, None)  # a bare id may name another type
    assert watched("CarePlan", [("subject:Patient", "kari")]) == (None, None, None)
    assert watched("CarePlan", [("patient.identifier", "urn:oid:2.16.578.1.12.4.1.4.1|12345678901")]) == \
        (None, None, None)
    assert watched("CarePlan", [("_id", "a,b")]) == (None, None, None)
    assert watched("CarePlan", [("status", "active")]) == (None, None, None)  # not a reference


def test_a_write_names_the_patients_of_the_pinned_parameter_as_the_search_index_does() -> None:
    plan = {"resourceType": "CarePlan", "id": "p", "status": "active", "intent": "plan",
            "subject": {"reference": "Patient/kari"}}
    assert patients_named("CarePlan", "subject", plan) == {"kari"}
    assert patients_named("CarePlan", "patient", plan) == {"kari"}
    assert patients_named("CarePlan", "subject", {**plan, "subject": {"reference": "Group/g"}}) == frozenset()
