"""Real FHIR client libraries from PyPI against the server started the documented way.

One `fhirip serve` per store for the whole directory, with one world in it, which each library
drives as the world's coordinator (whom the patient's sharing consent names) and as a system
client.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).parent.parent
sys.path[:0] = [str(TESTS / "plans"), str(TESTS / "consent")]  # the suites' data builders

from clients.client_world import ClientWorld, build_world  # noqa: E402

from fhirip.testing.postgres import TemporaryPostgres  # noqa: E402
from fhirip.testing.served import ServedFhirip, serving  # noqa: E402


@pytest.fixture(scope="package", params=["postgresql", "sqlite"])
def served(request: pytest.FixtureRequest, postgres: TemporaryPostgres | None,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedFhirip]:
    """`fhirip serve --workers 2` (preload), shared by the modules here: server starts are slow."""
    with serving(request.param, postgres, tmp_path_factory.mktemp(f"clients-{request.param}"),
                 "served_clients") as server:
        yield server


@pytest.fixture(scope="package")
def world(served: ServedFhirip) -> ClientWorld:
    return build_world(served)


@pytest.fixture(params=["practitioner", "system"])
def caller(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def token(world: ClientWorld, caller: str) -> str:
    return world.practitioner_token if caller == "practitioner" else world.system_token
