"""The profile invariants evaluated in Python give the FHIRPath engine's verdict, on generated JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fhirip.validation.fast_profile_invariants import (
    LEGAL_BASIS,
    MEASURE_STATUS,
    NEXT_EVALUATION,
    PROFILE_FAST,
)
from fhirip.validation.fhirpath import holds

PROFILES = Path(__file__).resolve().parents[2] / "profiles"
# Where each invariant is evaluated: the type path the validator gives the engine.
TYPE_PATH = {"ip-cp-2": "CarePlan", "ip-cp-4": "CarePlan", "ip-cp-6": "CarePlan", "ip-cp-7": "CarePlan",
             "ip-cp-8": "CarePlan", "ip-cp-5": "CarePlan.activity.detail",
             "ip-cp-9": "CarePlan.activity.detail", "ip-cp-10": "CarePlan.activity.detail"}

STATUSES = st.sampled_from(["active", "draft", "completed", "revoked", "cancelled", "stopped", "entered-in-error",
                            "unknown", "in-progress", "not-started", "scheduled", "on-hold"])
MEASURE_CODES = st.sampled_from(["onsket", "planlagt", "sokt", "igangsatt", "avsluttet", "ukjent"])
REFERENCES = st.sampled_from(["Goal/a", "Goal/b", "urn:uuid:1", "#c"])
GOALS = st.lists(st.one_of(st.fixed_dictionaries({"reference": REFERENCES}), st.just({"display": "mål"}),
                           st.just({"_reference": {"extension": []}})), max_size=3)
EXTENSIONS = st.lists(st.one_of(
    st.builds(lambda code: {"url": MEASURE_STATUS, "valueCode": code}, MEASURE_CODES),
    st.builds(lambda code: {"url": MEASURE_STATUS, "valueCoding": {"code": code}}, MEASURE_CODES),
    st.just({"url": MEASURE_STATUS}),
    st.just({"url": NEXT_EVALUATION, "valueDate": "2026-01-01"}),
    st.just({"url": LEGAL_BASIS, "valueCodeableConcept": {"text": "x"}}),
    st.just({"url": "http://example.org/other", "valueString": "y"})), max_size=3)
STATUS_FIELDS = st.fixed_dictionaries({}, optional={
    "status": STATUSES, "_status": st.just({"extension": [{"url": "http://example.org/e", "valueString": "z"}]})})
DETAILS = st.builds(lambda base, extra: {**base, **extra}, STATUS_FIELDS, st.fixed_dictionaries({}, optional={
    "statusReason": st.just({"text": "fordi"}), "extension": EXTENSIONS, "goal": GOALS,
    "kind": st.just("Task")}))
PLANS = st.builds(lambda base, extra: {"resourceType": "CarePlan", **base, **extra}, STATUS_FIELDS,
                  st.fixed_dictionaries({}, optional={
                      "period": st.fixed_dictionaries({}, optional={"start": st.just("2025-01-01"),
                                                                    "end": st.just("2026-01-01")}),
                      "careTeam": st.just([{"reference": "CareTeam/t"}]), "goal": GOALS,
                      "extension": EXTENSIONS,
                      "activity": st.lists(st.builds(lambda d: {"detail": d}, DETAILS), max_size=3)}))


def _profile_constraints() -> set[tuple[str, str]]:
    found = set()
    for path in PROFILES.glob("ip-*.json"):
        for element in json.loads(path.read_text(encoding="utf-8")).get("differential", {}).get("element", []):
            found |= {(c["key"], c["expression"]) for c in element.get("constraint", [])}
    return found


def test_every_fast_profile_invariant_is_one_a_profile_has() -> None:
    assert set(PROFILE_FAST) <= _profile_constraints()
    assert {key for key, _ in PROFILE_FAST} == set(TYPE_PATH)


def _agrees(key: str, element: dict[str, Any]) -> bool:
    (expression, fast), = [(e, f) for (k, e), f in PROFILE_FAST.items() if k == key]
    verdict = fast(element)
    if verdict is None:
        return False
    assert verdict == holds(expression, element, TYPE_PATH[key], element, empty_passes=False), (key, element)
    return True


@pytest.mark.parametrize("key", ["ip-cp-2", "ip-cp-4", "ip-cp-6", "ip-cp-7", "ip-cp-8"])
@settings(max_examples=250, deadline=None)
@given(plan=PLANS)
def test_plan_invariants_agree_with_the_engine(key: str, plan: dict[str, Any]) -> None:
    _agrees(key, plan)


@pytest.mark.parametrize("key", ["ip-cp-5", "ip-cp-9", "ip-cp-10"])
@settings(max_examples=250, deadline=None)
@given(detail=DETAILS)
def test_measure_invariants_agree_with_the_engine(key: str, detail: dict[str, Any]) -> None:
    _agrees(key, detail)


def test_well_formed_plans_are_decided_without_the_engine() -> None:
    detail = {"status": "in-progress", "extension": [{"url": MEASURE_STATUS, "valueCode": "igangsatt"}],
              "goal": [{"reference": "Goal/a"}]}
    plan = {"resourceType": "CarePlan", "status": "active", "period": {"start": "2025-01-01"},
            "careTeam": [{"reference": "CareTeam/t"}], "goal": [{"reference": "Goal/a"}],
            "extension": [{"url": NEXT_EVALUATION, "valueDate": "2026-01-01"},
                          {"url": LEGAL_BASIS, "valueCodeableConcept": {"text": "x"}}],
            "activity": [{"detail": detail}]}
    for key, element in [*((k, plan) for k in ("ip-cp-2", "ip-cp-4", "ip-cp-6", "ip-cp-7", "ip-cp-8")),
                         *((k, detail) for k in ("ip-cp-5", "ip-cp-9", "ip-cp-10"))]:
        assert _agrees(key, element), key
    wrong_pair = {**detail, "status": "completed"}  # igangsatt/completed is not an allowed pair
    assert _agrees("ip-cp-9", wrong_pair)
