"""A patient's access log speaks of their own record only; the security officer keeps the whole
request. Through HTTP, on both stores (the shared `fhir` fixture: a system client)."""

from __future__ import annotations

from fhirip.demo import synthetic_fnr
from fhirip.testing.live import Fhir


def person(client: Fhir, n: int) -> str:
    body = {"resourceType": "Patient", "identifier": [
        {"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": synthetic_fnr(10 + n, 3, 80, 100 + n)}],
        "name": [{"family": f"Logg{n}"}]}
    created = client.send_json("POST", "/Patient", body)
    assert created.status_code == 201, created.text
    return created.json()["id"]


def goal(client: Fhir, patient: str) -> str:
    created = client.send_json("POST", "/Goal", {
        "resourceType": "Goal", "lifecycleStatus": "active", "description": {"text": "Bo hjemme"},
        "subject": {"reference": f"Patient/{patient}"}})
    assert created.status_code == 201, created.text
    return created.json()["id"]


def entities(event: dict) -> set[str]:
    return {e["what"]["reference"] for e in event.get("entity", []) if "reference" in e.get("what", {})}


def test_a_request_touching_two_patients_leaves_one_event_in_each_log_and_one_whole(fhir: Fhir) -> None:
    anne, bjorn = person(fhir, 1), person(fhir, 2)
    anne_goal, bjorn_goal = goal(fhir, anne), goal(fhir, bjorn)
    assert fhir.get("/Goal?_count=50&lifecycle-status=active").status_code == 200

    def events(query: str) -> list[dict]:
        found = fhir.get(f"/AuditEvent?{query}&subtype=search-type&_count=50")
        assert found.status_code == 200, found.text
        return [e["resource"] for e in found.json().get("entry", [])]

    in_anne_log = events(f"patient=Patient/{anne}")
    assert len(in_anne_log) == 1
    assert entities(in_anne_log[0]) == {f"Patient/{anne}", f"Goal/{anne_goal}"}
    assert "lifecycle-status" not in in_anne_log[0]["outcomeDesc"]  # the query may name others
    in_bjorn_log = events(f"patient=Patient/{bjorn}")
    assert entities(in_bjorn_log[0]) == {f"Patient/{bjorn}", f"Goal/{bjorn_goal}"}
    whole = [e for e in events(f"entity=Goal/{anne_goal}") if "lifecycle-status" in e["outcomeDesc"]]
    assert len(whole) == 1 and {f"Goal/{anne_goal}", f"Goal/{bjorn_goal}"} <= entities(whole[0])
    assert not any(r.startswith("Patient/") for r in entities(whole[0]))  # in nobody's log


def test_a_request_returning_patients_leaves_no_event_naming_them_all(fhir: Fhir) -> None:
    anne, bjorn = person(fhir, 3), person(fhir, 4)
    assert fhir.get("/Patient?_count=50").status_code == 200
    for patient, other in ((anne, bjorn), (bjorn, anne)):
        log = fhir.get(f"/AuditEvent?patient=Patient/{patient}&subtype=search-type&_count=50")
        assert log.status_code == 200, log.text
        events = [e["resource"] for e in log.json().get("entry", [])]
        assert events and not any(f"Patient/{other}" in entities(e) for e in events)


def test_a_batch_entry_finds_the_audit_event_of_the_read_just_before(fhir: Fhir) -> None:
    anne = person(fhir, 5)
    assert fhir.get(f"/Patient/{anne}").status_code == 200
    batch = fhir.send_json("POST", "/", {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": f"AuditEvent?entity=Patient/{anne}&subtype=read"}}]})
    assert batch.status_code == 200, batch.text
    found = batch.json()["entry"][0]["resource"]
    assert found.get("total", len(found.get("entry", []))) >= 1, found


def test_a_system_search_over_every_type_finds_the_audit_event_of_the_read_just_before(fhir: Fhir) -> None:
    anne = person(fhir, 6)
    assert fhir.get(f"/Patient/{anne}").status_code == 200
    found = fhir.get("/", params={"_lastUpdated": "ge2000-01-01", "_count": "200", "_total": "accurate"})
    assert found.status_code == 200, found.text
    events = [e["resource"] for e in found.json().get("entry", []) if e["resource"]["resourceType"] == "AuditEvent"]
    assert any(f"Patient/{anne}" in entities(e) and e["subtype"][0]["code"] == "read" for e in events)
