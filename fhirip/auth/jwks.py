"""Trusted signing keys from a JWKS document, read from a file or fetched from a URL.

https://www.rfc-editor.org/rfc/rfc7517#section-5

Only RSA (≥ 2048 bits, for RS256) and P-256 EC (for ES256) signature keys are kept;
symmetric ("oct") keys are never trusted, so an HS256 token can never verify. A
key whose ``alg`` names anything else is ignored. Keys are looked up by ``kid``;
an unknown kid triggers at most one reload per ``min_refresh_seconds`` so that key
rotation at the issuer works without letting garbage tokens hammer it.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

log = logging.getLogger(__name__)

MIN_RSA_BITS = 2048
FETCH_TIMEOUT_SECONDS = 3.0
MAX_JWKS_BYTES = 1_000_000

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


class JwksError(Exception):
    """The JWKS could not be read or is not a JWKS at all (a configuration problem)."""


@dataclass(frozen=True)
class TrustedKey:
    kid: str
    alg: str  # RS256 or ES256
    public_key: PublicKey


def parse_jwks(document: Any, origin: str) -> dict[str, TrustedKey]:
    """The usable signature keys of a JWKS document, by kid. Unusable keys are skipped."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksError(f"{origin}: not a JWKS (expected an object with a 'keys' array)")
    keys: dict[str, TrustedKey] = {}
    for position, jwk in enumerate(document["keys"]):
        key = _trusted_key(jwk)
        if key is None:
            log.warning("%s: key %d skipped (not an RS256/ES256 signature key with a kid)", origin, position)
        elif key.kid in keys:
            log.warning("%s: duplicate kid %r; the first one is kept", origin, key.kid)
        else:
            keys[key.kid] = key
    return keys


def _trusted_key(jwk: Any) -> TrustedKey | None:
    if not isinstance(jwk, dict):
        return None
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid or jwk.get("use", "sig") != "sig":
        return None
    kty, declared_alg = jwk.get("kty"), jwk.get("alg")
    try:
        if kty == "RSA" and declared_alg in (None, "RS256"):
            public = RSAAlgorithm.from_jwk(jwk)
            public = public.public_key() if isinstance(public, rsa.RSAPrivateKey) else public
            if public.key_size < MIN_RSA_BITS:
                return None
            return TrustedKey(kid, "RS256", public)
        if kty == "EC" and jwk.get("crv") == "P-256" and declared_alg in (None, "ES256"):
            public = ECAlgorithm.from_jwk(jwk)
            public = public.public_key() if isinstance(public, ec.EllipticCurvePrivateKey) else public
            return TrustedKey(kid, "ES256", public)
    except Exception as error:  # a broken key must not break the other keys of the set
        log.warning("JWKS key %r unreadable: %s", kid, error)
    return None


class KeySet:
    """Trusted keys from one source, cached, reloaded on an unknown kid (rate-limited)."""

    def __init__(self, source: str, *, min_refresh_seconds: float = 60.0,
                 max_age_seconds: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.source = source
        self.is_url = source.startswith(("http://", "https://"))
        self._min_refresh = min_refresh_seconds
        self._max_age = max_age_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, TrustedKey] = {}
        self._loaded_at: float | None = None
        self._last_attempt: float | None = None
        self._file_stamp: tuple[int, int] | None = None
        self.loads = 0  # how many times the source was actually read (observable for tests)
        self._reload(initial=True)

    def get(self, kid: str) -> TrustedKey | None:
        """The key with this kid, reloading the source first if it is stale or the kid unknown."""
        key = self._keys.get(kid)
        if key is not None and not self._is_stale():
            return key
        # A known key that is merely stale need not wait for another thread's fetch.
        if not self._lock.acquire(blocking=key is None):
            return key
        try:
            if self._may_reload():
                self._reload(initial=False)
        finally:
            self._lock.release()
        return self._keys.get(kid)

    def kids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def _is_stale(self) -> bool:
        # A file is cheap to re-check (one stat), so a removed key stops working soon;
        # a URL is re-fetched only after max_age.
        limit = self._max_age if self.is_url else self._min_refresh
        return self._loaded_at is None or self._clock() - self._loaded_at > limit

    def _may_reload(self) -> bool:
        return self._last_attempt is None or self._clock() - self._last_attempt >= self._min_refresh

    def _reload(self, *, initial: bool) -> None:
        self._last_attempt = self._clock()
        try:
            keys = self._read()
        except JwksError:
            if initial and not self.is_url:
                raise  # a missing or broken key file at start-up is a configuration error
            log.exception("JWKS reload from %s failed; keeping the %d keys already loaded",
                          self.source, len(self._keys))
            return
        if keys is not None:
            self._keys = keys
        self._loaded_at = self._clock()

    def _read(self) -> dict[str, TrustedKey] | None:
        if self.is_url:
            return parse_jwks(self._fetch(), self.source)
        path = Path(self.source)
        try:
            stat = path.stat()
        except OSError as error:
            raise JwksError(f"{path}: cannot read the JWKS file ({error.strerror})") from error
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._file_stamp:
            return None  # unchanged since the last read
        try:
            document = json.loads(path.read_bytes())
        except (OSError, ValueError) as error:
            raise JwksError(f"{path}: not a readable JSON file ({error})") from error
        self.loads += 1
        self._file_stamp = stamp
        return parse_jwks(document, str(path))

    def _fetch(self) -> Any:
        try:
            with httpx.Client(timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=False) as client:
                response = client.get(self.source, headers={"Accept": "application/json"})
        except httpx.HTTPError as error:
            raise JwksError(f"{self.source}: fetching the JWKS failed ({error})") from error
        self.loads += 1
        if response.status_code != 200:
            raise JwksError(f"{self.source}: fetching the JWKS gave HTTP {response.status_code}")
        if len(response.content) > MAX_JWKS_BYTES:
            raise JwksError(f"{self.source}: the JWKS is larger than {MAX_JWKS_BYTES} bytes")
        try:
            return response.json()
        except ValueError as error:
            raise JwksError(f"{self.source}: the JWKS is not JSON ({error})") from error


def key_set_for(source: str, **options: Any) -> KeySet:
    """A KeySet for a path or URL (a relative path is taken from the working directory)."""
    if not source.startswith(("http://", "https://")):
        source = os.fspath(Path(source).expanduser())
    return KeySet(source, **options)
