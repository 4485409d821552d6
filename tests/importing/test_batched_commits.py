"""Plans committed in batches, each in its own savepoint: a bad plan rolls back alone, a kill
loses only the uncommitted plans, and the checkpoint never names a plan that is not stored."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from fhirip.context import Services
from fhirip.mapping import run_import
from fhirip.mapping.store_batches import BatchedStoreSink
from fhirip.migration import submitter
from migration.conftest import FreshStore
from migration.store_view import business_identifiers, counts, normalised, stored

from .conftest import plan_bundles, write_export



def _plan_keys(services: Services) -> set[str]:
    return {i["value"] for r in stored(services) if r["resourceType"] == "CarePlan"
            for i in r.get("identifier", []) if i["system"].endswith("/planpro/plan")}


def test_a_refused_plan_in_a_batch_leaves_nothing_and_its_neighbours_land(services: Services,
                                                                          tmp_path: Path) -> None:
    good = plan_bundles(write_export(tmp_path / "export", 3))
    broken = copy.deepcopy(good[1])
    plan = next(e["resource"] for e in broken["entry"] if e["resource"]["resourceType"] == "CarePlan")
    plan["status"] = "not-a-status"  # the last entry fails, after the Patient and the rest were written
    sink = BatchedStoreSink(services, plans_per_commit=10)
    answers = [sink.submit(good[0]), sink.submit(broken), sink.submit(good[2])]
    sink.commit()
    assert [a["resourceType"] for a in answers] == ["Bundle", "OperationOutcome", "Bundle"]
    assert "not-a-status" in str(answers[1])
    assert _plan_keys(services) == {"IP-000001", "IP-000003"}
    patients = {i["value"] for r in stored(services) if r["resourceType"] == "Patient" for i in r["identifier"]}
    broken_patient = next(e["resource"] for e in broken["entry"] if e["resource"]["resourceType"] == "Patient")
    assert broken_patient["identifier"][0]["value"] not in patients  # nothing of the refused plan remains


def test_a_refusal_in_a_batch_gives_the_message_a_single_transaction_gives(fresh: FreshStore,
                                                                           tmp_path: Path) -> None:
    bundle = plan_bundles(write_export(tmp_path / "export", 1))[0]
    plan = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "CarePlan")
    plan["period"] = {"start": "2024-02-30"}
    alone, batched = fresh.services("alone"), fresh.services("batched")
    try:
        one = submitter(alone)(copy.deepcopy(bundle))
        sink = BatchedStoreSink(batched)
        two = sink.submit(copy.deepcopy(bundle))
        sink.commit()
    finally:
        alone.store.dispose()
        batched.store.dispose()
    assert one["resourceType"] == "OperationOutcome" and one == two


class _KilledAfter:
    """A batching sink whose process dies after `submits` plans (between two commits)."""

    def __init__(self, sink: BatchedStoreSink, submits: int) -> None:
        self.sink, self.left = sink, submits

    def submit(self, bundle: dict[str, Any]) -> dict[str, Any]:
        if self.left == 0:
            raise KeyboardInterrupt("killed")
        self.left -= 1
        return self.sink.submit(bundle)

    def due(self) -> bool:
        return self.sink.due()

    def commit(self) -> None:
        self.sink.commit()

    def rollback(self) -> None:
        self.sink.rollback()


def test_a_kill_between_commits_loses_only_uncommitted_plans_and_a_rerun_gives_one_clean_run(
        fresh: FreshStore, tmp_path: Path) -> None:
    export = write_export(tmp_path / "export", 25)
    checkpoint = tmp_path / "import.checkpoint"
    killed = fresh.services("killed")
    clean = fresh.services("clean")
    try:
        with pytest.raises(KeyboardInterrupt):
            # batches by count alone (no commit by age, which a slow machine would reach first)
            run_import("planpro", export, _KilledAfter(BatchedStoreSink(killed, plans_per_commit=10,
                                                                        seconds_per_commit=3600), 17),
                       progress=False, checkpoint=checkpoint)
        assert len(checkpoint.read_text().split()) == 10  # the first batch; the next 7 were never committed
        assert len(_plan_keys(killed)) == 10
        resumed = run_import("planpro", export, BatchedStoreSink(killed, plans_per_commit=10), progress=False,
                             checkpoint=checkpoint)
        assert (resumed.plans_already_done, resumed.plans_imported, resumed.errors) == (10, 15, [])
        run_import("planpro", export, BatchedStoreSink(clean, plans_per_commit=7), progress=False)
        again = run_import("planpro", export, BatchedStoreSink(clean), progress=False)
        assert again.resources_created == 0
        killed_view, clean_view = stored(killed), stored(clean)
    finally:
        killed.store.dispose()
        clean.store.dispose()
    assert counts_by_type(killed_view) == counts_by_type(clean_view)
    assert max(business_identifiers(killed_view).values()) == 1
    assert normalised(killed_view) == normalised(clean_view)


def test_batches_store_what_one_transaction_per_commit_stores(fresh: FreshStore, tmp_path: Path) -> None:
    export = write_export(tmp_path / "export", 12)
    single, batched = fresh.services("single"), fresh.services("batched")
    try:
        one = run_import("planpro", export, submitter(single), progress=False)
        many = run_import("planpro", export, BatchedStoreSink(batched, plans_per_commit=5), progress=False)
        assert (one.plans_imported, one.resources_created) == (many.plans_imported, many.resources_created)
        assert counts(single) == counts(batched)
        assert normalised(stored(single)) == normalised(stored(batched))
    finally:
        single.store.dispose()
        batched.store.dispose()


def counts_by_type(resources: list[dict[str, Any]]) -> dict[str, int]:
    found: dict[str, int] = {}
    for resource in resources:
        found[resource["resourceType"]] = found.get(resource["resourceType"], 0) + 1
    return found
