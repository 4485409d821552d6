"""Moving the audit journal writes, for every AuditEvent, exactly the index rows the generic indexer
writes, and AuditEvent searches answer the same; other journalled resources keep the generic
indexer, and so does a store with an indexer of its own. Both stores."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from audit_event_strategies import odd_events, trail_events
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from fhirip.audit import audit_event
from fhirip.audit.event_index import AuditEventIndex
from fhirip.audit.mover import move_all
from fhirip.search import index as search_index
from fhirip.search import search
from fhirip.search.index import INDEX_TABLES
from fhirip.search.index_sql import COPIED_FROM_ROWS
from fhirip.store import Store
from fhirip.audit.journal import append
from fhirip.store.schema import resource, resource_version
from fhirip.testing.live import database_url
from fhirip.testing.postgres import TemporaryPostgres


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, postgres: TemporaryPostgres | None,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    tmp: Path = tmp_path_factory.mktemp(f"event-index-{request.param}")
    built = Store(database_url(request.param, tmp, postgres, "eventindex"), indexer=search_index)
    built.migrate()
    yield built
    built.dispose()


def index_rows(store: Store, rids: list[int]) -> dict[str, list[tuple[Any, ...]]]:
    """Every index row of these resources, table by table, in one order."""
    def read(tx: Any) -> dict[str, list[tuple[Any, ...]]]:
        return {table.name: sorted((tuple(row) for row in tx.conn.execute(
            select(table).where(table.c.rid.in_(rids)))), key=repr) for table in INDEX_TABLES}
    return store.run(read, write=False)


def moved(store: Store, resources: list[dict[str, Any]], chunk: int = 3) -> dict[str, int]:
    """Journal `resources` (fresh ids), move the journal as a mover does (chunks prepared before
    their write transaction); the rid of each id."""
    for item in resources:
        item["id"] = str(uuid.uuid4())
    append(store, resources)
    assert move_all(store, chunk=chunk, index=AuditEventIndex()) == len(resources)
    ids = [item["id"] for item in resources]
    return dict(store.run(lambda tx: tx.conn.execute(
        select(resource.c.res_id, resource.c.rid).where(resource.c.res_id.in_(ids))).all(), write=False))


def reindexed_generically(store: Store, resources: list[dict[str, Any]], rids: dict[str, int]) -> None:
    def work(tx: Any) -> None:
        for item in resources:
            search_index.write_index(tx.conn, rids[item["id"]], item["resourceType"], item)
    store.run(work, write=True)


COMMUNICATION = {"resourceType": "Communication", "status": "completed", "subject": {"reference": "Patient/p1"},
                 "payload": [{"contentString": "break-the-glass access to your record"}]}


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(trail_events(), min_size=1, max_size=6), st.lists(odd_events(), max_size=2), st.booleans())
def test_moved_events_have_exactly_the_generic_index_rows(store: Store, events: list[dict[str, Any]],
                                                          odd: list[dict[str, Any]], notice: bool) -> None:
    resources = [*events, *(o for o in odd if o["resourceType"] == "AuditEvent" and _indexable(o))]
    if notice:
        resources.insert(len(resources) // 2, dict(COMMUNICATION))
    rids = moved(store, resources)
    fast = index_rows(store, list(rids.values()))
    assert any(fast.values())
    reindexed_generically(store, resources, rids)
    assert index_rows(store, list(rids.values())) == fast


@settings(max_examples=2, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(trail_events(), min_size=80, max_size=80))
def test_a_chunk_of_many_rows_gets_exactly_the_generic_index_rows(store: Store, events: list[dict[str, Any]]) -> None:
    """A chunk as large as a busy mover's: its rows go together (on PostgreSQL by COPY,
    `fhirip.search.index_sql.COPIED_FROM_ROWS`)."""
    rids = moved(store, events, chunk=len(events))
    fast = index_rows(store, list(rids.values()))
    assert sum(map(len, fast.values())) >= COPIED_FROM_ROWS
    reindexed_generically(store, events, rids)
    assert index_rows(store, list(rids.values())) == fast


def _indexable(event: dict[str, Any]) -> bool:
    """An event the generic extractor indexes (it refuses some odd ones, and so the store would)."""
    try:
        search_index.extract(search_index.registry(), "AuditEvent", event)
    except (ValueError, TypeError, AttributeError):
        return False
    return True


QUERIES = [
    [("patient", "Patient/p1")], [("entity", "CarePlan/cp1")], [("entity-role", "4")],
    [("entity-type", "http://terminology.hl7.org/CodeSystem/audit-entity-type|1")],
    [("agent", "Device/ip-app")], [("agent:identifier", "urn:oid:2.16.578.1.12.4.1.4.4|9144900")],
    [("agent-name", "kari")], [("agent-role", "PROV")], [("altid", "pseudonym")], [("address", "10.1")],
    [("_security", "BTG")], [("subtype", "search-type")], [("action", "E")], [("outcome", "4")],
    [("type", "rest")], [("date", "ge2025-01-01")], [("date", "lt2023-06-01T10:00:00+02:00")],
    [("entity-role:text", "query")], [("_sort", "date")], [("_sort", "-agent-name")],
]


def answers(store: Store) -> list[list[str]]:
    def ask(tx: Any) -> list[list[str]]:
        return [[entry.res_id for entry in search(tx.conn, "AuditEvent", [*query, ("_count", "500")],
                                                  base_url="").entries] for query in QUERIES]
    return store.run(ask, write=False)


@settings(max_examples=3, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(trail_events(), min_size=40, max_size=40))
def test_audit_event_searches_answer_as_with_the_generic_rows(store: Store, events: list[dict[str, Any]]) -> None:
    rids = moved(store, events)
    fast = answers(store)
    reindexed_generically(store, events, rids)
    assert answers(store) == fast
    assert sum(map(len, fast)) > len(QUERIES)  # the queries find events


@settings(max_examples=5, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(trail_events())
def test_a_moved_event_is_stored_as_journalled(store: Store, event: dict[str, Any]) -> None:
    rid = moved(store, [event])[event["id"]]
    stored = store.run(lambda tx: tx.conn.execute(
        select(resource_version.c.content, resource_version.c.version, resource_version.c.method)
        .where(resource_version.c.rid == rid)).one(), write=False)
    content = orjson.loads(stored[0])
    assert content["id"] == event["id"] and stored[1:] == (1, "POST")
    assert {k: v for k, v in content.items() if k != "meta"} == {k: v for k, v in event.items() if k != "meta"}


EXAMPLES = [audit_event(None, interaction="read", outcome="4", resource_refs=["CarePlan/cp1"], patient_refs=[],
                         request_url="/fhir/CarePlan/cp1", method="GET", status=401, break_the_glass=False,
                         recorded=datetime(2026, 3, 1, 12, 30, tzinfo=UTC), client_address="10.1.2.3")
            for _ in range(3)]


class RecordingIndexer:
    """An indexer of a store's own (not the generic one): the journal must leave it in charge."""

    def __init__(self) -> None:
        self.indexed: list[str] = []

    def prepare(self, res_type: str, resource: dict[str, Any], ahead: Any = None) -> None:
        """Rows found ahead (the journal's walk over each event) are the generic index's: not taken."""

    def write_index(self, conn: Any, rid: int, res_type: str, resource: dict[str, Any], prepared: Any = None) -> None:
        self.indexed.append(resource["id"])

    def deleted(self, conn: Any, rid: int) -> None:
        pass

    def write_new_indexes(self, conn: Any, items: Any) -> None:
        self.indexed += [item["id"] for _, _, item, _ in items]


def test_a_store_with_an_indexer_of_its_own_indexes_moved_events_with_it(store: Store) -> None:
    indexer = RecordingIndexer()
    own = Store(store.url, indexer=indexer)
    try:
        events = [orjson.loads(orjson.dumps(example)) for example in EXAMPLES]
        rids = moved(own, events)
        assert indexer.indexed == [e["id"] for e in events]
        assert not any(index_rows(store, list(rids.values())).values())
    finally:
        own.dispose()
