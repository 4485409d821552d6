"""The invariants evaluated in Python give what the FHIRPath engine gives, on generated JSON."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from fhirip.validation import Validator
from fhirip.validation.definitions import base_definitions
from fhirip.validation.fast_invariants import FAST
from fhirip.validation.fhirpath import holds

# Where each invariant is evaluated: the type the engine is told the element has.
TYPE_PATH = {"dom-2": "CarePlan", "dom-4": "Goal", "dom-5": "Consent", "dom-6": "Patient",
             "cpt-2": "ContactPoint", "ppc-1": "Consent", "ppc-2": "Consent", "ppc-3": "Consent",
             "ppc-4": "Consent", "ppc-5": "Consent", "org-1": "Organization", "cpl-3": "CarePlan.activity"}

# The element names the expressions navigate, with and without the primitive-extension "_".
NAMES = ["contained", "meta", "versionId", "lastUpdated", "security", "text", "div", "value", "system",
         "policy", "policyRule", "patient", "scope", "coding", "code", "identifier", "name", "detail",
         "reference", "id", "status"]
KEYS = st.sampled_from(NAMES + ["_" + n for n in NAMES])
LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-2, 2),
                   st.sampled_from(["something", "patient-privacy", "research", "adr", "treatment", "x", ""]))
JSON = st.recursive(LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=4)), max_leaves=14)
ELEMENTS = st.dictionaries(KEYS, JSON, max_size=5)


def test_every_fast_invariant_is_one_the_base_specification_has() -> None:
    definitions = base_definitions()
    declared = {(c.key, c.expression) for elements in definitions.elements.values()
                for element in elements.values() for c in element.constraints}
    assert set(FAST) <= declared
    assert {key for key, _ in FAST} == set(TYPE_PATH)


@pytest.mark.parametrize("key, expression", sorted(FAST), ids=[k for k, _ in sorted(FAST)])
@settings(max_examples=300, deadline=None)
@given(element=ELEMENTS)
@example(element={"_contained": [{"meta": {"security": [{}], "_lastUpdated": "x"}, "_contained": [1]}],
                  "text": {"_div": "x"}, "_value": "x", "_policyRule": {}, "_name": ["x"]})
@example(element={"contained": [None, {"meta": [{"versionId": None}, {"_versionId": "1"}]}],
                  "scope": {"coding": [{"system": "something", "code": "adr"},
                                       {"system": "something", "_system": {}, "code": "research"}]}})
def test_fast_invariant_agrees_with_the_fhirpath_engine(key: str, expression: str, element: dict) -> None:
    engine = holds(expression, element, TYPE_PATH[key], element, empty_passes=True)
    assert FAST[(key, expression)](element) is engine


NARRATIVE = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'}


@pytest.mark.parametrize("resource, key", [
    ({"resourceType": "Organization", "text": NARRATIVE, "active": True}, "org-1"),
    ({"resourceType": "Organization", "text": NARRATIVE, "name": "Bydel Nord"}, None),
    ({"resourceType": "Goal", "lifecycleStatus": "active", "description": {"text": "x"},
      "subject": {"reference": "Patient/p"}}, "dom-6"),
    ({"resourceType": "Consent", "text": NARRATIVE, "status": "active", "scope": {"coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "treatment"}]},
      "category": [{"text": "x"}], "policyRule": {"text": "x"}, "provision": {"type": "permit"}}, None),
    ({"resourceType": "Consent", "text": NARRATIVE, "status": "active", "scope": {"text": "x"},
      "category": [{"text": "x"}], "provision": {"type": "permit"}}, "ppc-1"),
    ({"resourceType": "Patient", "text": NARRATIVE, "telecom": [{"value": "+47 55 00 00 00"}]}, "cpt-2"),
])
def test_validation_reports_what_the_fast_invariants_find(strict_validator: Validator, resource: dict[str, Any],
                                                         key: str | None) -> None:
    issues = strict_validator.validate(resource)
    failed = {k for k, _ in FAST if any(f"invariant {k} " in i.diagnostics for i in issues)}
    assert failed == ({key} if key else set())
