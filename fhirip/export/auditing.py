"""The AuditEvents of an export: one per patient whose record a chunk exported, in that
patient's log, naming the export (its job) and the patient's resources in it.

Which patients' records a chunk's resources are in is read from the search index in one
statement per chunk: the rows of the Patient compartment's parameters that name a Patient (the
same parameters and expressions `fhirip.consent.compartment.patients_of` evaluates), so a large
export does not evaluate FHIRPath on every resource. A resource exported in an older version
than the one indexed is judged from that version's own content.

The events are made in the transaction that read the chunk (the index as the chunk saw it) and
journalled together, one batch per chunk.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import orjson
from sqlalchemy import BigInteger, ColumnElement, Connection, String, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY

from fhirip.audit import audit_event
from fhirip.consent.compartment import patients_of
from fhirip.consent.vocabulary import compartment_params
from fhirip.export.sweeps import Found
from fhirip.store.schema import search_reference

# Resources named in one patient's AuditEvent for one chunk (as a search's event names its first).
MAX_REFERENCES = 200
# One instance: SQLAlchemy adapts a type to the dialect once per instance.
_RIDS = ARRAY(BigInteger)


def patients_by_rid(conn: Connection, found: list[Found]) -> dict[int, set[str]]:
    owners: dict[int, set[str]] = {item.rid: set() for item in found}
    params = compartment_params()
    indexed = [item.rid for item in found if item.res_type in params and item.indexed]
    if indexed:
        link = search_reference
        rows = conn.execute(select(link.c.rid, link.c.res_type, link.c.param, link.c.target_id).where(
            _one_of(link.c.rid, indexed, conn.dialect.name), link.c.target_type == "Patient")).all()
        for rid, res_type, param, patient in rows:
            if patient and param in params.get(res_type, ()):
                owners[rid].add(patient)
    for item in found:
        if item.res_type == "Patient":
            owners[item.rid].add(item.res_id)
        elif not item.indexed:
            owners[item.rid] = set(patients_of(orjson.loads(item.content)))
    return owners


def _one_of(column: Any, rids: list[int], dialect: str) -> ColumnElement[bool]:
    """`column IN (rids)` with the chunk's row ids as one parameter (`= ANY(array)`; on SQLite a
    JSON array): the statement's text is the same for every chunk, not a thousand parameters
    rendered and parsed again each time."""
    if dialect == "postgresql":
        return column == any_(bindparam(None, rids, type_=_RIDS))
    listed = func.json_each(bindparam(None, orjson.dumps(rids).decode(), type_=String)).table_valued("value")
    return column.in_(select(listed.c.value))


def export_events(conn: Connection, job: Any, policy: Any, found: list[Found]) -> list[dict[str, Any]]:
    by_patient: dict[str, list[str]] = {}
    owners = patients_by_rid(conn, found)
    for item in found:
        for patient in owners[item.rid]:
            refs = by_patient.setdefault(patient, [])
            if len(refs) < MAX_REFERENCES:
                refs.append(f"{item.res_type}/{item.res_id}/_history/{item.version}")
    if not by_patient:
        return []
    actor = policy.resolved_actor
    url = job.request_url.split("?", 1)[0] + f" (export {job.job_id})"
    recorded = datetime.now(UTC)
    events = [audit_event(actor, interaction="operation", outcome="0", resource_refs=refs,
                          patient_refs=[f"Patient/{patient}"], request_url=url, method="GET", status=200,
                          break_the_glass=bool(policy.break_the_glass), recorded=recorded,
                          consent_refs=policy.consents_for(patient))
              for patient, refs in sorted(by_patient.items())]
    for event in events:
        event["id"] = str(uuid4())
    return events
