"""The trust-framework attestation read into the Actor: every element, every refusal, never a crash."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest

from fhirip.auth.actor import COORDINATING_UNIT_ROLE, Actor, ActorKind
from fhirip.auth.devkeys import attested_claims
from fhirip.consent.vocabulary import COORDINATING_UNIT_ROLE as CONSENT_UNIT_ROLE
from fhirip.errors import Forbidden, Unauthorized

HPR, PID, ORG, CHILD = "9144889", "13116900216", "964338427", "974589095"
ENTRY = ("authorization_details", 0)


def claims(purpose: str | None = "TREAT", **options: Any) -> dict[str, Any]:
    made = attested_claims(hpr=HPR, pid=PID, org=ORG, purpose=purpose, **options)
    made["iat"] = int(time.time())
    return made


def attestation_of(made: dict[str, Any]) -> dict[str, Any]:
    return made["authorization_details"][0]


def test_every_element_reaches_the_actor() -> None:
    made = claims("TREAT", point_of_care=CHILD, decision_ref="30F4AB40-1", user_selected=True,
                  details={"code": "PASANSV", "system": "urn:oid:2.16.578.1.12.4.1.1.9151", "text": "Koordinator"},
                  department={"id": "4210", "system": "urn:oid:2.16.578.1.12.4.1.4.102", "name": "Barneklinikken"},
                  name="Ola Lege", toa=int(time.time()) - 60)
    attestation_of(made)["patients"] = [{"point_of_care": {"id": CHILD, "system": "urn:oid:2.16.578.1.12.4.1.4.101"},
                                         "department": {"id": "77", "system": "local", "authority": ORG}}]
    actor = Actor.from_claims(made)
    assert actor.kind is ActorKind.PRACTITIONER and actor.hpr_number == HPR and actor.person_id == PID
    assert actor.org_number == ORG and actor.org_child == CHILD and actor.security_level == "4"
    assert actor.purpose_of_use == "TREAT" and actor.btg_reason is None and not actor.break_the_glass
    a = actor.attestation
    assert a is not None
    assert (a.legal_entity.id, a.point_of_care.id, a.department.name) == (ORG, CHILD, "Barneklinikken")
    assert a.authorization.code == "LE" and a.healthcare_service.code == "S03"
    assert a.purpose_of_use_details.code == "PASANSV"
    assert (a.decision_ref, a.user_selected) == ("30F4AB40-1", True)
    assert a.attested_at.timestamp() == made["authorization_details"][0]["toa"]
    assert a.patient_point_of_care.id == CHILD and a.patient_department.authority == ORG
    assert a.identifier.id == PID and a.hpr_number == HPR


def test_the_attested_purpose_wins_over_the_development_shorthand() -> None:
    made = {**claims("TREAT"), "purpose_of_use": "BTG", "btg_reason": "not attested"}
    actor = Actor.from_claims(made)
    assert actor.purpose_of_use == "TREAT" and actor.btg_reason is None and not actor.break_the_glass


@pytest.mark.parametrize("purpose", ["ETREAT", "BTG"])
def test_emergency_purposes_break_the_glass_with_the_attested_facts_as_reason(purpose: str) -> None:
    actor = Actor.from_claims(claims(purpose, decision_ref="akutt-17", user_selected=True))
    assert actor.break_the_glass and actor.purpose_of_use == purpose
    assert f"Attestert formål {purpose}" in actor.btg_reason and "akutt-17 (selvvalgt)" in actor.btg_reason


def test_case_handling_is_the_coordinating_unit_and_only_it() -> None:
    assert COORDINATING_UNIT_ROLE == CONSENT_UNIT_ROLE  # the role the consent decision reads
    assert COORDINATING_UNIT_ROLE in Actor.from_claims(claims("COC")).roles
    # A role claim alone does not make a unit under another attested purpose.
    assert Actor.from_claims({**claims("TREAT"), "role": COORDINATING_UNIT_ROLE}).roles == ()


def test_without_an_attestation_the_shorthand_still_works() -> None:
    made = {"sub": "s", "helseid://claims/hpr/hpr_number": HPR, "purpose_of_use": "ETREAT", "btg_reason": "akutt"}
    actor = Actor.from_claims(made)
    assert actor.attestation is None and actor.break_the_glass


def test_a_professional_without_attestation_is_refused_where_it_is_required() -> None:
    made = {"sub": "s", "helseid://claims/hpr/hpr_number": HPR, "purpose_of_use": "TREAT"}
    with pytest.raises(Forbidden, match="must carry the trust-framework attestation"):
        Actor.from_claims(made, require_attestation=True)
    citizen = {"sub": "p", "helseid://claims/identity/pid": PID}
    assert Actor.from_claims(citizen, require_attestation=True).kind is ActorKind.PERSON


def _set(made: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(made)
    target: Any = changed
    for step in path[:-1]:
        target = target[step]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return changed


_DELETE = object()
REL = (*ENTRY, "care_relationship")
PRACT = (*ENTRY, "practitioner")

REFUSED = {
    "no purpose": (REL + ("purpose_of_use",), _DELETE, "no purpose of use"),
    "unknown purpose": (REL + ("purpose_of_use", "code"), "HMARKT", "not one this server knows"),
    "purpose in another system": (REL + ("purpose_of_use", "system"), "http://example.org/pou", "system must be"),
    "another person": (PRACT + ("identifier", "id"), "01010112345", "not the authenticated user"),
    "not a person number": (PRACT + ("identifier", "system"), "urn:oid:2.16.578.1.12.4.1.4.3", "fødselsnummer"),
    "another HPR number": (PRACT + ("hpr_nr", "id"), "1234567", "not the token's HPR number"),
    "another legal entity": (PRACT + ("legal_entity", "id"), "983974899", "not the token's organisation"),
    "point of care no orgnr": (PRACT + ("point_of_care", "id"), "12", "organisation number"),
    "unknown service system": (REL + ("healthcare_service", "system"), "urn:oid:1.2.3", "Volven"),
    "authorization system": (PRACT + ("authorization", "system"), "urn:oid:1.2.3", "9060"),
    "expired": ((*ENTRY, "toa"), int(time.time()) - 3700, "attestation_has_expired"),
    "future": ((*ENTRY, "toa"), int(time.time()) + 3700, "in the future"),
    "low assurance": (("helseid://claims/identity/security_level",), "3", "security level 4"),
}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_attestations_the_rules_refuse_are_forbidden(case: str) -> None:
    path, value, words = REFUSED[case]
    with pytest.raises(Forbidden, match=words):
        Actor.from_claims(_set(claims(), path, value))


MALFORMED = {
    "details not a list": (("authorization_details",), "TREAT"),
    "details of strings": (("authorization_details",), ["x"]),
    "practitioner missing": (PRACT, _DELETE),
    "practitioner a list": (PRACT, []),
    "relation a string": (REL, "TREAT"),
    "purpose a string": (REL + ("purpose_of_use",), "TREAT"),
    "purpose code a number": (REL + ("purpose_of_use", "code"), 7),
    "decision missing": (REL + ("decision_ref",), _DELETE),
    "decision id odd": (REL + ("decision_ref", "id"), "a b<script>"),
    "user_selected a string": (REL + ("decision_ref", "user_selected"), "true"),
    "legal entity empty": (PRACT + ("legal_entity",), {}),
    "legal entity id missing": (PRACT + ("legal_entity", "id"), _DELETE),
    "identifier nested": (PRACT + ("identifier", "id"), {"id": PID}),
    "control characters": (PRACT + ("identifier", "name"), "Ola\x00"),
    "patients an object": ((*ENTRY, "patients"), {}),
    "toa a string": ((*ENTRY, "toa"), "now"),
    "toa huge": ((*ENTRY, "toa"), 10 ** 30),
    "security level 9": (("helseid://claims/identity/security_level",), "9"),
}


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
def test_malformed_attestations_are_invalid_tokens(case: str) -> None:
    path, value = MALFORMED[case]
    with pytest.raises(Unauthorized, match="invalid|must be|malformed"):
        Actor.from_claims(_set(claims(), path, value))


def test_two_attestations_are_malformed() -> None:
    made = claims()
    made["authorization_details"] = made["authorization_details"] * 2
    with pytest.raises(Unauthorized, match="more than one"):
        Actor.from_claims(made)


def test_other_authorization_details_are_ignored() -> None:
    made = claims()
    made["authorization_details"].insert(0, {"type": "helseid_authorization", "practitioner_role": {}})
    assert Actor.from_claims(made).attestation is not None
    plain = {"sub": "s", "helseid://claims/hpr/hpr_number": HPR,
             "authorization_details": [{"type": "helseid_authorization"}]}
    assert Actor.from_claims(plain).attestation is None


@pytest.mark.parametrize("junk", [None, 0, -1, 1.5, True, "", "x" * 10_000, [], {}, [[]], [{}], {"a": {"b": []}}])
def test_any_junk_anywhere_is_a_4xx_never_a_crash(junk: Any) -> None:
    base = claims("BTG")
    paths: list[tuple[Any, ...]] = []

    def walk(value: Any, path: tuple[Any, ...]) -> None:
        paths.append(path)
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, (*path, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, (*path, index))

    walk(base["authorization_details"], ("authorization_details",))
    for path in paths:
        try:
            Actor.from_claims(_set(base, path, junk))
        except (Unauthorized, Forbidden):
            pass


def test_helseid_scopes_are_read_without_the_api_namespace() -> None:
    made = claims(scope="openid nhn:fhirip/user/CarePlan.rs helseid://scopes/identity/pid")
    actor = Actor.from_claims(made, scope_prefix="nhn:fhirip/")
    assert actor.scope_allows("CarePlan", "read") and not actor.scope_allows("Goal", "read")
    assert not Actor.from_claims(made).scope_allows("CarePlan", "read")
