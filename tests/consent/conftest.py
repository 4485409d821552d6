"""Consent tests run on both real stores with the test world written through the real store.

Resources are stored with `Tx.write` and their literal references, so the links
and the search index are filled exactly as the server fills them.
"""

from __future__ import annotations

from collections.abc import Iterator

import consent_world as world
import pytest
from consent_support import World, put_all  # noqa: E402  (after the module docstring's imports)

from fhirip.context import Services
from fhirip.testing.live import make_services


@pytest.fixture(scope="module")
def services(store_kind: str, request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    postgres = request.getfixturevalue("postgres") if store_kind == "postgresql" else None
    tmp = tmp_path_factory.mktemp(f"consent-{store_kind}")
    name = f"consent_{request.module.__name__.rsplit('.', 1)[-1]}"
    built = make_services(store_kind, tmp, postgres, name)
    put_all(built, world.records() + world.audit_records())
    yield built
    built.store.dispose()


@pytest.fixture(scope="module")
def w(services: Services) -> World:
    return World(services)
