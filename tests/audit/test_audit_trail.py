"""The audit trail: every append is committed (to the journal) before it returns, none is lost
or mixed up under concurrency, one bad record costs only its own request, and a flush moves the
journal into the resource tables, where searches find it. Both stores."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select

from fhirip.audit.journal import drain
from fhirip.audit.trail import AuditTrail
from fhirip.interactions.auditing import failure_event
from fhirip.context import Services
from fhirip.interactions.request import FhirRequest
from fhirip.testing.live import make_services
from fhirip.store.schema import resource
from fhirip.testing.postgres import TemporaryPostgres


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def services(request: pytest.FixtureRequest, postgres: TemporaryPostgres | None,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    tmp: Path = tmp_path_factory.mktemp(f"trail-{request.param}")
    built = make_services(request.param, tmp, postgres, "trail")
    yield built
    built.store.dispose()


def event(n: int) -> dict:
    req = FhirRequest(method="GET", base_url="http://fhirip.test", url=f"http://fhirip.test/Practitioner/p{n}")
    req.res_type, req.res_id = "Practitioner", f"p{n}"
    return failure_event(None, req, "read", 404, "127.0.0.1")


def stored(services: Services, event_id: str) -> dict | None:
    """The event as a resource, after moving what is committed in the journal (only that)."""
    services.audit_trail.flush()
    found = services.store.run(lambda tx: tx.read("AuditEvent", event_id), write=False)
    return orjson.loads(found.content) if found else None


def test_each_append_is_committed_before_it_returns_under_concurrency(services: Services) -> None:
    trail = services.audit_trail
    seen: dict[int, dict | None] = {}
    problems: list[BaseException] = []

    def caller(n: int) -> None:
        try:
            mine = event(n)
            trail.append([mine])
            seen[n] = stored(services, mine["id"])  # a fresh transaction must already see it
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            problems.append(error)

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert problems == []
    assert sorted(seen) == list(range(24))
    for n, found in seen.items():  # each caller finds its own record, not a neighbour's
        assert found is not None
        assert found["entity"][0]["what"]["reference"] == f"Practitioner/p{n}"
        assert found["meta"]["versionId"] == "1"


def test_queued_appends_share_one_transaction_and_a_bad_one_fails_alone(services: Services) -> None:
    trail = AuditTrail(services.store)
    unstorable = event(1001) | {"extension": {1, 2}}  # not JSON: this record cannot be stored
    good = [event(1002 + n) for n in range(3)]
    outcomes: dict[str, BaseException | None] = {}

    def caller(record: dict) -> None:
        try:
            trail.append([record])
            outcomes[record["entity"][0]["what"]["reference"]] = None
        except Exception as error:  # noqa: BLE001 - the outcome is what is tested
            outcomes[record["entity"][0]["what"]["reference"]] = error

    # While the writer is busy, every caller queues; the next writer takes them as one batch.
    with trail._writer:
        threads = [threading.Thread(target=caller, args=(r,)) for r in [*good, unstorable]]
        for thread in threads:
            thread.start()
        while len(trail._queue) < 4:
            threading.Event().wait(0.01)
    for thread in threads:
        thread.join()
    assert outcomes["Practitioner/p1001"] is not None
    assert all(outcomes[f"Practitioner/p{1002 + n}"] is None for n in range(3))
    for record in good:
        assert stored(services, record["id"]) is not None
    trail.close()  # its background flushes would move the journal under the tests that follow


def test_a_journalled_event_is_found_by_search_once_flushed(services: Services) -> None:
    from fhirip.search import search

    trail = AuditTrail(services.store, flush_seconds=3600)  # nothing moves it but the flushes below
    mine = event(2000)

    def found(tx) -> list[str]:
        return [e.res_id for e in search(tx.conn, "AuditEvent", [("entity", "Practitioner/p2000")], base_url="").entries]

    with services.audit_trail.held():  # the fixture's own background flushes wait meanwhile
        trail.append([mine])
        assert mine["id"] not in services.store.run(found, write=False)  # journalled, not yet a resource
    assert trail.flush() >= 1
    assert services.store.run(found, write=False) == [mine["id"]]
    assert trail.flush() == 0  # moved once, never twice


def test_a_flush_moves_the_journal_in_chunks_oldest_first_and_every_event_once(services: Services) -> None:
    trail = AuditTrail(services.store, flush_seconds=3600, flush_count=10**6)  # moved only below
    services.audit_trail.flush()
    with services.audit_trail.held():  # the fixture's own background flushes wait meanwhile
        events = [event(3000 + n) for n in range(2 * trail.chunk + 17)]
        for start in range(0, len(events), 50):
            trail.append(events[start:start + 50])
        # One chunk: the oldest events, and only those.
        assert services.store.run(lambda tx: drain(tx, limit=trail.chunk), write=True) == trail.chunk
        first = {e["id"] for e in events[:trail.chunk]}
        assert all(stored_now(services, i) for i in first)
        assert not any(stored_now(services, e["id"]) for e in events[trail.chunk:])
        assert trail.flush() == len(events) - trail.chunk  # the rest, over several transactions
        assert all(stored_now(services, e["id"]) for e in events)
        assert trail.flush() == 0


def test_a_background_round_copies_the_write_ahead_log_into_the_database_file(
        services: Services, tmp_path: Path) -> None:
    """On SQLite a mover's round ends with a checkpoint, so that the log does not grow until a
    request's commit finds it full and copies it; a flush in a request leaves the log alone."""
    import shutil
    import sqlite3

    from fhirip.audit.mover import move_in_background

    if services.store.dialect != "sqlite":
        pytest.skip("PostgreSQL checkpoints by itself")
    trail = AuditTrail(services.store, flush_seconds=3600)
    path = Path(services.store.url.split("///", 1)[1])

    def in_database_file(event_id: str) -> bool:
        """Whether the database file alone, without its log, holds the event as a resource."""
        copy = tmp_path / f"copy-{event_id}.sqlite3"
        shutil.copyfile(path, copy)
        with sqlite3.connect(copy) as conn:
            if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'resource'").fetchall():
                return False  # not even the tables have left the log yet
            return conn.execute("SELECT count(*) FROM resource WHERE res_id = ?", (event_id,)).fetchone()[0] == 1

    services.audit_trail.flush()
    with services.audit_trail.held():  # the fixture's own background rounds wait meanwhile
        flushed, moved = event(6000), event(6001)
        trail.append([flushed])
        assert trail.flush() == 1
        assert stored_now(services, flushed["id"]) and not in_database_file(flushed["id"])
        trail.append([moved])
        assert move_in_background(services.store, trail.chunk, trail.index) == 1
        assert in_database_file(flushed["id"]) and in_database_file(moved["id"])


