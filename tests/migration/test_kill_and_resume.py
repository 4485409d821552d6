"""Killing `fhirip import` part-way and running it again gives the store one clean run gives.

The import runs as a real subprocess (the `fhirip` command) on a generated PlanPro-style export,
is killed with SIGKILL once its checkpoint shows some plans done, and is run again. Its store is
compared with that of one uninterrupted run into another database: counts per type, business
identifiers and every resource's content with ids, meta and references normalised.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from fhirip.mapping import run_import
from fhirip.migration import submitter

from .conftest import FreshStore
from .store_view import business_identifiers, normalised, stored

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
sys.path.insert(0, str(MAPPINGS / "planpro"))
import make_samples  # noqa: E402  (the sample generator writes the export)

PLANS = 100
KILL_AFTER = 30  # plans in the checkpoint when the import is killed
INCOMPLETE_EVERY = 10  # synthetic_export makes every 10th plan incomplete


def _write_export(target: Path) -> None:
    target.mkdir()
    for name, data in make_samples.synthetic_export(PLANS, seed=4711).items():
        (target / name).write_bytes(data)


def _checkpointed(path: Path) -> int:
    try:
        return len([line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()])
    except FileNotFoundError:
        return 0


def test_a_killed_import_run_again_gives_the_store_of_one_clean_run(fresh: FreshStore, tmp_path: Path) -> None:
    export = tmp_path / "export"
    _write_export(export)
    url, data_dir = fresh.new_database("killed")
    checkpoint, report = data_dir / "import.checkpoint", data_dir / "report.json"
    env = {**os.environ, "FHIRIP_DATA_DIR": str(data_dir), "FHIRIP_DATABASE_URL": url,
           "FHIRIP_ALLOW_SYNTHETIC_IDENTIFIERS": "true"}
    command = [sys.executable, "-m", "fhirip.cli", "import", "--format", "planpro", str(export),
               "--data-dir", str(data_dir), "--checkpoint", str(checkpoint), "--report", str(report)]

    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while _checkpointed(checkpoint) < KILL_AFTER:
        assert process.poll() is None, f"the import ended before it was killed: {process.stderr.read()!r}"
        assert time.monotonic() < deadline, "the import did not reach the kill point in time"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    done_at_kill = _checkpointed(checkpoint)
    assert KILL_AFTER <= done_at_kill < PLANS
    assert not report.exists()  # it never finished

    again = subprocess.run(command, env=env, capture_output=True, timeout=900)
    assert again.returncode == 2, again.stderr.decode()  # incomplete plans are reported as drafts
    summary = json.loads(report.read_text(encoding="utf-8"))
    assert summary["plansAlreadyDone"] >= done_at_kill
    assert summary["plansAlreadyDone"] + summary["plansImported"] == PLANS and summary["errors"] == []

    resumed = fresh.open(url, data_dir)
    clean = fresh.services("clean")
    try:
        clean_run = run_import("planpro", export, submitter(clean), progress=False)
        assert clean_run.plans_imported == PLANS and clean_run.errors == []
        resumed_resources, clean_resources = stored(resumed), stored(clean)
    finally:
        resumed.store.dispose()
        clean.store.dispose()

    assert counts_of(resumed_resources) == counts_of(clean_resources)
    assert business_identifiers(resumed_resources) == business_identifiers(clean_resources)
    assert max(business_identifiers(resumed_resources).values()) == 1
    assert normalised(resumed_resources, "CarePlan") == normalised(clean_resources, "CarePlan")
    assert normalised(resumed_resources) == normalised(clean_resources)

    plan_status = {i["value"]: r["status"] for r in resumed_resources if r["resourceType"] == "CarePlan"
                   for i in r.get("identifier", []) if i["system"].endswith("/planpro/plan")}
    assert len(plan_status) == PLANS
    incomplete = {f"IP-{n:06d}" for n in range(INCOMPLETE_EVERY, PLANS + 1, INCOMPLETE_EVERY)}
    assert {plan_status[key] for key in incomplete} == {"draft"}  # never active
    assert {status for key, status in plan_status.items() if key not in incomplete} == {"active"}


def counts_of(resources: list[dict]) -> dict[str, int]:
    return dict(Counter(r["resourceType"] for r in resources))
