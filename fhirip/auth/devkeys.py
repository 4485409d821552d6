"""Local development signing keys and a token minter, so the server runs without HelseID.

The keys are generated on first use into ``<data_dir>/keys/`` (private keys mode 0600)
next to the matching public ``jwks.json``. Never trust these keys in production: the
server only falls back to them in development mode, when FHIRIP_JWKS is unset.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from fhirip.auth.dpop import PROOF_TYPE, access_token_hash, jwk_thumbprint
from fhirip.auth.actor import (
    CLAIM_BTG_REASON,
    CLAIM_HPR_NUMBER,
    CLAIM_ORG_NUMBER,
    CLAIM_PERSON_ID,
    CLAIM_PURPOSE_OF_USE,
)

DEV_ISSUER = "http://127.0.0.1:8080/dev-issuer"
DEV_AUDIENCE = "http://127.0.0.1:8080/fhir"
DEV_CLIENT_ID = "fhirip-dev-client"
DEFAULT_LIFETIME_SECONDS = 3600
MAX_LIFETIME_SECONDS = 7 * 24 * 3600

KEY_FILES = {"RS256": "dev-rs256.pem", "ES256": "dev-es256.pem"}
JWKS_FILE = "jwks.json"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def _generate(alg: str) -> PrivateKey:
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _public_jwk(alg: str, private_key: PrivateKey) -> dict[str, Any]:
    algorithm = RSAAlgorithm if alg == "RS256" else ECAlgorithm
    jwk: dict[str, Any] = algorithm.to_jwk(private_key.public_key(), as_dict=True)
    jwk["kid"] = jwk_thumbprint(jwk)
    jwk.update(use="sig", alg=alg)
    return jwk


def _write_private(path: Path, private_key: PrivateKey) -> None:
    """Write a PEM readable by the owner only; lose a race to a concurrent writer gracefully."""
    pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    try:
        os.link(temporary, path)  # atomic and fails if another process got there first
    except FileExistsError:
        pass
    finally:
        temporary.unlink()


def _read_private(path: Path) -> PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise ValueError(f"{path}: not an RSA or EC private key")
    return key


@dataclass(frozen=True)
class DevKeys:
    """The development key pairs of one data directory."""

    directory: Path
    private_keys: Mapping[str, PrivateKey]  # by alg
    kids: Mapping[str, str]  # by alg

    @property
    def jwks_path(self) -> Path:
        return self.directory / JWKS_FILE

    @classmethod
    def load_or_create(cls, data_dir: str | os.PathLike[str]) -> DevKeys:
        directory = Path(data_dir) / "keys"
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        private_keys: dict[str, PrivateKey] = {}
        for alg, filename in KEY_FILES.items():
            path = directory / filename
            if not path.exists():
                _write_private(path, _generate(alg))
            private_keys[alg] = _read_private(path)
        jwks = {"keys": [_public_jwk(alg, key) for alg, key in private_keys.items()]}
        jwks_path = directory / JWKS_FILE
        text = json.dumps(jwks, indent=2) + "\n"
        if not jwks_path.exists() or jwks_path.read_text() != text:
            temporary = jwks_path.with_name(f".{JWKS_FILE}.{os.getpid()}.{uuid.uuid4().hex}")
            temporary.write_text(text)
            os.replace(temporary, jwks_path)
        kids = {jwk["alg"]: jwk["kid"] for jwk in jwks["keys"]}
        return cls(directory, private_keys, kids)

    def mint(self, claims: Mapping[str, Any], *, lifetime: int = DEFAULT_LIFETIME_SECONDS,
             alg: str = "RS256", issuer: str = DEV_ISSUER, audience: str = DEV_AUDIENCE,
             now: int | None = None, headers: Mapping[str, Any] | None = None) -> str:
        """A signed token with iss, aud, iat, nbf, exp and jti added to the given claims.

        Claims given explicitly win over the defaults, so tests can mint expired or
        foreign tokens with the real keys.
        """
        if alg not in self.private_keys:
            raise ValueError(f"alg must be one of {', '.join(self.private_keys)}, not {alg!r}")
        if not 0 < lifetime <= MAX_LIFETIME_SECONDS:
            raise ValueError(f"lifetime must be between 1 and {MAX_LIFETIME_SECONDS} seconds, not {lifetime}")
        issued = int(time.time()) if now is None else now
        payload: dict[str, Any] = {"iss": issuer, "aud": audience, "iat": issued, "nbf": issued,
                                   "exp": issued + lifetime, "jti": uuid.uuid4().hex}
        payload.update(claims)
        header = {"kid": self.kids[alg], "typ": "at+jwt", **(headers or {})}
        return jwt.encode(payload, self.private_keys[alg], algorithm=alg, headers=header)


def person_claims(*, practitioner: str | None = None, person: str | None = None,
                  org: str | None = None, scope: str | None = None, purpose: str | None = None,
                  reason: str | None = None, name: str | None = None,
                  client_id: str = DEV_CLIENT_ID) -> dict[str, Any]:
    """HelseID-shaped claims for a practitioner (HPR), a person (FNR) or, with neither, a system client."""
    if practitioner is not None:
        sub, default_scope = f"dev-practitioner-{practitioner}", "openid user/*.cruds"
    elif person is not None:
        sub, default_scope = f"dev-person-{hashlib.sha256(person.encode()).hexdigest()[:16]}", "openid patient/*.cruds"
    else:
        sub, default_scope = client_id, "system/*.cruds"
    claims: dict[str, Any] = {"sub": sub, "client_id": client_id, "scope": scope or default_scope}
    optional = {CLAIM_HPR_NUMBER: practitioner, CLAIM_PERSON_ID: person, CLAIM_ORG_NUMBER: org,
                CLAIM_PURPOSE_OF_USE: purpose, CLAIM_BTG_REASON: reason, "name": name}
    claims.update({claim: value for claim, value in optional.items() if value is not None})
    return claims


def mint(data_dir: str | os.PathLike[str], claims: Mapping[str, Any], *,
         lifetime: int = DEFAULT_LIFETIME_SECONDS, alg: str = "RS256") -> str:
    """A development token for these claims, signed with the data directory's dev key."""
    return DevKeys.load_or_create(data_dir).mint(claims, lifetime=lifetime, alg=alg)


