"""What the plan rules write as a consequence of a caller's write is the rule's, not the caller's.

A patient withdrawing their plan consent revokes the plan it was the basis of, though they may
not edit the plan; a coordinator's new plan consent supersedes the person's older one, also in a
record of the person the coordinator may not see, and answers as if that record did not exist;
a handover and each consequence leave the rules' Provenance, the server's record of the change.
Real server, real tokens, both stores.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from matrix_client import load_world
from test_access_index_http import COORDINATOR, client, demo, system  # noqa: F401  (fixtures)

from fhirip.demo import KARI_FNR
from fhirip.testing.live import Fhir, LiveServer

FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
KARI = {"sub": "kari", "helseid://claims/identity/pid": KARI_FNR, "scope": "patient/*.cruds"}


@pytest.fixture
def ola(demo: LiveServer) -> Iterator[Fhir]:  # noqa: F811
    with client(demo, COORDINATOR) as fhir:
        yield fhir


def _new_plan_consent(system: Fhir) -> dict[str, Any]:  # noqa: F811
    old = system.get("/Consent/demo-consent-plan").json()
    return {**{k: v for k, v in old.items() if k not in ("id", "meta", "text")}, "dateTime": "2026-03-01"}


def _provenances(system: Fhir, target: str) -> int:  # noqa: F811
    return system.get("/Provenance", params={"target": target}).json()["total"]


def test_the_patient_withdrawing_the_plan_consent_revokes_the_plan(demo: LiveServer, system: Fhir) -> None:  # noqa: F811
    consent = system.get("/Consent/demo-consent-plan").json()
    with client(demo, KARI) as kari:
        withdrawn = kari.put("/Consent/demo-consent-plan", json={**consent, "status": "inactive"})
        assert withdrawn.status_code == 200, withdrawn.text
        assert kari.get("/CarePlan/demo-plan").json()["status"] == "revoked"
    assert _provenances(system, "CarePlan/demo-plan") == 1


def test_the_coordinators_handover_is_recorded_with_the_rules_provenance(ola: Fhir, system: Fhir) -> None:  # noqa: F811
    handover = {"resourceType": "Parameters", "parameter": [
        {"name": "coordinator", "valueReference": {"reference": "Practitioner/demo-ingrid"}},
        {"name": "note", "valueString": "Overlevering"}, {"name": "date", "valueDate": "2026-03-01"}]}
    answer = ola.post("/CareTeam/demo-team/$handover", json=handover)
    assert answer.status_code == 200, answer.text
    kinds = sorted(e["resource"]["resourceType"] for e in answer.json()["entry"])
    assert kinds == ["CareTeam", "Communication", "Provenance"]
    assert _provenances(system, "CareTeam/demo-team") == 1


def _answer(ola: Fhir, system: Fhir) -> tuple[int, list[str]]:  # noqa: F811
    written = ola.post("/Consent", json=_new_plan_consent(system))
    body = written.json()
    return written.status_code, sorted(body) if body.get("resourceType") == "Consent" else [written.text]


@pytest.mark.parametrize("hidden_record", [False, True])
def test_a_new_plan_consent_supersedes_the_persons_older_ones_in_words_that_do_not_tell_of_hidden_records(
        demo: LiveServer, ola: Fhir, system: Fhir, hidden_record: bool) -> None:  # noqa: F811
    """Kari's hospital record (written before one record per person was held, with her
    fødselsnummer) holds an active plan consent Ola may not see."""
    if hidden_record:
        load_world(demo, [
            {"resourceType": "Patient", "id": "kari-sykehus", "identifier": [{"system": FNR, "value": KARI_FNR}]},
            {**system.get("/Consent/demo-consent-plan").json(), "id": "sykehus-plan",
             "patient": {"reference": "Patient/kari-sykehus"}, "meta": {}}])
        assert ola.get("/Consent/sykehus-plan").status_code == 404
    status, shape = _answer(ola, system)
    assert status == 201, shape
    assert "sykehus" not in str(shape)
    assert system.get("/Consent/demo-consent-plan").json()["status"] == "inactive"
    assert _provenances(system, "Consent/demo-consent-plan") == 1
    if hidden_record:
        assert system.get("/Consent/sykehus-plan").json()["status"] == "inactive"
        assert _provenances(system, "Consent/sykehus-plan") == 1
