"""The Actor: HelseID-style claims mapped to practitioner, person or system, with purpose of use."""

from __future__ import annotations

from typing import Any

import pytest

from fhirip.auth.actor import (
    CLAIM_BTG_REASON,
    CLAIM_HPR_NUMBER,
    CLAIM_ORG_NUMBER,
    CLAIM_PERSON_ID,
    CLAIM_PURPOSE_OF_USE,
    DNR_SYSTEM,
    FNR_SYSTEM,
    Actor,
    ActorKind,
)
from fhirip.errors import Unauthorized

BASE = {"iss": "https://helseid-sts.test.nhn.no", "sub": "pseudonym-1", "client_id": "ip-client"}


def from_claims(**claims: Any) -> Actor:
    return Actor.from_claims({**BASE, **claims})


def test_hpr_number_makes_a_practitioner() -> None:
    actor = from_claims(**{CLAIM_HPR_NUMBER: "9144900", CLAIM_PERSON_ID: "13116900216",
                           CLAIM_ORG_NUMBER: "974589095"})
    assert actor.kind is ActorKind.PRACTITIONER
    assert (actor.hpr_number, actor.person_id, actor.org_number) == ("9144900", "13116900216", "974589095")


def test_hpr_number_as_a_json_number_is_accepted() -> None:
    assert from_claims(**{CLAIM_HPR_NUMBER: 9144900}).hpr_number == "9144900"


def test_person_id_without_hpr_makes_a_person_to_be_resolved() -> None:
    actor = from_claims(**{CLAIM_PERSON_ID: "15076500565"})
    assert actor.kind is ActorKind.PERSON and actor.is_person
    assert actor.person_identifier == (FNR_SYSTEM, "15076500565")
    assert actor.resolved_as(ActorKind.PATIENT).kind is ActorKind.PATIENT
    assert actor.resolved_as(ActorKind.RELATIVE).person_id == "15076500565"


def test_d_number_is_identified_as_such() -> None:
    assert from_claims(**{CLAIM_PERSON_ID: "70019950032"}).person_identifier == (DNR_SYSTEM, "70019950032")


def test_only_a_person_can_be_resolved_as_patient_or_relative() -> None:
    practitioner = from_claims(**{CLAIM_HPR_NUMBER: "9144900"})
    with pytest.raises(ValueError):
        practitioner.resolved_as(ActorKind.PATIENT)
    with pytest.raises(ValueError):
        from_claims(**{CLAIM_PERSON_ID: "15076500565"}).resolved_as(ActorKind.PRACTITIONER)


def test_client_credentials_without_a_person_make_a_system_actor() -> None:
    actor = from_claims(**{CLAIM_ORG_NUMBER: "974589095", "scope": "system/*.rs"})
    assert actor.kind is ActorKind.SYSTEM and actor.org_number == "974589095"


def test_system_token_without_sub_takes_the_client_as_subject() -> None:
    actor = Actor.from_claims({"iss": "x", "client_id": "backend-7"})
    assert (actor.sub, actor.kind) == ("backend-7", ActorKind.SYSTEM)


def test_person_token_without_sub_is_rejected() -> None:
    with pytest.raises(Unauthorized, match="no 'sub'"):
        Actor.from_claims({"iss": "x", "client_id": "c", CLAIM_PERSON_ID: "15076500565"})


def test_scope_claim_as_a_list_is_accepted() -> None:
    actor = from_claims(scope=["openid", "user/CarePlan.rs"])
    assert actor.scopes.raw == ("openid", "user/CarePlan.rs")


def test_roles_from_a_string_or_a_list() -> None:
    assert from_claims(role="koordinator").role == "koordinator"
    assert from_claims(role=["a", "b"]).roles == ("a", "b")
    assert from_claims().role is None


@pytest.mark.parametrize(("claim", "value"), [
    (CLAIM_HPR_NUMBER, "91449OO"), (CLAIM_HPR_NUMBER, ["9144900"]), (CLAIM_PERSON_ID, "1507650056"),
    (CLAIM_PERSON_ID, 15076500565), (CLAIM_ORG_NUMBER, "97458909"), ("sub", 12), ("role", [1]),
    ("scope", {"a": 1}), (CLAIM_PURPOSE_OF_USE, "treat me"), (CLAIM_BTG_REASON, 5),
    (CLAIM_BTG_REASON, "x" * 1001),
])
def test_malformed_claims_are_an_invalid_token(claim: str, value: Any) -> None:
    with pytest.raises(Unauthorized) as caught:
        from_claims(**{claim: value})
    assert claim in caught.value.diagnostics
    assert 'error="invalid_token"' in caught.value.headers["WWW-Authenticate"]


def test_purpose_of_use_is_read_as_a_code_or_a_coding() -> None:
    assert from_claims(**{CLAIM_PURPOSE_OF_USE: "treat"}).purpose_of_use == "TREAT"
    coding = {"system": "urn:oid:2.16.840.1.113883.1.11.20448", "code": "COC"}
    assert from_claims(**{CLAIM_PURPOSE_OF_USE: coding}).purpose_of_use == "COC"


@pytest.mark.parametrize(("purpose", "reason", "expected"), [
    ("ETREAT", "Akutt innleggelse, pasienten bevisstløs", True),
    ("BTG", "Akutt", True),
    ("ETREAT", None, False),
    ("BTG", "   ", False),
    ("TREAT", "Akutt", False),
    (None, "Akutt", False),
])
def test_break_the_glass_needs_an_emergency_purpose_and_a_reason(purpose: str | None, reason: str | None,
                                                                  expected: bool) -> None:
    claims = {CLAIM_HPR_NUMBER: "9144900"}
    if purpose:
        claims[CLAIM_PURPOSE_OF_USE] = purpose
    if reason is not None:
        claims[CLAIM_BTG_REASON] = reason
    assert from_claims(**claims).break_the_glass is expected


def test_actor_is_immutable() -> None:
    actor = from_claims()
    with pytest.raises(AttributeError):
        actor.kind = ActorKind.PRACTITIONER  # type: ignore[misc]
