"""Subscriptions to Kari's plan over real HTTP, both stores: the consented coordinator is told of
every change; a practitioner with the same criteria exactly while a consent names them; an
endpoint outside the allow-list is refused."""

from __future__ import annotations

import time
from typing import Any

from conftest import wait_for_failed_delivery
from conftest import (
    COORDINATOR,
    OUTSIDER,
    SYSTEM,
    change_plan,
    subscription,
    wait_until_decided,
)
from receiver import Receiver

from fhirip.testing.served import ServedFhirip

SHARING_WITH_NILS = {
    "resourceType": "Consent", "id": "kari-deling-nils", "status": "active",
    "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
    "category": [{"coding": [{"system": "http://fhirip.no/fhir/CodeSystem/ip-consent-category",
                              "code": "ip-samtykke-deling"}]}],
    "patient": {"reference": "Patient/demo-kari"}, "policyRule": {"text": "Helsepersonelloven § 22"},
    "provision": {"type": "permit", "actor": [{"role": {"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PRCP"}]},
        "reference": {"reference": "Practitioner/nils"}}]}}


def _subscribe(server: ServedFhirip, claims: dict[str, Any], endpoint: str) -> dict[str, Any]:
    with server.client(server.token(**claims)) as owner:
        answer = owner.post("/Subscription", json=subscription(endpoint))
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_an_endpoint_outside_the_allow_list_is_refused_at_create(subs_served: ServedFhirip) -> None:
    with subs_served.client(subs_served.token(**COORDINATOR)) as ola:
        for endpoint in ("https://receiver.example.no/hook", "http://10.1.2.3/hook",
                         "http://127.0.0.1.example.no/hook", "http://user:pw@127.0.0.1/hook", "ftp://127.0.0.1/x"):
            answer = ola.post("/Subscription", json=subscription(endpoint))
            assert answer.status_code == 422, (endpoint, answer.text)
            outcome = answer.json()
            assert outcome["resourceType"] == "OperationOutcome"
            assert outcome["issue"][0]["expression"] == ["Subscription.channel.endpoint"]
        answer = ola.post("/Subscription", json=subscription("http://127.0.0.1:9/hook", criteria="CarePlan?bogus=1"))
        assert answer.status_code == 422 and answer.json()["issue"][0]["expression"] == ["Subscription.criteria"]
        answer = ola.post("/Subscription", json={**subscription("http://127.0.0.1:9/hook"),
                                                 "channel": {"type": "websocket"}})
        assert answer.status_code == 422 and answer.json()["issue"][0]["expression"] == ["Subscription.channel.type"]


def test_a_subscription_belongs_to_its_owner(subs_served: ServedFhirip) -> None:
    created = _subscribe(subs_served, COORDINATOR, "http://127.0.0.1:9/never")
    assert created["status"] == "active"
    with subs_served.client(subs_served.token(**OUTSIDER)) as nils:
        unknown = nils.get("/Subscription/no-such-id")
        hidden = nils.get(f"/Subscription/{created['id']}")
        assert (hidden.status_code, hidden.json()["issue"][0]["diagnostics"].replace(created["id"], "X")) == \
            (unknown.status_code, unknown.json()["issue"][0]["diagnostics"].replace("no-such-id", "X"))
        assert nils.get("/Subscription").json().get("total", 0) == 0
        assert nils.get(f"/Subscription/{created['id']}/$status").status_code == 404
        # Nor can anyone take it over: the owner the server recorded stays.
        forged = {key: value for key, value in created.items() if key != "extension"}
        assert nils.put(f"/Subscription/{created['id']}", json=forged).status_code in (403, 404)
    with subs_served.client(subs_served.token(**COORDINATOR)) as ola:
        forged = {key: value for key, value in created.items() if key != "extension"}
        mine = ola.get("/Subscription").json()
        assert created["id"] in [e["resource"]["id"] for e in mine["entry"]]
        update = ola.put(f"/Subscription/{created['id']}", json={**forged, "status": "off"})
        assert update.status_code == 200, update.text
        assert update.json()["extension"] == created["extension"]  # the owner cannot be changed
        assert ola.delete(f"/Subscription/{created['id']}").status_code in (200, 204)


