"""Fixtures of the REST tests: a client with a token minted once, and a server with a small body limit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rest_checks import SMALL_BODY_LIMIT

from fhirip.testing.live import (
    SYSTEM_CLAIMS,
    Fhir,
    LiveServer,
    make_services,
    token_for,
)
from fhirip.testing.postgres import TemporaryPostgres


@pytest.fixture(scope="session")
def small_body_fhir(store_kind: str, postgres: TemporaryPostgres | None,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fhir]:
    """A live server on the same kind of store that refuses bodies above SMALL_BODY_LIMIT bytes."""
    tmp: Path = tmp_path_factory.mktemp(f"small-{store_kind}")
    server = LiveServer(make_services(store_kind, tmp, postgres, "rest_small_body",
                                      max_body_bytes=SMALL_BODY_LIMIT))
    token = token_for(server.services, **SYSTEM_CLAIMS)
    with Fhir(base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client
    server.stop()


@pytest.fixture(scope="session")
def system_token(live_server: LiveServer) -> str:
    """Minting costs ~100 ms (it loads the signing key); one token serves the whole session."""
    return token_for(live_server.services, **SYSTEM_CLAIMS)


@pytest.fixture
def fhir(live_server: LiveServer, system_token: str) -> Iterator[Fhir]:
    """The shared `fhir` client (empty store, system token), without minting a token per test."""
    live_server.reset()
    with Fhir(base_url=live_server.url, timeout=30,
              headers={"Authorization": f"Bearer {system_token}"}) as client:
        yield client


@pytest.fixture(scope="session")
def lenient_fhir(store_kind: str, postgres: TemporaryPostgres | None,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fhir]:
    """A live server configured without referential integrity for references on write."""
    tmp: Path = tmp_path_factory.mktemp(f"lenient-{store_kind}")
    server = LiveServer(make_services(store_kind, tmp, postgres, "rest_lenient", referential_integrity=False))
    token = token_for(server.services, **SYSTEM_CLAIMS)
    with Fhir(base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client
    server.stop()
