"""What a decision reads from CareTeams and Consents: a changed CareTeam or Consent (a new
version) rewrites its rows of the access index in its own transaction, so the very next
decision follows it."""

from __future__ import annotations

import consent_world as world
from consent_support import World, put_all

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