def stored_now(services: Services, event_id: str) -> bool:
    """Whether the event is a resource already, without moving anything."""
    return services.store.run(lambda tx: tx.read("AuditEvent", event_id), write=False) is not None


def test_a_mover_process_moves_the_journal_without_being_asked_and_stops_with_the_trail(
        services: Services) -> None:
    services.audit_trail.flush()
    trail = AuditTrail(services.store, flush_seconds=0.2, mover="process")
    mine = event(4000)
    with services.audit_trail.held():  # no flush of this process runs meanwhile
        trail.append([mine])
        assert trail._mover_process is not None and trail._mover_process.poll() is None
        deadline = time.monotonic() + 30  # the new interpreter imports the server first
        while not stored_now(services, mine["id"]) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert stored_now(services, mine["id"])  # moved by the other process
    trail.close()
    assert not trail._mover_process.poll() is None


def test_a_started_trail_has_its_mover_running_before_any_event(services: Services) -> None:
    trail = AuditTrail(services.store, flush_seconds=3600, mover="process")
    trail.start()  # as a server's worker does at boot
    try:
        assert trail._mover_process is not None and trail._mover_process.poll() is None
    finally:
        trail.close()
    assert not trail._mover_process.poll() is None


def test_one_mover_on_a_machine_moves_a_database_and_another_takes_over_when_it_ends(
        services: Services, tmp_path: Path) -> None:
    from fhirip.audit.mover import MoverTurn

    first, second = MoverTurn(services.store.url), MoverTurn(services.store.url)
    elsewhere = MoverTurn(f"sqlite:///{tmp_path / 'another.sqlite3'}")
    try:
        assert first.take() and first.take()  # taken, and kept
        assert not second.take() and not second.held
        assert elsewhere.take()  # another database has a turn of its own
        first.release()
        assert second.take() and second.held
    finally:
        for turn in (first, second, elsewhere):
            turn.release()