# DPoP: a client's own key pair, and the proofs it signs (RFC 9449 §4).

def load_or_create_dpop_key(path: str | os.PathLike[str]) -> PrivateKey:
    """The client's DPoP private key kept in a PEM file; a P-256 key is generated if there is none."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_private(path, _generate("ES256"))
    return _read_private(path)


def dpop_alg(private_key: PrivateKey) -> str:
    return "RS256" if isinstance(private_key, rsa.RSAPrivateKey) else "ES256"


def public_jwk(private_key: PrivateKey) -> dict[str, Any]:
    """The public JWK of a key, with only the members a thumbprint and a proof need."""
    algorithm = RSAAlgorithm if isinstance(private_key, rsa.RSAPrivateKey) else ECAlgorithm
    jwk: dict[str, Any] = algorithm.to_jwk(private_key.public_key(), as_dict=True)
    return {name: value for name, value in jwk.items() if name in ("kty", "crv", "x", "y", "n", "e")}


def dpop_confirmation(private_key: PrivateKey) -> dict[str, Any]:
    """The ``cnf`` claim binding a token to this key."""
    return {"jkt": jwk_thumbprint(public_jwk(private_key))}


def dpop_proof(private_key: PrivateKey, *, method: str, url: str, access_token: str | None = None,
               now: float | None = None, jti: str | None = None, claims: Mapping[str, Any] | None = None,
               headers: Mapping[str, Any] | None = None) -> str:
    """A DPoP proof for one request. Given claims and headers win over the computed ones,
    so tests can sign wrong proofs with real keys."""
    payload: dict[str, Any] = {"jti": jti or uuid.uuid4().hex, "htm": method.upper(), "htu": url,
                               "iat": int(time.time() if now is None else now)}
    if access_token is not None:
        payload["ath"] = access_token_hash(access_token)
    payload.update(claims or {})
    alg = dpop_alg(private_key)
    header = {"typ": PROOF_TYPE, "alg": alg, "jwk": public_jwk(private_key), **(headers or {})}
    return jwt.encode(payload, private_key, algorithm=header["alg"], headers=header)


def attested_claims(*, hpr: str, pid: str, org: str, purpose: str | None, point_of_care: str | None = None,
                    decision_ref: str = "dev-decision-1", user_selected: bool = False,
                    healthcare_service: str | None = "S03", details: Mapping[str, Any] | None = None,
                    department: Mapping[str, Any] | None = None, toa: int | None = None,
                    scope: str = "openid user/*.cruds", name: str | None = None,
                    client_id: str = DEV_CLIENT_ID) -> dict[str, Any]:
    """Claims of a health professional's HelseID token with a trust-framework attestation
    (the shape HelseID puts in the token), for development tokens and tests."""
    from fhirip.auth import attestation as tf

    point = point_of_care or org
    relationship: dict[str, Any] = {"decision_ref": {"id": decision_ref, "user_selected": user_selected}}
    if purpose is not None:
        relationship["purpose_of_use"] = {"code": purpose, "system": tf.PURPOSE_OF_USE_SYSTEM}
    if healthcare_service is not None:
        relationship["healthcare_service"] = {"code": healthcare_service,
                                              "system": "urn:oid:2.16.578.1.12.4.1.1.8655"}
    if details is not None:
        relationship["purpose_of_use_details"] = dict(details)
    practitioner: dict[str, Any] = {
        "identifier": {"id": pid, "system": tf.FNR_SYSTEM if pid[0] not in "4567" else tf.DNR_SYSTEM,
                       **({"name": name} if name else {})},
        "hpr_nr": {"id": hpr, "system": tf.HPR_SYSTEM},
        "authorization": {"code": "LE", "text": "Lege", "system": tf.AUTHORIZATION_SYSTEM},
        "legal_entity": {"id": org, "system": tf.ENH_SYSTEM},
        "point_of_care": {"id": point, "system": tf.ENH_SYSTEM},
    }
    if department is not None:
        practitioner["department"] = dict(department)
    attestation: dict[str, Any] = {"type": tf.ATTESTATION_TYPE, "practitioner": practitioner,
                                   "care_relationship": relationship, "patients": [{}]}
    if toa is not None:
        attestation["toa"] = toa
    claims: dict[str, Any] = {
        "sub": f"dev-practitioner-{hpr}", "client_id": client_id, "scope": scope,
        CLAIM_HPR_NUMBER: hpr, CLAIM_PERSON_ID: pid, CLAIM_ORG_NUMBER: org,
        "helseid://claims/client/claims/orgnr_child": point, "helseid://claims/identity/security_level": "4",
        "authorization_details": [attestation]}
    if name:
        claims["name"] = name
    return claims
