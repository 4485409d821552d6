"""DPoP (RFC 9449) at the HTTP boundary, on both stores: every check of a proof has a request
that fails it and is answered 401 with a DPoP challenge and an OperationOutcome; a good
proof is answered 200. Tokens and proofs are signed with real keys and sent over real HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from fhirip.auth.devkeys import DevKeys, dpop_confirmation, dpop_proof, public_jwk
from fhirip.auth.dpop import access_token_hash
from fhirip.bootstrap import build_services
from fhirip.testing.live import Fhir, LiveServer

CLAIMS = {"sub": "ehr-system", "client_id": "ehr", "scope": "system/*.rs"}
PATH = "/Patient"


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def other_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def bound_token(server: LiveServer, key: Any, **claims: Any) -> str:
    keys = DevKeys.load_or_create(server.services.settings.data_dir)
    return keys.mint({**CLAIMS, "cnf": dpop_confirmation(key), **claims})


def get(client: Fhir, token: str, proof: str | None, *, scheme: str = "DPoP", path: str = PATH,
        method: str = "GET") -> httpx.Response:
    headers = {"Authorization": f"{scheme} {token}"}
    if proof is not None:
        headers["DPoP"] = proof
    return client.request(method, path, headers=headers)


def refused(response: httpx.Response, error: str = "invalid_dpop_proof", words: str = "") -> None:
    assert response.status_code == 401, response.text
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("DPoP "), challenge
    assert f'error="{error}"' in challenge
    assert 'algs="' in challenge
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "login"
    assert words in outcome["issue"][0]["diagnostics"]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64_json(value: Any) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def test_a_good_proof_is_accepted(anonymous: Fhir, live_server: LiveServer, ec_key) -> None:
    token = bound_token(live_server, ec_key)
    proof = dpop_proof(ec_key, method="GET", url=live_server.url + PATH, access_token=token)
    response = get(anonymous, token, proof)
    assert response.status_code == 200, response.text
    assert response.json()["resourceType"] == "Bundle"


def test_a_good_rsa_pss_proof_is_accepted(anonymous: Fhir, live_server: LiveServer, rsa_key) -> None:
    token = bound_token(live_server, rsa_key)
    proof = dpop_proof(rsa_key, method="GET", url=live_server.url + PATH, access_token=token,
                       headers={"alg": "PS256"})
    assert get(anonymous, token, proof).status_code == 200


def test_query_and_fragment_are_not_part_of_htu(anonymous: Fhir, live_server: LiveServer, ec_key) -> None:
    token = bound_token(live_server, ec_key)
    proof = dpop_proof(ec_key, method="GET", url=live_server.url.upper().replace("HTTP://", "http://")
                       + PATH + "#top", access_token=token)
    assert get(anonymous, token, proof, path=PATH + "?name=kari&_count=5").status_code == 200


def test_wrong_htm_is_refused(anonymous: Fhir, live_server: LiveServer, ec_key) -> None:
    token = bound_token(live_server, ec_key)
    proof = dpop_proof(ec_key, method="POST", url=live_server.url + PATH, access_token=token)
    refused(get(anonymous, token, proof), words="htm")


def test_wrong_htu_is_refused(anonymous: Fhir, live_server: LiveServer, ec_key) -> None:
    token = bound_token(live_server, ec_key)
    proof = dpop_proof(ec_key, method="GET", url=live_server.url + "/Observation", access_token=token)
    refused(get(anonymous, token, proof), words="htu")
    elsewhere = dpop_proof(ec_key, method="GET", url="https://other.example.no" + PATH, access_token=token)
    refused(get(anonymous, token, elsewhere), words="htu")


def test_stale_iat_is_refused(anonymous: Fhir, live_server: LiveServer, ec_key) -> None:
    token = bound_token(live_server, ec_key)
    proof = dpop_proof(ec_key, method="GET", url=live_server.url + PATH, access_token=token,
                       now=time.time() - 600)
    refused(get(anonymous, token, proof), words="too old")


def test_future_iat_is_refused(anonymous: Fhir, live_server: LiveServer, ec_key) -> None:
    token = bound_token(live_server, ec_key)
    proof = dpop_proof(ec_key, method="GET", url=live_server.url + PATH, access_token=token,
                       now=time.time() + 600)
    refused(get(anonymous, token, proof), words="future")


def test_missing_or_odd_iat_is_refused(anonymous: Fhir, live_server: LiveServer, ec_key) -> None:
    token = bound_token(live_server, ec_key)
    for iat in ("now", True, None, 1e400):
        proof = dpop_proof(ec_key, method="GET", url=live_server.url + PATH, access_token=token,
                           claims={"iat": iat})
        refused(get(anonymous, token, proof))


def test_a_replayed_proof_is_refused(anonymous: Fhir, live_server: LiveServer, ec_key) -> None:
    token = bound_token(live_server, ec_key)
    proof = dpop_proof(ec_key, method="GET", url=live_server.url + PATH, access_token=token)
    assert get(anonymous, token, proof).status_code == 200
    refused(get(anonymous, token, proof), words="used before")
    # The same jti in a fresh proof is a replay too.
    again = dpop_proof(ec_key, method="GET", url=live_server.url + PATH, access_token=token,
                       jti=json.loads(base64.urlsafe_b64decode(proof.split(".")[1] + "=="))["jti"])
    refused(get(anonymous, token, again), words="used before")


@pytest.fixture
def second_server(live_server: LiveServer) -> Iterator[LiveServer]:
    """Another server, built apart from the first (its own services, pool and verifier), on the
    same database and trusting the same keys: what a second worker process is."""
    server = LiveServer(build_services(live_server.services.settings))
    yield server
    server.stop()


def test_a_proof_replayed_at_another_server_is_refused(anonymous: Fhir, live_server: LiveServer,
                                                       second_server: LiveServer, ec_key) -> None:
    token = bound_token(live_server, ec_key)
    # The two servers answer on different ports: a proof naming the base URL both sit behind.
    for server in (live_server, second_server):
        assert server.services.settings.base_url is None
    first = dpop_proof(ec_key, method="GET", url=live_server.url + PATH, access_token=token)
    assert get(anonymous, token, first).status_code == 200
    replay = dpop_proof(ec_key, method="GET", url=second_server.url + PATH, access_token=token,
                        jti=json.loads(base64.urlsafe_b64decode(first.split(".")[1] + "=="))["jti"])
    with Fhir(base_url=second_server.url, timeout=30) as other:
        refused(get(other, token, replay), words="used before")
        fresh = dpop_proof(ec_key, method="GET", url=second_server.url + PATH, access_token=token)
        assert get(other, token, fresh).status_code == 200
        refused(get(other, token, fresh), words="used before")
    # And back: what the second server saw, the first refuses.
    back = dpop_proof(ec_key, method="GET", url=live_server.url + PATH, access_token=token,
                      jti=json.loads(base64.urlsafe_b64decode(fresh.split(".")[1] + "=="))["jti"])
    refused(get(anonymous, token, back), words="used before")


def test_wrong_ath_is_refused(anonymous: Fhir, live_server: LiveServer, ec_key) -> None:
    token = bound_token(live_server, ec_key)
    other_token = bound_token(live_server, ec_key, sub="someone-else")
    proof = dpop_proof(ec_key, method="GET", url=live_server.url + PATH, access_token=other_token)
    refused(get(anonymous, token, proof), words="ath")
    without = dpop_proof(ec_key, method="GET", url=live_server.url + PATH)
    refused(get(anonymous, token, without), words="ath")


def test_a_proof_by_another_key_than_cnf_jkt_is_refused(anonymous: Fhir, live_server: LiveServer,
                                                         ec_key, other_key) -> None:
    token = bound_token(live_server, ec_key)
    proof = dpop_proof(other_key, method="GET", url=live_server.url + PATH, access_token=token)
    refused(get(anonymous, token, proof), words="cnf.jkt")


def test_a_bound_token_sent_as_bearer_is_refused(anonymous: Fhir, live_server: LiveServer, ec_key) -> None:
    token = bound_token(live_server, ec_key)
    proof = dpop_proof(ec_key, method="GET", url=live_server.url + PATH, access_token=token)
    response = get(anonymous, token, proof, scheme="Bearer")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert "DPoP-bound" in response.json()["issue"][0]["diagnostics"]


def test_an_unbound_token_sent_as_dpop_is_refused(anonymous: Fhir, live_server: LiveServer, ec_key) -> None:
    token = DevKeys.load_or_create(live_server.services.settings.data_dir).mint(CLAIMS)
    proof = dpop_proof(ec_key, method="GET", url=live_server.url + PATH, access_token=token)
    refused(get(anonymous, token, proof), error="invalid_token", words="cnf.jkt")
    assert get(anonymous, token, None, scheme="Bearer").status_code == 200


def test_a_bad_token_under_dpop_gets_a_dpop_invalid_token(anonymous: Fhir, live_server: LiveServer,
                                                          ec_key) -> None:
    token = bound_token(live_server, ec_key, exp=int(time.time()) - 3600, iat=int(time.time()) - 7200,
                        nbf=int(time.time()) - 7200)
    proof = dpop_proof(ec_key, method="GET", url=live_server.url + PATH, access_token=token)
    refused(get(anonymous, token, proof), error="invalid_token", words="expired")


def _unsigned(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    return f"{b64_json(header)}.{b64_json(payload)}.{b64(signature)}"


def _claims(live_server: LiveServer, token: str) -> dict[str, Any]:
    return {"jti": f"j-{time.time_ns()}", "htm": "GET", "htu": live_server.url + PATH,
            "iat": int(time.time()), "ath": access_token_hash(token)}


def test_alg_none_is_refused(anonymous: Fhir, live_server: LiveServer, ec_key) -> None:
    token = bound_token(live_server, ec_key)
    header = {"typ": "dpop+jwt", "alg": "none", "jwk": public_jwk(ec_key)}
    refused(get(anonymous, token, _unsigned(header, _claims(live_server, token))), words="compact JWS")
    refused(get(anonymous, token, _unsigned(header, _claims(live_server, token), b"x")), words="'none'")


def test_hs256_is_refused(anonymous: Fhir, live_server: LiveServer, ec_key) -> None:
    token = bound_token(live_server, ec_key)
    secret = b"a shared secret the client chose"
    header = {"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": b64(secret)}}
    signing_input = f"{b64_json(header)}.{b64_json(_claims(live_server, token))}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    refused(get(anonymous, token, f"{signing_input}.{b64(signature)}"), words="'HS256'")


def test_missing_proof_is_refused(anonymous: Fhir, live_server: LiveServer, ec_key) -> None:
    token = bound_token(live_server, ec_key)
    refused(get(anonymous, token, None), words="no DPoP header")


def test_two_proofs_are_refused(anonymous: Fhir, live_server: LiveServer, ec_key) -> None:
    token = bound_token(live_server, ec_key)
    proofs = [dpop_proof(ec_key, method="GET", url=live_server.url + PATH, access_token=token) for _ in range(2)]
    response = anonymous.get(PATH, headers=[("Authorization", f"DPoP {token}"), ("DPoP", proofs[0]),
                                            ("DPoP", proofs[1])])
    refused(response, words="exactly one")


def test_wrong_typ_is_refused(anonymous: Fhir, live_server: LiveServer, ec_key) -> None:
    token = bound_token(live_server, ec_key)
    proof = dpop_proof(ec_key, method="GET", url=live_server.url + PATH, access_token=token,
                       headers={"typ": "JWT"})
    refused(get(anonymous, token, proof), words="typ")


def test_a_private_jwk_is_refused(anonymous: Fhir, live_server: LiveServer, ec_key) -> None:
    from jwt.algorithms import ECAlgorithm

    token = bound_token(live_server, ec_key)
    private = ECAlgorithm.to_jwk(ec_key, as_dict=True)
    proof = dpop_proof(ec_key, method="GET", url=live_server.url + PATH, access_token=token,
                       headers={"jwk": private})
    refused(get(anonymous, token, proof), words="public key")


def test_a_signature_by_another_key_than_the_jwk_is_refused(anonymous: Fhir, live_server: LiveServer,
                                                            ec_key, other_key) -> None:
    token = bound_token(live_server, ec_key)
    proof = dpop_proof(other_key, method="GET", url=live_server.url + PATH, access_token=token,
                       headers={"jwk": public_jwk(ec_key)})
    refused(get(anonymous, token, proof), words="signature")


def test_garbage_proofs_are_refused_never_a_500(anonymous: Fhir, live_server: LiveServer, ec_key) -> None:
    token = bound_token(live_server, ec_key)
    for proof in ("x", "a.b.c", f"{b64(b'[1]')}.{b64(b'{}')}.{b64(b'x')}",
                  f"{b64_json({'typ': 'dpop+jwt', 'alg': 'ES256', 'jwk': {'kty': 'EC', 'crv': 'P-256', 'x': 'AA', 'y': 'AA'}})}.e30.AA",
                  f"{b64_json({'typ': 'dpop+jwt', 'alg': 'RS256', 'jwk': {'kty': 'RSA', 'n': 'AQAB', 'e': 'AQAB'}})}.e30.AA"):
        refused(anonymous.get(PATH, headers={"Authorization": f"DPoP {token}", "DPoP": proof}))


def test_without_credentials_both_schemes_are_offered(anonymous: Fhir) -> None:
    response = anonymous.get(PATH)
    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="fhirip", DPoP realm="fhirip", algs="')


@pytest.fixture
def dpop_only(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    """A server with FHIRIP_REQUIRE_DPOP=true, behind a public base URL, on the same database."""
    monkeypatch.setenv("FHIRIP_REQUIRE_DPOP", "true")
    settings = replace(live_server.services.settings, base_url="https://fhir.example.no/ip")
    server = LiveServer(build_services(settings))
    yield server
    server.stop()


def test_require_dpop_refuses_bearer(dpop_only: LiveServer, ec_key) -> None:
    keys = DevKeys.load_or_create(dpop_only.services.settings.data_dir)
    plain = keys.mint(CLAIMS)
    with Fhir(base_url=dpop_only.url, timeout=30) as client:
        response = get(client, plain, None, scheme="Bearer")
        refused(response, error="invalid_token", words="only DPoP")
        assert "Bearer" not in response.headers["WWW-Authenticate"]
        missing = client.get(PATH)
        assert missing.status_code == 401
        assert missing.headers["WWW-Authenticate"].startswith("DPoP ")
        token = bound_token(dpop_only, ec_key)
        proof = dpop_proof(ec_key, method="GET", url="https://fhir.example.no/ip" + PATH, access_token=token)
        assert get(client, token, proof).status_code == 200


def test_htu_is_the_uri_behind_the_base_url(dpop_only: LiveServer, ec_key) -> None:
    token = bound_token(dpop_only, ec_key)
    with Fhir(base_url=dpop_only.url, timeout=30) as client:
        # The address the server listens on is not the one the client addressed.
        direct = dpop_proof(ec_key, method="GET", url=dpop_only.url + PATH, access_token=token)
        refused(get(client, token, direct), words="https://fhir.example.no/ip/Patient")
        default_port = dpop_proof(ec_key, method="GET", url="HTTPS://FHIR.example.no:443/ip" + PATH,
                                  access_token=token)
        assert get(client, token, default_port).status_code == 200
