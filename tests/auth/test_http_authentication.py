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


def test_smart_configuration_publishes_nothing_that_is_not_configured(anonymous: Fhir) -> None:
    """Development keys: no issuer or key set anyone can reach, no endpoints, so no grants."""
    smart = anonymous.get("/.well-known/smart-configuration").json()
    assert None not in smart.values()
    assert "issuer" not in smart and "jwks_uri" not in smart
    assert "token_endpoint" not in smart and "authorization_endpoint" not in smart
    assert smart["grant_types_supported"] == []
    assert "client-confidential-asymmetric" not in smart["capabilities"]
    assert "8080" not in str(smart)
    assert set(smart["scopes_supported"]) == {"patient/*.cruds", "user/*.cruds", "system/*.cruds"}


def test_smart_configuration_publishes_the_configured_issuer_keys_and_endpoints(monkeypatch, tmp_path) -> None:
    from fhirip.config import Settings
    from fhirip.store import Store
    from server.auth import Authenticator

    idp = "https://helseid-sts.test.example"
    store = Store(f"sqlite:///{tmp_path / 'seen-proofs.sqlite3'}")  # where DPoP proofs seen are kept
    monkeypatch.setenv("FHIRIP_JWKS", f"{idp}/.well-known/openid-configuration/jwks")
    monkeypatch.setenv("FHIRIP_ISSUER", idp)
    monkeypatch.setenv("FHIRIP_AUDIENCE", "fhirip")
    only_tokens = Authenticator(Settings(data_dir=tmp_path, token_endpoint=f"{idp}/connect/token"), store)
    smart = only_tokens.smart_configuration()
    assert smart["issuer"] == idp and smart["jwks_uri"] == f"{idp}/.well-known/openid-configuration/jwks"
    assert smart["token_endpoint"] == f"{idp}/connect/token"
    assert smart["grant_types_supported"] == ["client_credentials"] and "authorization_endpoint" not in smart
    assert "client-confidential-asymmetric" in smart["capabilities"]
    both = Authenticator(Settings(data_dir=tmp_path, token_endpoint=f"{idp}/connect/token",
                                  authorization_endpoint=f"{idp}/connect/authorize"), store)
    smart = both.smart_configuration()
    assert smart["authorization_endpoint"] == f"{idp}/connect/authorize"
    assert smart["grant_types_supported"] == ["client_credentials", "authorization_code"]
    assert "ES256" in smart["dpop_signing_alg_values_supported"]
    store.dispose()


def test_token_and_authorization_endpoints_come_from_the_environment(monkeypatch) -> None:
    from fhirip.config import Settings

    monkeypatch.setenv("FHIRIP_TOKEN_ENDPOINT", "https://idp.example/token")
    monkeypatch.setenv("FHIRIP_AUTHORIZATION_ENDPOINT", "https://idp.example/authorize")
    settings = Settings.from_env()
    assert (settings.token_endpoint, settings.authorization_endpoint) == \
        ("https://idp.example/token", "https://idp.example/authorize")
