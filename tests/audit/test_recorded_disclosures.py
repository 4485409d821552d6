"""An EHR records its own disclosures in the patient's log: a system client may add an AuditEvent,
which the patient then reads among the others; nobody may change or delete one. Both stores."""

from __future__ import annotations

from fhirip.auth.devkeys import person_claims
from fhirip.demo import synthetic_fnr
from fhirip.testing.live import Fhir, LiveServer, token_for

FNR = synthetic_fnr(14, 5, 80, 321)


def disclosure(patient: str) -> dict:
    return {"resourceType": "AuditEvent",
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
            "action": "R", "recorded": "2026-03-01T10:00:00Z", "outcome": "0",
            "agent": [{"requestor": True, "who": {"display": "EPJ ved Sykehuset"}}],
            "source": {"observer": {"display": "EPJ ved Sykehuset"}},
            "entity": [{"what": {"reference": f"Patient/{patient}"}}]}


def test_a_system_client_adds_an_audit_event_the_patient_reads_and_nobody_changes(
        fhir: Fhir, live_server: LiveServer) -> None:
    patient = fhir.send_json("POST", "/Patient", {"resourceType": "Patient", "identifier": [
        {"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": FNR}]})
    assert patient.status_code == 201, patient.text
    pid = patient.json()["id"]
    created = fhir.send_json("POST", "/AuditEvent", disclosure(pid))
    assert created.status_code == 201, created.text
    event_id = created.json()["id"]
    for method, body in (("PUT", {**disclosure(pid), "id": event_id}), ("PATCH", None), ("DELETE", None)):
        if method == "PATCH":
            answer = fhir.request("PATCH", f"/AuditEvent/{event_id}", content=b'[{"op":"replace","path":"/action","value":"C"}]',
                                  headers={"Content-Type": "application/json-patch+json"})
        elif body is not None:
            answer = fhir.send_json(method, f"/AuditEvent/{event_id}", body)
        else:
            answer = fhir.request(method, f"/AuditEvent/{event_id}")
        assert answer.status_code == 403, (method, answer.text)
    assert fhir.get(f"/AuditEvent/{event_id}").json()["meta"]["versionId"] == "1"
    token = token_for(live_server.services, **person_claims(person=FNR))
    with Fhir(base_url=live_server.url, headers={"Authorization": f"Bearer {token}"}) as own:
        log = own.get("/AuditEvent", params={"patient": f"Patient/{pid}", "_count": "100"})
        assert log.status_code == 200, log.text
        assert event_id in {entry["resource"]["id"] for entry in log.json().get("entry", [])}
        assert own.send_json("POST", "/AuditEvent", disclosure(pid)).status_code == 403


def test_a_system_client_whose_scopes_leave_audit_events_out_may_not_add_one(
        fhir: Fhir, live_server: LiveServer) -> None:
    token = token_for(live_server.services, sub="ehr", client_id="ehr", scope="system/Patient.cruds system/AuditEvent.rs")
    with Fhir(base_url=live_server.url, headers={"Authorization": f"Bearer {token}"}) as ehr:
        patient = ehr.send_json("POST", "/Patient", {"resourceType": "Patient", "name": [{"family": "Skop"}]})
        assert patient.status_code == 201, patient.text
        assert ehr.send_json("POST", "/AuditEvent", disclosure(patient.json()["id"])).status_code == 403
