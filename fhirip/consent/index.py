"""Keeping the access index: the rows `fhirip.consent.grants` derives, written in the
transaction that writes the resource they come from.

The store calls this module as it calls the search index (`Store(indexer=...)`, see
`fhirip.bootstrap`): `write_index` after every stored version, `deleted` after a
deletion, `write_new_indexes` for resources created together. Every row names its
source (`source_rid`), so a new version replaces exactly its resource's rows. A
RelatedPerson's proxy row depends on the child's birth date: a Patient's write
re-derives the rows of the RelatedPersons pointing at it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, Text, bindparam, delete, insert, select, type_coerce

from fhirip.consent.grants import INPUT_TYPES, Grant, derive, ref_key
from fhirip.store.schema import access_grant, resource, resource_link

_DELETE = delete(access_grant).where(access_grant.c.source_rid == bindparam("rid"))
_INSERT = insert(access_grant)
_CONTENT = type_coerce(resource.c.content, Text)
_PATIENT = select(_CONTENT).where(resource.c.res_type == "Patient", resource.c.res_id == bindparam("i"),
                                  resource.c.deleted.is_(False))
# By the literal links, which every write stores at once (the search rows may wait). Locked: a
# concurrent write of one of them waits, or is waited for, so its rows are derived from the
# patient's birth date as committed, whichever transaction commits last.
_RELATIVES = (select(resource.c.rid, resource.c.res_id, _CONTENT)
              .join(resource_link, resource_link.c.rid == resource.c.rid)
              .where(resource_link.c.target_type == "Patient", resource_link.c.target_id == bindparam("i"),
                     resource.c.res_type == "RelatedPerson", resource.c.deleted.is_(False))
              .with_for_update(of=resource))
_BY_RID = select(resource.c.res_type, resource.c.res_id).where(resource.c.rid == bindparam("rid"))


def prepare(res_type: str, content: dict[str, Any], ahead: Any = None) -> None:
    """Nothing ahead of the write: the rows depend on other resources, read when it is sent."""


def write_index(conn: Connection, rid: int, res_type: str, content: dict[str, Any], prepared: Any = None) -> None:
    """Replace the rows of `rid` with those of this version."""
    if res_type not in INPUT_TYPES:
        return
    conn.execute(_DELETE, {"rid": rid})
    _insert(conn, [(rid, res_type, content, grant) for grant in _derive(conn, res_type, content)])
    if res_type == "Patient":
        _rederive_relatives(conn, str(content.get("id")), content)


def write_new_indexes(conn: Connection, items: Sequence[tuple[int, str, dict[str, Any], Any]]) -> None:
    rows = [(rid, res_type, content, grant) for rid, res_type, content, _ in items if res_type in INPUT_TYPES
            for grant in _derive(conn, res_type, content)]
    _insert(conn, rows)
    for _, res_type, content, _ in items:
        if res_type == "Patient":
            _rederive_relatives(conn, str(content.get("id")), content)


def deleted(conn: Connection, rid: int) -> None:
    """A deleted resource grants nothing; a deleted Patient's relatives are no longer proxies."""
    conn.execute(_DELETE, {"rid": rid})
    found = conn.execute(_BY_RID, {"rid": rid}).first()
    if found is not None and found[0] == "Patient":
        _rederive_relatives(conn, found[1], None)


def rebuild(conn: Connection) -> None:
    """Derive every row afresh from the current resources (a new or repaired index)."""
    conn.execute(delete(access_grant))
    current = conn.execute(select(resource.c.rid, resource.c.res_type, _CONTENT).where(
        resource.c.res_type.in_(sorted(INPUT_TYPES)), resource.c.deleted.is_(False)))
    batch: list[tuple[int, str, dict[str, Any], Grant]] = []
    for rid, res_type, raw in current.all():
        content = _parsed(raw)
        batch += [(rid, res_type, content, grant) for grant in _derive(conn, res_type, content)]
        if len(batch) > 5000:
            _insert(conn, batch)
            batch = []
    _insert(conn, batch)


def _derive(conn: Connection, res_type: str, content: dict[str, Any]) -> list[Grant]:
    if res_type != "RelatedPerson":
        return derive(res_type, content)
    return derive(res_type, content, birth_date=_birth_date(conn, content))


def _birth_date(conn: Connection, related: dict[str, Any]) -> Any:
    patient = ref_key(related.get("patient"))
    if patient is None or not patient.startswith("Patient/"):
        return None
    raw = conn.execute(_PATIENT, {"i": patient.removeprefix("Patient/")}).scalar()
    return _parsed(raw).get("birthDate") if raw is not None else None


def _rederive_relatives(conn: Connection, patient_id: str, patient: dict[str, Any] | None) -> None:
    birth_date = patient.get("birthDate") if patient is not None else None
    relatives = {rid: (rid, res_id, raw) for rid, res_id, raw in conn.execute(_RELATIVES, {"i": patient_id})}
    for rid, _, raw in relatives.values():
        content = _parsed(raw)
        if ref_key(content.get("patient")) != f"Patient/{patient_id}":
            continue  # it names the patient elsewhere, not as the person it is related to
        conn.execute(_DELETE, {"rid": rid})
        _insert(conn, [(rid, "RelatedPerson", content, grant)
                       for grant in derive("RelatedPerson", content, birth_date=birth_date)])


def _parsed(raw: Any) -> dict[str, Any]:
    if isinstance(raw, (str, bytes)):
        return orjson.loads(raw)
    return raw or {}


def _json(values: Iterable[Any] | None) -> str | None:
    return None if values is None else orjson.dumps([list(v) if isinstance(v, tuple) else v
                                                     for v in values]).decode()


def _insert(conn: Connection, rows: list[tuple[int, str, dict[str, Any], Grant]]) -> None:
    if not rows:
        return
    conn.execute(_INSERT, [{
        "grantee": g.grantee, "kind": g.kind, "patient_id": g.patient_id, "target": g.target, "via": g.via,
        "effect": g.effect, "action": g.action, "view": g.view, "classes": _json(g.classes),
        "labels": _json(g.labels), "resources": _json(g.resources) if g.resources else None,
        "purposes": _json(g.purposes) if g.purposes else None, "rank": g.rank,
        "valid_from": g.valid_from, "valid_to": g.valid_to,
        "source_rid": rid, "source_type": res_type, "source_id": str(content.get("id"))}
        for rid, res_type, content, g in rows])
