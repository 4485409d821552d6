"""DPoP proofs (RFC 9449): a sender-constrained access token proves, on every request, that
the caller holds the private key the token is bound to.

https://www.rfc-editor.org/rfc/rfc9449#section-4.3 (checking a proof)
https://www.rfc-editor.org/rfc/rfc9449#section-7 (at a protected resource)
https://www.rfc-editor.org/rfc/rfc7638 (JWK thumbprint)

A proof is a JWS with ``typ: dpop+jwt``, signed with an asymmetric algorithm by the key in
its own ``jwk`` header (public members only), whose claims name the request (``htm``,
``htu``), its time (``iat``), a one-time id (``jti``) and the hash of the access token
(``ath``). The token's ``cnf.jkt`` names the key by its thumbprint. Every failure is an
:class:`fhirip.errors.Unauthorized` with a ``DPoP`` challenge; nothing a client sends
surfaces as another exception.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm, RSAPSSAlgorithm, get_default_algorithms

from fhirip.auth.challenges import dpop_invalid_token, invalid_dpop_proof
from fhirip.errors import Unauthorized

PROOF_TYPE = "dpop+jwt"
# The asymmetric algorithms HelseID's clients use; never "none", never an HMAC.
PROOF_ALGORITHMS = ("ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512")
ALGS = " ".join(PROOF_ALGORITHMS)
DEFAULT_WINDOW_SECONDS = 60.0
MAX_PROOF_LENGTH = 8192
MAX_JTI_LENGTH = 256
MIN_RSA_BITS = 2048

_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
# Members of a JWK that only a private (or symmetric) key has.
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_COMPACT_JWS = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
_ALGORITHMS = {name: algorithm for name, algorithm in get_default_algorithms().items() if name in PROOF_ALGORITHMS}

# Records a proof as used: (key, valid until) -> True the first time, False for a replay.
FirstUse = Callable[[str, datetime], bool]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(segment: str) -> bytes:
    """A base64url segment of a JWS (already known to hold only the alphabet); ValueError if its length is odd."""
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order."""
    kty = jwk.get("kty")
    required = ("e", "kty", "n") if kty == "RSA" else ("crv", "kty", "x", "y")
    canonical = json.dumps({name: jwk[name] for name in required}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def access_token_hash(token: str) -> str:
    """The ``ath`` of a proof sent with this access token: base64url(SHA-256(token))."""
    return b64url(hashlib.sha256(token.encode("ascii")).digest())


def normalized_uri(uri: str) -> str | None:
    """An http(s) URI without query and fragment, with scheme and host in lower case, the
    default port dropped and the path percent-decoded (RFC 3986 §6.2.2-6.2.3); None if it
    is not an absolute http(s) URI."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != (80 if scheme == "http" else 443):
        host = f"{host}:{port}"
    return f"{scheme}://{host}{unquote(parts.path) or '/'}"


def bound_key(claims: Mapping[str, Any]) -> str | None:
    """The thumbprint a token is bound to (``cnf.jkt``), None for an unbound token."""
    cnf = claims.get("cnf")
    if cnf is None:
        return None
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    if not isinstance(jkt, str) or not re.fullmatch(r"[A-Za-z0-9_-]{43}", jkt):
        raise jwt.InvalidTokenError("the token's cnf claim must hold a jkt (a SHA-256 JWK thumbprint)")
    return jkt


class ProofVerifier:
    """Checks DPoP proofs against the request they came with and the token they accompany.

    ``first_use`` records a proof's jti (under its key's thumbprint) where every server
    process sees it, and says whether it is new. A proof is accepted from ``clock_skew``
    seconds before its ``iat`` until ``window`` seconds (plus the skew) after it, and the
    jti is kept that long.
    """

    def __init__(self, first_use: FirstUse, *, window_seconds: float = DEFAULT_WINDOW_SECONDS,
                 clock_skew_seconds: float = 5.0, bearer_also: bool = True,
                 clock: Callable[[], float] = time.time) -> None:
        self._first_use = first_use
        self.window = window_seconds
        self.skew = clock_skew_seconds
        self.bearer_also = bearer_also
        self._clock = clock

    def refuse(self, description: str) -> Unauthorized:
        return invalid_dpop_proof(description, algs=ALGS, bearer_also=self.bearer_also)

    def refuse_token(self, description: str) -> Unauthorized:
        return dpop_invalid_token(description, algs=ALGS, bearer_also=self.bearer_also)

    def verify(self, proofs: Sequence[str], *, method: str, url: str, access_token: str, jkt: str) -> None:
        """Accept the one DPoP header of a request, or raise the 401 that says why not."""
        if not proofs:
            raise self.refuse("the request has no DPoP header (a DPoP proof is required with this token)")
        if len(proofs) > 1 or "," in proofs[0]:
            raise self.refuse("the request must carry exactly one DPoP header")
        claims, thumbprint = self.check_signature(proofs[0].strip())
        self.check_claims(claims, method=method, url=url, access_token=access_token)
        if thumbprint != jkt:
            raise self.refuse("the proof is signed with another key than the one the token is bound to (cnf.jkt)")
        self._check_unused(claims, thumbprint)

    def check_signature(self, proof: str) -> tuple[dict[str, Any], str]:
        """The claims of a proof whose header and signature are right, and its key's thumbprint."""
        if len(proof) > MAX_PROOF_LENGTH:
            raise self.refuse(f"the proof is longer than {MAX_PROOF_LENGTH} characters")
        if not _COMPACT_JWS.match(proof):
            raise self.refuse("malformed proof (expected a compact JWS: header.payload.signature)")
        # The JWS is taken apart here rather than by jwt.decode: the pattern above already checked
        # its alphabet, which the library checks again character by character (half the cost).
        header_part, payload_part, signature_part = proof.split(".")
        try:
            header = json.loads(_b64decode(header_part))
        except (ValueError, RecursionError):
            raise self.refuse("malformed proof header") from None
        if not isinstance(header, dict):
            raise self.refuse("malformed proof header")
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() != PROOF_TYPE:
            raise self.refuse(f"the proof's typ must be {PROOF_TYPE}")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in PROOF_ALGORITHMS:
            shown = alg if isinstance(alg, str) else type(alg).__name__
            raise self.refuse(f"algorithm '{shown}' is not accepted for proofs (only {ALGS})")
        if "crit" in header:
            raise self.refuse("the proof has critical header parameters this server does not support")
        jwk = header.get("jwk")
        if not isinstance(jwk, dict):
            raise self.refuse("the proof header has no jwk (the public key)")
        key = self._public_key(jwk, alg)
        try:
            signature = _b64decode(signature_part)
            verified = _ALGORITHMS[alg].verify(f"{header_part}.{payload_part}".encode("ascii"), key, signature)
        except (ValueError, TypeError):
            verified = False
        if not verified:
            raise self.refuse("the proof's signature does not verify with its jwk")
        try:
            claims = json.loads(_b64decode(payload_part))
        except (ValueError, RecursionError):
            raise self.refuse("malformed proof payload") from None
        if not isinstance(claims, dict):
            raise self.refuse("the proof's payload must be a JSON object")
        return claims, jwk_thumbprint(jwk)

    def _public_key(self, jwk: dict[str, Any], alg: str) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
        if _PRIVATE_MEMBERS & jwk.keys():
            raise self.refuse("the proof's jwk must be a public key (it holds private key members)")
        kty = jwk.get("kty")
        try:
            if alg.startswith("ES"):
                if kty != "EC" or jwk.get("crv") != _CURVES[alg]:
                    raise self.refuse(f"{alg} needs an EC key on curve {_CURVES[alg]}")
                if not all(isinstance(jwk.get(m), str) for m in ("x", "y")):
                    raise self.refuse("the proof's EC jwk needs x and y")
                key = ECAlgorithm.from_jwk(jwk)
                assert isinstance(key, ec.EllipticCurvePublicKey)
                return key
            if kty != "RSA" or not all(isinstance(jwk.get(m), str) for m in ("n", "e")):
                raise self.refuse(f"{alg} needs an RSA key with n and e")
            key = (RSAPSSAlgorithm if alg.startswith("PS") else RSAAlgorithm).from_jwk(jwk)
            assert isinstance(key, rsa.RSAPublicKey)
        except (jwt.PyJWTError, ValueError, TypeError, KeyError, AssertionError):
            raise self.refuse("the proof's jwk is not a usable public key") from None
        if key.key_size < MIN_RSA_BITS:
            raise self.refuse(f"the proof's RSA key must have at least {MIN_RSA_BITS} bits")
        return key

    def check_claims(self, claims: Mapping[str, Any], *, method: str, url: str, access_token: str) -> None:
        """htm, htu, iat, jti and ath of a proof, against this request and token."""
        jti = claims.get("jti")
        if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
            raise self.refuse(f"the proof needs a jti (a string of 1 to {MAX_JTI_LENGTH} characters)")
        htm = claims.get("htm")
        if htm != method.upper():
            raise self.refuse(f"the proof's htm does not match the request method {method.upper()}")
        htu = claims.get("htu")
        expected = normalized_uri(url)
        if not isinstance(htu, str) or expected is None or normalized_uri(htu) != expected:
            raise self.refuse(f"the proof's htu does not match the request URI {expected or url}")
        iat = claims.get("iat")
        if isinstance(iat, bool) or not isinstance(iat, (int, float)) or iat != iat:
            raise self.refuse("the proof needs an iat (seconds since the epoch)")
        now = self._clock()
        if iat > now + self.skew:
            raise self.refuse("the proof's iat is in the future")
        if iat < now - self.window - self.skew:
            raise self.refuse(f"the proof is too old (iat more than {self.window:g} seconds ago)")
        if claims.get("ath") != access_token_hash(access_token):
            raise self.refuse("the proof's ath does not match the access token")

    def _check_unused(self, claims: Mapping[str, Any], thumbprint: str) -> None:
        key = hashlib.sha256(f"{thumbprint}.{claims['jti']}".encode("utf-8")).hexdigest()
        valid_until = datetime.fromtimestamp(float(claims["iat"]) + self.window + self.skew, timezone.utc)
        if not self._first_use(key, valid_until.replace(tzinfo=None)):
            raise self.refuse("the proof's jti has been used before (a replayed proof)")
