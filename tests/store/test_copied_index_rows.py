"""On PostgreSQL, index rows sent by COPY (a batch of many, as the audit journal's mover sends them)
are stored exactly as the same rows sent in one statement of arrays (a batch of a few): every
index table, awkward text, absent values, numbers, instants."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert, select

from fhirip.audit import audit_event
from fhirip.auth.actor import Actor, ActorKind
from fhirip.search import index_sql
from fhirip.search.index import INDEX_TABLES, extract, registry
from fhirip.store import Store
from fhirip.store.schema import resource

AWKWARD = "Ærlig \"sitat\" \\ tab\there\nny linje, {klammer}, 'apostrof', NULL, \\N, 😀"

RESOURCES: list[tuple[str, dict[str, Any]]] = [
    ("Patient", {"resourceType": "Patient", "id": "p1", "birthDate": "1970-02-03",
                 "name": [{"family": AWKWARD, "given": ["Kari", ""]}],
                 "identifier": [{"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": "13116900216"}]}),
    ("Observation", {"resourceType": "Observation", "id": "o1", "status": "final",
                     "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7", "display": "Vekt"}]},
                     "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2026-03-01T10:00:00+01:00",
                     "valueQuantity": {"value": 72, "unit": "kg", "system": "http://unitsofmeasure.org",
                                       "code": "kg"}}),
    ("RiskAssessment", {"resourceType": "RiskAssessment", "id": "r1", "status": "final",
                        "subject": {"reference": "Patient/p1"},
                        "prediction": [{"probabilityDecimal": 0.25}, {"probabilityDecimal": 1}]}),
    ("AuditEvent", audit_event(
        Actor(sub="pseudonym", kind=ActorKind.PRACTITIONER, issuer="https://helseid.test", client_id="ip-app",
              hpr_number="9144900", org_number="974589095", name=AWKWARD, roles=("Lege",)),
        interaction="read", outcome="0", resource_refs=["CarePlan/cp1"], patient_refs=["Patient/p1"],
        request_url="/fhir/CarePlan/cp1", method="GET", status=200, break_the_glass=False,
        recorded=datetime(2026, 3, 1, 12, 30, tzinfo=UTC), consent_refs=["Consent/c1"], client_address="10.0.0.1")),
]


@pytest.fixture()
def pg_store(store: Store) -> Store:
    if store.dialect != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    return store


def _new_rids(store: Store, count: int) -> list[int]:
    def work(tx: Any) -> list[int]:
        return list(tx.conn.execute(insert(resource).returning(resource.c.rid), [
            {"res_type": "Basic", "res_id": str(uuid.uuid4()), "version": 1, "last_updated": datetime(2026, 1, 1),
             "deleted": False, "content": None} for _ in range(count)]).scalars())
    return store.run(work, write=True)


def _batch(rids: list[int]) -> dict[Any, list[tuple[Any, ...]]]:
    """Every resource's generic rows, by table, as tuples in column order with the given rids."""
    batch: dict[Any, list[tuple[Any, ...]]] = {}
    for rid, (res_type, content) in zip(rids, RESOURCES, strict=True):
        for table, rows in extract(registry(), res_type, content).items():
            if not rows:
                continue
            names = [column.name for column in table.c]
            batch.setdefault(table, []).extend(tuple(rid if name == "rid" else row.get(name) for name in names)
                                               for row in rows)
    return batch


def _stored(store: Store, rids: list[int]) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of `rids` in every index table, each rid by its resource's position."""
    position = {rid: number for number, rid in enumerate(rids)}

    def read(tx: Any) -> dict[str, list[tuple[Any, ...]]]:
        return {table.name: sorted(((position[row[0]], *row[1:]) for row in tx.conn.execute(
            select(table).where(table.c.rid.in_(rids)))), key=repr) for table in INDEX_TABLES}
    return store.run(read, write=False)


def test_copied_rows_are_the_rows_sent_as_arrays(pg_store: Store) -> None:
    by_arrays, copied = _new_rids(pg_store, len(RESOURCES)), _new_rids(pg_store, len(RESOURCES))
    batch = _batch(by_arrays)
    assert {table.name for table in batch} >= {"search_string", "search_token", "search_reference", "search_date",
                                                "search_number", "search_quantity", "search_sort"}
    pg_store.run(lambda tx: index_sql._unnest_rows(tx.conn, batch), write=True)
    pg_store.run(lambda tx: index_sql._copy_rows(tx.conn, _batch(copied)), write=True)
    expected = _stored(pg_store, by_arrays)
    assert sum(map(len, expected.values())) == sum(map(len, batch.values()))
    assert _stored(pg_store, copied) == expected


def test_a_batch_of_many_rows_is_copied_and_stored_whole(pg_store: Store) -> None:
    """Through the indexer's one entry: past `COPIED_FROM_ROWS` rows, the same rows as one by one."""
    count = index_sql.COPIED_FROM_ROWS // 10 + 1
    rids = _new_rids(pg_store, count * len(RESOURCES))
    per_resource = []
    for start in range(0, len(rids), len(RESOURCES)):
        per_resource.append(_batch(rids[start:start + len(RESOURCES)]))
    assert sum(len(rows) for found in per_resource for rows in found.values()) >= index_sql.COPIED_FROM_ROWS
    pg_store.run(lambda tx: index_sql.insert_rows(tx.conn, per_resource), write=True)
    alone = _new_rids(pg_store, len(RESOURCES))
    pg_store.run(lambda tx: index_sql.insert_rows(tx.conn, [_batch(alone)]), write=True)
    expected = _stored(pg_store, alone)
    for start in range(0, len(rids), len(RESOURCES)):
        assert _stored(pg_store, rids[start:start + len(RESOURCES)]) == expected
