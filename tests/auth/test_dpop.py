"""The proof checker in process: any bytes a client sends end in Unauthorized, never another error."""

from __future__ import annotations

import random

from cryptography.hazmat.primitives.asymmetric import ec

from fhirip.auth.devkeys import dpop_proof
from fhirip.auth.dpop import ProofVerifier, jwk_thumbprint, normalized_uri
from fhirip.errors import Unauthorized

URL = "https://fhir.example.no/ip/CarePlan/1"
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."


def test_mangled_proofs_are_refused_and_nothing_else() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    verifier = ProofVerifier(lambda _key, _until: True)
    good = dpop_proof(key, method="GET", url=URL, access_token="t")
    jkt = verifier.check_signature(good)[1]
    chance = random.Random(19)
    for _ in range(3000):
        chars = list(good)
        for _ in range(chance.randint(1, 4)):
            position = chance.randrange(len(chars))
            if chance.random() < 0.2:
                del chars[position]
            else:
                chars[position] = chance.choice(ALPHABET)
        mangled = "".join(chars)
        try:
            verifier.verify([mangled], method="GET", url=URL, access_token="t", jkt=jkt)
        except Unauthorized:
            continue
        # Only the same signed input and signature can pass (a signature's last character may differ
        # in bits base64 ignores).
        parts, original = mangled.split("."), good.split(".")
        assert parts[:2] == original[:2] and _bytes(parts[2]) == _bytes(original[2]), mangled


def _bytes(segment: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def test_thumbprint_follows_rfc_7638() -> None:
    # The example of RFC 7638 §3.1.
    jwk = {"kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29", "n": (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
        "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY"
        "368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0f"
        "M4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")}
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_uris_compare_after_normalisation() -> None:
    assert normalized_uri("HTTPS://Fhir.Example.NO:443/ip/Patient?x=1#y") == "https://fhir.example.no/ip/Patient"
    assert normalized_uri("http://h:8080/a%20b") == "http://h:8080/a b"
    assert normalized_uri("http://h:80") == "http://h/"
    for bad in ("ftp://h/x", "/Patient", "http://h:99999/x", "http://[::1"):
        assert normalized_uri(bad) is None
