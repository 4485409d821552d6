"""Nothing is lost, both stores: a server killed (kill -9) between the writes and their delivery
delivers them after it is started again; a receiver that was down gets every event once it is
back (retries), and can fetch them with `$events`; repeated failures set the status `error`, and
reactivating the Subscription delivers what waited. On PostgreSQL, two server processes on one
database deliver each event once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_for_failed_delivery
from conftest import COORDINATOR, SYSTEM, change_plan, database_url, start_server, subscription, \
    wait_until_decided
from receiver import Receiver

from fhirip.testing.postgres import TemporaryPostgres
from fhirip.testing.served import ServedFhirip

# Retries enough for the receivers here, down for a few attempts, never to reach `error`.
RETRIES = 10
DOWN_SECONDS = 60.0  # how long the receiver is down in the receiver-down test


@pytest.fixture(params=["postgresql", "sqlite"])
def place(request: pytest.FixtureRequest, postgres: TemporaryPostgres | None,
          tmp_path: Path) -> Iterator[tuple[str, Path, str | None]]:
    database = None
    if request.param == "postgresql":
        assert postgres is not None
        database = postgres.create_database(f"subs_lost_{tmp_path.name[-20:].replace('-', '_')}")
    yield request.param, tmp_path, database


def _subscribe(server: ServedFhirip, endpoint: str, **extra: Any) -> dict[str, Any]:
    with server.client(server.token(**COORDINATOR)) as ola:
        answer = ola.post("/Subscription", json=subscription(endpoint, **extra))
    assert answer.status_code == 201, answer.text
    return answer.json()


def _unique_in_order(numbers: list[int]) -> list[int]:
    return list(dict.fromkeys(numbers))


def test_a_server_killed_between_the_writes_and_their_delivery_delivers_them_after_restart(
        place: tuple[str, Path, str | None], postgres: TemporaryPostgres | None) -> None:
    kind, directory, database = place
    receiver = Receiver()  # not listening yet: every attempt before the kill fails
    server = start_server(kind, postgres, directory, "", database, retries=RETRIES)
    try:
        _subscribe(server, receiver.url)
        with server.client(server.token(**SYSTEM)) as system:
            for number in range(5):
                change_plan(system, f"Endring {number}")
    finally:
        server.kill()
    receiver.up()
    again = start_server(kind, postgres, directory, "", database or server.database_url, retries=RETRIES)
    try:
        receiver.wait_for(5, deadline=60)
        # At least once, in order, with the numbers the receiver can check for gaps.
        assert _unique_in_order(receiver.numbers()) == [1, 2, 3, 4, 5]
        descriptions = [r.resources[0]["description"] for r in receiver.received]
        assert "Endring 4" in descriptions
    finally:
        again.stop()
        receiver.down()


def test_a_receiver_that_was_down_gets_every_event_and_can_fetch_them(
        place: tuple[str, Path, str | None], postgres: TemporaryPostgres | None) -> None:
    kind, directory, database = place
    server = start_server(kind, postgres, directory, "", database, retries=RETRIES)
    receiver = Receiver()
    try:
        down = _subscribe(server, receiver.url)
        went_down = time.monotonic()
        with server.client(server.token(**SYSTEM)) as system:
            for number in range(3):
                change_plan(system, f"Mens mottakeren var nede {number}")
            with server.client(server.token(**COORDINATOR)) as ola:
                wait_for_failed_delivery(ola, down["id"])  # deliveries have failed
            # The receiver stays down for a whole minute, the plan changing meanwhile, while the
            # deliverer keeps retrying with its growing backoff.
            for number in range(3, 5):
                time.sleep(max(0.0, went_down + 20 * (number - 2) - time.monotonic()))
                change_plan(system, f"Mens mottakeren var nede {number}")
            time.sleep(max(0.0, went_down + DOWN_SECONDS - time.monotonic()))
        with server.client(server.token(**COORDINATOR)) as ola:
            receiver.up()
            receiver.wait_for(5, deadline=90)
            assert _unique_in_order(receiver.numbers()) == [1, 2, 3, 4, 5]
            status = ola.get(f"/Subscription/{down['id']}/$status").json()["entry"][0]["resource"]
            assert _parameter(status, "status") == "active"  # a minute of failures is not an error
            events = ola.get(f"/Subscription/{down['id']}/$events", params={"eventsSinceNumber": "2"}).json()
            status = events["entry"][0]["resource"]
            numbers = [part["valueString"] for p in status["parameter"] if p["name"] == "notification-event"
                       for part in p["part"] if part["name"] == "event-number"]
            assert numbers == ["2", "3", "4", "5"]
            assert [e["resource"]["id"] for e in events["entry"][1:]] == ["demo-plan"] * 4
    finally:
        server.stop()
        receiver.down()



def test_two_server_processes_deliver_each_event_once(postgres: TemporaryPostgres | None, tmp_path: Path) -> None:
    assert postgres is not None
    database = postgres.create_database("subs_two_servers")
    first = start_server("postgresql", postgres, tmp_path / "first", "", database)
    second = start_server("postgresql", postgres, tmp_path / "first", "", database)  # the same keys
    receiver = Receiver().up()
    try:
        _subscribe(first, receiver.url)

        def write(number: int) -> None:  # writers on both servers at once
            with (first if number % 2 else second).client(first.token(**SYSTEM)) as system:
                change_plan(system, f"Endring {number}")

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(write, range(20)))
        receiver.wait_for(20, deadline=60)
        wait_until_decided(first)
        assert sorted(receiver.numbers()) == list(range(1, 21))  # each once, none twice
        assert database_url(first) == database_url(second)
    finally:
        first.stop()
        second.stop()
        receiver.down()


def _parameter(status: dict[str, Any], name: str) -> str | None:
    for parameter in status["parameter"]:
        if parameter["name"] == name:
            return parameter.get("valueCode") or parameter.get("valueString")
    return None
