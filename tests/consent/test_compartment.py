"""Which patients' records a resource is in: read from the references the search index reads
Patient targets from, and from no other (a performer or a URL names no one's record)."""

from __future__ import annotations

from typing import Any

import consent_world as world
import pytest

from fhirip.consent.compartment import patients_of
from fhirip.consent.vocabulary import compartment_params
from fhirip.search.index import reference_rows
from fhirip.search.registry import registry

REFERENCES = ["Patient/kari", "Patient/eva/_history/2", "Patient/a/b", "Patient/", "Practitioner/ola",
              "CareTeam/team-kari", "http://example.org/fhir/Patient/kari", "urn:uuid:0d6c-Patient/x",
              "#contained", "", "Patient/x|1", "patient/kari", " Patient/kari"]


def _every_reference(resource: dict[str, Any]) -> frozenset[str]:
    """The patients the index's reference rows name, each reference read in full."""
    found = {resource["id"]} if resource["resourceType"] == "Patient" else set()
    reg = registry()
    for code in compartment_params().get(resource["resourceType"], ()):
        param = reg.get(resource["resourceType"], code)
        extractor = reg.extractor(resource["resourceType"], param) if param is not None else None
        for value in extractor.evaluate(resource) if extractor is not None else ():
            found |= {row["target_id"] for row in reference_rows(value, extractor.resolve_types)
                      if row["target_type"] == "Patient" and row["target_id"]}
    return frozenset(found)


@pytest.mark.parametrize("reference", REFERENCES)
def test_a_resource_is_in_the_records_its_index_rows_name(reference: str) -> None:
    plan = {"resourceType": "CarePlan", "id": "p", "status": "active", "intent": "plan",
            "subject": {"reference": reference}, "activity": [{"detail": {"status": "scheduled", "performer": [
                {"reference": reference}, {"reference": "Practitioner/ola"}, {"identifier": {"value": "1"}}]}}]}
    goal = {"resourceType": "Goal", "id": "g", "subject": {"reference": reference, "type": "Patient"}}
    for resource in (plan, goal):
        assert patients_of(resource) == _every_reference(resource)


def test_every_resource_of_the_consent_world_is_in_the_records_its_index_rows_name() -> None:
    for resource in [*world.records(), *world.audit_records()]:
        assert patients_of(resource) == _every_reference(resource), resource["id"]
