"""Who is calling: the access token of each request, verified, as an Actor.

https://www.rfc-editor.org/rfc/rfc6750 (bearer tokens, WWW-Authenticate)
https://www.rfc-editor.org/rfc/rfc9449 (DPoP: tokens bound to a key the caller proves it holds)
https://build.fhir.org/ig/HL7/smart-app-launch/conformance.html (.well-known/smart-configuration)

Without FHIRIP_JWKS the server is in development mode: it trusts the keys that
`fhirip token` signs with, kept in `<data-dir>/keys/`. Production sets FHIRIP_JWKS,
FHIRIP_ISSUER and FHIRIP_AUDIENCE to the identity provider's (e.g. HelseID).

A token is sent as ``Authorization: Bearer`` or, bound to a key (``cnf.jkt``), as
``Authorization: DPoP`` with a ``DPoP`` proof header. A bound token is never accepted as
Bearer, and with FHIRIP_REQUIRE_DPOP no token is.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import jwt

from fhirip.auth import Actor
from fhirip.auth.challenges import REALM, dpop_challenge, invalid_token
from fhirip.auth.dpop import ALGS, PROOF_ALGORITHMS, ProofVerifier, bound_key
from fhirip.auth.tokens import ENV_ISSUER, ENV_JWKS, AuthSettings, TokenVerifier, credentials
from fhirip.config import Settings
from fhirip.errors import Unauthorized
from fhirip.store import Store
from fhirip.store.replay import SeenOnce

log = logging.getLogger("fhirip.auth")

# Answered without a token: what the server can do, and how to get a token for it.
PUBLIC_PATHS = frozenset({"/metadata", "/.well-known/smart-configuration"})


class Authenticator:
    def __init__(self, settings: Settings, store: Store):
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
        self.bearer_accepted = not self.auth_settings.require_dpop
        self.proofs = ProofVerifier(SeenOnce(store), window_seconds=self.auth_settings.dpop_window_seconds,
                                    clock_skew_seconds=self.auth_settings.clock_skew_seconds,
                                    bearer_also=self.bearer_accepted)

    def actor(self, path: str, authorization: str | None, *, proofs: Sequence[str] = (),
              method: str = "GET", url: str = "") -> Actor | None:
        """The caller; None for the public paths. Raises Unauthorized (401) otherwise.

        ``proofs`` are the request's DPoP header values, ``url`` the request URI as the
        client addressed it (behind the configured base URL), for the proof's htu."""
        if path in PUBLIC_PATHS:
            return None
        scheme, token = credentials(authorization)
        if not scheme:
            raise self._missing()
        if scheme == "bearer":
            return self._bearer(token)
        try:
            claims = self.verifier.verify(token)
            jkt = bound_key(claims)
        except Unauthorized as refused:
            raise self.proofs.refuse_token(_reason(refused)) from None
        except jwt.InvalidTokenError as error:
            raise self.proofs.refuse_token(str(error)) from None
        if jkt is None:
            raise self.proofs.refuse_token("the token is not bound to a key (no cnf.jkt): send it as Bearer")
        self.proofs.verify(proofs, method=method, url=url, access_token=token, jkt=jkt)
        # Only a caller who proved the key learns whether the token's attestation is refused.
        try:
            return self.verifier.actor_for(token, claims)
        except Unauthorized as refused:
            raise self.proofs.refuse_token(_reason(refused)) from None

    def _bearer(self, token: str) -> Actor:
        if not self.bearer_accepted:
            raise self.proofs.refuse_token("this server accepts only DPoP-bound tokens (Authorization: DPoP)")
        claims, actor = self.verifier.verified(token)
        try:
            jkt = bound_key(claims)
        except jwt.InvalidTokenError as error:
            raise invalid_token(str(error)) from None
        if jkt is not None:
            # RFC 9449 §7.2: a bound token is worthless without the proof; never as Bearer.
            raise invalid_token("the token is DPoP-bound (cnf.jkt): send it as 'Authorization: DPoP' with a proof")
        return actor

    def _missing(self) -> Unauthorized:
        dpop = dpop_challenge(algs=ALGS, bearer_also=False)
        challenge = f'Bearer realm="{REALM}", {dpop}' if self.bearer_accepted else dpop
        schemes = "'Authorization: Bearer <token>' or " if self.bearer_accepted else ""
        return Unauthorized(f"This request needs an access token ({schemes}'Authorization: DPoP <token>' "
                            f"with a DPoP proof).", headers={"WWW-Authenticate": challenge})

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
        config["dpop_signing_alg_values_supported"] = list(PROOF_ALGORITHMS)
        config["capabilities"] = capabilities
        return config

    def security_statement(self) -> dict[str, Any]:
        """CapabilityStatement.rest.security."""
        return {
            "cors": self.cors,
            "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                     "code": "SMART-on-FHIR"}]}],
            "description": "JWT (RS256/ES256) from the configured issuer, as Bearer or DPoP-bound (RFC 9449, "
                           + ("Bearer refused" if not self.bearer_accepted else "Bearer also accepted")
                           + "); HelseID claims "
                           "(HPR number, person identifier, organisation number, purpose of use) and SMART v2 "
                           "scopes. Access is decided from the patient's Consent resources on every request.",
        }


def _reason(refused: Unauthorized) -> str:
    """The reason a token was refused, as its Bearer challenge gave it."""
    return refused.diagnostics.split(": ", 1)[-1]
