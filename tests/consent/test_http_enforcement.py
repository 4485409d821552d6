"""Consent enforced through HTTP: real tokens, the real facade, the demo plan, both stores.

Kari Nordmann's sharing consent permits her care team; Ola Hansen (HPR 9144889) is her
coordinator and Ingrid Berg (HPR 9144900) a member of that team. Nils (HPR 9200001) is a
practitioner another person has consented to, but not Kari: he passes the upper bound of
his rights and so meets the SQL policy, which must show him nothing of Kari — not the
resources, not their count, not their existence. A practitioner with no consent at all
is refused (403) before any data is touched, for a known and an unknown id alike.
Withdrawing the consent takes effect at once.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fhirip.demo import KARI_FNR, demo_bundle
from fhirip.interactions.request import FhirRequest
from fhirip.interactions.router import handle
from fhirip.testing.live import SYSTEM_CLAIMS, Fhir, LiveServer, token_for

FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
COORDINATOR = {"sub": "ola", "helseid://claims/hpr/hpr_number": "9144889", "scope": "user/*.cruds"}
MEMBER = {"sub": "ingrid", "helseid://claims/hpr/hpr_number": "9144900", "scope": "user/*.cruds"}
OUTSIDER = {"sub": "nils", "helseid://claims/hpr/hpr_number": "9200001", "scope": "user/*.cruds"}
STRANGER = {"sub": "siri", "helseid://claims/hpr/hpr_number": "9300001", "scope": "user/*.cruds"}
HPR = "urn:oid:2.16.578.1.12.4.1.4.4"
DELING = {"coding": [{"system": "http://fhirip.no/fhir/CodeSystem/ip-consent-category",
                      "code": "ip-samtykke-deling"}]}


def _other_person() -> list[dict]:
    """Another person who has consented to sharing with Nils."""
    return [
        {"resourceType": "Practitioner", "id": "nils", "identifier": [{"system": HPR, "value": "9200001"}],
         "name": [{"family": "Nilsen", "given": ["Nils"]}]},
        {"resourceType": "Patient", "id": "other", "name": [{"family": "Olsen", "given": ["Per"]}]},
        {"resourceType": "Consent", "id": "other-sharing", "status": "active",
         "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                               "code": "patient-privacy"}]},
         "category": [DELING], "patient": {"reference": "Patient/other"}, "dateTime": "2026-01-01",
         "policyRule": {"text": "Helsepersonelloven § 22"},
         "provision": {"type": "permit", "actor": [{"role": {"coding": [{
             "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PRCP"}]},
             "reference": {"reference": "Practitioner/nils"}}]}},
    ]
KARI = {"sub": "kari", "helseid://claims/identity/pid": KARI_FNR, "scope": "patient/*.rs"}


@pytest.fixture
def demo(live_server: LiveServer) -> LiveServer:
    live_server.reset()
    bundle = demo_bundle()
    bundle["entry"] += [{"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
                        for r in _other_person()]
    response = handle(live_server.services, FhirRequest(method="POST", resource=bundle), [], internal=True)
    assert response.status == 200
    return live_server


def client(server: LiveServer, claims: dict) -> Fhir:
    token = token_for(server.services, **claims)
    return Fhir(base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def ola(demo: LiveServer) -> Iterator[Fhir]:
    with client(demo, COORDINATOR) as c:
        yield c


@pytest.fixture
def nils(demo: LiveServer) -> Iterator[Fhir]:
    with client(demo, OUTSIDER) as c:
        yield c


@pytest.fixture
def system(demo: LiveServer) -> Iterator[Fhir]:
    with client(demo, SYSTEM_CLAIMS) as c:
        yield c


@pytest.fixture
def ingrid(demo: LiveServer) -> Iterator[Fhir]:
    with client(demo, MEMBER) as c:
        yield c


def test_practitioner_without_any_consent_is_refused_alike_for_known_and_unknown_ids(demo: LiveServer) -> None:
    with client(demo, STRANGER) as siri:
        known, unknown = siri.get("/CarePlan/demo-plan"), siri.get("/CarePlan/no-such-plan")
    assert known.status_code == unknown.status_code == 403
    assert known.json() == unknown.json()


def test_consented_practitioner_reads_the_plan(ola: Fhir) -> None:
    assert ola.get("/CarePlan/demo-plan").status_code == 200
    assert ola.get("/Patient/demo-kari").status_code == 200


def test_unconsented_practitioner_gets_the_answer_for_an_unknown_id(nils: Fhir) -> None:
    hidden = nils.get("/CarePlan/demo-plan")
    unknown = nils.get("/CarePlan/no-such-plan")
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json()["issue"][0]["diagnostics"].replace("demo-plan", "X") == \
        unknown.json()["issue"][0]["diagnostics"].replace("no-such-plan", "X")


def test_unconsented_search_counts_nothing_and_includes_nothing(nils: Fhir) -> None:
    bundle = nils.get("/CarePlan", params={"_total": "accurate", "_include": "CarePlan:goal",
                                            "_revinclude": "Provenance:target"}).json()
    assert bundle["total"] == 0 and not bundle.get("entry")
    assert [e["resource"]["id"] for e in nils.get("/Patient").json()["entry"]] == ["other"]
    count = nils.get("/Goal", params={"_summary": "count"}).json()
    assert count["total"] == 0
    chained = nils.get("/CarePlan", params={"subject.identifier": f"{FNR}|{KARI_FNR}"}).json()
    assert not chained.get("entry")
    has = nils.get("/Patient", params={"_has:CarePlan:subject:status": "active"}).json()
    assert not has.get("entry")


def test_unconsented_history_and_vread_reveal_nothing(nils: Fhir) -> None:
    assert nils.get("/CarePlan/demo-plan/_history").status_code == 404
    assert nils.get("/CarePlan/demo-plan/_history/1").status_code == 404
    assert nils.get("/CarePlan/_history").json()["total"] == 0
    assert {e["fullUrl"].rsplit("/", 2)[-2] for e in nils.get("/_history").json().get("entry", [])} <= \
        {"Patient", "Consent", "Practitioner", "Organization"}  # his patient, and directory data


def test_unconsented_writes_are_refused_without_revealing_the_target(nils: Fhir) -> None:
    patch = nils.request("PATCH", "/CarePlan/demo-plan", content=b'[{"op":"remove","path":"/title"}]',
                         headers={"Content-Type": "application/json-patch+json"})
    assert patch.status_code in (403, 404)  # 403: he may write nowhere; it says nothing of the plan
    goal = {"resourceType": "Goal", "lifecycleStatus": "proposed", "description": {"text": "x"},
            "subject": {"reference": "Patient/demo-kari"}}
    refused = nils.create(goal)
    assert refused.status_code in (403, 422)
    assert "demo-kari" not in refused.text or "not visible" in refused.text


def test_conditional_create_does_not_match_what_the_caller_cannot_see(nils: Fhir) -> None:
    response = nils.post("/Patient", content=b'{"resourceType":"Patient"}',
                         headers={"Content-Type": "application/fhir+json",
                                  "If-None-Exist": f"identifier={FNR}|{KARI_FNR}"})
    assert response.status_code != 200  # a 200 would reveal that Kari exists


def test_current_plan_by_national_identifier(ola: Fhir, nils: Fhir) -> None:
    params = {"patient-identifier": f"{FNR}|{KARI_FNR}"}
    seen = ola.get("/CarePlan/$current", params=params).json()
    assert [e["resource"]["id"] for e in seen["entry"] if e["resource"]["resourceType"] == "CarePlan"] == ["demo-plan"]
    hidden = nils.get("/CarePlan/$current", params=params).json()
    assert not [e for e in hidden.get("entry", []) if e["resource"]["resourceType"] != "OperationOutcome"]


def test_withdrawing_the_consent_takes_effect_on_the_next_request(ingrid: Fhir, ola: Fhir, system: Fhir) -> None:
    assert ingrid.get("/CarePlan/demo-plan").status_code == 200
    assert [e["resource"]["id"] for e in ingrid.get("/Goal").json()["entry"]]
    consent = system.get("/Consent/demo-consent-sharing").json()
    consent["status"] = "inactive"
    assert system.update(consent).status_code == 200
    assert ingrid.get("/CarePlan/demo-plan").status_code in (403, 404)
    assert ingrid.get("/Goal").status_code in (200, 403)
    assert not (ingrid.get("/Goal").json().get("entry") or [])
    # The coordinator keeps the administrative view only: the plan, without its measures.
    plan = ola.get("/CarePlan/demo-plan")
    assert plan.status_code == 200
    assert "MASKED" in {label["code"] for label in plan.json()["meta"].get("security", [])}
    assert "Assistent i skoletiden" not in plan.text


def test_patient_reads_own_plan_and_own_access_log(demo: LiveServer, ola: Fhir) -> None:
    ola.get("/CarePlan/demo-plan")
    with client(demo, KARI) as kari:
        assert kari.get("/CarePlan/demo-plan").status_code == 200
        log = kari.get("/AuditEvent", params={"patient": "Patient/demo-kari"}).json()
        assert log.get("entry")
        who = {a.get("who", {}).get("identifier", {}).get("value")
               for e in log["entry"] for a in e["resource"].get("agent", [])}
        assert "9144889" in who


def test_audit_events_cannot_be_changed_or_deleted(system: Fhir, ola: Fhir) -> None:
    ola.get("/CarePlan/demo-plan")
    event = system.get("/AuditEvent", params={"_count": "1"}).json()["entry"][0]["resource"]
    assert system.update(event).status_code == 403
    assert system.delete(f"/AuditEvent/{event['id']}").status_code in (403, 405)


def test_refused_requests_are_audited(demo: LiveServer, nils: Fhir, system: Fhir) -> None:
    nils.get("/CarePlan/demo-plan")
    with Fhir(base_url=demo.url) as anonymous:
        assert anonymous.get("/Patient").status_code == 401
    outcomes = [e["resource"]["outcome"] for e in
                system.get("/AuditEvent", params={"_count": "100"}).json()["entry"]]
    assert "4" in outcomes or "8" in outcomes


def test_break_the_glass_reads_with_a_reason_and_is_flagged(demo: LiveServer, system: Fhir) -> None:
    claims = {**OUTSIDER, "purpose_of_use": "ETREAT", "btg_reason": "Bevisstløs pasient i akuttmottak"}
    with client(demo, claims) as emergency:
        assert emergency.get("/CarePlan/demo-plan").status_code == 200
    flagged = system.get("/AuditEvent", params={"_security": "http://terminology.hl7.org/CodeSystem/v3-ActReason|BTG"})
    assert flagged.json().get("entry")
