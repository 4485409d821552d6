"""The export runner: a process beside each server that works through the export jobs.

Started by the server process as it boots (the gunicorn master under preload, like the audit
journal mover, `fhirip.audit.mover`), it ends when that process ends or on SIGTERM. It claims
one open job at a time (`jobs.claim`), reads it chunk by chunk as the job's caller
(`sweeps.read_chunk` under `decide` for that caller, decided afresh for every chunk), appends
each chunk to the job's files, journals in one batch the AuditEvents made as the chunk was read
(one for each patient it exported, `auditing`), and records the progress with the files' sizes
in one short write transaction. Finished jobs are
removed with their files once they expire. Runners of several servers on one database share
the jobs: a claim is a lease, renewed with each recorded chunk.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from fhirip.companions import Companion, Stopped, stop_on_signals
from fhirip.config import Settings
from fhirip.export import files, jobs
from fhirip.export.caller import caller_from_json
from fhirip.export.plan import sweeps_of
from fhirip.export.sweeps import Found

_LOG = logging.getLogger(__name__)
_URL_VARIABLE = "FHIRIP_EXPORT_RUNNER_DATABASE_URL"
# Resources in one NDJSON file: a download is read whole, so a file stays a few megabytes.
PER_FILE = 10_000
IDLE_SECONDS = 1.0


def runner_beside(settings: Settings) -> Companion:
    """The runner of the jobs of `settings`' database, a companion of the server process."""
    options = {"export_dir": str(settings.effective_export_dir.resolve()),
               "retention": settings.export_retention_seconds, "lease": settings.export_lease_seconds,
               "chunk": settings.export_chunk, "pause_ms": settings.export_pause_ms}
    return Companion("fhirip.export.runner", [orjson.dumps(options).decode()], url_variable=_URL_VARIABLE,
                     url=settings.effective_database_url)


class Runner:
    def __init__(self, store: Any, *, export_dir: Path, retention: int, lease: int, chunk: int,
                 pause_ms: int = 0):
        self.store = store
        self.export_dir = export_dir
        self.retention = timedelta(seconds=retention)
        self.lease = timedelta(seconds=lease)
        self.chunk = chunk
        self.pause = pause_ms / 1000
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    def run_once(self) -> bool:
        """Remove expired jobs, then run one open job if there is one; whether there was."""
        self.remove_expired()
        job = self.store.run(lambda tx: jobs.claim(tx.conn, self.name, _now(), self.lease),
                             write=True, unlimited=True)
        if job is None:
            return False
        try:
            self.run_job(job)
        except Stopped:
            raise
        except Exception as error:  # noqa: BLE001 - the job fails with its reason; the runner goes on
            _LOG.exception("export job %s failed", job.job_id)
            reason = str(error)[:500]
            self.store.run(lambda tx: jobs.finish(tx.conn, job.job_id, self.name, now=_now(),
                                                  retention=self.retention, error=reason),
                           write=True, unlimited=True)
        return True

    def run_job(self, job: Any) -> None:
        from fhirip.consent import decide

        actor = caller_from_json(job.caller)
        plan = orjson.loads(job.plan)
        sweeps = sweeps_of(job.level, plan)
        since = datetime.fromisoformat(plan["since"]) if plan.get("since") else None
        directory = files.job_directory(self.export_dir, job.job_id)
        outputs = jobs.outputs_of(job.outputs)
        files.keep_recorded(directory, outputs)
        sweep, after_rid, exported = job.sweep, job.after_rid, job.exported
        while sweep < len(sweeps):
            def read(tx: Any) -> tuple[list[Found], int | None, list[dict[str, Any]]]:
                from fhirip.export.auditing import export_events
                from fhirip.export.sweeps import read_chunk

                policy = decide(tx.conn, actor, token_issued_at=actor.issued_at)
                found, cursor = read_chunk(tx.conn, policy, sweeps[sweep], snapshot_seq=job.snapshot_seq,
                                           after_rid=after_rid, limit=self.chunk, since=since,
                                           elements=plan.get("elements"))
                return found, cursor, export_events(tx.conn, job, policy, found) if found else []

            found, cursor, events = self.store.run(read, write=False, unlimited=True)
            # A chunk that took longer than the lease may have lost the job to another runner.
            if not self.store.run(lambda tx: jobs.renew(tx.conn, job.job_id, self.name, _now() + self.lease),
                                  write=True, unlimited=True):
                return self.let_go(job, directory)
            outputs = files.append(directory, outputs, found, PER_FILE)
            self.audit(events)
            exported += len(found)
            sweep, after_rid = (sweep + 1, 0) if cursor is None else (sweep, cursor)
            if not self.store.run(lambda tx: jobs.record_chunk(
                    tx.conn, job.job_id, self.name, sweep=sweep, after_rid=after_rid, exported=exported,
                    outputs=outputs, lease_until=_now() + self.lease), write=True, unlimited=True):
                return self.let_go(job, directory)
            if self.pause:
                time.sleep(self.pause)
        self.store.run(lambda tx: jobs.finish(tx.conn, job.job_id, self.name, now=_now(),
                                              retention=self.retention), write=True, unlimited=True)

    def let_go(self, job: Any, directory: Path) -> None:
        """The job is no longer this runner's: cancelled (its files go with it), or taken over."""
        if self.store.run(lambda tx: jobs.job_of(tx.conn, job.job_id, job.owner, _now()), write=False) is None:
            files.remove_directory(directory)

    def audit(self, events: list[dict[str, Any]]) -> None:
        """Journal a chunk's AuditEvents (`auditing`: one per patient whose record it exported),
        in one transaction of their own."""
        from fhirip.audit.journal import append

        append(self.store, events)

    def remove_expired(self) -> None:
        gone = self.store.run(lambda tx: jobs.expired(tx.conn, _now()), write=False)
        for job_id in gone:
            files.remove_directory(files.job_directory(self.export_dir, job_id))
            self.store.run(lambda tx, job_id=job_id: jobs.remove(tx.conn, job_id), write=True)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def run_forever(url: str, parent_pid: int, options: dict[str, Any]) -> None:
    from fhirip.heap import settle_heap
    from fhirip.search import index as search_index
    from fhirip.store import Store

    store = Store(url, indexer=search_index)
    settle_heap()
    runner = Runner(store, export_dir=Path(options["export_dir"]), retention=options["retention"],
                    lease=options["lease"], chunk=options["chunk"], pause_ms=options["pause_ms"])
    try:
        while os.getppid() == parent_pid:  # a runner outlives no server
            try:
                worked = runner.run_once()
            except Stopped:
                raise
            except Exception:  # noqa: BLE001 - e.g. the database restarting: the next round retries
                _LOG.exception("the export runner failed; retrying in %s s", IDLE_SECONDS)
                worked = False
            if not worked:
                time.sleep(IDLE_SECONDS)
    except Stopped:
        pass
    finally:
        store.dispose()


def main(argv: list[str]) -> int:
    """`python -m fhirip.export.runner PARENT_PID OPTIONS_JSON`, the database URL in the environment."""
    stop_on_signals()
    logging.basicConfig(level=logging.WARNING)
    try:
        run_forever(os.environ[_URL_VARIABLE], int(argv[0]), orjson.loads(argv[1]))
    except Stopped:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
