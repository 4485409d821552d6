"""Who is calling: the bearer JWT of each request, verified, as an Actor.

https://www.rfc-editor.org/rfc/rfc6750 (bearer tokens, WWW-Authenticate)
https://build.fhir.org/ig/HL7/smart-app-launch/conformance.html (.well-known/smart-configuration)

Without FHIRIP_JWKS the server is in development mode: it trusts the keys that
`fhirip token` signs with, kept in `<data-dir>/keys/`. Production sets FHIRIP_JWKS,
FHIRIP_ISSUER and FHIRIP_AUDIENCE to the identity provider's (e.g. HelseID).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from fhirip.auth import Actor
from fhirip.auth.tokens import ENV_ISSUER, ENV_JWKS, AuthSettings, TokenVerifier
from fhirip.config import Settings

log = logging.getLogger("fhirip.auth")

# Answered without a token: what the server can do, and how to get a token for it.
PUBLIC_PATHS = frozenset({"/metadata", "/.well-known/smart-configuration"})


class Authenticator:
    def __init__(self, settings: Settings):
        development = not os.environ.get(ENV_JWKS, "").strip()
        if development:
            log.warning("FHIRIP_JWKS is not set: trusting the development keys in %s/keys",
                        settings.data_dir)
        self.development = development
        self.auth_settings = AuthSettings.from_env(dev_data_dir=settings.data_dir if development else None)
        self.verifier = TokenVerifier(self.auth_settings)
        self.cors = bool(settings.cors_origins)
        self.token_endpoint = settings.token_endpoint
        self.authorization_endpoint = settings.authorization_endpoint

    def actor(self, path: str, authorization: str | None) -> Actor | None:
        """The caller; None for the public paths. Raises Unauthorized (401) otherwise."""
        if path in PUBLIC_PATHS:
            return None
        return self.verifier.authenticate(authorization)

    def smart_configuration(self) -> dict[str, Any]:
        """What a SMART client needs to know, as far as it is configured: the issuer whose
        tokens are trusted (FHIRIP_ISSUER), its key set (FHIRIP_JWKS, when a URL), the token
        and authorization endpoints (FHIRIP_TOKEN_ENDPOINT, FHIRIP_AUTHORIZATION_ENDPOINT)
        with the grants they make possible, and the scopes this server understands.
        Nothing is published that is not configured (the development keys have no issuer
        or key set anyone can reach)."""
        config: dict[str, Any] = {}
        if not self.development or os.environ.get(ENV_ISSUER, "").strip():
            config["issuer"] = self.auth_settings.issuer
        if self.auth_settings.jwks.startswith(("https://", "http://")):
            config["jwks_uri"] = self.auth_settings.jwks
        grants: list[str] = []
        capabilities = ["permission-v1", "permission-v2", "permission-patient", "permission-user"]
        if self.token_endpoint:
            config["token_endpoint"] = self.token_endpoint
            config["token_endpoint_auth_methods_supported"] = ["private_key_jwt"]
            grants.append("client_credentials")
            capabilities.append("client-confidential-asymmetric")
            if self.authorization_endpoint:
                config["authorization_endpoint"] = self.authorization_endpoint
                grants.append("authorization_code")
                capabilities.append("launch-standalone")
        config["grant_types_supported"] = grants
        config["scopes_supported"] = ["patient/*.cruds", "user/*.cruds", "system/*.cruds"]
        config["capabilities"] = capabilities
        return config

    def security_statement(self) -> dict[str, Any]:
        """CapabilityStatement.rest.security."""
        return {
            "cors": self.cors,
            "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                     "code": "SMART-on-FHIR"}]}],
            "description": "Bearer JWT (RS256/ES256) from the configured issuer; HelseID-style claims "
                           "(HPR number, person identifier, organisation number, purpose of use) and SMART v2 "
                           "scopes. Access is decided from the patient's Consent resources on every request.",
        }
