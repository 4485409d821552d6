"""The DPoP replay table: a key is taken once while it lives, by exactly one of concurrent
writers (each with its own connection, as separate server processes have), on both stores."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from fhirip.store import Store
from fhirip.store.replay import first_use
from fhirip.store.schema import dpop_jti
from fhirip.testing.postgres import TemporaryPostgres


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path, postgres: TemporaryPostgres):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'replay.sqlite3'}"
    else:
        url = postgres.create_database(f"replay_{tmp_path.name[-8:].lower()}")
    store = Store(url)
    store.migrate()
    yield store
    store.dispose()


NOW = datetime(2026, 12, 7, 2, 0, 0)


def test_a_key_is_taken_once_until_it_expires(store: Store) -> None:
    until = NOW + timedelta(seconds=90)
    assert first_use(store, "k1", until, NOW)
    assert not first_use(store, "k1", until, NOW + timedelta(seconds=89))
    assert first_use(store, "k2", until, NOW)
    # Past its expiry the row no longer counts (a new proof may reuse an old jti).
    assert first_use(store, "k1", until + timedelta(seconds=90), until + timedelta(seconds=1))
    assert not first_use(store, "k1", until + timedelta(seconds=90), until + timedelta(seconds=2))


def test_purge_deletes_expired_rows_only(store: Store) -> None:
    assert first_use(store, "old", NOW, NOW - timedelta(seconds=60))
    assert first_use(store, "live", NOW + timedelta(seconds=60), NOW)
    assert first_use(store, "new", NOW + timedelta(seconds=60), NOW + timedelta(seconds=1), purge=True)
    with store.engine.connect() as conn:
        keys = set(conn.execute(select(dpop_jti.c.key)).scalars())
    assert keys == {"live", "new"}


def test_concurrent_writers_of_one_key_have_one_winner(store: Store) -> None:
    writers = 8
    for round_ in range(5):
        barrier = threading.Barrier(writers)
        results: list[bool] = []
        lock = threading.Lock()

        def take(key: str = f"race-{round_}") -> None:
            barrier.wait()
            won = first_use(store, key, NOW + timedelta(seconds=60), NOW)
            with lock:
                results.append(won)

        threads = [threading.Thread(target=take) for _ in range(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == [False] * (writers - 1) + [True]
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(dpop_jti)).scalar() == 5
