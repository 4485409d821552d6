"""A dry run runs every check a real run does (mapping, profiles, the store's rules) and only
skips the commit: it reports what a real run would, and stores nothing."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from fhirip.mapping import run_import
from fhirip.mapping.store_batches import BatchedStoreSink
from fhirip.testing.live import make_services
from migration.conftest import FreshStore
from migration.store_view import stored

from .conftest import MAPPINGS

GOOD = MAPPINGS / "acos" / "samples" / "good"


def _services(fresh: FreshStore, *, synthetic: bool):
    name = f"dry_{uuid.uuid4().hex[:8]}"
    data_dir = fresh.tmp / name
    data_dir.mkdir()
    return make_services(fresh.kind, data_dir, fresh.postgres, name, allow_synthetic_identifiers=synthetic)


def _run(services, tmp_path: Path, *, dry_run: bool):
    return run_import("acos", GOOD, BatchedStoreSink(services, plans_per_commit=2), dry_run=dry_run,
                      progress=False, checkpoint=tmp_path / f"done-{uuid.uuid4().hex[:6]}.txt")


@pytest.mark.parametrize("synthetic", [False, True], ids=["real-numbers-only", "synthetic-numbers-allowed"])
def test_a_dry_run_reports_what_the_real_run_then_does_and_stores_nothing(fresh: FreshStore, tmp_path: Path,
                                                                        synthetic: bool) -> None:
    services = _services(fresh, synthetic=synthetic)
    try:
        before = len(stored(services))
        dry = _run(services, tmp_path, dry_run=True)
        assert len(stored(services)) == before
        real = _run(services, tmp_path, dry_run=False)
    finally:
        services.store.dispose()
    assert dry.plans_read == real.plans_read > 0
    assert (dry.plans_imported, dry.plans_skipped) == (real.plans_imported, real.plans_skipped)
    assert [e.reason for e in dry.errors] == [e.reason for e in real.errors]
    # the samples carry synthetic identity numbers: a store that takes only real ones refuses every plan
    assert real.plans_imported == (real.plans_read if synthetic else 0)
