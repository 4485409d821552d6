"""What a caller may make the plan rules and a recorded grant do, tried as an attacker would.

A withdrawal revokes only the plans of the consent's own patient, whatever the withdrawn
version names; a recorded grant's Provenance keeps only what the server decides it may.
Real server, real tokens, both stores.
"""

from __future__ import annotations

from typing import Any

import pytest

from matrix_client import load_world
from test_access_index_http import COORDINATOR, client, demo, system  # noqa: F401  (fixtures)

from fhirip.demo import KARI_FNR, synthetic_fnr
from fhirip.testing.live import SYSTEM_CLAIMS, Fhir, LiveServer

KARI = {"sub": "kari", "helseid://claims/identity/pid": KARI_FNR, "scope": "patient/*.cruds"}
FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
STRANGER_FNR = synthetic_fnr(4, 4, 70, 300)


def _others_plan(demo: LiveServer, system: Fhir) -> dict[str, Any]:  # noqa: F811
    plan = system.get("/CarePlan/demo-plan").json()
    others = {**plan, "id": "other-plan", "subject": {"reference": "Patient/other"}, "meta": {}}
    load_world(demo, [others])
    return others


@pytest.mark.parametrize("named", ["CarePlan/other-plan", "https://elsewhere.example/fhir/CarePlan/other-plan",
                                   "CarePlan/other-plan/_history/1", "urn:x:CarePlan/other-plan"])
def test_a_withdrawal_naming_another_persons_plan_does_not_revoke_it(
        demo: LiveServer, system: Fhir, named: str) -> None:  # noqa: F811
    """Kari withdraws her plan consent and, in the same version, names Olsen's plan as its
    data: the rule revokes plans of Kari's alone."""
    _others_plan(demo, system)
    status = system.get("/CarePlan/other-plan").json()["status"]
    consent = system.get("/Consent/demo-consent-plan").json()
    provision = {**(consent.get("provision") or {}),
                 "data": [{"meaning": "related", "reference": {"reference": named}}]}
    with client(demo, KARI) as kari:
        assert kari.get("/CarePlan/other-plan").status_code == 404
        kari.put("/Consent/demo-consent-plan", json={**consent, "status": "inactive", "provision": provision})
    assert system.get("/CarePlan/other-plan").json()["status"] == status
    assert system.get("/Provenance", params={"target": "CarePlan/other-plan"}).json()["total"] == 0


def test_a_scope_query_does_not_let_an_update_as_create_tell_a_hidden_id_from_an_unknown(
        demo: LiveServer, system: Fhir) -> None:  # noqa: F811
    """A system client that may write only draft plans is not one that sees every plan: PUT
    under an id of its choice answers the same for an active plan it may not see and an id
    no one has."""
    claims = {**SYSTEM_CLAIMS, "scope": "system/CarePlan.cruds?status=draft system/Patient.rs"}
    draft = {"resourceType": "CarePlan", "status": "draft", "intent": "proposal",
             "subject": {"reference": "Patient/demo-kari"}}
    with client(demo, claims) as drafts_only:
        assert drafts_only.get("/CarePlan/demo-plan").status_code == 404
        hidden = drafts_only.put("/CarePlan/demo-plan", json={**draft, "id": "demo-plan"})
        unknown = drafts_only.put("/CarePlan/no-such-plan", json={**draft, "id": "no-such-plan"})
    assert hidden.status_code == unknown.status_code, (hidden.text, unknown.text)
    assert hidden.text.replace("demo-plan", "X") == unknown.text.replace("no-such-plan", "X")
    assert system.get("/CarePlan/demo-plan").json()["status"] == "active"


def test_a_writer_of_the_record_cannot_make_it_another_persons(demo: LiveServer, system: Fhir) -> None:  # noqa: F811
    """Ola, Kari's coordinator, may correct her Patient record, but not give it another
    person's fødselsnummer: that would make her record one person with the stranger's hidden
    record (her next plan consent superseding theirs, her withdrawal revoking their plan) and
    let the stranger's own login read Kari's record."""
    _strangers_plan(demo, system)
    consent = system.get("/Consent/demo-consent-plan").json()
    with client(demo, COORDINATOR) as ola:
        kari = ola.get("/Patient/demo-kari").json()
        added = ola.put("/Patient/demo-kari", json={
            **kari, "identifier": [*kari["identifier"], {"system": FNR, "value": STRANGER_FNR}]})
        replaced = ola.put("/Patient/demo-kari", json={**kari, "identifier": [{"system": FNR, "value": STRANGER_FNR}]})
        assert added.status_code == replaced.status_code == 403, (added.text, replaced.text)
        assert ola.put("/Patient/demo-kari", json={**kari, "gender": "female"}).status_code == 200
    new_consent = {k: v for k, v in consent.items() if k not in ("id", "meta", "text")}
    with client(demo, KARI) as kari_login:
        assert kari_login.post("/Consent", json={**new_consent, "dateTime": "2026-04-01"}).status_code == 201
    assert system.get("/Consent/stranger-consent").json()["status"] == "active"
    assert system.get("/CarePlan/stranger-plan").json()["status"] == "active"
    stranger = {"sub": "stranger", "helseid://claims/identity/pid": STRANGER_FNR, "scope": "patient/*.rs"}
    with client(demo, stranger) as stranger_login:
        assert stranger_login.get("/Patient/demo-kari").status_code == 404


def _strangers_plan(demo: LiveServer, system: Fhir) -> dict[str, Any]:  # noqa: F811
    plan = system.get("/CarePlan/demo-plan").json()
    consent = system.get("/Consent/demo-consent-plan").json()
    load_world(demo, [
        {"resourceType": "Patient", "id": "stranger", "identifier": [{"system": FNR, "value": STRANGER_FNR}]},
        {**consent, "id": "stranger-consent", "patient": {"reference": "Patient/stranger"}, "meta": {}},
        {**plan, "id": "stranger-plan", "subject": {"reference": "Patient/stranger"}, "meta": {}}])
    return plan


def test_another_servers_patient_url_is_no_patient_of_this_server_to_the_plan_rules(
        demo: LiveServer, system: Fhir) -> None:  # noqa: F811
    """An individual plan in Kari's record (she performs an activity) whose subject is another
    server's Patient URL ending in the id of a person hidden from Ola answers as one ending in
    an id no one has: the one-plan rule does not take it for the hidden person here."""
    plan = _strangers_plan(demo, system)
    draft = {"resourceType": "CarePlan", "status": "draft", "intent": "plan", "category": plan["category"],
             "title": "Individuell plan", "activity": [{"detail": {
                 "status": "not-started", "code": {"text": "Samtale"}, "description": "Samtale",
                 "performer": [{"reference": "Patient/demo-kari"}]}}]}
    with client(demo, COORDINATOR) as ola:
        assert ola.get("/Patient/stranger").status_code == 404
        answers = [ola.post("/CarePlan", json={**draft, "subject": {"reference": f"https://elsewhere.example/fhir/Patient/{i}"}})
                   for i in ("stranger", "no-such-person")]
    hidden, unknown = (a.text.replace(i, "X") for a, i in zip(answers, ("stranger", "no-such-person")))
    assert answers[0].status_code == answers[1].status_code, (hidden, unknown)
    assert "open individual plan" not in hidden
