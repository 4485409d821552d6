"""Consent changes take effect on the next decision: withdrawal, blocking, new consents."""

from __future__ import annotations

import consent_world as world
from consent_support import World, put_all


def test_withdrawn_consent_leaves_nothing_on_the_next_request(w: World) -> None:
    claims = world.practitioner_claims(world.LISE, world.KOMMUNE)
    before = w.policy(claims)
    assert w.ids(before, "CarePlan") == ["CarePlan/plan-eva"]
    assert w.can_read(before, "Patient/eva")

    put_all(w.services, [{**w.content("Consent/eva-deling"), "status": "inactive"}])

    after = w.policy(claims)
    assert after.patients == frozenset()
    assert w.ids(after, "CarePlan") == [] and w.total(after, "Goal") == 0
    assert not w.can_read(after, "Patient/eva") and not w.can_read(after, "CarePlan/plan-eva")
    # A policy decided before the change still filters by its own decision; each request decides anew.
    put_all(w.services, [{**w.content("Consent/eva-deling"), "status": "active"}])
    assert w.policy(claims).patients == {"eva"}


def test_blocking_consent_denies_a_named_practitioner_across_consents(w: World) -> None:
    # A separate deny Consent (pasient- og brukerrettighetsloven § 5-3) names Lise:
    # it wins over the sharing consent that permits her.
    claims = world.practitioner_claims(world.LISE, world.KOMMUNE)
    block = {"resourceType": "Consent", "id": "eva-sperring", "status": "active",
             "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                                   "code": "patient-privacy"}]},
             "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
             "patient": {"reference": "Patient/eva"},
             "policyRule": {"text": "Pasient- og brukerrettighetsloven § 5-3"},
             "provision": {"type": "deny", "actor": [{"role": {"text": "sperret"},
                                                      "reference": {"identifier": {"system": world.HPR,
                                                                                   "value": world.LISE}}}]}}
    put_all(w.services, [block])
    try:
        assert w.policy(claims).patients == frozenset()
    finally:
        put_all(w.services, [{**block, "status": "inactive"}])
    assert w.policy(claims).patients == {"eva"}


def test_consent_with_correct_action_and_label_limits(w: World) -> None:
    # Gammel's new consent: may correct, but only resources labelled normal (N).
    label = {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "N"}
    consent = world.sharing_consent("kari-gammel-ny", "kari", {
        "type": "permit", "period": {"start": "2026-05-01"},
        "actor": [{"role": {"text": "mottaker"}, "reference": {"reference": "Practitioner/gammel"}}],
        "action": [{"coding": [{"system": world.ACTION, "code": "access"}]},
                   {"coding": [{"system": world.ACTION, "code": "correct"}]}],
        "securityLabel": [label]})
    labelled_goal = {"resourceType": "Goal", "id": "goal-kari-n", "lifecycleStatus": "active",
                     "meta": {"security": [label]}, "subject": {"reference": "Patient/kari"},
                     "description": {"text": "Merket normal"}}
    put_all(w.services, [consent, labelled_goal])
    try:
        policy = w.policy(world.practitioner_claims(world.GAMMEL, world.KOMMUNE))
        assert w.ids(policy, "Goal") == ["Goal/goal-kari-n"]
        assert w.ids(policy, "CarePlan") == []
        assert w.can_write(policy, {**w.content("Goal/goal-kari-n"), "lifecycleStatus": "on-hold"})[0]
    finally:
        put_all(w.services, [{**consent, "status": "inactive"}])


def test_consents_are_never_deleted(w: World) -> None:
    policy = w.policy(world.person_claims(world.KARI))
    with w.services.store.transaction(write=False) as tx:
        decision = policy.can_delete(tx.conn, w.content("Consent/kari-deling"))
    assert not decision.permitted and "inactive" in decision.reason


def test_patient_withdraws_own_consent(w: World) -> None:
    policy = w.policy(world.person_claims(world.KARI))
    assert w.can_write(policy, {**w.content("Consent/kari-deling"), "status": "inactive"}) == (True, "")
    stranger = w.policy(world.person_claims(world.NABO))
    assert not w.can_write(stranger, {**w.content("Consent/kari-deling"), "status": "inactive"})[0]


def test_coordinator_without_sharing_consent_keeps_the_administrative_view(w: World) -> None:
    # Eva gets a coordinator through an EpisodeOfCare but has no consent naming him.
    episode = {"resourceType": "EpisodeOfCare", "id": "eoc-eva", "status": "active",
               "patient": {"reference": "Patient/eva"}, "careManager": {"reference": "Practitioner/siri"}}
    put_all(w.services, [episode])
    try:
        policy = w.policy(world.practitioner_claims(world.SIRI, world.ANNEN_KOMMUNE))
        assert policy.bases("eva") == ("administrative",)
        assert w.can_read(policy, "CarePlan/plan-eva") and not w.can_read(policy, "Goal/goal-eva")
        assert "goal" not in policy.mask(w.content("CarePlan/plan-eva"))
    finally:
        put_all(w.services, [{**episode, "status": "finished"}])
    assert w.policy(world.practitioner_claims(world.SIRI, world.ANNEN_KOMMUNE)).patients == frozenset()


def test_reservation_against_the_coordinating_unit_removes_its_view(w: World) -> None:
    # Named only in a nested deny (no permit names the unit): the deny still applies.
    unit = world.practitioner_claims(world.UNN, world.ENHET, role="koordinerende-enhet")
    assert w.policy(unit).patients == {"kari"}
    reservation = world.sharing_consent("kari-reservasjon", "kari", {
        "type": "permit", "actor": [{"role": {"text": "mottaker"}, "reference": {"reference": "Practitioner/lise"}}],
        "provision": [{"type": "deny", "actor": [{"role": {"text": "sperret"},
                                                  "reference": {"reference": "Organization/enhet"}}]}]})
    put_all(w.services, [reservation])
    try:
        assert w.policy(unit).patients == frozenset()
        assert w.ids(w.policy(unit), "CarePlan") == []
    finally:
        put_all(w.services, [{**reservation, "status": "inactive"}])
    assert w.policy(unit).patients == {"kari"}
