"""Every profile's valid examples pass and each invalid example fails with its expected issue."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fhirip.validation import Validator

EXAMPLES = Path(__file__).resolve().parents[2] / "profiles" / "examples"


def load_example(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))

VALID = sorted(p.name for p in EXAMPLES.glob("ip-*-valid-*.json"))
INVALID = sorted(p.name for p in EXAMPLES.glob("ip-*-invalid-*.json"))


def errors(validator: Validator, resource: dict) -> list:
    return [i for i in validator.validate(resource) if i.severity in ("error", "fatal")]


@pytest.mark.parametrize("name", VALID)
def test_valid_example_has_no_issue_at_all(example_validator: Validator, name: str) -> None:
    issues = example_validator.validate(load_example(name))
    assert [i.to_json() for i in issues] == []


@pytest.mark.parametrize("name", INVALID)
def test_invalid_example_fails_with_the_expected_issue(example_validator: Validator,
                                                       expectations: dict, name: str) -> None:
    expected = expectations["invalid"][name]
    found = errors(example_validator, load_example(name))
    assert any(expected["expression"] in issue.expression and expected["rule"] in issue.diagnostics
               for issue in found), (expected, [i.to_json() for i in found])


def test_every_invalid_example_has_an_expectation(expectations: dict) -> None:
    assert sorted(expectations["invalid"]) == INVALID


def test_every_profile_has_valid_and_invalid_examples(example_validator: Validator) -> None:
    for sd in example_validator.all_profiles():
        if sd["type"] == "Extension":
            continue
        assert any(n.startswith(sd["id"] + "-valid-") for n in VALID), sd["id"]
        assert any(n.startswith(sd["id"] + "-invalid-") for n in INVALID), sd["id"]
