"""The plan operations serve a plan as read and search do: masked for the administrative view.

The coordinating unit (koordinerende enhet) of Fjordvik manages an episode of care for
Kari Nordmann without being on her care team or named by her consent; it may know that
her plan exists, its status, period and team, but not what the plan says. `$current`, `$current-plan` and the worklists must hand it the same masked
plan a read gives it, through HTTP with real tokens, on both stores; her consented
coordinator keeps the full plan, until the sharing consent is withdrawn.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fhirip.demo import KARI_FNR, ORGNR, demo_bundle, organisation_number
from fhirip.interactions.request import FhirRequest
from fhirip.interactions.router import handle
from fhirip.testing.live import SYSTEM_CLAIMS, Fhir, LiveServer, token_for

FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
MEASURE_TEXT = "Assistent i skoletiden"
GOAL_TEXT = "Klare morgenrutinene"
COORDINATOR = {"sub": "ola", "helseid://claims/hpr/hpr_number": "9144889", "scope": "user/*.cruds"}
UNIT_NUMBER = organisation_number("974589")
UNIT = {"sub": "enhet", "helseid://claims/hpr/hpr_number": "9300002", "scope": "user/*.rs",
        "helseid://claims/client/claims/orgnr_parent": UNIT_NUMBER, "role": "koordinerende-enhet"}
# The unit and the episode through which it administers Kari's plan.
UNIT_RECORDS = [
    {"resourceType": "Organization", "id": "fjordvik-enhet", "active": True,
     "identifier": [{"system": ORGNR, "value": UNIT_NUMBER}], "name": "Fjordvik koordinerende enhet"},
    {"resourceType": "EpisodeOfCare", "id": "enhet-kari", "status": "active",
     "patient": {"reference": "Patient/demo-kari"},
     "managingOrganization": {"reference": "Organization/fjordvik-enhet"}},
]


@pytest.fixture
def demo(live_server: LiveServer) -> LiveServer:
    live_server.reset()
    bundle = demo_bundle()
    bundle["entry"] += [{"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
                        for r in UNIT_RECORDS]
    response = handle(live_server.services, FhirRequest(method="POST", resource=bundle), [], internal=True)
    assert response.status == 200
    return live_server


def _client(server: LiveServer, claims: dict[str, Any]) -> Fhir:
    token = token_for(server.services, **claims)
    return Fhir(base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def unit(demo: LiveServer) -> Iterator[Fhir]:
    with _client(demo, UNIT) as client:
        yield client


@pytest.fixture
def ola(demo: LiveServer) -> Iterator[Fhir]:
    with _client(demo, COORDINATOR) as client:
        yield client


@pytest.fixture
def system(demo: LiveServer) -> Iterator[Fhir]:
    with _client(demo, SYSTEM_CLAIMS) as client:
        yield client


def _plans(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if e["resource"]["resourceType"] == "CarePlan"]


def _is_masked(plan: dict[str, Any]) -> bool:
    return "MASKED" in {label.get("code") for label in (plan.get("meta") or {}).get("security", [])}


def _assert_masked(plan: dict[str, Any]) -> None:
    assert _is_masked(plan)
    assert plan["status"] == "active" and plan["period"]["start"] == "2026-01-15"
    assert plan["careTeam"] == [{"reference": "CareTeam/demo-team"}]
    assert "goal" not in plan and "text" not in plan
    assert all("description" not in (a.get("detail") or {}) for a in plan.get("activity", []))


def test_coordinating_unit_gets_the_current_plan_masked(unit: Fhir) -> None:
    response = unit.get("/CarePlan/$current", params={"patient-identifier": f"{FNR}|{KARI_FNR}"})
    assert response.status_code == 200
    plans = _plans(response.json())
    assert [p["id"] for p in plans] == ["demo-plan"]
    _assert_masked(plans[0])
    assert MEASURE_TEXT not in response.text and GOAL_TEXT not in response.text
    # The measure is still listed as open, with its status and responsible party.
    assert plans[0]["activity"][0]["detail"]["status"] == "in-progress"
    assert plans[0]["activity"][0]["detail"]["performer"] == [{"reference": "Organization/demo-kommune"}]


def test_coordinating_unit_gets_the_current_plan_of_a_patient_masked(unit: Fhir) -> None:
    response = unit.get("/Patient/demo-kari/$current-plan")
    assert response.status_code == 200
    _assert_masked(_plans(response.json())[0])
    assert MEASURE_TEXT not in response.text


def test_the_masked_plan_is_the_one_a_read_gives(unit: Fhir) -> None:
    read = unit.get("/CarePlan/demo-plan").json()
    current = _plans(unit.get("/CarePlan/$current", params={"patient-identifier": f"{FNR}|{KARI_FNR}"}).json())[0]
    shown = {k: v for k, v in current.items() if k != "meta"}
    assert shown == {k: v for k, v in read.items() if k != "meta"}


@pytest.mark.parametrize(("operation", "params"), [
    ("$overdue-measures", {"date": "2026-06-01"}),
    ("$revision-due", {"date": "2026-12-02"}),
    ("$stale", {"date": "2099-01-01"}),
])
def test_worklists_give_the_coordinating_unit_masked_plans(unit: Fhir, operation: str,
                                                            params: dict[str, str]) -> None:
    response = unit.get(f"/CarePlan/{operation}", params=params)
    assert response.status_code == 200
    plans = _plans(response.json())
    assert [p["id"] for p in plans] == ["demo-plan"]
    _assert_masked(plans[0])
    assert MEASURE_TEXT not in response.text


def test_consented_coordinator_gets_the_full_plan_from_every_operation(ola: Fhir) -> None:
    current = ola.get("/CarePlan/$current", params={"patient-identifier": f"{FNR}|{KARI_FNR}"})
    overdue = ola.get("/CarePlan/$overdue-measures", params={"date": "2026-06-01"})
    for response in (current, overdue):
        plan = _plans(response.json())[0]
        assert not _is_masked(plan)
        assert MEASURE_TEXT in response.text


def test_coordinator_whose_sharing_consent_is_withdrawn_gets_the_masked_plan(ola: Fhir, system: Fhir) -> None:
    consent = system.get("/Consent/demo-consent-sharing").json()
    consent["status"] = "inactive"
    assert system.update(consent).status_code == 200
    response = ola.get("/CarePlan/$current", params={"patient-identifier": f"{FNR}|{KARI_FNR}"})
    plans = _plans(response.json())
    assert [p["id"] for p in plans] == ["demo-plan"]
    _assert_masked(plans[0])
    assert MEASURE_TEXT not in response.text and GOAL_TEXT not in response.text
    revision = ola.get("/CarePlan/$revision-due", params={"date": "2026-12-02"})
    _assert_masked(_plans(revision.json())[0])
