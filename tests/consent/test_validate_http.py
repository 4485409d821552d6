"""$validate of a stored instance tells no more than a read or a delete of it would.

An instance the caller may not see is answered as an unknown one, for a plain
validation and for mode=delete alike; mode=delete names only the referrers the
caller may see, as the delete itself does. Real tokens, the real facade, both stores.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from matrix_client import client_for, load_world

from fhirip.testing.live import Fhir, LiveServer


@pytest.fixture
def ingrid(fhir: Fhir, live_server: LiveServer) -> Iterator[Fhir]:
    """A member of Kari's team, in the matrix world: she sees Kari's record, not Jon's."""
    load_world(live_server)
    with client_for(live_server, "practitioner-consented") as client:
        yield client


def _goal(goal_id: str, patient: str) -> dict[str, Any]:
    return {"resourceType": "Goal", "id": goal_id, "lifecycleStatus": "active",
            "subject": {"reference": f"Patient/{patient}"}, "description": {"text": goal_id}}


def test_validating_a_hidden_instance_answers_as_an_unknown_one(ingrid: Fhir) -> None:
    hidden = ingrid.get("/CarePlan/plan-jon/$validate")
    unknown = ingrid.get("/CarePlan/ingen-plan/$validate")
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.text.replace("plan-jon", "X") == unknown.text.replace("ingen-plan", "X")
    assert ingrid.get("/CarePlan/plan-kari/$validate").status_code == 200


def test_validate_delete_of_a_hidden_resource_answers_as_for_an_unknown_one(ingrid: Fhir) -> None:
    hidden = ingrid.get("/CarePlan/plan-jon/$validate?mode=delete")
    unknown = ingrid.get("/CarePlan/ingen-plan/$validate?mode=delete")
    assert hidden.status_code == unknown.status_code == 200
    assert hidden.json() == unknown.json()


def test_validate_delete_names_only_the_referrers_the_caller_may_see(fhir: Fhir, ingrid: Fhir) -> None:
    named = ingrid.get("/CarePlan/plan-kari/$validate?mode=delete").text
    assert "ServiceRequest/sr-kari" in named and "Task/task-kari" in named
    assert "sr-jon" not in named
    # Kari's goal, referred to by Jon's task only: nothing she may not see stops the delete, nor is named
    assert fhir.update(_goal("goal-kari-henvist", "kari")).status_code == 201
    task = fhir.create({"resourceType": "Task", "status": "draft", "intent": "plan",
                        "for": {"reference": "Patient/jon"},
                        "basedOn": [{"reference": "Goal/goal-kari-henvist"}]})
    assert task.status_code == 201, task.text
    outcome = ingrid.get("/Goal/goal-kari-henvist/$validate?mode=delete").json()
    assert [i["code"] for i in outcome["issue"]] == ["informational"]
    assert task.json()["id"] not in orjson.dumps(outcome).decode() and "jon" not in orjson.dumps(outcome).decode()
