"""The AuditEvents an export journals, read from the store after a runner has run a job in small
chunks: each exported resource is named in its patients' events and no one else's, also one
changed after the kick-off, which is exported and judged as it was at the snapshot."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from export_support import database_url, load
from sqlalchemy import select

import export_world as world
from fhirip.auth.actor import Actor
from fhirip.export import jobs
from fhirip.export.caller import caller_json, owner_key
from fhirip.export.runner import Runner
from fhirip.export.sweeps import snapshot_seq
from fhirip.search import index as search_index
from fhirip.store import Store
from fhirip.store.schema import audit_journal, export_job


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_each_exported_resource_is_named_in_its_patients_audit_events(kind: str, postgres: Any,
                                                                       tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    url = database_url(kind, postgres, tmp_path, "export_audit")
    store = Store(url, indexer=search_index)
    store.migrate()
    records = world.records()
    load(url, records)
    actor = Actor.from_claims(world.system(name="audit-test"))
    with store.transaction(write=True) as tx:
        tx.conn.execute(audit_journal.delete())
        jobs.create(tx.conn, job_id="job-audit", owner=owner_key(actor), caller=caller_json(actor),
                    request_url="http://test/$export", level="system",
                    plan={"types": ["Goal", "Observation", "Patient"], "since": None, "elements": None},
                    transaction_time=datetime.now(UTC).replace(tzinfo=None), snapshot_seq=snapshot_seq(tx.conn))
    # After the kick-off one of Mia's observations is moved to Tor: the export has it as Mia's.
    moved = next(r for r in records if r["id"] == "x-obs-mia-3")
    load(url, [{**moved, "subject": {"reference": "Patient/x-tor"}}])
    runner = Runner(store, export_dir=tmp_path / "exports", retention=3600, lease=600, chunk=7)
    assert runner.run_once()
    with store.transaction(write=False) as tx:
        job = tx.conn.execute(select(export_job).where(export_job.c.job_id == "job-audit")).one()
        events = [orjson.loads(content) for content in tx.conn.execute(select(audit_journal.c.content)).scalars()]
    store.dispose()
    assert job.status == "done"
    named: dict[str, list[str]] = defaultdict(list)
    for event in events:
        assert "(export job-audit)" in orjson.dumps(event).decode()  # naming the export
        references = [e["what"]["reference"] for e in event["entity"] if "what" in e]
        patients = [r for r in references if r.startswith("Patient/") and "/_history/" not in r]
        assert len(patients) == 1
        named[patients[0]] += [r for r in references if "/_history/" in r]
    expected = {
        "Patient/x-mia": sorted(["Patient/x-mia/_history/1", "Goal/x-goal-mia/_history/1",
                                 *(f"Observation/x-obs-mia-{n}/_history/1" for n in range(world.OBSERVATIONS))]),
        "Patient/x-tor": sorted(["Patient/x-tor/_history/1", "Goal/x-goal-tor/_history/1"]),
    }
    assert {patient: sorted(refs) for patient, refs in named.items()} == expected
    outputs = {o.res_type: o for o in jobs.outputs_of(job.outputs)}
    lines = (tmp_path / "exports" / "job-audit" / outputs["Observation"].file).read_bytes().splitlines()
    exported = {item["id"]: item for item in map(orjson.loads, lines)}
    assert exported["x-obs-mia-3"]["subject"] == {"reference": "Patient/x-mia"}
