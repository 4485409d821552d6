"""The one-plan rule's refusal names only the plans the writer may see.

A person has one open individual plan, matched by fødselsnummer across Patient
records. When Kari's coordinator writes a plan into her record while a hospital's
Patient record for the same person holds one, the write is refused (the rule
holds for everyone), but the coordinator may not read the hospital's record, so
the answer must not name that plan. Real tokens, the real facade, both stores.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import matrix_world as mw
import pytest
from matrix_client import client_for, load_world

from fhirip.canonical import CODE_SYSTEM
from fhirip.testing.live import Fhir, LiveServer

IP_CATEGORY = {"coding": [{"system": f"{CODE_SYSTEM}/ip-careplan-category", "code": "individuell-plan"}]}


def _plan(patient: str) -> dict[str, Any]:
    return {"resourceType": "CarePlan", "status": "draft", "intent": "plan", "category": [IP_CATEGORY],
            "title": "Individuell plan", "subject": {"reference": f"Patient/{patient}"}}


@pytest.fixture
def ola(fhir: Fhir, live_server: LiveServer) -> Iterator[Fhir]:
    """Kari's coordinator, in the matrix world."""
    load_world(live_server)
    with client_for(live_server, "coordinator") as client:
        yield client


def _diagnostics(response: Any) -> str:
    assert response.status_code == 409, response.text
    return " ".join(issue["diagnostics"] for issue in response.json()["issue"])


def test_a_plan_in_a_record_the_writer_may_not_see_is_not_named(fhir: Fhir, ola: Fhir) -> None:
    hospital = fhir.update({"resourceType": "Patient", "id": "kari-sykehus", "birthDate": mw.KARI_BIRTH,
                            "identifier": [{"system": mw.FNR, "value": mw.KARI_FNR}]})
    assert hospital.status_code == 201, hospital.text
    hidden_plan = fhir.create(_plan("kari-sykehus"))
    assert hidden_plan.status_code == 201, hidden_plan.text
    said = _diagnostics(ola.create(_plan("kari")))
    assert "already has an open individual plan" in said
    assert hidden_plan.json()["id"] not in said and "kari-sykehus" not in said
    # the system client, who may see it, is told which plan it is
    assert f"CarePlan/{hidden_plan.json()['id']}" in _diagnostics(fhir.create(_plan("kari")))


def test_a_plan_the_writer_may_see_is_named(fhir: Fhir, ola: Fhir) -> None:
    first = fhir.create(_plan("kari"))
    assert first.status_code == 201, first.text
    assert f"CarePlan/{first.json()['id']}" in _diagnostics(ola.create(_plan("kari")))


def _coordinator_episode(patient: str, manager: str, start: str) -> dict[str, Any]:
    return {"resourceType": "EpisodeOfCare", "status": "active", "patient": {"reference": f"Patient/{patient}"},
            "type": [{"coding": [{"system": mw.VOLVEN_9034, "code": "8"}]}], "period": {"start": start},
            "careManager": {"reference": f"Practitioner/{manager}"}}


def _refused(response: Any) -> str:
    assert response.status_code == 422, response.text
    return " ".join(issue["diagnostics"] for issue in response.json()["issue"])


def test_an_overlapping_coordinator_the_writer_may_not_see_is_not_described(fhir: Fhir, ola: Fhir) -> None:
    hospital = fhir.update({"resourceType": "Patient", "id": "kari-sykehus", "birthDate": mw.KARI_BIRTH,
                            "identifier": [{"system": mw.FNR, "value": mw.KARI_FNR}]})
    assert hospital.status_code == 201, hospital.text
    hidden = fhir.create(_coordinator_episode("kari-sykehus", "siri", "2026-02-03"))
    assert hidden.status_code == 201, hidden.text
    said = _refused(ola.create(_coordinator_episode("kari", "ola", "2026-03-01")))
    assert "already has a coordinator" in said and "overlapping period" in said
    for secret in (hidden.json()["id"], "kari-sykehus", "siri", "2026-02-03"):
        assert secret not in said
    # the system client, who may see the other episode, is told whose and when it is
    told = _refused(fhir.create(_coordinator_episode("kari", "ola", "2026-03-01")))
    assert "Practitioner/siri" in told and "2026-02-03" in told and hidden.json()["id"] in told


def _plan_consent(patient: str, start: str) -> dict[str, Any]:
    return {"resourceType": "Consent", "status": "active",
            "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "treatment"}]},
            "category": [{"coding": [{"system": f"{CODE_SYSTEM}/ip-consent-category", "code": "ip-samtykke-plan"}]}],
            "patient": {"reference": f"Patient/{patient}"}, "dateTime": start,
            "performer": [{"reference": f"Patient/{patient}"}],
            "policyRule": {"text": "Pasient- og brukerrettighetsloven § 2-5"},
            "provision": {"type": "permit", "period": {"start": start, "end": "2028-12-31"}}}


def test_a_superseding_consent_in_a_record_the_reader_may_not_see_is_not_named(fhir: Fhir, ola: Fhir) -> None:
    mine = fhir.create(_plan_consent("kari", "2026-01-01"))
    assert mine.status_code == 201, mine.text
    hospital = fhir.update({"resourceType": "Patient", "id": "kari-sykehus", "birthDate": mw.KARI_BIRTH,
                            "identifier": [{"system": mw.FNR, "value": mw.KARI_FNR}]})
    assert hospital.status_code == 201, hospital.text
    newer = fhir.create(_plan_consent("kari-sykehus", "2026-06-01"))
    assert newer.status_code == 201, newer.text
    assert ola.get(f"/Consent/{mine.json()['id']}").json()["status"] == "inactive"
    # The Provenance of the change is read by whoever may read the old consent's record.
    proofs = fhir.get("/Provenance", params={"target": f"Consent/{mine.json()['id']}"})
    assert proofs.status_code == 200 and proofs.json()["total"] == 1, proofs.text
    said = proofs.text
    assert "Erstattet av nytt samtykke" in said
    assert newer.json()["id"] not in said and "kari-sykehus" not in said
