"""Shared fixtures: real development keys in a temporary data directory, and a verifier trusting them."""

from __future__ import annotations

import pytest

from fhirip.auth.devkeys import DEV_AUDIENCE, DEV_ISSUER, DevKeys
from fhirip.auth.tokens import AuthSettings, TokenVerifier


@pytest.fixture(scope="session")
def dev_keys(tmp_path_factory: pytest.TempPathFactory) -> DevKeys:
    return DevKeys.load_or_create(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def verifier(dev_keys: DevKeys) -> TokenVerifier:
    return TokenVerifier(AuthSettings(str(dev_keys.jwks_path), DEV_ISSUER, DEV_AUDIENCE))


@pytest.fixture(scope="session")
def other_keys(tmp_path_factory: pytest.TempPathFactory) -> DevKeys:
    """A second, untrusted key pair: what an attacker could sign with."""
    return DevKeys.load_or_create(tmp_path_factory.mktemp("attacker"))
