"""Bulk Data `$export` (HL7 FHIR Bulk Data Access IG v2): the kick-off.

https://hl7.org/fhir/uv/bulkdata/STU2/export.html

`GET /$export`, `GET /Patient/$export` and `GET /Group/[id]/$export` with
`Prefer: respond-async` store a job and answer 202 with the status URL in `Content-Location`;
the export runs in the background (`fhirip.export.runner`) and is read as the caller reads:
each type the caller may search, what their search finds, masked where they see the
administrative view. The status URL and the files are `fhirip.interactions.export_status`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from fhirip.errors import BadRequest, FhirError, Issue, MethodNotAllowed, operation_outcome
from fhirip.export import jobs
from fhirip.export.caller import caller_json, owner_key
from fhirip.export.sweeps import compartment_types, snapshot_seq
from fhirip.interactions.access import authorize, ensure_visible
from fhirip.context import Context
from fhirip.interactions.export_status import job_url
from fhirip.interactions.request import FhirRequest, FhirResponse
from fhirip.model.dates import parse_instant
from fhirip.model.resources import is_valid_id
from fhirip.search.registry import registry
from fhirip.operations import Operation, register

BULK_DATA = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition"
OUTPUT_FORMATS = ("application/fhir+ndjson", "application/ndjson", "ndjson")
_PARAMETERS = ("_outputFormat", "_type", "_since", "_elements")
RETRY_SECONDS = "2"


class ExportRunning(FhirError):
    """The caller's previous export is not over: one at a time per caller (IG: 429)."""

    status, code = 429, "throttled"


def kick_off(ctx: Context, req: FhirRequest) -> FhirResponse:
    level = {None: "system", "Patient": "patient", "Group": "group"}[req.res_type]
    if req.method != "GET":
        raise MethodNotAllowed("$export is started with GET (its parameters in the URL)", headers={"Allow": "GET"})
    if not req.prefer_respond_async:
        raise BadRequest("$export runs asynchronously: send 'Prefer: respond-async'")
    if ctx.tx.writing:
        raise BadRequest("$export is started on its own, not as an entry of a batch or transaction")
    _refuse_unknown_parameters(req)
    # an unencoded '+' in the query arrives as a space
    output_format = (req.param("_outputFormat") or OUTPUT_FORMATS[0]).replace(" ", "+")
    if output_format not in OUTPUT_FORMATS:
        raise BadRequest(f"_outputFormat {output_format!r} is not supported; use application/fhir+ndjson",
                         expression=("_outputFormat",))
    types = _types(ctx, req, level)
    plan: dict[str, Any] = {"types": types, "since": _since(req), "elements": _elements(req)}
    if level == "group":
        plan["members"] = _members(ctx, req.res_id or "")
    if "AuditEvent" in types:  # the snapshot holds every event journalled before the kick-off
        ctx.services.audit_trail.flush()
    actor = ctx.actor
    owner = owner_key(actor)
    job_id = jobs.new_job_id()

    def store_job(tx: Any) -> str | None:
        tx.hold([f"export|{owner}"])  # one open job per caller, however many kick-offs race
        running = jobs.open_job_of(tx.conn, owner)
        if running is not None:
            return running
        jobs.create(tx.conn, job_id=job_id, owner=owner, caller=caller_json(actor), request_url=req.url,
                    level=level, plan=plan, transaction_time=_now(), snapshot_seq=snapshot_seq(tx.conn))
        return None

    if ctx.services.store.run(store_job, write=True) is not None:
        raise ExportRunning("An export of this caller is still running; wait for it (or cancel it with "
                            "DELETE on its status URL) before starting another",
                            headers={"Retry-After": RETRY_SECONDS})
    outcome = operation_outcome([Issue("information", "informational", "The export has started")])
    return FhirResponse(202, resource=outcome, headers={"Content-Location": job_url(req.base_url, job_id)})


def _refuse_unknown_parameters(req: FhirRequest) -> None:
    for name, _ in req.params:
        if name not in _PARAMETERS and req.prefer_handling != "lenient":
            raise BadRequest(f"$export does not support the parameter {name!r} (supported: "
                             f"{', '.join(_PARAMETERS)}); send 'Prefer: handling=lenient' to have it ignored",
                             expression=(name,))


def _types(ctx: Context, req: FhirRequest, level: str) -> list[str]:
    """The types asked for (each one the caller may search, else 403 as for that search), or
    every type the caller may search (of a patient's record, below system level)."""
    known = set(registry().resource_types())
    allowed = known if level == "system" else set(compartment_types())
    asked = [t.strip() for value in (v for k, v in req.params if k == "_type") for t in value.split(",") if t.strip()]
    if asked:
        unknown = [t for t in asked if t not in known]
        if unknown:
            raise BadRequest(f"_type: unknown resource type(s) {', '.join(unknown)}", expression=("_type",))
        outside = [t for t in asked if t not in allowed]
        if outside:
            raise BadRequest(f"_type: {', '.join(outside)} is not part of a patient's record; a "
                             f"{level}-level export reads the types of the Patient compartment", expression=("_type",))
        for res_type in asked:
            authorize(ctx, "search-type", res_type)
        return list(dict.fromkeys(asked))
    return sorted(t for t in allowed if ctx.access is None or ctx.access.may("search-type", t))


def _since(req: FhirRequest) -> str | None:
    value = req.param("_since")
    if value is None:
        return None
    try:
        return parse_instant(value).isoformat()
    except (ValueError, TypeError):
        raise BadRequest(f"_since {value!r} is not a FHIR instant", expression=("_since",)) from None


def _elements(req: FhirRequest) -> list[str] | None:
    value = req.param("_elements")
    if value is None:
        return None
    names = [n.strip() for n in value.split(",") if n.strip()]
    bad = [n for n in names if not n.replace("_", "").isalnum()]
    if not names or bad:
        raise BadRequest("_elements lists top-level element names, e.g. _elements=status,subject",
                         expression=("_elements",))
    return names


def _members(ctx: Context, group_id: str) -> list[str]:
    """The Patients a Group the caller may see lists as its (active) members."""
    ensure_visible(ctx, "Group", group_id)
    stored = ctx.tx.read("Group", group_id)
    content = orjson.loads(stored.content) if stored is not None and stored.content else {}
    members = []
    for member in content.get("member", []):
        reference = str((member.get("entity") or {}).get("reference", ""))
        kind, _, patient = reference.rpartition("/")
        if kind.endswith("Patient") and is_valid_id(patient) and not member.get("inactive"):
            members.append(patient)
    return list(dict.fromkeys(members))


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


_DOCUMENTATION = ("Bulk Data export (IG v2), asynchronous: send 'Prefer: respond-async'; _type, _since, "
                  "_elements, _outputFormat=application/fhir+ndjson. The export holds what the caller's own "
                  "searches find, as at the kick-off")
register(Operation("export", frozenset({"system"}), kick_off, definition=f"{BULK_DATA}/export",
                   documentation=_DOCUMENTATION))
register(Operation("export", frozenset({"type"}), kick_off, resource_types=frozenset({"Patient"}),
                   definition=f"{BULK_DATA}/patient-export", documentation=_DOCUMENTATION))
register(Operation("export", frozenset({"instance"}), kick_off, resource_types=frozenset({"Group"}),
                   definition=f"{BULK_DATA}/group-export", documentation=_DOCUMENTATION))
