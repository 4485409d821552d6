"""The import loop: one transaction per plan, resumable after a kill, with a report and exit code.

The store is not under test here: a small in-memory stand-in honours ifNoneExist the way a
FHIR server does, so the loop's own logic (checkpoint, resume, report) can be pinned.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote

import pytest

from fhirip.mapping import run_import

SAMPLES = Path(__file__).resolve().parents[2] / "mappings" / "planpro" / "samples"


class InMemoryStore:
    def __init__(self, die_after: int | None = None) -> None:
        self.by_identity: dict[str, dict] = {}
        self.transactions = 0
        self.die_after = die_after

    def submit(self, bundle: dict) -> dict:
        if self.die_after is not None and self.transactions >= self.die_after:
            raise KeyboardInterrupt("killed")
        self.transactions += 1
        answers = []
        for entry in bundle["entry"]:
            identity = f"{entry['request']['url']}?{unquote(entry['request']['ifNoneExist'])}"
            if identity in self.by_identity:
                answers.append({"response": {"status": "200 OK"}})
            else:
                self.by_identity[identity] = entry["resource"]
                answers.append({"response": {"status": "201 Created"}})
        return {"resourceType": "Bundle", "type": "transaction-response", "entry": answers}


def test_a_clean_run_imports_every_plan_and_a_rerun_creates_nothing(tmp_path: Path) -> None:
    store = InMemoryStore()
    first = run_import("planpro", SAMPLES / "good", store.submit, progress=False)
    assert (first.plans_imported, first.plans_skipped) == (6, 0)
    created = len(store.by_identity)
    second = run_import("planpro", SAMPLES / "good", store.submit, progress=False)
    assert second.resources_created == 0 and len(store.by_identity) == created


def test_a_killed_import_resumes_to_the_same_final_store(tmp_path: Path) -> None:
    clean = InMemoryStore()
    run_import("planpro", SAMPLES / "good", clean.submit, progress=False)

    store = InMemoryStore(die_after=3)
    checkpoint = tmp_path / "done.txt"
    with pytest.raises(KeyboardInterrupt):
        run_import("planpro", SAMPLES / "good", store.submit, progress=False, checkpoint=checkpoint)
    assert len(checkpoint.read_text().split()) == 3
    store.die_after = None
    resumed = run_import("planpro", SAMPLES / "good", store.submit, progress=False, checkpoint=checkpoint)
    assert (resumed.plans_already_done, resumed.plans_imported) == (3, 3)
    assert store.by_identity == clean.by_identity


def test_a_checkpoint_line_torn_by_a_kill_sends_its_plan_again_and_the_next_lines_stay_whole(tmp_path: Path) -> None:
    checkpoint = tmp_path / "done.txt"
    run_import("planpro", SAMPLES / "good", InMemoryStore(die_after=None).submit, progress=False, checkpoint=checkpoint)
    lines = checkpoint.read_text().splitlines()
    checkpoint.write_text("\n".join(lines[:2]) + "\n" + lines[2][:10])  # killed while writing the third key

    store = InMemoryStore()
    resumed = run_import("planpro", SAMPLES / "good", store.submit, progress=False, checkpoint=checkpoint)
    assert (resumed.plans_already_done, resumed.plans_imported) == (2, 4)
    again = run_import("planpro", SAMPLES / "good", store.submit, progress=False, checkpoint=checkpoint)
    assert (again.plans_already_done, again.plans_imported) == (6, 0)
    assert set(checkpoint.read_text().splitlines()) == set(lines) | {lines[2][:10]}


def test_a_dry_run_through_a_function_is_refused_since_it_could_not_be_rolled_back(tmp_path: Path) -> None:
    store = InMemoryStore()
    with pytest.raises(ValueError, match="dry run"):
        run_import("planpro", SAMPLES / "good", store.submit, dry_run=True, progress=False,
                   checkpoint=tmp_path / "done.txt")
    assert store.transactions == 0 and not (tmp_path / "done.txt").exists()


def test_skipped_plans_set_the_exit_code_and_the_report_names_file_and_line(tmp_path: Path) -> None:
    store = InMemoryStore()
    report = tmp_path / "report.json"
    summary = run_import("planpro", SAMPLES / "bad" / "wrong-encoding", store.submit, progress=False,
                         report_path=report)
    assert summary.exit_code == 1 and summary.plans_skipped == 1 and summary.plans_imported == 5
    written = json.loads(report.read_text(encoding="utf-8"))
    assert written["errors"][0]["file"] == "deltakere.csv" and written["errors"][0]["line"] == 2
    assert any(l["value"] == "HUND" for l in written["losses"])


def test_losses_without_skips_give_exit_code_two() -> None:
    summary = run_import("planpro", SAMPLES / "good", InMemoryStore().submit, progress=False)
    assert summary.errors == [] and summary.losses and summary.exit_code == 2


def test_a_refused_transaction_skips_that_plan_and_the_run_continues() -> None:
    store = InMemoryStore()

    def refuse_second(bundle: dict) -> dict:
        if store.transactions == 1:
            store.transactions += 1
            return {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "diagnostics": "conflict"}]}
        return store.submit(bundle)

    summary = run_import("planpro", SAMPLES / "good", refuse_second, progress=False)
    assert summary.plans_skipped == 1 and summary.plans_imported == 5
    assert "transaction refused: conflict" in summary.errors[0].reason
