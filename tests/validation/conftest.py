"""Shared fixtures: one Validator per configuration (loading definitions costs ~100 ms)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fhirip.terminology import TerminologyService
from fhirip.validation import Validator

EXAMPLES = Path(__file__).resolve().parents[2] / "profiles" / "examples"


@pytest.fixture(scope="session")
def expectations() -> dict:
    return json.loads((EXAMPLES / "expectations.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def terminology() -> TerminologyService:
    return TerminologyService()


@pytest.fixture(scope="session")
def example_validator(expectations: dict, terminology: TerminologyService) -> Validator:
    return Validator(allow_synthetic_identifiers=expectations["allow_synthetic_identifiers"],
                     terminology=terminology)


@pytest.fixture(scope="session")
def strict_validator() -> Validator:
    return Validator()
