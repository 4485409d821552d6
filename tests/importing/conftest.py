"""Fixtures of the import tests: a fresh real store per test (SQLite and PostgreSQL) and a generated export."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fhirip.context import Services
from fhirip.mapping import read_plans, to_bundle
from fhirip.mapping.records import PlanRecord
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


def plan_bundles(export: Path) -> list[dict[str, Any]]:
    """The transaction Bundle of each complete plan of a PlanPro-style export."""
    return [to_bundle(item)[0] for item in read_plans("planpro", export) if isinstance(item, PlanRecord)]


def wrong_check_digit(bundle: dict[str, Any]) -> None:
    """Break the check digit of the plan's person's national identity number."""
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    identifier = patient["identifier"][0]
    identifier["value"] = identifier["value"][:-1] + str((int(identifier["value"][-1]) + 1) % 10)
