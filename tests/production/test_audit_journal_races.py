"""The audit journal under concurrent drains: every event is stored once, none lost, none twice.

While clients read through `fhirip serve` (each read journals its AuditEvent) and search
AuditEvents (each such search first moves the journal in the worker that serves it), the
server's mover and several threads of this process move the journal at the same time, in small
chunks, so that drains meet on the same rows and the journal runs empty and fills again.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter

import orjson
from production_data import SYSTEM, at_once, created, new_fnr, patient, statuses
from sqlalchemy import func, select

from fhirip.audit.event_index import AuditEventIndex
from fhirip.audit.mover import move_all
from fhirip.search import index as search_index
from fhirip.store import Store
from fhirip.store.schema import audit_journal, resource_version
from fhirip.testing.served import ServedFhirip

READS = 250
DRAINERS = 4


def _store(served: ServedFhirip) -> Store:
    url = served.database_url or f"sqlite:///{(served.data_dir / 'fhirip.sqlite3').resolve()}"
    return Store(url, indexer=search_index)


def _markers(store: Store, run: str) -> Counter[str]:
    """How often each request of this run is told of by a stored AuditEvent."""
    query = select(resource_version.c.content).where(resource_version.c.res_type == "AuditEvent")
    found: Counter[str] = Counter()
    with store.engine.connect() as conn:
        for content in conn.execute(query).scalars():
            told = orjson.loads(content).get("outcomeDesc", "")
            if run in told:
                found[told.split(f"{run}-", 1)[1].split(" ", 1)[0].split("&", 1)[0]] += 1
    return found


def test_concurrent_drains_store_every_event_once(served: ServedFhirip) -> None:
    store = _store(served)
    run = f"r{uuid.uuid4().hex[:12]}"
    failures: list[BaseException] = []
    stop = threading.Event()

    def drain(chunk: int) -> None:
        while not stop.is_set():
            try:
                move_all(store, chunk, AuditEventIndex())
            except BaseException as error:  # noqa: BLE001 - reported by the test
                failures.append(error)
                return

    try:
        with served.client(served.token(**SYSTEM)) as client:
            person = created(client.post("/Patient", json=patient(new_fnr())))

            def request(i: int):  # a read that journals its event, or an AuditEvent search that drains
                if i % 5 == 4:
                    return client.get("/AuditEvent", params={"_count": "1", "_tag": f"{run}-{i}"})
                return client.get("/Patient", params={"_id": person, "_tag": f"{run}-{i}"})

            drainers = [threading.Thread(target=drain, args=(1 + n * 2,)) for n in range(DRAINERS)]
            for thread in drainers:
                thread.start()
            responses = at_once(READS, request, workers=8)
            stop.set()
            for thread in drainers:
                thread.join()
            move_all(store, 500, AuditEventIndex())
        assert not failures, failures
        assert statuses(responses) == {200: READS}
        with store.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(audit_journal)).scalar_one() == 0
        told = _markers(store, run)
        assert sorted(told) == sorted(str(i) for i in range(READS)), "an event was lost"
        assert set(told.values()) == {1}, [m for m, n in told.items() if n > 1]
    finally:
        stop.set()
        store.dispose()
