"""The coordinating unit's administrative view, break-the-glass, and system clients."""

from __future__ import annotations

from datetime import timedelta

import consent_world as world
from consent_support import World

from fhirip.consent.administrative import MASKED_LABEL


def unit_claims() -> dict:
    return world.practitioner_claims(world.UNN, world.ENHET, role="koordinerende-enhet")


def test_coordinating_unit_sees_that_a_plan_exists_but_not_its_content(w: World) -> None:
    policy = w.policy(unit_claims())
    assert policy.administrative_only and policy.patients == {"kari"}
    assert w.ids(policy, "CarePlan") == ["CarePlan/plan-kari"]
    for reference in ["CareTeam/team-kari", "EpisodeOfCare/eoc-kari", "Patient/kari", "Consent/kari-deling"]:
        assert w.can_read(policy, reference), reference
    for reference in ["Goal/goal-kari", "Observation/obs-kari", "AuditEvent/audit-kari", "CarePlan/plan-eva"]:
        assert not w.can_read(policy, reference), reference
    assert w.ids(policy, "CarePlan", "_include=CarePlan:goal") == ["CarePlan/plan-kari"]
    assert not policy.may("search-type", "Goal")


def test_administrative_view_masks_clinical_content_of_the_plan(w: World) -> None:
    policy = w.policy(unit_claims())
    plan = w.content("CarePlan/plan-kari")
    masked = policy.mask(plan)
    assert masked["status"] == "active" and masked["period"] == {"start": "2026-01-15"}
    assert masked["careTeam"] == [{"reference": "CareTeam/team-kari"}]
    assert "description" not in masked and "note" not in masked and "goal" not in masked
    assert masked["activity"][0]["detail"] == {"status": "in-progress",
                                               "performer": [{"reference": "Organization/kommune"}],
                                               "scheduledPeriod": {"start": "2026-02-01"}}
    assert MASKED_LABEL in masked["meta"]["security"]
    assert "activity-code" in policy.hidden_search_params("CarePlan")
    # A team member with consent sees the plan as stored.
    member = w.policy(world.practitioner_claims(world.INGRID, world.KOMMUNE))
    assert member.mask(plan) == plan and member.hidden_search_params("CarePlan") == frozenset()
    assert policy.masks and not member.masks


def test_coordinating_unit_organises_but_does_not_write_clinical_content(w: World) -> None:
    policy = w.policy(unit_claims())
    team = {**w.content("CareTeam/team-kari"), "name": "Ansvarsgruppe"}
    assert w.can_write(policy, team) == (True, "")
    assert not w.can_write(policy, {**w.content("CarePlan/plan-kari"), "status": "on-hold"})[0]
    assert not w.can_write(policy, {**w.content("Goal/goal-kari"), "lifecycleStatus": "cancelled"})[0]
    new_person = {"resourceType": "Patient", "id": "ny", "name": [{"family": "Ny"}],
                  "managingOrganization": {"reference": "Organization/enhet"}}
    assert w.can_write(policy, new_person, new=True) == (True, "")
    # … but it cannot adopt a patient by writing a team for someone it does not administer.
    foreign_team = {"resourceType": "CareTeam", "id": "t-eva", "status": "active",
                    "subject": {"reference": "Patient/eva"},
                    "managingOrganization": [{"reference": "Organization/enhet"}]}
    assert not w.can_write(policy, foreign_team, new=True)[0]


def test_unit_role_claim_without_managing_the_plan_grants_nothing(w: World) -> None:
    policy = w.policy(world.practitioner_claims(world.SIRI, world.ANNEN_KOMMUNE, role="koordinerende-enhet"))
    assert policy.patients == frozenset()