def test_the_consented_coordinator_is_told_and_an_outsider_exactly_while_a_consent_names_them(
        subs_served: ServedFhirip) -> None:
    coordinator, outsider = Receiver().up(), Receiver().up()
    try:
        mine = _subscribe(subs_served, COORDINATOR, coordinator.url)
        theirs = _subscribe(subs_served, OUTSIDER, outsider.url)
        with subs_served.client(subs_served.token(**SYSTEM)) as system:
            # 1. No consent names Nils: only the coordinator hears of the change.
            change_plan(system, "Første endring")
            first = coordinator.wait_for(1)
            assert len(first) == 1 and first[0].event_numbers == [1]
            assert first[0].headers.get("X-Receiver-Key") == "secret"
            assert first[0].resources[0]["description"] == "Første endring"
            assert first[0].parameter("subscription")["valueReference"]["reference"].endswith(f"/Subscription/{mine['id']}")
            wait_until_decided(subs_served, theirs["id"])
            assert outsider.received == []

            # 2. Kari shares with Nils: from now on he hears of it, numbered from his first event.
            assert system.put("/Consent/kari-deling-nils", json=SHARING_WITH_NILS).status_code in (200, 201)
            change_plan(system, "Andre endring")
            coordinator.wait_for(2)
            assert coordinator.numbers() == [1, 2]
            told = outsider.wait_for(1)
            assert len(told) == 1 and told[0].event_numbers == [1]
            assert told[0].resources[0]["description"] == "Andre endring"

            # 3. Withdrawn: nothing more for Nils, while the coordinator goes on.
            assert system.put("/Consent/kari-deling-nils",
                              json={**SHARING_WITH_NILS, "status": "inactive"}).status_code == 200
            change_plan(system, "Tredje endring")
            coordinator.wait_for(3)
            assert coordinator.numbers() == [1, 2, 3]
            wait_until_decided(subs_served, theirs["id"])
            assert len(outsider.received) == 1

            # Each notification is audited in Kari's log as a read by its receiver's owner.
            audit = system.get("/AuditEvent", params={"patient": "Patient/demo-kari", "_count": "200"}).json()
            nils_reads = [e for e in audit.get("entry") or []
                          if "CarePlan/demo-plan" in str(e["resource"]) and "9200001" in str(e["resource"])]
            assert nils_reads
        with subs_served.client(subs_served.token(**OUTSIDER)) as nils:
            status = nils.get(f"/Subscription/{theirs['id']}/$status").json()
            parameters = {p["name"]: p for p in status["entry"][0]["resource"]["parameter"]}
            assert parameters["events-since-subscription-start"]["valueString"] == "1"
    finally:
        coordinator.down()
        outsider.down()


def test_repeated_failures_set_the_status_error_and_reactivating_delivers_what_waited(
        subs_served: ServedFhirip) -> None:
    failing = Receiver(status=500).up()
    try:
        broken = _subscribe(subs_served, COORDINATOR, failing.url)
        with subs_served.client(subs_served.token(**SYSTEM)) as system:
            change_plan(system, "Mottakeren svarer 500")
        with subs_served.client(subs_served.token(**COORDINATOR)) as ola:
            errored = _wait_for_status(ola, broken["id"], "error")
            assert errored["status"] == "error" and "500" in errored["error"]
            assert len(failing.received) == 4  # FHIRIP_SUBSCRIPTION_RETRIES attempts, then no more
            failing.answer = 200
            answer = ola.put(f"/Subscription/{broken['id']}", json={**errored, "status": "requested"})
            assert answer.json()["status"] == "active"
            failing.wait_for(5)
            assert [r.event_numbers for r in failing.received] == [[1]] * 5  # the same event, its number kept
    finally:
        failing.down()


def _wait_for_status(client: Any, res_id: str, status: str, deadline: float = 30.0) -> dict[str, Any]:
    end = time.monotonic() + deadline
    while True:
        found = client.get(f"/Subscription/{res_id}").json()
        if found.get("status") == status or time.monotonic() > end:
            return found
        time.sleep(0.05)


def test_the_ready_made_criteria_of_the_readme_are_accepted(subs_served: ServedFhirip) -> None:
    readme = [
        "CarePlan?subject=Patient/demo-kari", "CarePlan?_id=demo-plan", "Goal?patient=Patient/demo-kari",
        "Task?patient=Patient/demo-kari", "Task?owner=Practitioner/demo-ola", "CareTeam?patient=Patient/demo-kari",
        "EpisodeOfCare?patient=Patient/demo-kari", "Consent?patient=Patient/demo-kari",
    ]
    with subs_served.client(subs_served.token(**COORDINATOR)) as ola:
        for criteria in readme:
            answer = ola.post("/Subscription", json=subscription("http://127.0.0.1:9/hook", criteria=criteria,
                                                                 status="off"))
            assert answer.status_code == 201, (criteria, answer.text)
            assert ola.delete(f"/Subscription/{answer.json()['id']}").status_code in (200, 204)


