"""Fixtures of the store tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fhirip.store import Store
from fhirip.testing.live import database_url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """An empty, migrated store of each kind, shared by the tests of one module (named after it);
    a module that needs another store defines its own `store`."""
    if request.param == "postgresql" and postgres is None:
        pytest.skip("PostgreSQL is not installed")
    name = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    built = Store(database_url(request.param, tmp_path_factory.mktemp(f"{name}-{request.param}"), postgres, name))
    built.migrate()
    yield built
    built.dispose()
