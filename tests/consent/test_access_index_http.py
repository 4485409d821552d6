"""The access index through HTTP, both stores: withdrawal under concurrent writes, and the
SMART scopes as an upper bound including their query part and the patient in context."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from fhirip.demo import demo_bundle
from fhirip.interactions.request import FhirRequest
from fhirip.interactions.router import handle
from fhirip.testing.live import SYSTEM_CLAIMS, Fhir, LiveServer, token_for

HPR = "urn:oid:2.16.578.1.12.4.1.4.4"
MEMBER = {"sub": "ingrid", "helseid://claims/hpr/hpr_number": "9144900", "scope": "user/*.cruds"}
OTHER = [
    {"resourceType": "Practitioner", "id": "nils", "identifier": [{"system": HPR, "value": "9200001"}]},
    {"resourceType": "Patient", "id": "other", "name": [{"family": "Olsen"}]},
    {"resourceType": "Consent", "id": "other-sharing", "status": "active",
     "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
     "category": [{"coding": [{"system": "http://fhirip.no/fhir/CodeSystem/ip-consent-category",
                               "code": "ip-samtykke-deling"}]}],
     "patient": {"reference": "Patient/other"}, "policyRule": {"text": "Helsepersonelloven § 22"},
     "provision": {"type": "permit", "actor": [{"role": {"coding": [{
         "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PRCP"}]},
         "reference": {"reference": "Practitioner/nils"}}]}},
]


@pytest.fixture
def demo(live_server: LiveServer) -> LiveServer:
    live_server.reset()
    bundle = demo_bundle()
    bundle["entry"] += [{"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
                        for r in OTHER]
    assert handle(live_server.services, FhirRequest(method="POST", resource=bundle), [], internal=True).status == 200
    return live_server


def client(server: LiveServer, claims: dict) -> Fhir:
    return Fhir(base_url=server.url, timeout=60,
                headers={"Authorization": f"Bearer {token_for(server.services, **claims)}"})


@pytest.fixture
def system(demo: LiveServer) -> Iterator[Fhir]:
    with client(demo, SYSTEM_CLAIMS) as c:
        yield c


def test_no_read_is_served_after_a_withdrawal_returned_while_others_write(demo: LiveServer, system: Fhir) -> None:
    """Readers ask for the patient's Goals while writers keep changing other inputs of the
    index (a Practitioner, an Organization, another patient's Consent); each withdrawal is
    followed only by reads that start after it returned, and none of them may be served."""
    consent = system.get("/Consent/demo-consent-sharing").json()
    stop = threading.Event()
    reads: list[tuple[float, float, int]] = []  # (when the read was sent, when it was answered, goals served)
    failures: list[str] = []

    def read() -> None:
        with client(demo, MEMBER) as ingrid:
            while not stop.is_set():
                started = time.monotonic()
                answer = ingrid.get("/Goal", params={"subject": "Patient/demo-kari"})
                served = len(answer.json().get("entry") or []) if answer.status_code == 200 else 0
                reads.append((started, time.monotonic(), served))

    def write(number: int) -> None:
        with client(demo, SYSTEM_CLAIMS) as writer:
            round_ = 0
            while not stop.is_set():
                round_ += 1
                for resource in ({**OTHER[0], "name": [{"family": f"Nilsen {number} {round_}"}]},
                                 {**OTHER[2], "dateTime": f"2026-01-{1 + round_ % 28:02d}"}):
                    answer = writer.put(f"/{resource['resourceType']}/{resource['id']}", json=resource)
                    if answer.status_code >= 500:
                        failures.append(answer.text)

    threads = [threading.Thread(target=read) for _ in range(2)] + \
        [threading.Thread(target=write, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    windows: list[list[float]] = []  # [withdrawal returned, next activation sent]
    try:
        for _ in range(4):
            if windows:
                windows[-1].append(time.monotonic())
            assert system.put("/Consent/demo-consent-sharing", json={**consent, "status": "active"}).status_code == 200
            _wait_for_reads(reads, 3)
            assert system.put("/Consent/demo-consent-sharing",
                              json={**consent, "status": "inactive"}).status_code == 200
            windows.append([time.monotonic()])
            _wait_for_reads(reads, 8)  # at most one read per reader was on its way at the withdrawal
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    windows[-1].append(float("inf"))
    assert not failures
    assert any(served for _, _, served in reads)  # the readers were served while the consent was active
    # Sent after a withdrawal returned, answered before the consent was sent to be active again.
    after = [served for sent, answered, served in reads
             if any(withdrawn < sent and answered < activated for withdrawn, activated in windows)]
    assert len(after) >= 4 * 6 and not any(after)


def _wait_for_reads(reads: list[tuple[float, float, int]], count: int) -> None:
    start = len(reads)
    while len(reads) < start + count:
        time.sleep(0.01)


def test_a_scope_query_bounds_every_read_of_its_type(demo: LiveServer, system: Fhir) -> None:
    draft = {"resourceType": "CarePlan", "id": "demo-draft", "status": "draft", "intent": "proposal",
             "subject": {"reference": "Patient/demo-kari"}}
    assert system.put("/CarePlan/demo-draft", json=draft).status_code == 201
    claims = {**SYSTEM_CLAIMS, "scope": "system/CarePlan.rs?status=draft system/Patient.rs"}
    with client(demo, claims) as drafts_only:
        active, unknown = drafts_only.get("/CarePlan/demo-plan"), drafts_only.get("/CarePlan/no-such-plan")
        assert active.status_code == unknown.status_code == 404
        assert drafts_only.get("/CarePlan/demo-draft").status_code == 200
        found = drafts_only.get("/CarePlan", params={"_total": "accurate"}).json()
        assert found["total"] == 1 and [e["resource"]["id"] for e in found["entry"]] == ["demo-draft"]
        included = drafts_only.get("/Patient", params={"_revinclude": "CarePlan:subject"}).json()
        assert sorted(e["resource"]["id"] for e in included["entry"] if e["resource"]["resourceType"] == "CarePlan") \
            == ["demo-draft"]
        assert drafts_only.get("/CarePlan/demo-plan/_history/1").status_code == 404


def test_patient_scopes_with_a_patient_in_context_reach_that_patient_only(demo: LiveServer) -> None:
    nils = {"sub": "nils", "helseid://claims/hpr/hpr_number": "9200001", "scope": "patient/*.rs"}
    with client(demo, {**nils, "patient": "demo-kari"}) as elsewhere:
        hidden, unknown = elsewhere.get("/Patient/other"), elsewhere.get("/Patient/no-such-patient")
        assert (hidden.status_code, hidden.json()["issue"][0]["diagnostics"].replace("other", "X")) == \
            (unknown.status_code, unknown.json()["issue"][0]["diagnostics"].replace("no-such-patient", "X"))
        assert hidden.status_code in (403, 404)
        assert elsewhere.get("/Patient/demo-kari").status_code == hidden.status_code  # nor does Kari's consent
    with client(demo, {**nils, "patient": "other"}) as in_context:
        assert in_context.get("/Patient/other").status_code == 200
    with client(demo, {**nils, "scope": "user/*.rs", "patient": "demo-kari"}) as user_scopes:
        assert user_scopes.get("/Patient/other").status_code == 200  # user scopes are not the patient's


def _sharing(consent_id: str, patient: str, actor: str, *, correct: bool = False) -> dict:
    provision: dict = {"type": "permit", "actor": [{"role": {"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PRCP"}]},
        "reference": {"reference": actor}}]}
    if correct:
        provision["action"] = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentaction",
                                            "code": code}]} for code in ("access", "correct")]
    return {**OTHER[2], "id": consent_id, "patient": {"reference": f"Patient/{patient}"}, "provision": provision}


COORDINATOR = {"sub": "ola", "helseid://claims/hpr/hpr_number": "9144889", "scope": "user/*.cruds"}
NILS = {"sub": "nils", "helseid://claims/hpr/hpr_number": "9200001", "scope": "user/*.cruds"}


def test_only_the_patient_a_guardian_or_the_coordinator_may_share_and_no_one_with_themselves(
        demo: LiveServer, system: Fhir) -> None:
    from fhirip.demo import KARI_FNR

    # Nils may correct Per Olsen's record; that does not let him share it onwards.
    assert system.put("/Consent/other-sharing", json=_sharing("other-sharing", "other", "Practitioner/nils",
                                                              correct=True)).status_code == 200
    assert system.put("/Practitioner/siri", json={"resourceType": "Practitioner", "id": "siri"}).status_code == 201
    with client(demo, NILS) as nils:
        assert nils.post("/Goal", json={
            "resourceType": "Goal", "lifecycleStatus": "active",
            "description": {"text": "Mål"}, "subject": {"reference": "Patient/other"}}).status_code == 201
        onwards = nils.post("/Consent", json=_sharing("onwards", "other", "Practitioner/siri"))
        assert onwards.status_code == 403 and "written by the patient" in onwards.text
    with client(demo, COORDINATOR) as ola:
        himself = ola.post("/Consent", json=_sharing("ola-self", "demo-kari", "Practitioner/demo-ola"))
        assert himself.status_code == 403 and "Practitioner/demo-ola" in himself.text
        # recording Kari's decision: the Provenance names her as the one who consented
        consenter = '{"resourceType": "Provenance", "agent": [{"who": {"reference": "Patient/demo-kari"}}]}'
        recorded = ola.post("/Consent", json=_sharing("kari-siri", "demo-kari", "Practitioner/siri"),
                            headers={"X-Provenance": consenter})
        assert recorded.status_code == 201, recorded.text
    kari = {"sub": "kari", "helseid://claims/identity/pid": KARI_FNR, "scope": "patient/*.cruds"}
    with client(demo, kari) as patient:
        own = patient.post("/Consent", json=_sharing("kari-nils", "demo-kari", "Practitioner/nils"))
        assert own.status_code == 201, own.text



def test_stored_pages_link_only_as_far_as_the_caller_may_still_see(demo: LiveServer, system: Fhir) -> None:
    consent = _sharing("kari-nils", "demo-kari", "Practitioner/nils")
    assert system.put("/Consent/kari-nils", json=consent).status_code == 201
    with client(demo, NILS) as nils:
        first = nils.get("/Patient", params={"_sort": "-_id", "_count": "1"}).json()
        assert [e["resource"]["id"] for e in first["entry"]] == ["other"]
        links = {link["relation"]: link["url"] for link in first["link"]}
        assert "next" in links
        assert system.put("/Consent/kari-nils", json={**consent, "status": "inactive"}).status_code == 200
        again = nils.get(links["first"]).json()
    assert [e["resource"]["id"] for e in again["entry"]] == ["other"]
    relations = {link["relation"]: link["url"] for link in again["link"]}
    assert "next" not in relations
    assert "_getpagesoffset=0" in relations.get("last", "_getpagesoffset=0")