def test_break_the_glass_reads_any_compartment_flagged_and_read_only(w: World) -> None:
    claims = world.practitioner_claims(world.PER, world.KOMMUNE, purpose="ETREAT", reason="Bevisstløs i akutten")
    policy = w.policy(claims)
    assert policy.break_the_glass and policy.break_the_glass_refused is None
    assert w.ids(policy, "CarePlan", "patient=Patient/eva") == ["CarePlan/plan-eva"]
    assert w.can_read(policy, "Goal/goal-kari")
    assert not w.can_read(policy, "AuditEvent/audit-eva")
    permitted, reason = w.can_write(policy, {**w.content("CarePlan/plan-eva"), "status": "on-hold"})
    assert not permitted and "read only" in reason
    assert not policy.may("search-system", None) and not policy.may("history-type", "CarePlan")
    assert policy.may("read", "CarePlan") and policy.may("search-type", "CarePlan")


def test_break_the_glass_ends_with_the_time_limit(w: World) -> None:
    claims = world.practitioner_claims(world.PER, world.KOMMUNE, purpose="BTG", reason="Akutt",
                                       issued=world.NOW - timedelta(minutes=31))
    policy = w.policy(claims)
    assert not policy.break_the_glass and "30 minutes" in (policy.break_the_glass_refused or "")
    assert w.ids(policy, "CarePlan") == []


def test_emergency_purpose_without_a_reason_is_no_break_the_glass(w: World) -> None:
    policy = w.policy(world.practitioner_claims(world.PER, world.KOMMUNE, purpose="ETREAT"))
    assert not policy.break_the_glass
    assert w.ids(policy, "CarePlan") == [] and w.total(policy, "Patient") == 0


def test_system_client_reads_exactly_the_types_its_scopes_name(w: World) -> None:
    policy = w.policy(world.system_claims("system/Patient.rs system/CarePlan.cu"))
    assert w.ids(policy, "Patient") == ["Patient/eva", "Patient/jon", "Patient/kari"]
    assert w.ids(policy, "CarePlan") == []
    assert w.ids(policy, "Patient", "_revinclude=CarePlan:subject&_id=kari") == ["Patient/kari"]
    assert policy.may("create", "CarePlan") and not policy.may("create", "Goal")
    assert w.can_write(policy, {**w.content("CarePlan/plan-eva"), "status": "on-hold"}) == (True, "")
    assert not w.can_write(policy, {**w.content("Goal/goal-eva"), "lifecycleStatus": "cancelled"})[0]
    assert not w.can_write(policy, w.content("AuditEvent/audit-eva"))[0]


def test_system_client_without_clinical_scopes_gets_nothing(w: World) -> None:
    policy = w.policy(world.system_claims("openid"))
    assert w.ids(policy, None, "_type=Patient,Practitioner,CodeSystem") == []
    assert not policy.may("read", "Practitioner") and not policy.may("create", "Patient")


def test_anonymous_caller_gets_nothing(w: World) -> None:
    from fhirip.consent import decide

    with w.services.store.transaction(write=False) as tx:
        policy = decide(tx.conn, None, now=world.NOW)
        assert not policy.may("read", "Practitioner")
        assert not policy.can_write(tx.conn, {"resourceType": "Practitioner", "id": "x"}, None).permitted
    assert w.ids(policy, "Practitioner") == []


def test_break_the_glass_raises_a_notice_to_the_current_coordinator(w: World) -> None:
    from fhirip.consent.emergency import break_the_glass_notice

    claims = world.practitioner_claims(world.PER, world.KOMMUNE, purpose="ETREAT", reason="Bevisstløs i akutten")
    policy = w.policy(claims)
    with w.services.store.transaction(write=False) as tx:
        notice = break_the_glass_notice(tx.conn, policy, "kari", audit_event_id="a1")
        assert break_the_glass_notice(tx.conn, policy, "jon") is None  # no coordinator: the audit log alone
        ordinary = w.policy(world.practitioner_claims(world.PER, world.KOMMUNE))
        assert break_the_glass_notice(tx.conn, ordinary, "kari") is None
    assert notice is not None
    assert notice["recipient"] == [{"reference": "Practitioner/ola"}]
    assert notice["subject"] == {"reference": "Patient/kari"}
    assert notice["sender"]["identifier"] == {"system": world.HPR, "value": world.PER}
    assert "Bevisstløs i akutten" in notice["payload"][0]["contentString"]
    assert notice["about"] == [{"reference": "AuditEvent/a1"}]