SECRET = "Hemmelig beskrivelse av hjemmesituasjonen"
# Per has Ola as coordinator but no sharing consent: Ola sees Per's plan in the administrative view.
PER = [
    {"resourceType": "Patient", "id": "per", "name": [{"family": "Olsen", "given": ["Per"]}]},
    {"resourceType": "CareTeam", "id": "per-team", "status": "active", "subject": {"reference": "Patient/per"},
     "participant": [{"role": [{"coding": [{"system": "urn:oid:2.16.578.1.12.4.1.1.9034", "code": "8"}]}],
                      "member": {"reference": "Practitioner/demo-ola"}}]},
    {"resourceType": "CarePlan", "id": "per-plan", "status": "active", "intent": "plan",
     "subject": {"reference": "Patient/per"}, "description": SECRET},
]


def test_a_coordinator_with_the_administrative_view_is_told_in_that_view(subs_served: ServedFhirip) -> None:
    receiver = Receiver().up()
    try:
        with subs_served.client(subs_served.token(**SYSTEM)) as system:
            for resource in PER:
                answer = system.put(f"/{resource['resourceType']}/{resource['id']}", json=resource)
                assert answer.status_code in (200, 201), answer.text
            with subs_served.client(subs_served.token(**COORDINATOR)) as ola:
                assert "description" not in ola.get("/CarePlan/per-plan").json()  # what a read shows him
                answer = ola.post("/Subscription", json=subscription(receiver.url, criteria="CarePlan?subject=Patient/per"))
                assert answer.status_code == 201, answer.text
            assert system.put("/CarePlan/per-plan", json={**PER[2], "description": SECRET + " 2"}).status_code == 200
            told = receiver.wait_for(1)
        assert len(told) == 1 and told[0].resources[0]["id"] == "per-plan"
        assert "Hemmelig" not in told[0].body.decode()
    finally:
        receiver.down()


def test_without_a_payload_the_notification_is_empty_and_id_only_names_the_resource(
        subs_served: ServedFhirip) -> None:
    empty, id_only = Receiver().up(), Receiver().up()
    try:
        with subs_served.client(subs_served.token(**COORDINATOR)) as ola:
            bare = subscription(empty.url)
            del bare["channel"]["payload"]
            assert ola.post("/Subscription", json=bare).status_code == 201
            named = subscription(id_only.url)
            named["channel"]["_payload"] = {"extension": [{
                "url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content",
                "valueCode": "id-only"}]}
            answer = ola.post("/Subscription", json=named)
            assert answer.status_code == 201, answer.text
        with subs_served.client(subs_served.token(**SYSTEM)) as system:
            change_plan(system, "Endring uten innhold")
        assert empty.wait_for(1)[0].body == b""
        told = id_only.wait_for(1)[0]
        assert told.resources == [] and told.event_numbers == [1]
        focus = [part for p in told.status["parameter"] if p["name"] == "notification-event" for part in p["part"]
                 if part["name"] == "focus"]
        assert focus[0]["valueReference"]["reference"].endswith("/CarePlan/demo-plan")
    finally:
        empty.down()
        id_only.down()


def test_a_consent_withdrawn_between_a_failed_delivery_and_its_retry_withholds_the_event(
        subs_served: ServedFhirip) -> None:
    outsider = Receiver()  # down: the first attempt fails
    theirs = _subscribe(subs_served, OUTSIDER, outsider.url)
    with subs_served.client(subs_served.token(**SYSTEM)) as system:
        assert system.put("/Consent/kari-deling-nils", json=SHARING_WITH_NILS).status_code in (200, 201)
        try:
            change_plan(system, "Endring mens Nils har samtykke")
            with subs_served.client(subs_served.token(**OUTSIDER)) as nils:
                wait_for_failed_delivery(nils, theirs["id"])  # decided, numbered, and its delivery failed
        finally:
            assert system.put("/Consent/kari-deling-nils",
                              json={**SHARING_WITH_NILS, "status": "inactive"}).status_code == 200
    outsider.up()
    try:
        wait_until_decided(subs_served, theirs["id"])  # the retry decided it again, as the owner may see it now
        assert outsider.received == []
    finally:
        outsider.down()

