"""capabilities: GET /metadata, and every interaction it declares actually works.

https://hl7.org/fhir/R4/http.html#capabilities  https://hl7.org/fhir/R4/capabilitystatement.html
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_checks import assert_outcome, id_from_location, data_versions

# A minimal valid instance of some types, to drive the instance-level interactions.
EXAMPLES: dict[str, dict[str, Any]] = {
    "Patient": {"resourceType": "Patient", "name": [{"family": "Nordmann"}]},
    "Organization": {"resourceType": "Organization", "name": "Helse Nord"},
    "Practitioner": {"resourceType": "Practitioner", "name": [{"family": "Lege"}]},
    "Observation": {"resourceType": "Observation", "status": "final", "code": {"text": "puls"}},
    "Basic": {"resourceType": "Basic", "code": {"text": "notat"}},
}


@pytest.fixture
def statement(fhir) -> dict[str, Any]:
    response = fhir.get("/metadata")
    assert response.status_code == 200
    return response.json()


def _resources(statement: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["type"]: entry for entry in statement["rest"][0]["resource"]}


def _codes(entry: dict[str, Any]) -> list[str]:
    return [i["code"] for i in entry.get("interaction", [])]


def test_metadata_is_an_r4_capability_statement(statement):
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    assert statement["kind"] == "instance"
    assert statement["status"] == "active"
    assert "application/fhir+json" in statement["format"] or "json" in statement["format"]
    assert "application/json-patch+json" in statement.get("patchFormat", [])
    assert statement["rest"][0]["mode"] == "server"


def test_metadata_needs_no_token(anonymous):
    response = anonymous.get("/metadata")
    assert response.status_code == 200
    assert response.json()["fhirVersion"] == "4.0.1"


def test_metadata_declares_the_core_types_with_their_interactions(statement):
    resources = _resources(statement)
    for res_type in EXAMPLES:
        assert res_type in resources, res_type
        assert {"read", "vread", "update", "patch", "delete", "history-instance", "history-type",
                "create", "search-type"} <= set(_codes(resources[res_type])), res_type


def test_every_declared_type_answers_its_type_level_interactions(fhir, statement):
    for res_type, entry in _resources(statement).items():
        codes = _codes(entry)
        if "history-type" in codes:
            response = fhir.get(f"/{res_type}/_history", params={"_count": "0"})
            assert response.status_code == 200, (res_type, response.text)
            assert response.json()["type"] == "history"
        if "search-type" in codes:
            response = fhir.get(f"/{res_type}", params={"_count": "0"})
            assert response.status_code == 200, (res_type, response.text)
            assert response.json()["type"] == "searchset"
        if "read" in codes:
            assert_outcome(fhir.get(f"/{res_type}/not-there"), 404)


def _drive(fhir, res_type: str, codes: list[str]) -> None:
    """Run each declared interaction on a fresh instance and check what the spec says it does."""
    example = EXAMPLES[res_type]
    state: dict[str, Any] = {}

    def create() -> None:
        response = fhir.create(example)
        assert response.status_code == 201, response.text
        state["id"] = id_from_location(response.headers["Location"])

    def read() -> None:
        assert fhir.get(f"/{res_type}/{state['id']}").status_code == 200

    def vread() -> None:
        response = fhir.get(f"/{res_type}/{state['id']}/_history/1")
        assert response.status_code == 200 and response.json()["meta"]["versionId"] == "1"

    def update() -> None:
        current = fhir.get(f"/{res_type}/{state['id']}").json()
        response = fhir.update({**current, "id": state["id"]})
        assert response.status_code == 200, response.text
        fresh = fhir.update({**example, "id": f"{res_type.lower()}-client-id"})
        assert fresh.status_code == 201, fresh.text  # updateCreate

    def patch() -> None:
        response = fhir.patch(f"/{res_type}/{state['id']}", content=b'[{"op": "test", "path": "/id", "value": "'
                              + state["id"].encode() + b'"}]',
                              headers={"Content-Type": "application/json-patch+json"})
        assert response.status_code == 200, response.text

    def history_instance() -> None:
        response = fhir.get(f"/{res_type}/{state['id']}/_history")
        assert response.status_code == 200 and response.json()["total"] >= 1

    def history_type() -> None:
        assert fhir.get(f"/{res_type}/_history").json()["total"] >= 1

    def search_type() -> None:
        bundle = fhir.get(f"/{res_type}", params={"_id": state["id"]}).json()
        assert [e["resource"]["id"] for e in bundle.get("entry", [])] == [state["id"]]

    def delete() -> None:
        assert fhir.delete(f"/{res_type}/{state['id']}").status_code in (200, 204)
        assert fhir.get(f"/{res_type}/{state['id']}").status_code == 410

    drivers: dict[str, Callable[[], None]] = {
        "create": create, "read": read, "vread": vread, "update": update, "patch": patch,
        "history-instance": history_instance, "history-type": history_type,
        "search-type": search_type, "delete": delete}
    undriven = set(codes) - set(drivers)
    assert not undriven, f"{res_type} declares interactions this test cannot check: {undriven}"
    create()
    for code in ["read", "vread", "update", "patch", "history-instance", "history-type", "search-type", "delete"]:
        if code in codes:
            drivers[code]()


@pytest.mark.parametrize("res_type", sorted(EXAMPLES))
def test_every_declared_instance_interaction_works(fhir, statement, res_type):
    entry = _resources(statement)[res_type]
    assert "create" in _codes(entry)
    _drive(fhir, res_type, _codes(entry))


def test_every_declared_system_interaction_works(fhir, statement):
    codes = {i["code"] for i in statement["rest"][0].get("interaction", [])}
    assert {"transaction", "batch", "history-system"} <= codes
    for kind in ("transaction", "batch"):
        if kind in codes:
            bundle = {"resourceType": "Bundle", "type": kind, "entry": [
                {"request": {"method": "POST", "url": "Patient"}, "resource": EXAMPLES["Patient"]}]}
            response = fhir.send_json("POST", "/", bundle)
            assert response.status_code == 200, response.text
            assert response.json()["type"] == f"{kind}-response"
    if "history-system" in codes:
        assert data_versions(fhir) == 2
    if "search-system" in codes:
        response = fhir.get("/", params={"_type": "Patient"})
        assert response.status_code == 200, response.text
        assert response.json()["type"] == "searchset"


def test_declared_flags_match_behaviour(fhir, statement):
    patient = _resources(statement)["Patient"]
    if patient.get("updateCreate"):
        assert fhir.update({**EXAMPLES["Patient"], "id": "flag-check"}).status_code == 201
    if "enforced" in patient.get("referencePolicy", []):
        dangling = {**EXAMPLES["Observation"], "subject": {"reference": "Patient/absent"}}
        assert_outcome(fhir.create(dangling), 422)
    if patient.get("versioning") in ("versioned", "versioned-update"):
        assert fhir.get("/Patient/flag-check/_history/1").status_code == 200
    if patient.get("versioning") == "versioned-update":
        assert_outcome(fhir.update({**EXAMPLES["Patient"], "id": "flag-check"}, **{"If-Match": 'W/"9"'}), 412)


def test_a_type_the_statement_does_not_declare_is_404(fhir, statement):
    assert "Pasient" not in _resources(statement)
    assert_outcome(fhir.get("/Pasient"), 404)


def test_audit_events_are_declared_append_only_as_they_are(fhir, statement):
    """A system client may add an AuditEvent (its own disclosures); nobody may change or delete one."""
    audit = _resources(statement)["AuditEvent"]
    assert set(_codes(audit)) == {"read", "vread", "history-instance", "history-type", "search-type", "create"}
    assert not audit["updateCreate"] and audit["conditionalCreate"] and not audit["conditionalUpdate"]
    assert audit["conditionalDelete"] == "not-supported"


def test_only_r4_resource_types_are_declared(statement):
    declared = set(_resources(statement))
    assert "SubscriptionStatus" not in declared and "Subscription" in declared
    subscription = _resources(statement)["Subscription"]
    assert {op["name"] for op in subscription["operation"]} >= {"status", "events"}
    assert "rest-hook" in subscription["documentation"]


def test_a_type_that_is_not_in_r4_is_not_known(fhir):
    assert_outcome(fhir.get("/SubscriptionStatus"), 404)
