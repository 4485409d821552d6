"""Garbage tokens: whatever a client sends, verification ends in Unauthorized, never another exception."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jwt.api_jws import PyJWS

from fhirip.auth.devkeys import DEV_AUDIENCE, DEV_ISSUER, DevKeys
from fhirip.auth.tokens import TokenVerifier
from fhirip.errors import Unauthorized

FUZZ = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


def _segment(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def real_signature(dev_keys: DevKeys) -> str:
    """A genuine RS256 signature, to be pasted under forged headers and payloads."""
    return dev_keys.mint({}).split(".")[2]


def _assert_unauthorized(verifier: TokenVerifier, token: str) -> None:
    with pytest.raises(Unauthorized):
        verifier.verify(token)
    with pytest.raises(Unauthorized):
        verifier.authenticate(f"Bearer {token}")


@FUZZ
@given(st.text(max_size=300))
def test_arbitrary_text_is_unauthorized(verifier: TokenVerifier, token: str) -> None:
    _assert_unauthorized(verifier, token)


@FUZZ
@given(st.lists(st.binary(max_size=120), min_size=1, max_size=6))
def test_arbitrary_base64_segments_are_unauthorized(verifier: TokenVerifier, segments: list[bytes]) -> None:
    token = ".".join(base64.urlsafe_b64encode(s).rstrip(b"=").decode() for s in segments)
    _assert_unauthorized(verifier, token)


@FUZZ
@given(header=json_values, payload=json_values, signature=st.binary(max_size=300))
def test_arbitrary_json_segments_are_unauthorized(verifier: TokenVerifier, header: Any, payload: Any,
                                                  signature: bytes) -> None:
    token = f"{_segment(header)}.{_segment(payload)}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
    _assert_unauthorized(verifier, token)


@FUZZ
@given(header_extra=st.dictionaries(st.sampled_from(["alg", "kid", "typ", "crit", "jku", "x5u", "jwk", "b64"]),
                                    json_values, max_size=4),
       payload=st.dictionaries(st.sampled_from(["exp", "nbf", "iat", "iss", "aud", "sub", "scope"]), json_values,
                               max_size=7))
def test_plausible_headers_with_a_forged_signature_are_unauthorized(
        verifier: TokenVerifier, dev_keys: DevKeys, real_signature: str, header_extra: dict[str, Any],
        payload: dict[str, Any]) -> None:
    header = {"alg": "RS256", "kid": dev_keys.kids["RS256"], **header_extra}
    _assert_unauthorized(verifier, f"{_segment(header)}.{_segment(payload)}.{real_signature}")


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(claims=st.dictionaries(st.sampled_from(["nbf", "iat", "sub", "client_id", "azp", "scope", "role", "name",
                                                "purpose_of_use", "btg_reason",
                                                "helseid://claims/hpr/hpr_number",
                                                "helseid://claims/identity/pid",
                                                "helseid://claims/client/claims/orgnr_parent"]),
                               json_values, max_size=8))
def test_validly_signed_garbage_claims_are_unauthorized_or_an_actor(
        verifier: TokenVerifier, dev_keys: DevKeys, claims: dict[str, Any]) -> None:
    # Even a token signed by the trusted issuer may carry claims of the wrong shape;
    # that must still end as a 401 (or, if the claims happen to be fine, an Actor).
    payload = {"iss": DEV_ISSUER, "aud": DEV_AUDIENCE, "exp": int(time.time()) + 600, **claims}
    # Signed at the JWS level: the JWT encoder itself refuses some of these claim shapes.
    token = PyJWS().encode(json.dumps(payload).encode(), dev_keys.private_keys["RS256"], algorithm="RS256",
                           headers={"kid": dev_keys.kids["RS256"]})
    try:
        actor = verifier.authenticate(f"Bearer {token}")
    except Unauthorized:
        return
    assert actor.sub and actor.kind
