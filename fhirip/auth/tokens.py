"""Bearer JWT verification: RS256/ES256 signatures from trusted keys, iss, aud, exp, nbf.

https://www.rfc-editor.org/rfc/rfc6750 (bearer tokens)
https://www.rfc-editor.org/rfc/rfc7519#section-7.2 (validating a JWT)
https://www.rfc-editor.org/rfc/rfc8725 (JWT best current practices)

Every failure is an :class:`fhirip.errors.Unauthorized` with a WWW-Authenticate
challenge; nothing a client sends may surface as another exception. The algorithm is
taken from the trusted key, never from the token alone, so ``alg: none`` and HS256
signed with the public key cannot pass.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from fhirip.auth.actor import Actor
from fhirip.auth.challenges import invalid_request, invalid_token, missing_token
from fhirip.auth.jwks import KeySet, key_set_for
from fhirip.errors import Forbidden

log = logging.getLogger(__name__)

ACCEPTED_ALGORITHMS = frozenset({"RS256", "ES256"})
DEFAULT_CLOCK_SKEW_SECONDS = 30.0
MAX_TOKEN_LENGTH = 16_384  # far above any real access token; bounds the work per request
REQUIRED_CLAIMS = ("exp", "iss", "aud")
CACHE_SECONDS = 60.0  # how long a verified token is trusted without re-checking its signature
CACHE_ENTRIES = 4096

ENV_JWKS = "FHIRIP_JWKS"
ENV_ISSUER = "FHIRIP_ISSUER"
ENV_AUDIENCE = "FHIRIP_AUDIENCE"
ENV_CLOCK_SKEW = "FHIRIP_CLOCK_SKEW"
ENV_REQUIRE_DPOP = "FHIRIP_REQUIRE_DPOP"
ENV_DPOP_WINDOW = "FHIRIP_DPOP_WINDOW"
ENV_REQUIRE_ATTESTATION = "FHIRIP_REQUIRE_ATTESTATION"
ENV_SCOPE_PREFIX = "FHIRIP_SCOPE_PREFIX"
DEFAULT_DPOP_WINDOW_SECONDS = 60.0

_COMPACT_JWS = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


class AuthConfigError(Exception):
    """Authentication is not configured well enough to run (a start-up error, not a 401)."""


@dataclass(frozen=True)
class AuthSettings:
    """Where the trusted keys are, and what a token must say to be for this server."""

    jwks: str  # path or http(s) URL
    issuer: str
    audience: str
    clock_skew_seconds: float = DEFAULT_CLOCK_SKEW_SECONDS
    # DPoP (RFC 9449): whether Bearer is refused, and how long after its iat a proof is accepted.
    require_dpop: bool = False
    dpop_window_seconds: float = DEFAULT_DPOP_WINDOW_SECONDS
    # Whether a health professional's token must carry the trust-framework attestation.
    require_attestation: bool = False
    # The namespace before the API's scopes in the token (HelseID: "nhn:<api>/"), read without it.
    scope_prefix: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *,
                 dev_data_dir: str | os.PathLike[str] | None = None) -> AuthSettings:
        """Settings from FHIRIP_JWKS, FHIRIP_ISSUER, FHIRIP_AUDIENCE, FHIRIP_CLOCK_SKEW,
        FHIRIP_REQUIRE_DPOP, FHIRIP_DPOP_WINDOW, FHIRIP_SCOPE_PREFIX and FHIRIP_REQUIRE_ATTESTATION
        (default: true with a configured issuer, false in development mode).

        With ``dev_data_dir`` (development mode only) and no FHIRIP_JWKS, the local
        development keys are trusted, with the development issuer and audience unless
        those variables are set.
        """
        env = os.environ if environ is None else environ
        skew = _clock_skew(env.get(ENV_CLOCK_SKEW))
        dpop = {"require_dpop": _flag(ENV_REQUIRE_DPOP, env.get(ENV_REQUIRE_DPOP)),
                "dpop_window_seconds": _dpop_window(env.get(ENV_DPOP_WINDOW)),
                "scope_prefix": env.get(ENV_SCOPE_PREFIX, "").strip()}
        jwks = env.get(ENV_JWKS, "").strip()
        if not jwks and dev_data_dir is not None:
            from fhirip.auth import devkeys  # only development mode needs key generation

            keys = devkeys.DevKeys.load_or_create(dev_data_dir)
            dpop["require_attestation"] = _flag(ENV_REQUIRE_ATTESTATION, env.get(ENV_REQUIRE_ATTESTATION))
            return cls(str(keys.jwks_path), env.get(ENV_ISSUER) or devkeys.DEV_ISSUER,
                       env.get(ENV_AUDIENCE) or devkeys.DEV_AUDIENCE, skew, **dpop)
        missing = [name for name in (ENV_JWKS, ENV_ISSUER, ENV_AUDIENCE) if not env.get(name, "").strip()]
        if missing:
            raise AuthConfigError(f"authentication needs {', '.join(missing)} to be set")
        dpop["require_attestation"] = _flag(ENV_REQUIRE_ATTESTATION, env.get(ENV_REQUIRE_ATTESTATION) or "true")
        return cls(jwks, env[ENV_ISSUER].strip(), env[ENV_AUDIENCE].strip(), skew, **dpop)


def _flag(name: str, text: str | None) -> bool:
    value = (text or "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise AuthConfigError(f"{name}={text!r} must be true or false")


def _dpop_window(text: str | None) -> float:
    if text is None or not text.strip():
        return DEFAULT_DPOP_WINDOW_SECONDS
    try:
        window = float(text)
    except ValueError:
        raise AuthConfigError(f"{ENV_DPOP_WINDOW}={text!r} is not a number of seconds") from None
    if not 1 <= window <= 600:
        raise AuthConfigError(f"{ENV_DPOP_WINDOW}={text!r} must be between 1 and 600 seconds")
    return window


def _clock_skew(text: str | None) -> float:
    if text is None or not text.strip():
        return DEFAULT_CLOCK_SKEW_SECONDS
    try:
        skew = float(text)
    except ValueError:
        raise AuthConfigError(f"{ENV_CLOCK_SKEW}={text!r} is not a number of seconds") from None
    if not 0 <= skew <= 300:
        raise AuthConfigError(f"{ENV_CLOCK_SKEW}={text!r} must be between 0 and 300 seconds")
    return skew


def credentials(authorization: str | None) -> tuple[str, str]:
    """The scheme ("bearer" or "dpop") and token of an Authorization header value.

    ("", "") when no credentials of either scheme were offered."""
    if authorization is None or not authorization.strip():
        return "", ""
    scheme, _, token = authorization.strip().partition(" ")
    scheme = scheme.lower()
    if scheme not in ("bearer", "dpop"):
        return "", ""
    token = token.strip()
    if not token or " " in token:
        raise invalid_request(f"expected 'Authorization: {'DPoP' if scheme == 'dpop' else 'Bearer'} <token>'")
    return scheme, token


def bearer_token(authorization: str | None) -> str:
    """The token from an Authorization header value, or the matching 401."""
    if authorization is None or not authorization.strip():
        raise missing_token()
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise missing_token()  # no bearer credentials were offered (RFC 6750 §3.1)
    token = token.strip()
    if not token or " " in token:
        raise invalid_request("expected 'Authorization: Bearer <token>'")
    return token


class TokenVerifier:
    """Verifies bearer tokens against one issuer, one audience and one key set.

    A client sends the same token on many requests, and a signature check costs far
    more than the request's policy work, so a verified token is remembered for up to
    ``cache_seconds`` (never past its own exp). A key removed from the JWKS therefore
    stops working for tokens already seen within that time.
    """

    def __init__(self, settings: AuthSettings, keys: KeySet | None = None, *,
                 cache_seconds: float = CACHE_SECONDS, cache_entries: int = CACHE_ENTRIES) -> None:
        self.settings = settings
        self.keys = keys if keys is not None else key_set_for(settings.jwks)
        self._cache_seconds = cache_seconds
        self._cache_entries = cache_entries
        self._cache: OrderedDict[str, tuple[float, dict[str, Any], Actor]] = OrderedDict()
        self._cache_lock = threading.Lock()

    def authenticate(self, authorization: str | None) -> Actor:
        """The Actor behind an Authorization header value; Unauthorized if there is none."""
        token = bearer_token(authorization)
        cached = self._cached(token)
        if cached is None:
            claims = self.verify(token)
            cached = self._cached(token)
            if cached is None:  # caching is off, the entry was just evicted, or the actor is refused
                return self._actor(claims)
        return cached[1]

    def verified(self, token: str) -> tuple[dict[str, Any], Actor]:
        """The verified claims of a token and the Actor they map to (remembered for a while)."""
        claims = self.verify(token)
        return claims, self.actor_for(token, claims)

    def actor_for(self, token: str, claims: dict[str, Any]) -> Actor:
        """The Actor of a token whose claims `verify` returned; Forbidden when the rules refuse it."""
        cached = self._cached(token)
        return cached[1] if cached is not None else self._actor(claims)

    def _actor(self, claims: dict[str, Any]) -> Actor:
        return Actor.from_claims(claims, require_attestation=self.settings.require_attestation,
                                 scope_prefix=self.settings.scope_prefix)

    def verify(self, token: str) -> dict[str, Any]:
        """The verified claims of a compact JWS token."""
        if not isinstance(token, str) or not token:
            raise missing_token()
        cached = self._cached(token)
        if cached is not None:
            return dict(cached[0])
        if len(token) > MAX_TOKEN_LENGTH:
            raise invalid_token(f"the token is longer than {MAX_TOKEN_LENGTH} characters")
        if not _COMPACT_JWS.match(token):
            raise invalid_token("malformed token (expected a compact JWS: header.payload.signature)")
        try:
            claims = self._verify(token)
        except jwt.PyJWTError as error:
            raise invalid_token(_describe(error)) from None
        except (ValueError, TypeError, OverflowError, RecursionError) as error:
            # Garbage inside well-formed base64 (deeply nested JSON, odd numbers, bad key
            # material): still the client's token that is wrong, never a server error.
            log.info("bearer token rejected: %s: %s", type(error).__name__, error)
            raise invalid_token("malformed token") from None
        self._remember(token, claims)
        return dict(claims)

    def _cached(self, token: str) -> tuple[dict[str, Any], Actor] | None:
        with self._cache_lock:
            entry = self._cache.get(token)
            if entry is None:
                return None
            valid_until, claims, actor = entry
            if time.time() >= valid_until:
                del self._cache[token]
                return None
            self._cache.move_to_end(token)
            return claims, actor

    def _remember(self, token: str, claims: dict[str, Any]) -> None:
        if self._cache_seconds <= 0:
            return
        try:
            actor = self._actor(claims)  # a token whose claims do not map is never cached
        except Forbidden:
            return  # well-formed but refused: refused again, with its reason, when its actor is asked for
        # exp already passed int() in the JWT library, but may be huge: compare before adding floats.
        cache_until = time.time() + self._cache_seconds
        expires = int(claims["exp"])
        valid_until = cache_until if expires >= cache_until else expires + self.settings.clock_skew_seconds
        with self._cache_lock:
            self._cache[token] = (valid_until, claims, actor)
            self._cache.move_to_end(token)
            while len(self._cache) > self._cache_entries:
                self._cache.popitem(last=False)

    def _verify(self, token: str) -> dict[str, Any]:
        header = jwt.get_unverified_header(token)
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in ACCEPTED_ALGORITHMS:
            shown = alg if isinstance(alg, str) else type(alg).__name__
            raise invalid_token(f"algorithm '{shown}' is not accepted (only RS256 and ES256)")
        if "crit" in header:
            raise invalid_token("the token has critical header parameters this server does not support")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise invalid_token("the token header has no key id (kid)")
        key = self.keys.get(kid)
        if key is None:
            raise invalid_token(f"unknown key id '{kid}'")
        if key.alg != alg:
            raise invalid_token(f"key '{kid}' signs with {key.alg}, not {alg}")
        claims = jwt.decode(
            token,
            key=key.public_key,
            algorithms=[key.alg],
            audience=self.settings.audience,
            issuer=self.settings.issuer,
            leeway=self.settings.clock_skew_seconds,
            options={"require": list(REQUIRED_CLAIMS), "verify_signature": True},
        )
        for name in TIME_CLAIMS:
            if name in claims and not is_numeric_date(claims[name]):
                raise invalid_token(f"the token's '{name}' is not a NumericDate (seconds since 1970 as a JSON number "
                                    "before the year 10000)")
        return claims


TIME_CLAIMS = ("exp", "nbf", "iat")
_LAST_NUMERIC_DATE = 253402300799  # 9999-12-31T23:59:59Z


def is_numeric_date(value: object) -> bool:
    """RFC 7519's NumericDate: a JSON number of seconds since the epoch. The JWT library also takes
    strings of digits and numbers past any date (1e300, 10**40), which would make a token valid for ever."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return 0 <= value <= _LAST_NUMERIC_DATE  # NaN and the infinities fail too


def _describe(error: jwt.PyJWTError) -> str:
    """A short, client-facing reason for a rejected token."""
    if isinstance(error, jwt.ExpiredSignatureError):
        return "the token has expired"
    if isinstance(error, jwt.ImmatureSignatureError):
        return "the token is not yet valid (nbf or iat is in the future)"
    if isinstance(error, jwt.InvalidAudienceError):
        return "the token is not meant for this server (wrong audience)"
    if isinstance(error, jwt.InvalidIssuerError):
        return "the token is not from the trusted issuer (wrong issuer)"
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"the token has no '{error.claim}' claim"
    if isinstance(error, jwt.InvalidSignatureError):
        return "the signature does not verify"
    if isinstance(error, jwt.InvalidAlgorithmError):
        return "the token's algorithm is not accepted"
    if isinstance(error, jwt.DecodeError):
        return f"malformed token ({error})"
    return str(error) or type(error).__name__
