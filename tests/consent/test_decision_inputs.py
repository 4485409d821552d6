"""What a decision reads from CareTeams and Consents: read once per version, judged exactly.

A decision keeps what it extracted from each stored version (`fhirip.consent.slim`);
a plain root permit is judged without reading its provision again. These tests pin that
the shortcut answers exactly as the full evaluation does, and that a changed CareTeam
or Consent (a new version) is read again on the very next decision.
"""

from __future__ import annotations

from typing import Any

import consent_world as world
import pytest
from consent_support import World, put_all

from fhirip.consent.provisions import ActorNames, evaluate
from fhirip.consent.slim import consent_facts

SHARING = [{"coding": [{"system": world.CONSENT_CATEGORY, "code": "ip-samtykke-deling"}]}]
PLAN = [{"coding": [{"system": world.CONSENT_CATEGORY, "code": "ip-samtykke-plan"}]}]


def _consent(provision: dict[str, Any], category: list[dict[str, Any]] = SHARING) -> dict[str, Any]:
    return {"resourceType": "Consent", "id": "c", "status": "active", "patient": {"reference": "Patient/kari"},
            "category": category, "provision": provision}


PROVISIONS = [
    {"type": "permit", "actor": [world._actor("CareTeam/team-kari")]},
    {"type": "permit", "actor": [world._actor("Practitioner/ola"), world._actor("Organization/dps")],
     "period": {"start": "2026-01", "end": "2026-05"}},
    {"type": "permit", "period": {"start": "2026-05-31"},
     "actor": [{"reference": {"identifier": {"system": world.HPR, "value": world.PER}}}]},
    {"type": "permit", "actor": [world._actor("http://fhirip.test/fhir/Practitioner/ola")],
     "action": [{"coding": [{"system": world.ACTION, "code": "correct"}]}]},
    {"type": "permit", "actor": [world._actor("Practitioner/ola")],
     "class": [{"system": world.RESOURCE_TYPES, "code": "CarePlan"}],
     "securityLabel": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "N"}]},
    {"type": "permit", "actor": [world._actor("Practitioner/ola")],
     "action": [{"coding": [{"system": world.ACTION, "code": "collect"}]}]},
    {"type": "permit"},
]
ACTORS = [
    ActorNames(frozenset({("Practitioner", "ola"), ("CareTeam", "team-kari")}),
               frozenset({(world.HPR, world.OLA)}), "TREAT"),
    ActorNames(frozenset({("Organization", "dps")}), frozenset(), None, checks_purpose=False),
    ActorNames(frozenset({("Practitioner", "per")}), frozenset({(world.HPR, world.PER)}), "TREAT"),
    ActorNames(frozenset(), frozenset(), "TREAT"),
]


@pytest.mark.parametrize("category", [SHARING, PLAN], ids=["sharing", "plan"])
@pytest.mark.parametrize("provision", PROVISIONS, ids=range(len(PROVISIONS)))
def test_a_plain_permit_is_judged_as_the_full_evaluation_judges_it(provision: dict[str, Any],
                                                                   category: list[dict[str, Any]]) -> None:
    consent = _consent(provision, category)
    facts = consent_facts("c", consent)
    assert facts.plain is not None
    for names in ACTORS:
        full = evaluate("Consent/c", consent, names, world.NOW)
        assert facts.plain.grants(names, world.NOW) == full.permit
        assert full.denies == ()


@pytest.mark.parametrize("provision", [
    {"type": "permit", "actor": [world._actor("Practitioner/ola")],
     "provision": [{"type": "deny", "class": [{"system": world.RESOURCE_TYPES, "code": "Goal"}]}]},
    {"type": "permit", "actor": [world._actor("Practitioner/ola")],
     "purpose": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "COC"}]},
    {"type": "deny", "actor": [world._actor("Practitioner/ola")]},
], ids=["nested deny", "purpose", "root deny"])
def test_anything_but_a_plain_permit_goes_to_the_full_evaluation(provision: dict[str, Any]) -> None:
    assert consent_facts("c", _consent(provision)).plain is None


def test_consents_that_cannot_grant_or_deny_are_left_out() -> None:
    assert consent_facts("c", {**_consent({"type": "permit"}), "status": "inactive"}).ref == ""
    assert consent_facts("c", {k: v for k, v in _consent({}).items() if k != "provision"}).ref == ""


def test_a_changed_care_team_is_read_again_on_the_next_decision(w: World) -> None:
    claims = world.practitioner_claims(world.OLA, world.KOMMUNE)
    team = w.content("CareTeam/team-kari")
    assert w.policy(claims).bases("kari") == ("coordinator",)
    ended = {**team, "participant": [
        {**p, "period": {"start": "2025-01-01", "end": "2026-01-31"}}
        if (p.get("member") or {}).get("reference") == "Practitioner/ola" else p
        for p in team["participant"]]}
    put_all(w.services, [ended])
    try:
        assert w.policy(claims).patients == frozenset()
    finally:
        put_all(w.services, [team])
    assert w.policy(claims).bases("kari") == ("coordinator",)


def test_a_changed_consent_is_read_again_on_the_next_decision(w: World) -> None:
    claims = world.practitioner_claims(world.LISE, world.KOMMUNE)
    assert w.policy(claims).patients == {"eva"}
    consent = w.content("Consent/eva-deling")
    moved = {**consent, "provision": {**consent["provision"], "period": {"end": "2026-05-01"}}}
    put_all(w.services, [moved])
    try:
        assert w.policy(claims).patients == frozenset()
    finally:
        put_all(w.services, [consent])
    assert w.policy(claims).patients == {"eva"}


ACTOR_CLAIMS = {
    **{f"practitioner-{hpr}": world.practitioner_claims(hpr, world.KOMMUNE)
       for hpr in (world.OLA, world.INGRID, world.TERJE, world.BJORN, world.PER, world.GAMMEL, world.LISE)},
    "dps-doctor": world.practitioner_claims(world.BJORN, world.DPS),
    "unit": world.practitioner_claims(world.UNN, world.ENHET, role="koordinerende-enhet"),
    **{f"person-{fnr}": world.person_claims(fnr)
       for fnr in (world.KARI, world.ANNE, world.ONKEL, world.NABO, world.JON, world.JON_FAR, world.EVA)},
}


@pytest.mark.parametrize("name", sorted(ACTOR_CLAIMS))
def test_a_decision_within_one_patient_grants_exactly_what_the_whole_decision_grants_them(
        w: World, name: str) -> None:
    from fhirip.auth import Actor
    from fhirip.consent import decide

    actor = Actor.from_claims(ACTOR_CLAIMS[name])
    issued = world.issued_at(ACTOR_CLAIMS[name])
    with w.services.store.transaction(write=False) as tx:
        whole = decide(tx.conn, actor, now=world.NOW, token_issued_at=issued)
        for patient in ("kari", "jon", "eva"):
            scoped = decide(tx.conn, actor, now=world.NOW, token_issued_at=issued, within={patient})
            assert scoped.grants.get(patient) == whole.grants.get(patient), patient
            assert set(scoped.grants) <= {patient} | {p for p, g in whole.grants.items()
                                                      if any(a.basis.value == "self" for a in g)}
