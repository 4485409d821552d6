"""Fixtures of the import tests: a fresh real store per test (SQLite and PostgreSQL) and a generated export."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fhirip.context import Services
from migration.conftest import FreshStore, fresh  # noqa: F401  (the same stores as the migration tests)

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"


@pytest.fixture
def services(fresh: FreshStore) -> Iterator[Services]:  # noqa: F811
    built = fresh.services()
    yield built
    built.store.dispose()


def write_export(target: Path, plans: int, seed: int = 4711) -> Path:
    """A generated PlanPro-style export of `plans` plans (every 10th incomplete) in `target`."""
    sys.path.insert(0, str(MAPPINGS / "planpro"))
    import make_samples

    target.mkdir(parents=True, exist_ok=True)
    for name, data in make_samples.synthetic_export(plans, seed=seed).items():
        (target / name).write_bytes(data)
    return target
