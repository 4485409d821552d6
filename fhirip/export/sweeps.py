"""What an export (or `$everything`) reads: sweeps of a caller's search, in row-id order,
each resource in its version of the snapshot.

A sweep is one search — its types, its criteria, maybe a patient's compartment — run by
`fhirip.search.execute.matches_by_rid` under the caller's access policy, so it finds exactly
what that caller's search would find, chunk by chunk after a cursor. Each match is then read
as it was at the snapshot (the newest version with a sequence number at or below the one taken
at kick-off): a resource created later is left out, one changed later is exported as it was,
one whose snapshot version was deleted is left out. An older version is admitted by the
caller's policy judged on that version's own content, as a vread is. The administrative view
is masked and `_elements` applied as in a search.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, func, select

from fhirip.consent.policy import AccessPolicy
from fhirip.search.execute import matches_by_rid
from fhirip.search.registry import registry
from fhirip.search.shaping import shape_resource
from fhirip.store.schema import resource_version


@dataclass(frozen=True)
class Sweep:
    types: tuple[str, ...]
    params: tuple[tuple[str, str], ...] = ()
    compartment: tuple[str, str] | None = None


@dataclass(frozen=True)
class Found:
    rid: int
    res_type: str
    res_id: str
    version: int
    last_updated: datetime
    content: bytes  # as the caller may see it (masked, shaped)
    # Whether this is the version the search index describes (the current one), not an older
    # one read at the snapshot: what the index says of it holds for this content.
    indexed: bool = True


def compartment_types() -> tuple[str, ...]:
    """The types of a patient's record: the Patient and the types of its compartment."""
    return tuple(sorted(set(registry().patient_compartment) | {"Patient"}))


def since_params(since: datetime | None) -> tuple[tuple[str, str], ...]:
    if since is None:
        return ()
    return (("_lastUpdated", "ge" + since.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"),)


def patient_sweeps(patient_id: str, types: tuple[str, ...],
                   params: tuple[tuple[str, str], ...]) -> list[Sweep]:
    """One patient's record: the Patient itself, then its compartment's resources of `types`."""
    sweeps = []
    if "Patient" in types:
        sweeps.append(Sweep(("Patient",), (("_id", patient_id), *params)))
    others = tuple(t for t in types if t in registry().patient_compartment and t != "Patient")
    if others:
        sweeps.append(Sweep(others, params, ("Patient", patient_id)))
    return sweeps


def read_chunk(conn: Connection, policy: AccessPolicy, sweep: Sweep, *, snapshot_seq: int | None,
               after_rid: int, limit: int, since: datetime | None = None,
               elements: list[str] | None = None) -> tuple[list[Found], int | None]:
    """The next chunk of a sweep after `after_rid`: what the caller may see of it, and the
    cursor to go on from (None: the sweep is done)."""
    rows = matches_by_rid(conn, sweep.types, list(sweep.params), policy=policy, after_rid=after_rid,
                          limit=limit, compartment=sweep.compartment)
    cursor = rows[-1].rid if len(rows) == limit else None
    older = [row.rid for row in rows if snapshot_seq is not None and row.seq > snapshot_seq]
    at_snapshot = _snapshot_versions(conn, older, snapshot_seq) if older else {}
    found = []
    masks = policy.masks  # once a chunk: it looks at every grant of the caller
    for row in rows:
        version, last_updated, content = row.version, row.last_updated, bytes(row.content)
        indexed = True
        if row.rid in at_snapshot:
            kept = at_snapshot.get(row.rid)
            if kept is None:
                continue
            version, last_updated, content = kept
            indexed = False
            if not policy.may_read_version(row.res_type, orjson.loads(content)):
                continue
        if since is not None and last_updated < since:
            continue
        found.append(Found(row.rid, row.res_type, row.res_id, version, last_updated,
                           _as_seen(policy, masks, content, elements), indexed))
    return found, cursor


def _snapshot_versions(conn: Connection, rids: list[int],
                       snapshot_seq: int | None) -> dict[int, tuple[int, datetime, bytes] | None]:
    """Per rid, its newest version at or before the snapshot; None where there is none (created
    after it) or that version is a deletion."""
    v = resource_version
    rows = conn.execute(select(v.c.rid, v.c.version, v.c.last_updated, v.c.deleted, v.c.content)
                        .where(v.c.rid.in_(rids), v.c.seq <= snapshot_seq)
                        .order_by(v.c.rid, v.c.seq.desc())).all()
    kept: dict[int, tuple[int, datetime, bytes] | None] = {rid: None for rid in rids}
    seen: set[int] = set()
    for row in rows:
        if row.rid in seen:
            continue
        seen.add(row.rid)
        if not row.deleted and row.content is not None:
            kept[row.rid] = (row.version, row.last_updated, bytes(row.content))
    return kept


def _as_seen(policy: AccessPolicy, masks: bool, content: bytes, elements: list[str] | None) -> bytes:
    """The stored bytes as they are, unless masking or `_elements` may change them."""
    if not masks and not elements:
        return content
    resource: dict[str, Any] = orjson.loads(content)
    if masks:
        resource = policy.mask(resource)
    if elements:
        resource = shape_resource(resource, None, elements)
    return orjson.dumps(resource)


def snapshot_seq(conn: Connection) -> int:
    """The newest version's sequence number: what a snapshot taken now reads up to."""
    return conn.execute(select(func.coalesce(func.max(resource_version.c.seq), 0))).scalar_one()
