"""Practitioners and organisations: access only through an active sharing Consent."""

from __future__ import annotations

import consent_world as world
from consent_support import World


def test_team_member_through_practitioner_role_reads_the_plan(w: World) -> None:
    policy = w.policy(world.practitioner_claims(world.INGRID, world.KOMMUNE))
    assert policy.patients == {"kari"}
    assert policy.bases("kari") == ("consent",)
    assert "Consent/kari-deling" in policy.consents
    assert w.ids(policy, "CarePlan") == ["CarePlan/plan-kari"]
    assert w.ids(policy, "Goal") == ["Goal/goal-kari"]
    assert not w.can_read(policy, "AuditEvent/audit-kari")


def test_consent_without_correct_action_does_not_let_a_member_write(w: World) -> None:
    policy = w.policy(world.practitioner_claims(world.INGRID, world.KOMMUNE))
    plan = {**w.content("CarePlan/plan-kari"), "status": "on-hold"}
    permitted, reason = w.can_write(policy, plan)
    assert not permitted and reason == "Your access does not let you write CarePlan resources for Patient/kari"


def test_practitioner_role_counts_only_for_the_organisation_it_is_at(w: World) -> None:
    policy = w.policy(world.practitioner_claims(world.INGRID, world.ANNEN_KOMMUNE))
    assert policy.patients == frozenset()
    assert w.ids(policy, "CarePlan") == []


def test_coordinator_reads_and_writes_the_plan(w: World) -> None:
    policy = w.policy(world.practitioner_claims(world.OLA, world.KOMMUNE))
    assert policy.bases("kari") == ("coordinator",)
    plan = {**w.content("CarePlan/plan-kari"), "status": "on-hold"}
    assert w.can_write(policy, plan) == (True, "")
    assert policy.may("update", "CarePlan")
    assert not w.can_write(policy, {**w.content("CarePlan/plan-eva"), "status": "on-hold"})[0]


def test_unconsented_practitioner_sees_directory_only(w: World) -> None:
    # Per was a team member until the end of 2025: a past membership grants nothing.
    policy = w.policy(world.practitioner_claims(world.PER, world.KOMMUNE))
    assert policy.patients == frozenset()
    for res_type in ("Patient", "CarePlan", "Goal", "Consent", "AuditEvent", "CareTeam"):
        assert w.ids(policy, res_type) == [], res_type
        assert w.total(policy, res_type) == 0
    assert w.can_read(policy, "Practitioner/ola")
    assert not w.can_read(policy, "CarePlan/plan-kari")
    assert not policy.may("create", "CarePlan")


def test_practitioner_of_another_municipality_sees_nothing(w: World) -> None:
    policy = w.policy(world.practitioner_claims(world.SIRI, world.ANNEN_KOMMUNE))
    assert policy.patients == frozenset()
    assert w.ids(policy, None, "_type=Patient,CarePlan,Goal,Observation") == []


def test_consent_naming_an_organisation_lets_its_people_read(w: World) -> None:
    policy = w.policy(world.practitioner_claims(world.BJORN, world.DPS))
    assert policy.patients == {"kari"}
    assert w.ids(policy, "CarePlan") == ["CarePlan/plan-kari"]


def test_nested_deny_class_withholds_a_type(w: World) -> None:
    # The deny provision takes Goal away from the DPS, even through includes and chains.
    policy = w.policy(world.practitioner_claims(world.BJORN, world.DPS))
    assert w.ids(policy, "Goal") == []
    assert w.ids(policy, "CarePlan", "_include=CarePlan:goal") == ["CarePlan/plan-kari"]
    assert w.ids(policy, "CarePlan", "goal.lifecycle-status=active") == []
    assert w.ids(policy, "Patient", "_has:Goal:patient:lifecycle-status=active") == []


def test_nested_deny_naming_the_actor_wins_over_the_team_permit(w: World) -> None:
    policy = w.policy(world.practitioner_claims(world.TERJE, world.KOMMUNE))
    assert policy.patients == frozenset()
    assert w.ids(policy, "CarePlan") == [] and w.total(policy, "Patient") == 0
    assert not w.can_read(policy, "Patient/kari")


def test_consent_whose_provision_period_has_ended_grants_nothing(w: World) -> None:
    policy = w.policy(world.practitioner_claims(world.GAMMEL, world.KOMMUNE))
    assert policy.patients == frozenset()
    assert w.ids(policy, "CarePlan") == []
    earlier = w.policy(world.practitioner_claims(world.GAMMEL, world.KOMMUNE),
                       now=world.NOW.replace(year=2025, month=6))
    assert earlier.patients == {"kari"}


def test_purpose_of_use_outside_the_consent_grants_nothing(w: World) -> None:
    # The sharing consent permits TREAT and COC; research is not among them.
    policy = w.policy(world.practitioner_claims(world.INGRID, world.KOMMUNE, purpose="HRESCH"))
    assert policy.patients == frozenset()


def test_includes_never_reach_another_patients_resources(w: World) -> None:
    # plan-kari lists Eva's goal by mistake; a member of Kari's team must not get it.
    policy = w.policy(world.practitioner_claims(world.INGRID, world.KOMMUNE))
    assert w.ids(policy, "CarePlan", "_include=CarePlan:goal") == ["CarePlan/plan-kari", "Goal/goal-kari"]
    assert w.ids(policy, "Goal", "_revinclude=CarePlan:goal") == ["CarePlan/plan-kari", "Goal/goal-kari"]
    assert w.ids(policy, "CarePlan", "_include=CarePlan:subject&_include=CarePlan:care-team") == [
        "CarePlan/plan-kari", "CareTeam/team-kari", "Patient/kari"]
    assert w.ids(policy, "Goal", "_id=goal-eva") == []
    assert w.ids(policy, "CarePlan", "goal=Goal/goal-eva") == ["CarePlan/plan-kari"]
    assert w.ids(policy, "CarePlan", "patient.name=Lien") == []
    assert w.ids(policy, "Patient", "_has:CarePlan:patient:status=active") == ["Patient/kari"]
    # An unrestricted store returns Eva's goal through the same include: the filter is what stops it.
    everything = w.policy(world.system_claims("system/*.rs"))
    assert "Goal/goal-eva" in w.ids(everything, "CarePlan", "_id=plan-kari&_include=CarePlan:goal")


def test_scopes_bound_what_a_consent_permits(w: World) -> None:
    policy = w.policy(world.practitioner_claims(world.INGRID, world.KOMMUNE, scope="user/CarePlan.rs"))
    assert w.ids(policy, "CarePlan", "_include=CarePlan:goal&_include=CarePlan:subject") == [
        "CarePlan/plan-kari"]
    assert not policy.may("search-type", "Goal")
    assert policy.may("search-type", "CarePlan")
    assert not policy.may("update", "CarePlan")
