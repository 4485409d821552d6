"""The status URL of a Bulk Data export and its files.

https://hl7.org/fhir/uv/bulkdata/STU2/export.html#bulk-data-status-request

`GET /_export/[job]`: 202 with `X-Progress` and `Retry-After` while the job runs, then 200 with
the manifest; `DELETE /_export/[job]`: the job is cancelled and its files removed (202);
`GET /_export/[job]/[file]`: one NDJSON file. Only the caller who started the job gets any of
these: for anyone else, and once the job has expired, the job answers like an unknown one (404).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from fhirip.errors import BadRequest, FhirError, NotFound
from fhirip.export import files, jobs
from fhirip.export.caller import owner_key
from fhirip.context import Context
from fhirip.interactions.request import FhirRequest, FhirResponse

SEGMENT = "_export"
RETRY_SECONDS = "2"


def job_url(base_url: str, job_id: str) -> str:
    return f"{base_url.rstrip('/')}/{SEGMENT}/{job_id}"


def _unknown(job_id: str) -> NotFound:
    return NotFound(f"No export {job_id} is known")


def _own_job(ctx: Context, job_id: str) -> Any:
    if ctx.actor is None:
        raise _unknown(job_id)
    job = jobs.job_of(ctx.tx.conn, job_id, owner_key(ctx.actor), _now())
    if job is None:
        raise _unknown(job_id)
    return job


def status(ctx: Context, req: FhirRequest) -> FhirResponse:
    job = _own_job(ctx, req.res_id or "")
    if job.status in jobs.OPEN:
        return FhirResponse(202, headers={"X-Progress": f"{job.status}: {job.exported} resources exported",
                                          "Retry-After": RETRY_SECONDS})
    if job.status == "failed":
        error = FhirError(f"The export failed: {job.error}")
        raise error
    base = req.base_url.rstrip("/")
    manifest = {
        "transactionTime": job.transaction_time.isoformat(timespec="milliseconds") + "Z",
        "request": job.request_url,
        "requiresAccessToken": True,
        "output": [{"type": o.res_type, "url": f"{job_url(base, job.job_id)}/{o.file}", "count": o.count}
                   for o in jobs.outputs_of(job.outputs) if o.count],
        "error": [],
    }
    headers = {"Expires": job.expires.strftime("%a, %d %b %Y %H:%M:%S GMT")} if job.expires else {}
    return FhirResponse(200, body=orjson.dumps(manifest), headers={"Content-Type": "application/json", **headers})


def cancel(ctx: Context, req: FhirRequest) -> FhirResponse:
    if ctx.tx.writing:
        raise BadRequest("An export is cancelled on its own, not as an entry of a batch or transaction")
    job = _own_job(ctx, req.res_id or "")
    ctx.services.store.run(lambda tx: jobs.remove(tx.conn, job.job_id), write=True)
    # A runner in the middle of a chunk of this job removes the directory again when it sees the job gone.
    files.remove_directory(files.job_directory(ctx.settings.effective_export_dir, job.job_id))
    return FhirResponse(202)


def download(ctx: Context, req: FhirRequest) -> FhirResponse:
    job = _own_job(ctx, req.res_id or "")
    name = req.version_id or ""  # the file's name
    listed = {o.file for o in jobs.outputs_of(job.outputs)} if job.status == "done" else set()
    if name not in listed:
        raise NotFound(f"Export {job.job_id} has no file {name}")
    content = (files.job_directory(ctx.settings.effective_export_dir, job.job_id) / name).read_bytes()
    return FhirResponse(200, body=content, headers={"Content-Type": files.NDJSON})


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
