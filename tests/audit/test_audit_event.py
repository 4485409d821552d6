"""AuditEvent builder: valid R4 for every interaction and actor, with who, whom, what, why and BTG."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest
from fhir.resources.R4B.auditevent import AuditEvent

from fhirip.audit import audit_event, mask_person_numbers, outcome_for_status
from fhirip.audit.codes import INTERACTION_ACTION
from fhirip.auth.actor import (
    CLAIM_BTG_REASON,
    CLAIM_HPR_NUMBER,
    CLAIM_ORG_NUMBER,
    CLAIM_PERSON_ID,
    CLAIM_PURPOSE_OF_USE,
    FNR_SYSTEM,
    HPR_SYSTEM,
    ORG_NUMBER_SYSTEM,
    Actor,
    ActorKind,
)

RECORDED = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
ISSUER = "https://helseid-sts.test.nhn.no"


def make_actor(**claims: Any) -> Actor:
    return Actor.from_claims({"iss": ISSUER, "sub": "pseudonym", "client_id": "ip-app", **claims})


PRACTITIONER = make_actor(**{CLAIM_HPR_NUMBER: "9144900", CLAIM_ORG_NUMBER: "974589095",
                             CLAIM_PURPOSE_OF_USE: "TREAT", "name": "Kari Nordmann"})
PATIENT = make_actor(**{CLAIM_PERSON_ID: "15076500565"}).resolved_as(ActorKind.PATIENT)
SYSTEM = make_actor(**{CLAIM_ORG_NUMBER: "974589095", "scope": "system/*.rs"})
BTG = make_actor(**{CLAIM_HPR_NUMBER: "9144900", CLAIM_PURPOSE_OF_USE: "ETREAT",
                    CLAIM_BTG_REASON: "Akutt innleggelse, pasienten er bevisstløs"})


def event(actor: Actor | None = PRACTITIONER, **overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = dict(interaction="read", outcome="0", resource_refs=["CarePlan/cp1"],
                                     patient_refs=["Patient/p1"], request_url="/fhir/CarePlan/cp1",
                                     method="GET", status=200, break_the_glass=False, recorded=RECORDED)
    arguments.update(overrides)
    built = audit_event(actor, **arguments)
    AuditEvent.model_validate(built)  # must be valid R4(B) structure
    return built


def entity_with_role(built: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return [entity for entity in built.get("entity", []) if entity["role"]["code"] == role]


@pytest.mark.parametrize("interaction", sorted(INTERACTION_ACTION))
def test_every_interaction_gives_a_valid_event_with_its_subtype_and_action(interaction: str) -> None:
    built = event(interaction=interaction)
    assert built["type"]["code"] == "rest"
    assert built["subtype"][0] == {"system": "http://hl7.org/fhir/restful-interaction", "code": interaction,
                                   "display": interaction}
    assert built["action"] == INTERACTION_ACTION[interaction]


@pytest.mark.parametrize(("interaction", "action"), [
    ("create", "C"), ("read", "R"), ("vread", "R"), ("update", "U"), ("patch", "U"), ("delete", "D"),
    ("search-type", "E"), ("history-instance", "R"), ("history-type", "E"), ("transaction", "E"),
])
def test_action_follows_the_interaction(interaction: str, action: str) -> None:
    assert event(interaction=interaction)["action"] == action


def test_practitioner_is_the_requesting_user_with_hpr_and_purpose() -> None:
    user, client, organization = event()["agent"]
    assert user["requestor"] is True
    assert user["who"]["identifier"] == {"system": HPR_SYSTEM, "value": "9144900"}
    assert user["who"]["type"] == "Practitioner" and user["name"] == "Kari Nordmann"
    assert user["purposeOfUse"][0]["coding"][0]["code"] == "TREAT"
    assert client["who"]["identifier"] == {"system": ISSUER, "value": "ip-app"} and client["requestor"] is False
    assert organization["who"]["identifier"] == {"system": ORG_NUMBER_SYSTEM, "value": "974589095"}


def test_patient_is_identified_by_fodselsnummer() -> None:
    user = event(PATIENT)["agent"][0]
    assert user["who"]["identifier"] == {"system": FNR_SYSTEM, "value": "15076500565"}
    assert user["who"]["type"] == "Patient"
    assert user["role"][0]["coding"][0]["code"] == "PAT"


def test_system_client_is_the_requestor_when_no_person_acts() -> None:
    agents = event(SYSTEM)["agent"]
    assert [agent["type"]["coding"][0]["code"] for agent in agents] == ["110153", "RESP"]
    assert agents[0]["requestor"] is True


def test_unauthenticated_request_is_still_recorded() -> None:
    built = event(None, outcome="4", status=401, resource_refs=[], patient_refs=[])
    assert built["agent"] == [{"type": built["agent"][0]["type"], "who": {"display": "unauthenticated"},
                               "requestor": True}]
    assert built["outcome"] == "4" and "401" in built["outcomeDesc"]
    assert "entity" not in built


def test_each_resource_and_each_patient_is_an_entity() -> None:
    built = event(interaction="search-type", resource_refs=["CarePlan/a", "Goal/b", "Patient/p1", "Goal/b"],
                  patient_refs=["Patient/p1", "Patient/p2"])
    assert [e["what"]["reference"] for e in entity_with_role(built, "1")] == ["Patient/p1", "Patient/p2"]
    assert [e["what"]["reference"] for e in entity_with_role(built, "4")] == ["CarePlan/a", "Goal/b"]


def test_search_records_its_query_without_person_numbers() -> None:
    url = "/fhir/Patient?identifier=urn:oid:2.16.578.1.12.4.1.4.1|15076500565&_count=10"
    built = event(interaction="search-type", request_url=url)
    (query,) = entity_with_role(built, "24")
    recorded_query = base64.b64decode(query["query"]).decode()
    assert "15076500565" not in recorded_query and "_count=10" in recorded_query
    assert "15076500565" not in built["outcomeDesc"]


def test_person_numbers_are_masked_but_other_numbers_kept() -> None:
    assert mask_person_numbers("a=15076500565&b=123456789012&c=974589095") == \
        "a=***********&b=123456789012&c=974589095"


def test_consents_that_decided_are_security_entities() -> None:
    (consent,) = entity_with_role(event(consent_refs=["Consent/c1"]), "13")
    assert consent["what"]["reference"] == "Consent/c1"


def test_break_the_glass_is_labelled_and_carries_the_reason() -> None:
    built = event(BTG, break_the_glass=True)
    assert built["meta"]["security"] == [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                                          "code": "BTG", "display": "break the glass"}]
    assert built["purposeOfEvent"][0]["coding"][0]["code"] == "ETREAT"
    (patient,) = entity_with_role(built, "1")
    assert patient["detail"] == [{"type": "break-the-glass-reason",
                                  "valueString": "Akutt innleggelse, pasienten er bevisstløs"}]


def test_break_the_glass_without_a_patient_still_carries_the_reason() -> None:
    built = event(BTG, break_the_glass=True, interaction="search-type", resource_refs=[], patient_refs=[])
    assert any(detail["valueString"].startswith("Akutt") for entity in built["entity"]
               for detail in entity.get("detail", []))


def test_ordinary_access_is_not_labelled() -> None:
    assert "meta" not in event(BTG)


def test_break_the_glass_without_a_reason_is_refused() -> None:
    with pytest.raises(ValueError, match="reason"):
        event(PRACTITIONER, break_the_glass=True)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"interaction": "fetch"}, "restful-interaction"),
    ({"outcome": "1"}, "outcome"),
    ({"recorded": datetime(2026, 3, 1, 12, 30)}, "time zone"),
])
def test_bad_arguments_are_refused_clearly(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        event(**overrides)


@pytest.mark.parametrize(("status", "outcome"), [(200, "0"), (201, "0"), (304, "0"), (403, "4"), (404, "4"),
                                                  (500, "8"), (503, "8")])
def test_outcome_follows_the_http_status(status: int, outcome: str) -> None:
    assert outcome_for_status(status) == outcome


def test_recorded_keeps_its_time_zone() -> None:
    assert event()["recorded"] == "2026-03-01T12:30:00.000+00:00"
