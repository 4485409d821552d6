"""A worker killed (kill -9) in the middle of transactions leaves no partial transaction.

Many transaction Bundles run at once through `fhirip serve`, and workers are killed with
SIGKILL while they write; gunicorn starts new ones. Afterwards each Bundle's resources are all
stored or none is, and every stored resource has its version, its search index rows and its
claims, as the database shows them.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from typing import Any

import httpx
from production_data import SYSTEM, at_once, coordinator, individual_plan, new_fnr, patient
from sqlalchemy import and_, func, select

from fhirip.store import Store
from fhirip.store.schema import resource, resource_claim, resource_version, search_reference, search_token
from fhirip.testing.served import ServedFhirip

BUNDLES = 120
KILLS = 3


def _bundle(run: str, n: int) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """A transaction writing a person, a care team and a plan with ids of its own."""
    ids = {kind: f"{run}-{n}-{kind}" for kind in ("patient", "practitioner", "team", "plan")}
    subject = {"reference": f"Patient/{ids['patient']}"}
    resources = [
        {**patient(new_fnr()), "id": ids["patient"]},
        {"resourceType": "Practitioner", "id": ids["practitioner"], "name": [{"family": f"Koordinator{n}"}]},
        {"resourceType": "CareTeam", "id": ids["team"], "status": "active", "subject": subject,
         "participant": [coordinator(f"Practitioner/{ids['practitioner']}", "2026-01-01")]},
        {**individual_plan(ids["patient"], ids["plan"]),
         "careTeam": [{"reference": f"CareTeam/{ids['team']}"}]},
    ]
    entries = [{"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": item,
                "request": {"method": "PUT", "url": f"{item['resourceType']}/{item['id']}"}}
               for item in resources]
    return ({"resourceType": "Bundle", "type": "transaction", "entry": entries},
            [(item["resourceType"], item["id"]) for item in resources])


# What each kind of resource must have in the index and the claims once stored.
_INDEXED = {"Patient": (search_token, "identifier"), "CareTeam": (search_reference, "subject"),
            "CarePlan": (search_reference, "subject"), "Practitioner": (None, None)}
_CLAIMS = {"Patient": 1, "CarePlan": 1, "CareTeam": 0, "Practitioner": 0}


def _killer(served: ServedFhirip, answered: list[int], stop: threading.Event, killed: list[int]) -> None:
    """Kills a busy worker each time another tenth of the Bundles has been answered."""
    for turn in range(KILLS):
        while len(answered) < (turn + 1) * BUNDLES // (KILLS + 2) and not stop.is_set():
            time.sleep(0.01)
        if stop.is_set():
            return
        workers = [pid for pid in served.worker_pids() if pid not in killed]
        if workers:
            os.kill(workers[turn % len(workers)], signal.SIGKILL)
            killed.append(workers[turn % len(workers)])


def test_killed_workers_leave_no_partial_transaction(served: ServedFhirip) -> None:
    run = f"k{uuid.uuid4().hex[:10]}"
    bundles = [_bundle(run, n) for n in range(BUNDLES)]
    answered: list[int] = []
    killed: list[int] = []
    stop = threading.Event()

    with served.client(served.token(**SYSTEM)) as client:
        def send(n: int) -> int | None:
            try:
                status = client.post("/", json=bundles[n][0]).status_code
            except httpx.HTTPError:  # the worker died under the request: the outcome is unknown
                status = None
            answered.append(n)
            return status

        killer = threading.Thread(target=_killer, args=(served, answered, stop, killed))
        killer.start()
        try:
            outcomes = at_once(BUNDLES, send, workers=8)
        finally:
            stop.set()
            killer.join()
        assert len(killed) == KILLS
        assert client.get("/metadata").status_code == 200  # gunicorn started new workers
    assert not [s for s in outcomes if s is not None and s >= 500], outcomes

    store = Store(served.database_url or f"sqlite:///{(served.data_dir / 'fhirip.sqlite3').resolve()}")
    try:
        with store.engine.connect() as conn:
            stored = {(t, i): (rid, version) for rid, t, i, version in conn.execute(
                select(resource.c.rid, resource.c.res_type, resource.c.res_id, resource.c.version)
                .where(resource.c.res_id.like(f"{run}-%")))}
            # every resource row (of any request) has the version it names
            orphans = conn.execute(select(func.count()).select_from(resource).outerjoin(
                resource_version, and_(resource_version.c.rid == resource.c.rid,
                                       resource_version.c.version == resource.c.version))
                .where(resource_version.c.rid.is_(None))).scalar_one()
            indexed = {(kind, rid) for kind, (table, param) in _INDEXED.items() if table is not None
                       for rid in conn.execute(select(table.c.rid).where(table.c.res_type == kind,
                                                                         table.c.param == param)).scalars()}
            claims = {(t, i) for t, i in conn.execute(
                select(resource_claim.c.res_type, resource_claim.c.res_id)
                .where(resource_claim.c.res_id.like(f"{run}-%")))}
    finally:
        store.dispose()
    assert orphans == 0
    partial, complete = [], 0
    for n, ((_, keys), status) in enumerate(zip(bundles, outcomes, strict=True)):
        present = [key in stored for key in keys]
        if any(present) and not all(present):
            partial.append(n)
        if all(present):
            complete += 1
            assert status in (200, None), (n, status)
            for res_type, res_id in keys:
                rid, version = stored[(res_type, res_id)]
                assert version == 1
                if _INDEXED[res_type][0] is not None:
                    assert (res_type, rid) in indexed, (res_type, res_id)
                assert ((res_type, res_id) in claims) == bool(_CLAIMS[res_type]), (res_type, res_id)
        elif status is not None:
            assert status != 200, (n, status)
    assert partial == []
    assert complete >= BUNDLES // 2, outcomes  # most went through; the kills cost a few
