"""`CarePlan/$exists` through HTTP, both stores: any health professional learns whether a person
has an individual plan, its status, start and whom to contact, and nothing else; the person
sees the question in their own access log."""

from __future__ import annotations

from test_access_index_http import client, demo  # noqa: F401  (fixtures)

from fhirip.testing.live import LiveServer


def test_any_health_professional_learns_whether_a_plan_exists_and_the_person_sees_it_in_their_log(
        demo: LiveServer) -> None:
    from fhirip.demo import KARI_FNR

    fnr = "urn:oid:2.16.578.1.12.4.1.4.1"
    stranger = {"sub": "siri", "helseid://claims/hpr/hpr_number": "9300001", "scope": "user/*.rs"}
    with client(demo, stranger) as siri:
        assert siri.get("/CarePlan/demo-plan").status_code == 403  # she sees nothing of Kari's record
        found = siri.get("/CarePlan/$exists", params={"patient-identifier": f"{fnr}|{KARI_FNR}"})
        unknown = siri.get("/CarePlan/$exists", params={"patient-identifier": f"{fnr}|01010112345"})
        malformed = siri.get("/CarePlan/$exists", params={"patient-identifier": KARI_FNR})
    assert found.status_code == 200
    answer = {p["name"]: p for p in found.json()["parameter"]}
    assert answer["exists"]["valueBoolean"] is True and answer["status"]["valueCode"] == "active"
    assert answer["start"]["valueDateTime"] == "2026-01-15"
    assert answer["contact"]["valueReference"]["reference"] == "Organization/demo-kommune"
    assert [p["name"] for p in found.json()["parameter"]] == ["exists", "status", "start", "contact"]
    assert unknown.json() == {"resourceType": "Parameters", "parameter": [{"name": "exists", "valueBoolean": False}]}
    assert malformed.status_code == 400
    kari = {"sub": "kari", "helseid://claims/identity/pid": KARI_FNR, "scope": "patient/*.rs"}
    with client(demo, kari) as patient:
        assert patient.get("/CarePlan/$exists", params={"patient-identifier": f"{fnr}|{KARI_FNR}"}).status_code == 403
        log = patient.get("/AuditEvent", params={"_count": "100"}).json()
    asked = [e["resource"] for e in log.get("entry") or [] if "$exists" in str(e["resource"])]
    assert asked and any("9300001" in str(event.get("agent")) for event in asked)
