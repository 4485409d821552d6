"""Bearer JWT verification: good tokens pass, every known attack is a 401 and never a crash."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from fhirip.auth.actor import ActorKind
from fhirip.auth.devkeys import DEV_AUDIENCE, DEV_ISSUER, DevKeys, person_claims
from fhirip.auth.tokens import MAX_TOKEN_LENGTH, AuthSettings, TokenVerifier, bearer_token
from fhirip.errors import Unauthorized


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def _unpad(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    return json.loads(_unpad(header)), json.loads(_unpad(payload)), signature


PRACTITIONER = person_claims(practitioner="9144900", org="974589095", scope="user/*.rs")


def rejected(verifier: TokenVerifier, token: str) -> Unauthorized:
    with pytest.raises(Unauthorized) as caught:
        verifier.verify(token)
    error = caught.value
    assert error.status == 401
    assert error.headers["WWW-Authenticate"].startswith('Bearer realm="fhirip", error="invalid_token"')
    return error


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_valid_token_verifies_with_either_algorithm(verifier: TokenVerifier, dev_keys: DevKeys, alg: str) -> None:
    claims = verifier.verify(dev_keys.mint(PRACTITIONER, alg=alg))
    assert claims["helseid://claims/hpr/hpr_number"] == "9144900"
    assert claims["iss"] == DEV_ISSUER


def test_authenticate_maps_the_header_to_an_actor(verifier: TokenVerifier, dev_keys: DevKeys) -> None:
    actor = verifier.authenticate(f"Bearer {dev_keys.mint(PRACTITIONER)}")
    assert actor.kind is ActorKind.PRACTITIONER and actor.org_number == "974589095"


def test_alg_none_is_rejected(verifier: TokenVerifier, dev_keys: DevKeys) -> None:
    header = {"alg": "none", "kid": dev_keys.kids["RS256"], "typ": "JWT"}
    payload = parts(dev_keys.mint(PRACTITIONER))[1]
    for token in (f"{b64url_json(header)}.{b64url_json(payload)}.",
                  f"{b64url_json({**header, 'alg': 'None'})}.{b64url_json(payload)}."):
        assert "not accepted" in rejected(verifier, token).diagnostics


def _hs256(header: dict, payload: dict, secret: bytes) -> str:
    signing_input = f"{b64url_json(header)}.{b64url_json(payload)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def test_hs256_signed_with_the_public_key_is_rejected(verifier: TokenVerifier, dev_keys: DevKeys) -> None:
    payload = parts(dev_keys.mint(PRACTITIONER))[1]
    public = dev_keys.private_keys["RS256"].public_key()
    secrets = [
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1),
        public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
        dev_keys.jwks_path.read_bytes(),
    ]
    for alg in ("HS256", "HS384", "HS512"):
        for secret in secrets:
            token = _hs256({"alg": alg, "kid": dev_keys.kids["RS256"]}, payload, secret)
            assert "not accepted" in rejected(verifier, token).diagnostics


def test_unknown_kid_is_rejected(verifier: TokenVerifier, dev_keys: DevKeys) -> None:
    token = dev_keys.mint(PRACTITIONER, headers={"kid": "no-such-key"})
    assert "unknown key id 'no-such-key'" in rejected(verifier, token).diagnostics


def test_missing_kid_is_rejected(verifier: TokenVerifier, dev_keys: DevKeys) -> None:
    header, payload, signature = dev_keys.mint(PRACTITIONER).split(".")
    decoded = parts(f"{header}.{payload}.{signature}")[0]
    del decoded["kid"]
    assert "no key id" in rejected(verifier, f"{b64url_json(decoded)}.{payload}.{signature}").diagnostics


def test_token_signed_by_an_untrusted_key_under_a_trusted_kid_is_rejected(
        verifier: TokenVerifier, dev_keys: DevKeys, other_keys: DevKeys) -> None:
    for alg in ("RS256", "ES256"):
        token = other_keys.mint(PRACTITIONER, alg=alg, headers={"kid": dev_keys.kids[alg]})
        assert "signature does not verify" in rejected(verifier, token).diagnostics


def test_algorithm_that_does_not_match_the_key_is_rejected(verifier: TokenVerifier, dev_keys: DevKeys) -> None:
    token = dev_keys.mint(PRACTITIONER, alg="ES256", headers={"kid": dev_keys.kids["RS256"]})
    assert "signs with RS256, not ES256" in rejected(verifier, token).diagnostics


def test_expired_token_is_rejected(verifier: TokenVerifier, dev_keys: DevKeys) -> None:
    token = dev_keys.mint(PRACTITIONER, now=int(time.time()) - 7200, lifetime=3600)
    assert "expired" in rejected(verifier, token).diagnostics


def test_token_expired_within_the_clock_skew_is_accepted(verifier: TokenVerifier, dev_keys: DevKeys) -> None:
    token = dev_keys.mint({**PRACTITIONER, "exp": int(time.time()) - 20})
    assert verifier.verify(token)["exp"] < time.time()


def test_token_expired_just_past_the_clock_skew_is_rejected(verifier: TokenVerifier, dev_keys: DevKeys) -> None:
    token = dev_keys.mint({**PRACTITIONER, "exp": int(time.time()) - 40})
    assert "expired" in rejected(verifier, token).diagnostics


def test_token_not_yet_valid_is_rejected(verifier: TokenVerifier, dev_keys: DevKeys) -> None:
    token = dev_keys.mint({**PRACTITIONER, "nbf": int(time.time()) + 600}, lifetime=3600)
    assert "not yet valid" in rejected(verifier, token).diagnostics


def test_token_issued_in_the_future_is_rejected(verifier: TokenVerifier, dev_keys: DevKeys) -> None:
    token = dev_keys.mint(PRACTITIONER, now=int(time.time()) + 600)
    assert "not yet valid" in rejected(verifier, token).diagnostics


def test_nbf_within_the_clock_skew_is_accepted(verifier: TokenVerifier, dev_keys: DevKeys) -> None:
    now = int(time.time())
    token = dev_keys.mint({**PRACTITIONER, "nbf": now + 20, "iat": now + 20})
    assert verifier.verify(token)["nbf"] > time.time()


def test_clock_skew_is_configurable(dev_keys: DevKeys) -> None:
    strict = TokenVerifier(AuthSettings(str(dev_keys.jwks_path), DEV_ISSUER, DEV_AUDIENCE, clock_skew_seconds=0))
    token = dev_keys.mint({**PRACTITIONER, "exp": int(time.time()) - 5})
    rejected(strict, token)


def test_wrong_audience_is_rejected(verifier: TokenVerifier, dev_keys: DevKeys) -> None:
    for audience in ("https://other.example/fhir", ["https://other.example/fhir", "api"]):
        token = dev_keys.mint({**PRACTITIONER, "aud": audience})
        assert "wrong audience" in rejected(verifier, token).diagnostics


def test_audience_in_a_list_is_accepted(verifier: TokenVerifier, dev_keys: DevKeys) -> None:
    token = dev_keys.mint({**PRACTITIONER, "aud": ["https://other.example/fhir", DEV_AUDIENCE]})
    assert DEV_AUDIENCE in verifier.verify(token)["aud"]


def test_wrong_issuer_is_rejected(verifier: TokenVerifier, dev_keys: DevKeys) -> None:
    token = dev_keys.mint(PRACTITIONER, issuer="https://evil.example/")
    assert "wrong issuer" in rejected(verifier, token).diagnostics


@pytest.mark.parametrize("claim", ["exp", "iss", "aud"])
def test_token_without_a_required_claim_is_rejected(verifier: TokenVerifier, dev_keys: DevKeys, claim: str) -> None:
    header, payload, _ = parts(dev_keys.mint(PRACTITIONER))
    del payload[claim]
    # Re-sign properly, so that only the missing claim is wrong.
    import jwt
    token = jwt.encode(payload, dev_keys.private_keys["RS256"], algorithm="RS256", headers={"kid": header["kid"]})
    assert f"no '{claim}' claim" in rejected(verifier, token).diagnostics


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_tampered_payload_is_rejected(verifier: TokenVerifier, dev_keys: DevKeys, alg: str) -> None:
    header, payload, signature = dev_keys.mint(person_claims(person="15076500565"), alg=alg).split(".")
    claims = parts(f"{header}.{payload}.{signature}")[1]
    claims["helseid://claims/hpr/hpr_number"] = "9144900"  # try to become a practitioner
    assert "signature does not verify" in rejected(
        verifier, f"{header}.{b64url_json(claims)}.{signature}").diagnostics


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_tampered_signature_is_rejected(verifier: TokenVerifier, dev_keys: DevKeys, alg: str) -> None:
    header, payload, signature = dev_keys.mint(PRACTITIONER, alg=alg).split(".")
    flipped = ("A" if signature[10] != "A" else "B")
    rejected(verifier, f"{header}.{payload}.{signature[:10]}{flipped}{signature[11:]}")
    rejected(verifier, f"{header}.{payload}.")


@pytest.mark.parametrize("token", [
    "", "abc", "a.b", "a.b.c.d.e", "....", "eyJ.eyJ.sig", "not a token at all",
    "e30.e30.", "W10.W10.", "bnVsbA.bnVsbA.", "IjEi.IjEi.",
])
def test_malformed_token_is_rejected(verifier: TokenVerifier, token: str) -> None:
    with pytest.raises(Unauthorized):
        verifier.verify(token)


def test_encrypted_token_form_is_rejected(verifier: TokenVerifier, dev_keys: DevKeys) -> None:
    header, payload, signature = dev_keys.mint(PRACTITIONER).split(".")
    assert "malformed" in rejected(verifier, f"{header}.{payload}.{signature}.x.y").diagnostics


def test_critical_header_is_rejected(verifier: TokenVerifier, dev_keys: DevKeys) -> None:
    token = dev_keys.mint({**PRACTITIONER}, headers={"crit": ["exp"]})
    assert "critical" in rejected(verifier, token).diagnostics


def test_oversized_token_is_rejected(verifier: TokenVerifier, dev_keys: DevKeys) -> None:
    token = dev_keys.mint({**PRACTITIONER, "padding": "x" * MAX_TOKEN_LENGTH})
    assert "longer than" in rejected(verifier, token).diagnostics


def test_malformed_identity_claim_is_rejected(verifier: TokenVerifier, dev_keys: DevKeys) -> None:
    token = dev_keys.mint({**PRACTITIONER, "helseid://claims/hpr/hpr_number": ["9144900"]})
    with pytest.raises(Unauthorized) as caught:
        verifier.authenticate(f"Bearer {token}")
    assert "hpr_number" in caught.value.diagnostics


def test_missing_authorization_gets_a_bare_challenge() -> None:
    for header in (None, "", "   ", "Basic dXNlcjpwYXNz"):
        with pytest.raises(Unauthorized) as caught:
            bearer_token(header)
        assert caught.value.headers == {"WWW-Authenticate": 'Bearer realm="fhirip"'}


def test_malformed_bearer_header_is_an_invalid_request() -> None:
    for header in ("Bearer", "Bearer  ", "Bearer a b"):
        with pytest.raises(Unauthorized) as caught:
            bearer_token(header)
        assert 'error="invalid_request"' in caught.value.headers["WWW-Authenticate"]


def test_bearer_scheme_is_case_insensitive() -> None:
    assert bearer_token("bearer abc.def.ghi") == "abc.def.ghi"


def test_challenge_never_carries_quotes_or_control_characters(verifier: TokenVerifier, dev_keys: DevKeys) -> None:
    token = dev_keys.mint(PRACTITIONER, headers={"kid": 'x" , error="none\r\nSet-Cookie: a=b'})
    challenge = rejected(verifier, token).headers["WWW-Authenticate"]
    description = challenge.split('error_description="', 1)[1]
    assert description.count('"') == 1 and description.endswith('"')
    assert "\r" not in challenge and "\n" not in challenge


def test_error_renders_as_an_operation_outcome(verifier: TokenVerifier) -> None:
    outcome = rejected(verifier, "a.b.c").outcome()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "login"


def test_verified_token_is_remembered_until_its_expiry(dev_keys: DevKeys) -> None:
    verifier = TokenVerifier(AuthSettings(str(dev_keys.jwks_path), DEV_ISSUER, DEV_AUDIENCE, clock_skew_seconds=0))
    token = dev_keys.mint({**PRACTITIONER, "exp": int(time.time()) + 2})
    first = verifier.authenticate(f"Bearer {token}")
    assert verifier.authenticate(f"Bearer {token}") is first  # served from the cache
    time.sleep(2.1)
    with pytest.raises(Unauthorized, match="expired"):
        verifier.authenticate(f"Bearer {token}")


@pytest.mark.parametrize("exp", [10 ** 400, 10 ** 40, 1e300, "4102444800"])
def test_an_expiry_that_is_no_numeric_date_is_refused_without_overflow(
        verifier: TokenVerifier, dev_keys: DevKeys, exp: object) -> None:
    token = dev_keys.mint({**PRACTITIONER, "exp": exp})
    for _ in range(2):  # and never from the cache
        with pytest.raises(Unauthorized, match="NumericDate"):
            verifier.verify(token)


def test_an_expiry_in_the_year_9999_is_a_numeric_date(verifier: TokenVerifier, dev_keys: DevKeys) -> None:
    assert verifier.verify(dev_keys.mint({**PRACTITIONER, "exp": 253402300799}))["exp"] == 253402300799


def test_without_a_cache_every_request_is_verified(dev_keys: DevKeys) -> None:
    verifier = TokenVerifier(AuthSettings(str(dev_keys.jwks_path), DEV_ISSUER, DEV_AUDIENCE), cache_seconds=0)
    header = f"Bearer {dev_keys.mint(PRACTITIONER)}"
    assert verifier.authenticate(header) == verifier.authenticate(header)
    assert verifier.authenticate(header) is not verifier.authenticate(header)
