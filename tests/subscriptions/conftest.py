"""A served server whose rest-hooks may call loopback, with the demo plan loaded; one per module
and store; and the people who subscribe to Kari's plan."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select

from fhirip.store.schema import subscription as subscription_table
from fhirip.store.schema import subscription_event
from fhirip.testing.postgres import TemporaryPostgres
from fhirip.testing.served import ServedFhirip

sys.path.insert(0, str(Path(__file__).parent))

HPR = "urn:oid:2.16.578.1.12.4.1.4.4"
SYSTEM = {"sub": "subs-system", "client_id": "subs-system", "scope": "system/*.cruds"}
# Kari's coordinator, whom the demo's sharing consent names.
COORDINATOR = {"sub": "ola", "helseid://claims/hpr/hpr_number": "9144889", "scope": "user/*.cruds",
               "purpose_of_use": "TREAT"}
# A practitioner no consent of Kari's names (until a test gives one).
OUTSIDER = {"sub": "nils", "helseid://claims/hpr/hpr_number": "9200001", "scope": "user/*.cruds",
            "purpose_of_use": "TREAT"}
NILS = {"resourceType": "Practitioner", "id": "nils", "identifier": [{"system": HPR, "value": "9200001"}],
        "name": [{"family": "Nilsen", "given": ["Nils"]}]}
PLAN_CRITERIA = "CarePlan?subject=Patient/demo-kari"
ENVIRONMENT = {"FHIRIP_ALLOW_SYNTHETIC_IDENTIFIERS": "true", "FHIRIP_SUBSCRIPTION_ENDPOINTS": "http://127.0.0.1",
               "FHIRIP_SUBSCRIPTION_RETRIES": "4"}


def database_url(server: ServedFhirip) -> str:
    return server.database_url or f"sqlite:///{(server.data_dir / 'fhirip.sqlite3').resolve()}"


def start_server(kind: str, postgres: TemporaryPostgres | None, directory: Path, name: str,
                 database: str | None = None, *, retries: int = 4) -> ServedFhirip:
    if kind == "postgresql" and database is None:
        database = postgres.create_database(name) if postgres is not None else None
    environment = {**ENVIRONMENT, "FHIRIP_SUBSCRIPTION_RETRIES": str(retries)}
    server = ServedFhirip(directory / "data", database, environment=environment, arguments=())
    server.kind = kind  # type: ignore[attr-defined]
    server.start()
    with server.client(server.token(**SYSTEM)) as system:
        assert system.put("/Practitioner/nils", json=NILS).status_code in (200, 201)
    return server


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def subs_served(request: pytest.FixtureRequest, postgres: TemporaryPostgres | None,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedFhirip]:
    """`fhirip serve` with the demo data and rest-hooks allowed to loopback."""
    name = f"subs_{request.module.__name__.rsplit('.', 1)[-1]}"
    server = start_server(request.param, postgres, tmp_path_factory.mktemp(f"subs-{request.param}"), name)
    try:
        yield server
    finally:
        server.stop()


def subscription(endpoint: str, criteria: str = PLAN_CRITERIA, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Subscription", "status": "requested", "reason": "Kari's plan changes",
            "criteria": criteria,
            "channel": {"type": "rest-hook", "endpoint": endpoint, "payload": "application/fhir+json",
                        "header": ["X-Receiver-Key: secret"]}, **extra}


def waiting_events(server: ServedFhirip, subscription_id: str | None = None) -> int:
    """Events recorded and not yet decided or sent (of one Subscription, or of all), read from the
    database the server uses."""
    engine = create_engine(database_url(server))
    e = subscription_event
    query = select(func.count()).select_from(e).where(e.c.state.in_(("pending", "numbered")))
    if subscription_id is not None:
        query = query.where(e.c.subscription_rid.in_(
            select(subscription_table.c.rid).where(subscription_table.c.res_id == subscription_id)))
    try:
        with engine.connect() as conn:
            return int(conn.execute(query).scalar_one())
    finally:
        engine.dispose()


def wait_until_decided(server: ServedFhirip, subscription_id: str | None = None, deadline: float = 20.0) -> None:
    """Until the deliverers have decided every recorded event (of one Subscription), polled."""
    end = time.monotonic() + deadline
    while waiting_events(server, subscription_id) and time.monotonic() < end:
        time.sleep(0.05)
    assert waiting_events(server, subscription_id) == 0


def change_plan(system: Any, note: str) -> None:
    plan = system.get("/CarePlan/demo-plan").json()
    plan["description"] = note
    answer = system.put("/CarePlan/demo-plan", json=plan)
    assert answer.status_code == 200, answer.text


def wait_for_failed_delivery(client: Any, res_id: str, deadline: float = 30.0) -> None:
    """Until the Subscription's `$status` reports an error: a delivery of it has failed."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        status = client.get(f"/Subscription/{res_id}/$status").json()["entry"][0]["resource"]
        if any(p["name"] == "error" for p in status["parameter"]):
            return
        time.sleep(0.05)
    raise AssertionError("no delivery failed")
