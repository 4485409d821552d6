"""Several export runners on one database (servers sharing it) share the jobs: each job is
claimed by one runner at a time, every job is finished, and each file holds every resource once.
The runners run at once, in threads, against a real store of each kind (PostgreSQL claims with
FOR UPDATE SKIP LOCKED)."""

from __future__ import annotations

import threading
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
from fhirip.store.schema import export_job

JOBS = 6


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_runners_sharing_a_database_finish_every_job_once(kind: str, postgres: Any, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    url = database_url(kind, postgres, tmp_path, "export_runners")
    store = Store(url, indexer=search_index)
    store.migrate()
    load(url, world.records())
    now = datetime.now(UTC).replace(tzinfo=None)
    with store.transaction(write=True) as tx:
        for number in range(JOBS):
            actor = Actor.from_claims(world.system(name=f"runner-test-{number}"))
            jobs.create(tx.conn, job_id=f"job-{number}", owner=owner_key(actor), caller=caller_json(actor),
                        request_url="http://test/$export", level="system",
                        plan={"types": ["Observation", "Patient"], "since": None, "elements": None},
                        transaction_time=now, snapshot_seq=snapshot_seq(tx.conn))
    runners = [Runner(store, export_dir=tmp_path / "exports", retention=3600, lease=600, chunk=5)
               for _ in range(3)]
    for number, runner in enumerate(runners):
        runner.name = f"runner-{number}"  # three servers' runners
    ran: dict[str, list[str]] = {r.name: [] for r in runners}
    start = threading.Barrier(len(runners))

    def work(runner: Runner) -> None:
        claim = runner.store.run
        start.wait()
        while True:
            job = claim(lambda tx: jobs.claim(tx.conn, runner.name, datetime.now(UTC).replace(tzinfo=None),
                                              runner.lease), write=True)
            if job is None:
                return
            ran[runner.name].append(job.job_id)
            runner.run_job(job)

    threads = [threading.Thread(target=work, args=(runner,)) for runner in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    claimed = [job for names in ran.values() for job in names]
    assert sorted(claimed) == [f"job-{n}" for n in range(JOBS)]  # each once
    with store.transaction(write=False) as tx:
        rows = tx.conn.execute(select(export_job)).all()
    store.dispose()
    assert {row.status for row in rows} == {"done"}
    for row in rows:
        outputs = {o.res_type: o for o in jobs.outputs_of(row.outputs)}
        lines = (tmp_path / "exports" / row.job_id / outputs["Observation"].file).read_bytes().splitlines()
        ids = [orjson.loads(line)["id"] for line in lines]
        assert sorted(ids) == sorted(f"x-obs-mia-{n}" for n in range(world.OBSERVATIONS))
        assert outputs["Patient"].count == 2
