"""Trusted keys: only RS256/ES256 signature keys count; file and URL sources reload on an unknown kid."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from fhirip.auth.devkeys import DEV_AUDIENCE, DEV_ISSUER, DevKeys, person_claims
from fhirip.auth.jwks import JwksError, KeySet, parse_jwks
from fhirip.auth.tokens import AuthSettings, TokenVerifier
from fhirip.errors import Unauthorized

CLAIMS = person_claims(person="15076500565")


def _jwks(keys: DevKeys) -> dict[str, Any]:
    return json.loads(keys.jwks_path.read_text())


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_symmetric_keys_are_never_trusted() -> None:
    document = {"keys": [{"kty": "oct", "kid": "hmac", "k": "c2VjcmV0", "alg": "HS256"}]}
    assert parse_jwks(document, "test") == {}


def test_rsa_keys_below_2048_bits_are_ignored() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    jwk = {**RSAAlgorithm.to_jwk(weak, as_dict=True), "kid": "weak"}
    assert parse_jwks({"keys": [jwk]}, "test") == {}


def test_key_declaring_another_algorithm_is_ignored(dev_keys: DevKeys) -> None:
    keys = _jwks(dev_keys)["keys"]
    declared_otherwise = [{**jwk, "alg": "RS512" if jwk["kty"] == "RSA" else "ES384"} for jwk in keys]
    assert parse_jwks({"keys": declared_otherwise}, "test") == {}


def test_encryption_keys_and_keys_without_kid_are_ignored(dev_keys: DevKeys) -> None:
    rsa_jwk = next(jwk for jwk in _jwks(dev_keys)["keys"] if jwk["kty"] == "RSA")
    without_kid = {name: value for name, value in rsa_jwk.items() if name != "kid"}
    assert parse_jwks({"keys": [{**rsa_jwk, "use": "enc"}, without_kid, "junk", {"kty": "RSA", "kid": "x"}]},
                      "test") == {}


def test_dev_jwks_yields_one_key_per_algorithm(dev_keys: DevKeys) -> None:
    keys = parse_jwks(_jwks(dev_keys), "dev")
    assert {key.alg for key in keys.values()} == {"RS256", "ES256"}
    assert set(keys) == set(dev_keys.kids.values())


def test_a_document_that_is_not_a_jwks_is_a_configuration_error(tmp_path: Path) -> None:
    for text in ("[]", '{"keys": 1}', "not json"):
        (tmp_path / "jwks.json").write_text(text)
        with pytest.raises(JwksError, match="jwks.json"):
            KeySet(str(tmp_path / "jwks.json"))
    with pytest.raises(JwksError, match="cannot read"):
        KeySet(str(tmp_path / "missing.json"))


def test_rotated_key_file_is_picked_up_on_an_unknown_kid(tmp_path: Path, dev_keys: DevKeys,
                                                         other_keys: DevKeys) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(_jwks(dev_keys)))
    clock = FakeClock()
    keys = KeySet(str(path), min_refresh_seconds=60, clock=clock)
    verifier = TokenVerifier(AuthSettings(str(path), DEV_ISSUER, DEV_AUDIENCE), keys)
    rotated = other_keys.mint(CLAIMS)
    with pytest.raises(Unauthorized, match="unknown key id"):
        verifier.verify(rotated)

    both = {"keys": _jwks(dev_keys)["keys"] + _jwks(other_keys)["keys"], "padding": "changed size"}
    path.write_text(json.dumps(both))
    with pytest.raises(Unauthorized, match="unknown key id"):
        verifier.verify(rotated)  # within the refresh interval: not re-read yet
    clock.now += 61
    assert verifier.verify(rotated)["sub"] == CLAIMS["sub"]


class _JwksHandler(BaseHTTPRequestHandler):
    document: dict[str, Any] = {}
    requests = 0

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        type(self).requests += 1
        body = json.dumps(type(self).document).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def jwks_server() -> Iterator[tuple[str, type[_JwksHandler]]]:
    handler = type("Handler", (_JwksHandler,), {"document": {"keys": []}, "requests": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks", handler
    finally:
        server.shutdown()
        server.server_close()


def test_jwks_from_a_url_verifies_and_refreshes_at_most_once_per_interval(
        jwks_server: tuple[str, type[_JwksHandler]], dev_keys: DevKeys, other_keys: DevKeys) -> None:
    url, handler = jwks_server
    handler.document = _jwks(dev_keys)
    clock = FakeClock()
    keys = KeySet(url, min_refresh_seconds=30, clock=clock)
    verifier = TokenVerifier(AuthSettings(url, DEV_ISSUER, DEV_AUDIENCE), keys)
    assert verifier.verify(dev_keys.mint(CLAIMS, alg="ES256"))["sub"] == CLAIMS["sub"]
    assert handler.requests == 1

    unknown = other_keys.mint(CLAIMS)
    for _ in range(20):  # a flood of unknown kids must not become a flood of fetches
        with pytest.raises(Unauthorized):
            verifier.verify(unknown)
    assert handler.requests == 1

    handler.document = {"keys": _jwks(dev_keys)["keys"] + _jwks(other_keys)["keys"]}
    clock.now += 31
    assert verifier.verify(unknown)["sub"] == CLAIMS["sub"]
    assert handler.requests == 2


def test_unreachable_jwks_url_rejects_tokens_without_crashing(dev_keys: DevKeys) -> None:
    import socket

    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/jwks"
    verifier = TokenVerifier(AuthSettings(url, DEV_ISSUER, DEV_AUDIENCE), KeySet(url))
    with pytest.raises(Unauthorized, match="unknown key id"):
        verifier.verify(dev_keys.mint(CLAIMS))


def test_stale_url_keys_are_refetched_after_their_maximum_age(
        jwks_server: tuple[str, type[_JwksHandler]], dev_keys: DevKeys) -> None:
    url, handler = jwks_server
    handler.document = _jwks(dev_keys)
    clock = FakeClock()
    keys = KeySet(url, min_refresh_seconds=30, max_age_seconds=600, clock=clock)
    kid = dev_keys.kids["RS256"]
    assert keys.get(kid) is not None and handler.requests == 1
    clock.now += 300
    assert keys.get(kid) is not None and handler.requests == 1
    handler.document = {"keys": []}  # the issuer has withdrawn the key
    clock.now += 301
    assert keys.get(kid) is None and handler.requests == 2
