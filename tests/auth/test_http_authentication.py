"""Authentication at the HTTP boundary: 401 with WWW-Authenticate, public discovery endpoints."""

from __future__ import annotations

from fhirip.testing.live import Fhir, token_for


def test_request_without_token_is_refused_with_a_bearer_challenge(anonymous: Fhir) -> None:
    response = anonymous.get("/Patient")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["resourceType"] == "OperationOutcome"


def test_forged_token_is_refused(anonymous: Fhir) -> None:
    response = anonymous.get("/Patient", headers={"Authorization": "Bearer eyJhbGciOiJub25lIn0.e30."})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_metadata_and_smart_configuration_are_public(anonymous: Fhir) -> None:
    assert anonymous.get("/metadata").json()["resourceType"] == "CapabilityStatement"
    smart = anonymous.get("/.well-known/smart-configuration")
    assert smart.status_code == 200
    assert "permission-v2" in smart.json()["capabilities"]


def test_capability_statement_describes_the_security(anonymous: Fhir) -> None:
    security = anonymous.get("/metadata").json()["rest"][0]["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"


def test_a_token_signed_by_the_trusted_key_is_accepted(anonymous: Fhir, live_server) -> None:
    token = token_for(live_server.services, sub="t", client_id="t", scope="system/*.rs")
    response = anonymous.get("/Patient", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
