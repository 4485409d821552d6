"""What lands in a patient's access log, both stores: only their own record, never another
caller's query text naming others, never a prober's number, and a batch's reads."""

from __future__ import annotations

import base64

from test_access_index_http import COORDINATOR, SYSTEM_CLAIMS, client, demo  # noqa: F401  (fixtures)

from fhirip.demo import KARI_FNR
from fhirip.testing.live import LiveServer

KARI = {"sub": "kari", "helseid://claims/identity/pid": KARI_FNR, "scope": "patient/*.cruds"}


def _log(server: LiveServer, patient: str) -> list[dict]:
    with client(server, SYSTEM_CLAIMS) as system:
        found = system.get("/AuditEvent", params={"patient": f"Patient/{patient}", "_count": "200"}).json()
    return [e["resource"] for e in found.get("entry") or []]


def _queries(event: dict) -> list[str]:
    return [base64.b64decode(e["query"]).decode() for e in event.get("entity") or [] if "query" in e]


def test_another_callers_query_naming_others_stays_out_of_the_patients_log(demo: LiveServer) -> None:
    with client(demo, COORDINATOR) as ola:
        found = ola.get("/Patient", params={"name": "Nordmann,Olsen"}).json()
    assert [e["resource"]["id"] for e in found["entry"]] == ["demo-kari"]
    kari_log = _log(demo, "demo-kari")
    assert kari_log and not any("Olsen" in q for event in kari_log for q in _queries(event))
    assert not any("Olsen" in str(event) for event in kari_log)


def test_a_probe_of_someone_elses_record_puts_nothing_in_their_log(demo: LiveServer) -> None:
    with client(demo, KARI) as kari:
        assert kari.get("/Patient/other").status_code in (403, 404)
    assert not any(KARI_FNR in str(event) or "kari" in str(event.get("agent")) for event in _log(demo, "other"))


def test_a_batch_of_reads_is_in_the_patients_log_with_what_was_read(demo: LiveServer) -> None:
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Patient/demo-kari"}},
        {"request": {"method": "GET", "url": "Goal/demo-goal-school"}}]}
    with client(demo, COORDINATOR) as ola:
        assert ola.post("/", json=batch).status_code == 200
    read = [event for event in _log(demo, "demo-kari")
            if "Goal/demo-goal-school" in str(event.get("entity")) and event["subtype"][0]["code"] == "batch"]
    assert read
