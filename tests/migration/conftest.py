"""Fixtures of the migration tests: a fresh, real store per test, on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fhirip.context import Services
from fhirip.testing.live import database_url, make_services
from fhirip.testing.postgres import TemporaryPostgres

STORES = ["sqlite", "postgresql"]


@dataclass
class FreshStore:
    kind: str
    tmp: Path
    postgres: TemporaryPostgres | None

    def new_database(self, label: str) -> tuple[str, Path]:
        """(database URL, data directory) of another empty store of the same kind."""
        name = f"mig_{label}_{uuid.uuid4().hex[:8]}"
        data_dir = self.tmp / name
        data_dir.mkdir()
        return database_url(self.kind, data_dir, self.postgres, name), data_dir

    def open(self, url: str, data_dir: Path) -> Services:
        """Services over an existing store (e.g. one a subprocess wrote)."""
        from fhirip.bootstrap import build_services
        from fhirip.config import Settings

        return build_services(Settings(data_dir=data_dir, database_url=url, allow_synthetic_identifiers=True))

    def services(self, label: str = "main") -> Services:
        name = f"mig_{label}_{uuid.uuid4().hex[:8]}"
        data_dir = self.tmp / name
        data_dir.mkdir()
        return make_services(self.kind, data_dir, self.postgres, name)


@pytest.fixture(params=STORES)
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> FreshStore:
    postgres = request.getfixturevalue("postgres") if request.param == "postgresql" else None
    return FreshStore(request.param, tmp_path, postgres)


@pytest.fixture
def services(fresh: FreshStore) -> Iterator[Services]:
    """Services over an empty store of this test's kind (the demo data is not loaded)."""
    built = fresh.services()
    yield built
    built.store.dispose()
