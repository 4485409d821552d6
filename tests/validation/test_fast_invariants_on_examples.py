"""The invariants evaluated in Python (`fast_invariants`, `fast_profile_invariants`, both stepping
through `fhirip.fhirpath_simple.present`) give the FHIRPath engine's verdict on realistic
resources: every profile example, valid and invalid, and the demo data, at every element the
validator evaluates them on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fhirip.demo import demo_bundle
from fhirip.fhirpath_simple import children
from fhirip.validation.fast_invariants import FAST
from fhirip.validation.fast_profile_invariants import PROFILE_FAST
from fhirip.validation.fhirpath import holds

EXAMPLES = Path(__file__).resolve().parents[2] / "profiles" / "examples"
RESOURCES = ([json.loads(path.read_text(encoding="utf-8")) for path in sorted(EXAMPLES.glob("ip-*.json"))]
             + [entry["resource"] for entry in demo_bundle()["entry"]])

# Where each invariant is evaluated, as (resource type or None for every resource, element path
# below it); the type path the engine is told is the resource type and that path.
WHERE = {"dom-2": (None, ()), "dom-4": (None, ()), "dom-5": (None, ()), "dom-6": (None, ()),
         "ppc-1": ("Consent", ()), "ppc-2": ("Consent", ()), "ppc-3": ("Consent", ()),
         "ppc-4": ("Consent", ()), "ppc-5": ("Consent", ()), "org-1": ("Organization", ()),
         "cpl-3": ("CarePlan", ("activity",)),
         "ip-cp-2": ("CarePlan", ()), "ip-cp-4": ("CarePlan", ()), "ip-cp-6": ("CarePlan", ()),
         "ip-cp-7": ("CarePlan", ()), "ip-cp-8": ("CarePlan", ()),
         "ip-cp-5": ("CarePlan", ("activity", "detail")), "ip-cp-9": ("CarePlan", ("activity", "detail")),
         "ip-cp-10": ("CarePlan", ("activity", "detail"))}


def _contact_points(value: Any) -> Iterator[dict[str, Any]]:
    """Every ContactPoint in the resource (the `telecom` elements, wherever they are)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "telecom":
                yield from (point for point in children([value], "telecom") if isinstance(point, dict))
            else:
                yield from _contact_points(item)
    elif isinstance(value, list):
        for item in value:
            yield from _contact_points(item)


def _places(key: str, resource: dict[str, Any]) -> list[tuple[Any, str]]:
    """(element, type path) pairs the invariant `key` is evaluated on in `resource`."""
    if key == "cpt-2":
        return [(point, "ContactPoint") for point in _contact_points(resource)]
    res_type, path = WHERE[key]
    if res_type is not None and resource.get("resourceType") != res_type:
        return []
    elements = [resource]
    for name in path:
        elements = children(elements, name)
    return [(element, ".".join((resource["resourceType"], *path))) for element in elements]


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: f"{r['resourceType']}/{r.get('id', '?')}")
def test_fast_invariants_agree_with_the_engine_on_realistic_resources(resource: dict[str, Any]) -> None:
    checked = 0
    for (key, expression), fast in sorted(FAST.items()):
        for element, type_path in _places(key, resource):
            assert fast(element) is holds(expression, element, type_path, resource, empty_passes=True), key
            checked += 1
    for (key, expression), profile_fast in sorted(PROFILE_FAST.items()):
        for element, type_path in _places(key, resource):
            verdict = profile_fast(element)
            if verdict is not None:  # undecided: the engine evaluates it
                assert verdict == holds(expression, element, type_path, resource, empty_passes=False), key
                checked += 1
    assert checked >= 4  # the four DomainResource invariants at least


def test_every_fast_invariant_meets_a_realistic_element() -> None:
    keys = {key for key, _ in (*FAST, *PROFILE_FAST)}
    met = {key for key in keys for resource in RESOURCES if _places(key, resource)}
    assert met == keys
