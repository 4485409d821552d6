"""Long work cannot stall others: a search is read without the write lock (its result pages are
stored in a short write transaction of their own), and a request's statements have a time limit
that ends in a 400 too-costly OperationOutcome. Both stores, through real HTTP.

https://hl7.org/fhir/R4/search.html#paging
https://hl7.org/fhir/R4/valueset-issue-type.html (too-costly)
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from rest_checks import assert_outcome, patient
from sqlalchemy import event, text

from fhirip.interactions.auditing import failure_event
from fhirip.context import Services
from fhirip.interactions.request import FhirRequest
from fhirip.store.records import first_versions
from fhirip.testing.live import SYSTEM_CLAIMS, Fhir, LiveServer, make_services, token_for
from fhirip.testing.postgres import TemporaryPostgres

EVENTS = 3000
# PostgreSQL bounds each statement: the test there makes one wait past this. SQLite bounds the
# request's transaction: a millisecond is past by the time a search of EVENTS events sorts them.
POSTGRESQL_LIMIT_MS = 1000
SQLITE_LIMIT_MS = 1


def _audit_events(count: int) -> list[dict]:
    events = []
    for n in range(count):
        req = FhirRequest(method="GET", base_url="http://fhirip.test", url=f"http://fhirip.test/Patient/p{n}")
        req.res_type, req.res_id = "Patient", f"p{n}"
        item = failure_event(None, req, ("read", "create", "update", "delete")[n % 4], 404, "127.0.0.1")
        item["id"] = str(uuid.uuid4())
        item["recorded"] = f"20{10 + n % 15}-0{1 + n % 9}-1{n % 10}T10:00:00Z"
        events.append(item)
    return events


def _server_with_events(kind: str, tmp: Path, postgres: TemporaryPostgres | None, name: str,
                        limit_ms: int | None) -> tuple[LiveServer, Fhir]:
    """A server holding EVENTS AuditEvents, stored through the store as the audit mover stores
    them, whose requests' statements may run `limit_ms` (None: the default)."""
    extra = {} if limit_ms is None else {"statement_timeout_ms": limit_ms}
    services: Services = make_services(kind, tmp, postgres, name, **extra)
    events = _audit_events(EVENTS)
    for start in range(0, EVENTS, 1000):
        services.store.run(lambda tx, part=events[start:start + 1000]: tx.insert_new(first_versions(part)), write=True,
                           unlimited=True)
    server = LiveServer(services)
    token = token_for(services, **SYSTEM_CLAIMS)
    return server, Fhir(base_url=server.url, timeout=60, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def audited(request: pytest.FixtureRequest, postgres: TemporaryPostgres | None,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Fhir]]:
    """EVENTS AuditEvents; the default time limit, POSTGRESQL_LIMIT_MS on PostgreSQL."""
    limit = POSTGRESQL_LIMIT_MS if request.param == "postgresql" else None
    server, client = _server_with_events(request.param, tmp_path_factory.mktemp(f"long-{request.param}"),
                                         postgres, "long_work", limit)
    with client:
        yield server, client
    server.stop()


@pytest.fixture(scope="module")
def hurried(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fhir]:
    """EVENTS AuditEvents on SQLite, whose requests may run SQLITE_LIMIT_MS."""
    server, client = _server_with_events("sqlite", tmp_path_factory.mktemp("hurried"), None, "hurried",
                                         SQLITE_LIMIT_MS)
    with client:
        yield client
    server.stop()


@pytest.mark.parametrize("query", ["_sort=action", "date=sa2020-02-29"])
def test_a_search_storing_pages_lets_a_write_commit_while_it_reads(audited, query):
    """A search that stores pages, interrupted at each of its ordered reads by a create sent over
    HTTP: every create commits at once (it would wait for ever if the search held the write lock),
    and the search still answers with pages that can be followed."""
    server, client = audited
    store = server.services.store
    name = "During" + query.partition("=")[0].strip("_").capitalize()
    search_thread: list[int] = []
    creates: list[int] = []

    def interrupt(conn, cursor, statement, parameters, context, executemany) -> None:
        if "FROM resource AS r" not in statement or "ORDER BY" not in statement:
            return  # not one of the search's ordered reads
        if search_thread and search_thread[0] != threading.get_ident():
            return
        search_thread[:1] = [threading.get_ident()]
        with Fhir(base_url=client.base_url, timeout=30, headers=dict(client.headers)) as writer:
            creates.append(writer.create(patient(f"{name}{len(creates)}")).status_code)

    event.listen(store.engine, "before_cursor_execute", interrupt)
    try:
        first = client.get(f"/AuditEvent?{query}&_count=25")
    finally:
        event.remove(store.engine, "before_cursor_execute", interrupt)
    assert first.status_code == 200, first.text[:500]
    assert creates and set(creates) == {201}, creates
    bundle = first.json()
    matches = [e["resource"]["id"] for e in bundle["entry"] if e["search"]["mode"] == "match"]
    assert len(matches) == 25
    following = next(link["url"] for link in bundle["link"] if link["relation"] == "next")
    second = client.get(following)
    assert second.status_code == 200, second.text[:500]
    more = [e["resource"]["id"] for e in second.json()["entry"] if e["search"]["mode"] == "match"]
    assert len(more) == 25 and not set(more) & set(matches)
    if query == "_sort=action":
        actions = [e["resource"]["action"] for e in bundle["entry"] + second.json()["entry"]
                   if e["search"]["mode"] == "match"]
        assert actions == sorted(actions)
    assert client.get(f"/Patient?name={name}").json()["total"] == len(creates)


def test_a_search_past_the_time_limit_answers_too_costly(hurried):
    """On SQLite the limit holds the request's transaction: these searches run longer."""
    for url in ("/AuditEvent?_sort=action", "/AuditEvent?date=sa2020-02-29&_total=accurate"):
        outcome = assert_outcome(hurried.get(url), 400, code="too-costly", mentions=f"{SQLITE_LIMIT_MS} ms")
        assert "narrower search" in outcome["issue"][0]["diagnostics"]


def test_a_statement_waiting_past_the_time_limit_answers_too_costly_and_the_next_is_served(audited):
    """On PostgreSQL the limit holds a statement that waits too: a table locked by another
    transaction stops the search at the limit; once released, the same search is answered."""
    server, client = audited
    engine = server.services.store.engine
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite readers never wait for a lock (write-ahead log)")
    with engine.connect() as conn, conn.begin():
        conn.execute(text("SET LOCAL statement_timeout = 0"))
        conn.execute(text("LOCK TABLE resource IN ACCESS EXCLUSIVE MODE"))
        assert_outcome(client.get("/Patient?name=x"), 400, code="too-costly",
                       mentions=f"{POSTGRESQL_LIMIT_MS} ms")
    assert client.get("/Patient?name=x").status_code == 200
