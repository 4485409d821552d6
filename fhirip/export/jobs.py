"""Export jobs in the database: kick-off, claiming by a runner, progress, the end and expiry.

A job is claimed by one runner at a time through a lease (`lease_until`) that the runner renews
with every chunk it records; a runner killed mid-job leaves a lease that runs out, and the next
runner to look (of this server after a restart, or of another server on the same database)
takes the job over from its last recorded chunk. On PostgreSQL the claim skips rows another
runner is claiming at that moment (FOR UPDATE SKIP LOCKED); on SQLite the single writer orders
the claims.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, delete, or_, select, update

from fhirip.store.schema import export_job

# Statuses of a job that is not over yet.
OPEN = ("queued", "running")


@dataclass(frozen=True)
class Output:
    res_type: str
    file: str
    count: int
    size: int  # bytes written and recorded: a file longer than this is cut back on resume

    def json(self) -> dict[str, Any]:
        return {"type": self.res_type, "file": self.file, "count": self.count, "size": self.size}


def outputs_of(text: str) -> list[Output]:
    return [Output(o["type"], o["file"], o["count"], o["size"]) for o in orjson.loads(text)]


def outputs_text(outputs: list[Output]) -> str:
    return orjson.dumps([o.json() for o in outputs]).decode()


def new_job_id() -> str:
    return secrets.token_urlsafe(18)


def create(conn: Connection, *, job_id: str, owner: str, caller: str, request_url: str, level: str,
           plan: dict[str, Any], transaction_time: datetime, snapshot_seq: int) -> None:
    conn.execute(export_job.insert().values(
        job_id=job_id, owner=owner, caller=caller, request_url=request_url, level=level,
        plan=orjson.dumps(plan).decode(), transaction_time=transaction_time, snapshot_seq=snapshot_seq,
        status="queued", sweep=0, after_rid=0, exported=0, outputs="[]", created=transaction_time))


def open_job_of(conn: Connection, owner: str) -> str | None:
    """The caller's job that is not over yet, if any."""
    return conn.execute(select(export_job.c.job_id).where(
        export_job.c.owner == owner, export_job.c.status.in_(OPEN)).limit(1)).scalar()


def job_of(conn: Connection, job_id: str, owner: str, now: datetime) -> Any:
    """The caller's own job, unless it has expired; None for anyone else's, as for an unknown one."""
    row = conn.execute(select(export_job).where(export_job.c.job_id == job_id)).first()
    if row is None or row.owner != owner or (row.expires is not None and row.expires <= now):
        return None
    return row


def claim(conn: Connection, runner: str, now: datetime, lease: timedelta) -> Any:
    """Take the oldest open job no runner holds (or whose runner's lease ran out); None if none."""
    free = or_(export_job.c.lease_until.is_(None), export_job.c.lease_until < now)
    query = select(export_job.c.job_id).where(export_job.c.status.in_(OPEN), free) \
        .order_by(export_job.c.created).limit(1)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    job_id = conn.execute(query).scalar()
    if job_id is None:
        return None
    conn.execute(update(export_job).where(export_job.c.job_id == job_id).values(
        runner=runner, lease_until=now + lease, status="running"))
    return conn.execute(select(export_job).where(export_job.c.job_id == job_id)).first()


def record_chunk(conn: Connection, job_id: str, runner: str, *, sweep: int, after_rid: int, exported: int,
                 outputs: list[Output], lease_until: datetime) -> bool:
    """Record a chunk's progress; False when the job is no longer this runner's (cancelled, or
    taken over after its lease ran out), and the runner must stop."""
    done = conn.execute(update(export_job).where(
        export_job.c.job_id == job_id, export_job.c.runner == runner, export_job.c.status == "running")
        .values(sweep=sweep, after_rid=after_rid, exported=exported, outputs=outputs_text(outputs),
                lease_until=lease_until))
    return done.rowcount == 1


def renew(conn: Connection, job_id: str, runner: str, lease_until: datetime) -> bool:
    """Extend this runner's lease before it writes a chunk's files; False when the job is no
    longer its own (so it never writes into files another runner has taken over)."""
    done = conn.execute(update(export_job).where(
        export_job.c.job_id == job_id, export_job.c.runner == runner, export_job.c.status == "running")
        .values(lease_until=lease_until))
    return done.rowcount == 1


def finish(conn: Connection, job_id: str, runner: str, *, now: datetime, retention: timedelta,
           error: str | None = None) -> bool:
    done = conn.execute(update(export_job).where(
        export_job.c.job_id == job_id, export_job.c.runner == runner, export_job.c.status == "running")
        .values(status="failed" if error else "done", error=error, finished=now, expires=now + retention,
                lease_until=None))
    return done.rowcount == 1


def remove(conn: Connection, job_id: str) -> None:
    conn.execute(delete(export_job).where(export_job.c.job_id == job_id))


def expired(conn: Connection, now: datetime) -> list[str]:
    return list(conn.execute(select(export_job.c.job_id).where(export_job.c.expires <= now)).scalars())
