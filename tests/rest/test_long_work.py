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
from fhirip.interactions.context import Services
from fhirip.interactions.request import FhirRequest
from fhirip.testing.live import SYSTEM_CLAIMS, Fhir, LiveServer, make_services, token_for
from fhirip.testing.postgres import TemporaryPostgres

EVENTS = 3000
# SQLite bounds the request's transaction: a millisecond is past by the time a search of EVENTS
# events sorts them. PostgreSQL bounds each statement: the test there makes one wait.
LIMITS_MS = {"sqlite": 1, "postgresql": 150}


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


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def audited(request: pytest.FixtureRequest, postgres: TemporaryPostgres | None,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Fhir]]:
    """A server whose statements may run LIMITS_MS, holding EVENTS AuditEvents (stored through the
    store, as the audit mover stores them)."""
    tmp: Path = tmp_path_factory.mktemp(f"long-{request.param}")
    services: Services = make_services(request.param, tmp, postgres, "long_work", statement_timeout_ms=LIMITS_MS[request.param])
    events = _audit_events(EVENTS)
    for start in range(0, EVENTS, 1000):
        services.store.run(lambda tx, part=events[start:start + 1000]: tx.append(part), write=True,
                           unlimited=True)
    server = LiveServer(services)
    token = token_for(services, **SYSTEM_CLAIMS)
    with Fhir(base_url=server.url, timeout=60, headers={"Authorization": f"Bearer {token}"}) as client:
        yield server, client
    server.stop()


def test_a_search_storing_pages_lets_a_write_commit_while_it_reads(live_server, fhir):
    """A search that stores pages, interrupted at each of its ordered reads by a create sent over
    HTTP: every create commits at once (it would wait for ever if the search held the write lock),
    and the search still answers with pages that can be followed."""
    store = live_server.services.store
    search_thread: list[int] = []
    creates: list[int] = []
    for n in range(60):
        fhir.create({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                     "effectiveDateTime": f"2020-01-01T00:{n:02d}:00Z"})

    def interrupt(conn, cursor, statement, parameters, context, executemany) -> None:
        if "FROM resource AS r" not in statement or "ORDER BY" not in statement:
            return  # not one of the search's ordered reads
        if search_thread and search_thread[0] != threading.get_ident():
            return
        search_thread[:1] = [threading.get_ident()]
        with Fhir(base_url=fhir.base_url, timeout=10, headers=dict(fhir.headers)) as writer:
            creates.append(writer.create(patient(f"During{len(creates)}")).status_code)

    event.listen(store.engine, "before_cursor_execute", interrupt)
    try:
        first = fhir.get("/Observation?_sort=date&_count=25")
    finally:
        event.remove(store.engine, "before_cursor_execute", interrupt)
    assert first.status_code == 200, first.text
    assert creates and set(creates) == {201}, creates
    bundle = first.json()
    assert len([e for e in bundle["entry"] if e["search"]["mode"] == "match"]) == 25
    following = next(link["url"] for link in bundle["link"] if link["relation"] == "next")
    second = fhir.get(following)
    assert second.status_code == 200, second.text
    dates = [e["resource"]["effectiveDateTime"] for e in bundle["entry"] + second.json()["entry"]]
    assert dates == [f"2020-01-01T00:{n:02d}:00Z" for n in range(50)]
    found = fhir.get("/Patient?name=During").json()
    assert found["total"] == len(creates)


def test_a_search_past_the_time_limit_answers_too_costly(audited):
    """On SQLite the limit holds the request's transaction: this search's sort runs longer."""
    server, client = audited
    if server.services.store.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL limits each statement, and each of this search's is short: see below")
    for url in ("/AuditEvent?_sort=action", "/AuditEvent?date=sa2020-02-29&_total=accurate"):
        outcome = assert_outcome(client.get(url), 400, code="too-costly", mentions=f"{LIMITS_MS['sqlite']} ms")
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
        assert_outcome(client.get("/Patient?name=x"), 400, code="too-costly")
    assert client.get("/Patient?name=x").status_code == 200
