"""The simple-FHIRPath core (`fhirip.fhirpath_simple`) gives what the FHIRPath engine gives: for
every search-parameter expression the server registers that it takes, on realistic resources
(the individual-plan records of the search tests, the profile examples, the demo data, AuditEvents
as the trail writes them, choice elements of every kind), and it declines what it cannot evaluate."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fhirpathpy import compile as fhirpath_compile
from fhirpathpy.models import models
from ipdata import individual_plan_records

from fhirip.audit import audit_event
from fhirip.auth.actor import Actor, ActorKind
from fhirip.demo import demo_bundle
from fhirip.fhirpath_simple import CHOICE_NAMES, compile_path, present_at, split_unions
from fhirip.search.registry import _RESOLVE_IS, registry

EXTRA = [
    {"resourceType": "Observation", "id": "o", "status": "final", "code": {"text": "x"},
     "valueQuantity": {"value": 3.5, "unit": "kg"}, "effectivePeriod": {"start": "2020"},
     "subject": {"reference": "Patient/p"}, "component": [{"code": {"text": "c"}, "valueString": "s"}]},
    {"resourceType": "Patient", "id": "p", "deceasedBoolean": False, "multipleBirthInteger": 2,
     "name": [{"family": "A", "given": ["B", "C"]}], "telecom": [{"system": "phone", "value": "1"},
                                                                {"system": "email", "value": "a@b.no"}],
     "address": [{"city": "Oslo", "line": ["a", "b"]}], "meta": {"tag": [{"code": "t"}]}},
    # choice elements picked by type with ofType(...)
    {"resourceType": "Goal", "id": "g", "lifecycleStatus": "active", "description": {"text": "x"},
     "subject": {"reference": "Patient/p"}, "startDate": "2021-03-01",
     "target": [{"dueDate": "2022-01-01"}, {"dueDuration": {"value": 3, "unit": "mo"}}]},
    {"resourceType": "Goal", "id": "g2", "lifecycleStatus": "active", "description": {"text": "x"},
     "subject": {"reference": "Patient/p"}, "startCodeableConcept": {"text": "at discharge"}},
    {"resourceType": "Patient", "id": "dead", "deceasedDateTime": "2020-02-02T10:00:00Z"},
    # a primitive with an extension beside its value, and one with only the extension
    {"resourceType": "Patient", "id": "ext", "birthDate": "1980-01-01",
     "_birthDate": {"extension": [{"url": "http://example.org/time", "valueDateTime": "1980-01-01T10:00:00Z"}]},
     "_gender": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                                "valueCode": "unknown"}]}},
]


def _audit_events() -> list[dict[str, Any]]:
    actor = Actor(sub="9144889", kind=ActorKind.PRACTITIONER, issuer="https://helseid.example",
                  client_id="ehr", scopes=frozenset({"user/*.rs"}))
    read = audit_event(actor, interaction="read", outcome="0", resource_refs=["CarePlan/demo-plan"],
                       patient_refs=["Patient/demo-kari"], request_url="http://x/CarePlan/demo-plan",
                       method="GET", status=200, break_the_glass=False, recorded=datetime(2026, 3, 1, tzinfo=UTC),
                       consent_refs=["Consent/demo-sharing"], client_address="10.0.0.1")
    refused = audit_event(None, interaction="search-type", outcome="4", resource_refs=[], patient_refs=[],
                          request_url="http://x/Patient", method="GET", status=401, break_the_glass=False,
                          recorded=datetime(2026, 3, 1, tzinfo=UTC))
    return [{**read, "id": "a1"}, {**refused, "id": "a2"}]


EXAMPLES = Path(__file__).resolve().parents[2] / "profiles" / "examples"
RESOURCES = (individual_plan_records() + [entry["resource"] for entry in demo_bundle()["entry"]] + EXTRA
             + _audit_events() + [json.loads(path.read_text(encoding="utf-8"))
                                  for path in sorted(EXAMPLES.glob("ip-*.json"))])


def normalise(values: list[Any]) -> Any:
    return json.loads(json.dumps(values, default=lambda v: float(v) if isinstance(v, Decimal) else str(v)))


def registered_expressions() -> dict[str, set[str]]:
    """Every search-parameter expression the server registers, by resource type, as the
    registry evaluates it (the `resolve() is` filters taken off)."""
    reg = registry()
    found: dict[str, set[str]] = {}
    for res_type in reg.resource_types():
        for param in reg.params_for(res_type).values():
            expression = reg.expression(res_type, param)
            if expression:
                found.setdefault(res_type, set()).add(_RESOLVE_IS.sub("", expression))
    return found


EXPRESSIONS = registered_expressions()


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: f"{r['resourceType']}/{r.get('id', '?')}")
def test_every_simple_search_expression_agrees_with_the_engine(resource: dict[str, Any]) -> None:
    checked = 0
    for expression in sorted(EXPRESSIONS.get(resource["resourceType"], ())):
        fast = compile_path(expression)
        if fast is None:
            continue
        slow = fhirpath_compile(expression, models["r4"])
        assert normalise(fast(resource)) == normalise(slow(resource)), expression
        checked += 1
    assert checked > 3


def test_most_registered_expressions_are_simple_and_the_rest_go_to_the_engine() -> None:
    every = {expression for expressions in EXPRESSIONS.values() for expression in expressions}
    simple = {expression for expression in every if compile_path(expression) is not None}
    assert len(simple) > len(every) * 0.6, (len(simple), len(every))
    # What the core declines: anything beyond plain paths, which the engine evaluates.
    for expression in ("CareTeam.participant.where(role.coding.where(code='8').exists()).member",
                       "Observation.value as Quantity", "Patient.name.first()", "Goal.target.due.ofType(Quantity) | x(",
                       "Patient.telecom.where(system='email' and use='work')", "Patient.link.other.resolve()"):
        assert compile_path(expression) is None, expression


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: f"{r['resourceType']}/{r.get('id', '?')}")
def test_presence_is_what_the_engine_counts_as_existing(resource: dict[str, Any]) -> None:
    """`present_at` (the invariants' step) says a path exists exactly when the engine's `exists()`
    does, for every member path of the registered expressions that meets no choice element,
    including primitives carried only by their extension (`_gender`)."""
    res_type = resource["resourceType"]
    paths = {tuple(segment for segment in part.split(".")[1:])
             for expression in EXPRESSIONS.get(res_type, ()) for part in split_unions(expression)
             if part.startswith(res_type + ".") and all(s.isalnum() for s in part.split("."))}
    paths |= {("gender",), ("birthDate",)} if res_type == "Patient" else set()
    checked = 0
    for names in sorted(paths):
        if any(name in CHOICE_NAMES for name in names):
            continue
        engine = fhirpath_compile(".".join((res_type, *names)) + ".exists()", models["r4"])(resource)
        assert engine == [bool(present_at(resource, *names))], names
        checked += 1
    assert checked > 0


def test_a_union_keeps_each_parts_resource_type() -> None:
    both = compile_path("Patient.name.family | Practitioner.name.family")
    assert both is not None
    assert both({"resourceType": "Patient", "name": [{"family": "A"}]}) == ["A"]
    assert both({"resourceType": "Practitioner", "name": [{"family": "B"}]}) == ["B"]
    assert both({"resourceType": "Organization", "name": "C"}) == []
