"""The fast path evaluator gives what fhirpathpy gives, on real resources."""

import json
from decimal import Decimal

import pytest
from fhirpathpy import compile as fhirpath_compile
from fhirpathpy.models import models
from ipdata import individual_plan_records

from fhirip.search.paths import simple_path_evaluator
from fhirip.search.registry import _RESOLVE_IS, registry

EXTRA = [
    {"resourceType": "Observation", "id": "o", "status": "final", "code": {"text": "x"},
     "valueQuantity": {"value": 3.5, "unit": "kg"}, "effectivePeriod": {"start": "2020"},
     "subject": {"reference": "Patient/p"}, "component": [{"code": {"text": "c"}, "valueString": "s"}]},
    {"resourceType": "Patient", "id": "p", "deceasedBoolean": False, "multipleBirthInteger": 2,
     "name": [{"family": "A", "given": ["B", "C"]}], "telecom": [{"system": "phone", "value": "1"}],
     "address": [{"city": "Oslo", "line": ["a", "b"]}], "meta": {"tag": [{"code": "t"}]}},
    # choice elements picked by type with ofType(...)
    {"resourceType": "Goal", "id": "g", "lifecycleStatus": "active", "description": {"text": "x"},
     "subject": {"reference": "Patient/p"}, "startDate": "2021-03-01",
     "target": [{"dueDate": "2022-01-01"}, {"dueDuration": {"value": 3, "unit": "mo"}}]},
    {"resourceType": "Goal", "id": "g2", "lifecycleStatus": "active", "description": {"text": "x"},
     "subject": {"reference": "Patient/p"}, "startCodeableConcept": {"text": "at discharge"}},
    {"resourceType": "Patient", "id": "dead", "deceasedDateTime": "2020-02-02T10:00:00Z"},
]


def normalise(values):
    return json.loads(json.dumps(values, default=lambda v: float(v) if isinstance(v, Decimal) else str(v)))


@pytest.mark.parametrize("resource", individual_plan_records() + EXTRA,
                         ids=lambda r: f"{r['resourceType']}/{r['id']}")
def test_fast_path_agrees_with_fhirpath(resource):
    reg = registry()
    res_type = resource["resourceType"]
    checked = 0
    for code, param in reg.params_for(res_type).items():
        expression = reg.expression(res_type, param)
        if not expression:
            continue
        expression = _RESOLVE_IS.sub("", expression)
        fast = simple_path_evaluator(expression)
        if fast is None:
            continue
        slow = fhirpath_compile(expression, models["r4"])
        assert normalise(fast(resource)) == normalise(slow(resource)), code
        checked += 1
    assert checked > 5
