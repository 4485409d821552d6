"""Shared fixtures: the two real stores (SQLite file, PostgreSQL cluster) and a live server.

Every test that asks for `fhir` runs twice, once per store, against the real WSGI
app served over real HTTP on a loopback port. A test that asks for `served` gets the
server started the documented way (`fhirip serve`) instead, once per module and store.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from fhirip.testing.live import SYSTEM_CLAIMS, Fhir, LiveServer, make_services, token_for
from fhirip.testing.postgres import TemporaryPostgres
from fhirip.testing.served import ServedFhirip, serving

__all__ = ["Fhir", "LiveServer", "make_services", "token_for"]  # used by the suites' own conftests

STORES = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres() -> Iterator[TemporaryPostgres | None]:
    """One PostgreSQL cluster for the session (or the one FHIRIP_TEST_POSTGRES_URL names)."""
    if os.environ.get("FHIRIP_TEST_POSTGRES_URL"):
        yield None
        return
    with TemporaryPostgres() as cluster:
        yield cluster


@pytest.fixture(scope="session", params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def live_server(store_kind: str, postgres: TemporaryPostgres | None,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp(f"store-{store_kind}")
    server = LiveServer(make_services(store_kind, tmp, postgres, "rest"))
    yield server
    server.stop()


@pytest.fixture
def fhir(live_server: LiveServer) -> Iterator[Fhir]:
    """A client with a system token that may do everything its scopes allow."""
    live_server.reset()
    token = token_for(live_server.services, **SYSTEM_CLAIMS)
    with Fhir(base_url=live_server.url, timeout=30, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


@pytest.fixture
def anonymous(live_server: LiveServer) -> Iterator[Fhir]:
    """A client without any token."""
    live_server.reset()
    with Fhir(base_url=live_server.url, timeout=30) as client:
        yield client


@pytest.fixture
def base(live_server: LiveServer) -> str:
    return live_server.url


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def served(request: pytest.FixtureRequest, postgres: TemporaryPostgres | None,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedFhirip]:
    """`fhirip serve --workers 2` (preload), as the README starts production; one per module and store."""
    name = f"served_{request.module.__name__.rsplit('.', 1)[-1]}"
    with serving(request.param, postgres, tmp_path_factory.mktemp(f"served-{request.param}"), name) as server:
        yield server
