"""A request the server fails (500) leaves an AuditEvent like any other, with a serious-failure
outcome: here a search index table is taken away under a live server (both stores), so the
search fails in the database as it would after a fault."""

from __future__ import annotations

from sqlalchemy import text


def _rename(engine, old: str, new: str) -> None:
    with engine.connect() as conn:
        with conn.begin():
            conn.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))


def test_a_request_that_ends_in_500_leaves_an_audit_event(fhir, live_server):
    engine = live_server.services.store.engine
    _rename(engine, "search_string", "search_string_away")
    try:
        failed = fhir.get("/Patient?name=Faulty")
    finally:
        _rename(engine, "search_string_away", "search_string")
    assert failed.status_code == 500, failed.text
    assert failed.json()["resourceType"] == "OperationOutcome"
    events = fhir.get("/AuditEvent?outcome=8").json().get("entry", [])
    described = [e["resource"]["outcomeDesc"] for e in events]
    assert any("Patient?name=Faulty" in d and "500" in d for d in described), described