def test_prepared_rows_that_another_drain_claimed_meanwhile_are_not_stored_twice(services: Services) -> None:
    from fhirip.audit.journal import oldest, prepare

    trail = AuditTrail(services.store, flush_seconds=3600)
    services.audit_trail.flush()
    with services.audit_trail.held():  # the fixture's own background flushes wait meanwhile
        events = [event(5000 + n) for n in range(5)]
        trail.append(events)
        prepared = prepare(services.store.run(lambda tx: oldest(tx, 100), write=False), trail.index)
        assert len(prepared) == 5
        # Another drain claims the two oldest between the preparing and the claiming.
        assert services.store.run(lambda tx: drain(tx, limit=2), write=True) == 2
        assert services.store.run(lambda tx: drain(tx, prepared=prepared), write=True) == 3
        assert services.store.run(lambda tx: drain(tx, prepared=prepared), write=True) == 0
        assert trail.flush() == 0
        for record in events:
            assert stored_now(services, record["id"])
            copies = services.store.run(lambda tx, i=record["id"]: tx.conn.execute(
                select(func.count()).select_from(resource).where(resource.c.res_id == i)).scalar(), write=False)
            assert copies == 1


def test_a_drain_of_the_oldest_claims_that_many_whatever_plan_the_database_picks(services: Services) -> None:
    """A plan that rescans the chosen rows for each journal row (PostgreSQL picks one when its
    statistics say the journal is small) must still claim only the oldest `limit`."""
    trail = AuditTrail(services.store, flush_seconds=3600)
    services.audit_trail.flush()
    with services.audit_trail.held():
        trail.append([event(6000 + n) for n in range(5)])

        def drain_two_by_rescanning(tx):  # type: ignore[no-untyped-def]
            if tx.conn.dialect.name == "postgresql":
                for setting in ("hashjoin", "material", "mergejoin", "sort", "hashagg"):
                    tx.conn.exec_driver_sql(f"SET LOCAL enable_{setting} = off")
            return drain(tx, limit=2)

        assert services.store.run(drain_two_by_rescanning, write=True) == 2
        assert trail.flush() == 3


def test_a_mover_whose_server_is_gone_ends_at_once(services: Services) -> None:
    from fhirip.audit.mover import move_forever

    started = time.monotonic()
    move_forever(services.store.url, -1, 60.0, 100)  # -1: never this process's parent
    assert time.monotonic() - started < 5


def test_an_unknown_mover_is_refused(services: Services) -> None:
    with pytest.raises(ValueError, match="'thread' or 'process'"):
        AuditTrail(services.store, mover="cron")


def test_a_stopped_mover_ends_quietly(services: Services) -> None:
    """SIGTERM (the server stopping) or SIGINT (Ctrl-C in a terminal) ends the mover with no traceback."""
    from fhirip.audit.mover import MoverTurn, start_mover

    for stop in (signal.SIGTERM, signal.SIGINT):
        process = start_mover(services.store.url, interval=0.2, chunk=100)
        try:
            probe = MoverTurn(services.store.url)
            deadline = time.monotonic() + 60
            while probe.take():  # until the mover is in its loop, holding the turn
                probe.release()
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.1)
            for _ in range(3):  # let it be inside a move, where a failed move is caught and logged
                services.audit_trail.append([event(7000 + _)])
            process.send_signal(stop)
            assert process.wait(30) == 0  # an uncaught exception would end it with 1
        finally:
            process.kill()
            process.wait()
