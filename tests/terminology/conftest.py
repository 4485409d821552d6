"""Shared fixture: one TerminologyService over the real terminology/ files and base definitions."""

from __future__ import annotations

import pytest

from fhirip.terminology import TerminologyService


@pytest.fixture(scope="session")
def service() -> TerminologyService:
    return TerminologyService()
