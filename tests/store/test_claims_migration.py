"""Migration 0009 fills the claims from what is stored, on both stores, and data that broke the
rules before (two Patients with one fødselsnummer, two open plans of one person) keeps one holder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import delete, select

from fhirip.bootstrap import REBUILDS, build_services
from fhirip.config import Settings
from fhirip.demo import synthetic_fnr
from fhirip.errors import FhirError
from fhirip.interactions.request import FhirRequest
from fhirip.interactions.router import handle
from fhirip.plans import plan_rules
from fhirip.store.migrations import alembic_config
from fhirip.store.schema import resource_claim
from fhirip.testing.postgres import TemporaryPostgres

FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
IP = {"coding": [{"system": "http://fhirip.no/fhir/CodeSystem/ip-careplan-category",
                   "code": "individuell-plan"}]}


def _patient(patient_id: str, fnr: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": patient_id, "identifier": [{"system": FNR, "value": fnr}],
            "name": [{"family": "Nordmann"}], "birthDate": "1990-06-05"}


def _plan(plan_id: str, patient_id: str, status: str = "draft") -> dict[str, Any]:
    plan = {"resourceType": "CarePlan", "id": plan_id, "status": status, "intent": "plan", "category": [IP],
            "title": "Individuell plan", "subject": {"reference": f"Patient/{patient_id}"}}
    return plan | {"period": {"start": "2020-01-01", "end": "2021-01-01"}} if status == "completed" else plan


def _write(services: Any, *resources: dict[str, Any]) -> int:
    """The status of a transaction writing the resources."""
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
        for r in resources]}
    try:
        return handle(services, FhirRequest(method="POST", resource=bundle), [], internal=True).status
    except FhirError as error:
        return error.status


def _url(kind: str, tmp_path: Path, postgres: TemporaryPostgres | None) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'claims.sqlite3'}"
    assert postgres is not None
    return postgres.create_database(f"claims_{tmp_path.name[-8:].lower()}")


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_migration_fills_the_claims_from_the_stored_resources(kind: str, tmp_path: Path,
                                                              postgres: TemporaryPostgres) -> None:
    services = build_services(Settings(data_dir=tmp_path, database_url=_url(kind, tmp_path, postgres),
                                       allow_synthetic_identifiers=True))
    store = services.store
    try:
        shared, own = synthetic_fnr(5, 6, 90, 300), synthetic_fnr(6, 6, 90, 300)
        # Data from before the rules: written with them switched off.
        services.write_hooks.remove(plan_rules)
        assert _write(services, _patient("kari-kommune", shared), _patient("kari-sykehus", shared),
                      _patient("ola", own)) == 200
        assert _write(services, _plan("kommune-plan", "kari-kommune")) == 200
        assert _write(services, _plan("sykehus-plan", "kari-sykehus"), _plan("ola-plan", "ola"),
                      _plan("ola-old-plan", "ola", status="completed")) == 200
        services.write_hooks.append(plan_rules)
        with store.engine.begin() as conn:
            conn.execute(delete(resource_claim))
        command.downgrade(alembic_config(store.engine), "0007")
        store.migrate(REBUILDS)
        with store.engine.connect() as conn:
            claims = {claim: (t, i) for claim, t, i in conn.execute(select(resource_claim))}
        assert claims == {
            f"national-id|{FNR}|{shared}": ("Patient", "kari-kommune"),  # the first record keeps it
            f"national-id|{FNR}|{own}": ("Patient", "ola"),
            "open-plan|Patient/kari-kommune": ("CarePlan", "sykehus-plan"),  # the newest plan keeps them
            "open-plan|Patient/kari-sykehus": ("CarePlan", "sykehus-plan"),
            "open-plan|Patient/ola": ("CarePlan", "ola-plan"),
        }
        # with the claims in place, the rules hold for what was stored before
        assert _write(services, _plan("ola-second-plan", "ola")) == 409
        assert _write(services, _plan("kommune-plan", "kari-kommune") | {"title": "Revidert"}) == 409
        assert _write(services, _plan("sykehus-plan", "kari-sykehus") | {"title": "Revidert"}) == 409
        # ending one of the two lets the other be revised again
        assert _write(services, _plan("kommune-plan", "kari-kommune", status="completed")) == 200
        assert _write(services, _plan("sykehus-plan", "kari-sykehus") | {"title": "Revidert"}) == 200
        assert _write(services, _patient("per", own)) == 409
    finally:
        services.audit_trail.close()
        store.dispose()
