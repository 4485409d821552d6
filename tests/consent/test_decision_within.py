"""A decision made for a few patients only (`decide(within=...)`, a request about one person)
grants them exactly what the whole decision grants them, and no one else anything but the
caller's own record; the rest of the decision (who the caller is, open types, keys) is the
whole decision's."""

from __future__ import annotations

from dataclasses import fields
from datetime import timedelta

import consent_world as world
import orjson
import pytest
from consent_support import World, put_all

from fhirip.auth import Actor
from fhirip.consent import decide
from fhirip.consent.access import Basis
from fhirip.consent.compartment import in_compartment, patients_of
from fhirip.consent.decide import decide_reading

PATIENTS = ("kari", "jon", "eva")
CALLERS = [
    *(world.practitioner_claims(hpr, org) for hpr in (world.OLA, world.INGRID, world.TERJE, world.PER, world.SIRI,
                                                       world.GAMMEL, world.LISE)
      for org in (world.KOMMUNE, world.ANNEN_KOMMUNE)),
    world.practitioner_claims(world.BJORN, world.DPS),
    world.practitioner_claims(world.BJORN, world.DPS, purpose="ETREAT"),
    world.practitioner_claims(world.UNN, world.ENHET, role="koordinerende-enhet"),
    world.practitioner_claims(world.PER, world.KOMMUNE, reason="akutt"),
    *(world.person_claims(fnr) for fnr in (world.KARI, world.ANNE, world.ONKEL, world.NABO, world.JON,
                                           world.JON_FAR, world.EVA)),
    world.system_claims("system/*.rs"),
]
WITHIN = [*({p} for p in PATIENTS), set(PATIENTS), {"kari", "unknown"}, set()]


def _decided(w: World, claims: dict, within: set[str] | None, now=world.NOW):
    with w.services.store.transaction(write=False) as tx:
        return decide(tx.conn, Actor.from_claims(claims), now=now, token_issued_at=world.issued_at(claims),
                      within=within)


def _same_for(whole, partial, within: set[str]) -> None:
    assert {p: g for p, g in whole.grants.items() if p in within} == \
        {p: g for p, g in partial.grants.items() if p in within}
    # No one else is granted anything but the caller's own record.
    outside = {p: g for p, g in partial.grants.items() if p not in within}
    assert all(a.basis is Basis.SELF for g in outside.values() for a in g)
    assert set(outside) == {p for p, g in whole.grants.items() if p not in within
                            and any(a.basis is Basis.SELF for a in g)}
    for field in fields(whole):
        if field.name not in ("grants", "consents", "_conditions", "within"):
            assert getattr(whole, field.name) == getattr(partial, field.name), field.name
    assert whole.within is None and partial.within == within
    assert whole.resolved_actor == partial.resolved_actor
    assert set(partial.consents) <= set(whole.consents)
    for patient in within:
        assert whole.consents_for(patient) == partial.consents_for(patient)
        assert whole.bases(patient) == partial.bases(patient)


@pytest.mark.parametrize("within", WITHIN, ids=lambda w: "+".join(sorted(w)) or "none")
def test_a_decision_within_patients_is_the_whole_decision_for_them(w: World, within: set[str]) -> None:
    for claims in CALLERS:
        for now in (world.NOW, world.NOW + timedelta(days=400)):
            _same_for(_decided(w, claims, None, now), _decided(w, claims, within, now), within)


def test_a_care_team_named_in_another_patients_consent_is_found_from_that_patient(w: World) -> None:
    # Eva's sharing consent names Kari's care team: its members reach Eva through a team that is
    # not one of Eva's own, found by who is on it, not by whose team it is.
    consent = w.content("Consent/eva-deling")
    named = {**consent, "provision": {**consent["provision"], "actor": [
        {**consent["provision"]["actor"][0], "reference": {"reference": "CareTeam/team-kari"}}]}}
    put_all(w.services, [named])
    try:
        for claims in CALLERS:
            whole, partial = _decided(w, claims, None), _decided(w, claims, {"eva"})
            _same_for(whole, partial, {"eva"})
        ola = world.practitioner_claims(world.OLA, world.KOMMUNE)
        assert "consent" in _decided(w, ola, {"eva"}).bases("eva")
    finally:
        put_all(w.services, [consent])


# A read's decision also reads the resource it names, in the same statement (`decide_reading`):
# existing, deleted, never existing, and of each kind a caller may or may not see.
NAMED = ["CarePlan/plan-kari", "Patient/kari", "Goal/goal-kari", "Consent/eva-deling", "CareTeam/team-kari",
         "Practitioner/ola", "CarePlan/unknown", "Patient/eva", "Nonsense/x"]


@pytest.mark.parametrize("named", NAMED)
def test_a_decision_that_reads_the_named_resource_is_the_decision_and_the_stores_read(w: World, named: str) -> None:
    res_type, res_id = named.split("/")
    for claims in CALLERS:
        actor = Actor.from_claims(claims)
        with w.services.store.transaction(write=False) as tx:
            whole = decide(tx.conn, actor, now=world.NOW, token_issued_at=world.issued_at(claims))
            reading, ahead = decide_reading(tx.conn, actor, res_type, res_id, now=world.NOW,
                                            token_issued_at=world.issued_at(claims))
            stored = tx.read(res_type, res_id)
        if reading.within is None:  # a type in no one's record, or a caller with no rows: the whole decision
            for field in fields(whole):
                if field.name != "_conditions":
                    assert getattr(whole, field.name) == getattr(reading, field.name), field.name
        else:  # for the patients the resource refers to (the Patient itself), the whole decision's
            assert in_compartment(res_type)
            assert reading.within == (patients_of(orjson.loads(stored.content)) if stored and stored.content
                                      else frozenset())
            _same_for(whole, reading, reading.within)
        if ahead is None:  # the decision reads no rows: no caller's rows, nothing read with them
            assert actor.kind.value == "system"
            continue
        assert ahead.of(res_type, res_id) and ahead.stored == stored
