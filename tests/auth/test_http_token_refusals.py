"""Every forged or unfit bearer token is refused at the HTTP boundary: 401, a Bearer challenge, an outcome.

The verifier's own tests pin each reason; these send the same attacks through the
live server, so a refusal can never turn into a 500 or a 200 on the way out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from fhirip.auth.devkeys import DevKeys
from fhirip.testing.live import Fhir, LiveServer

CLAIMS = {"sub": "hpr-9144900", "client_id": "ehr", "scope": "user/*.rs",
          "helseid://claims/hpr/hpr_number": "9144900"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64_json(value: Any) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def _payload(token: str) -> dict[str, Any]:
    segment = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def alg_none(keys: DevKeys) -> str:
    header = {"alg": "none", "kid": keys.kids["RS256"], "typ": "JWT"}
    return f"{_b64_json(header)}.{_b64_json(_payload(keys.mint(CLAIMS)))}."


def hs256_with_the_public_key(keys: DevKeys) -> str:
    public = keys.private_keys["RS256"].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = f"{_b64_json({'alg': 'HS256', 'kid': keys.kids['RS256']})}.{_b64_json(_payload(keys.mint(CLAIMS)))}"
    return f"{signing_input}.{_b64(hmac.new(public, signing_input.encode(), hashlib.sha256).digest())}"


def wrong_kid(keys: DevKeys) -> str:
    return keys.mint(CLAIMS, headers={"kid": "no-such-key"})


def expired(keys: DevKeys) -> str:
    return keys.mint(CLAIMS, now=int(time.time()) - 7200, lifetime=3600)


def not_yet_valid(keys: DevKeys) -> str:
    return keys.mint({**CLAIMS, "nbf": int(time.time()) + 600})


def wrong_audience(keys: DevKeys) -> str:
    return keys.mint({**CLAIMS, "aud": "https://other.example/fhir"})


def wrong_issuer(keys: DevKeys) -> str:
    return keys.mint(CLAIMS, issuer="https://evil.example/")


def tampered_payload(keys: DevKeys) -> str:
    header, payload, signature = keys.mint({**CLAIMS, "scope": "user/Patient.rs"}).split(".")
    widened = {**_payload(f"{header}.{payload}.{signature}"), "scope": "user/*.cruds"}
    return f"{header}.{_b64_json(widened)}.{signature}"


def exp_as_a_string(keys: DevKeys) -> str:
    return keys.mint({**CLAIMS, "exp": str(int(time.time()) + 3600)})


def exp_past_any_date(keys: DevKeys) -> str:
    return keys.mint({**CLAIMS, "exp": 1e300})


def exp_as_a_huge_integer(keys: DevKeys) -> str:
    return keys.mint({**CLAIMS, "exp": 10**40})


ATTACKS: dict[str, Callable[[DevKeys], str]] = {
    "alg-none": alg_none, "hs256-signed-with-the-public-key": hs256_with_the_public_key,
    "wrong-kid": wrong_kid, "expired": expired, "not-yet-valid": not_yet_valid,
    "wrong-audience": wrong_audience, "wrong-issuer": wrong_issuer, "tampered-payload": tampered_payload,
    "exp-as-a-string": exp_as_a_string, "exp-past-any-date": exp_past_any_date,
    "exp-as-a-huge-integer": exp_as_a_huge_integer,
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_unfit_token_is_refused_with_a_challenge(anonymous: Fhir, live_server: LiveServer, attack: str) -> None:
    token = ATTACKS[attack](DevKeys.load_or_create(live_server.services.settings.data_dir))
    for method, path in [("GET", "/Patient"), ("GET", "/CarePlan/any-id"), ("POST", "/")]:
        response = anonymous.request(method, path, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, (attack, method, path, response.text)
        assert response.headers["WWW-Authenticate"].startswith('Bearer realm="fhirip", error="invalid_token"')
        assert response.json()["resourceType"] == "OperationOutcome"


def test_the_same_claims_properly_signed_are_accepted(anonymous: Fhir, live_server: LiveServer) -> None:
    # The control: only what each attack changed makes the difference.
    token = DevKeys.load_or_create(live_server.services.settings.data_dir).mint(CLAIMS)
    assert anonymous.get("/Practitioner", headers={"Authorization": f"Bearer {token}"}).status_code == 200
