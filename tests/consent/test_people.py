"""The patient, parents and other relatives: what each may read and write."""

from __future__ import annotations

import consent_world as world
from consent_support import World

KARI_RECORD = ["CarePlan/plan-kari", "Goal/goal-kari", "Observation/obs-kari"]


def test_patient_reads_own_compartment_and_nothing_of_others(w: World) -> None:
    policy = w.policy(world.person_claims(world.KARI))
    assert policy.patients == {"kari"}
    for reference in KARI_RECORD + ["Patient/kari", "CareTeam/team-kari", "Consent/kari-deling"]:
        assert w.can_read(policy, reference), reference
    for reference in ["Patient/eva", "CarePlan/plan-eva", "Goal/goal-eva", "CarePlan/plan-jon"]:
        assert not w.can_read(policy, reference), reference
    assert w.ids(policy, "CarePlan") == ["CarePlan/plan-kari"]
    assert w.total(policy, "Goal") == 1


def test_patient_reads_own_access_log_only(w: World) -> None:
    policy = w.policy(world.person_claims(world.KARI))
    assert w.ids(policy, "AuditEvent") == ["AuditEvent/audit-kari"]
    assert w.ids(policy, "AuditEvent", "patient=Patient/kari") == ["AuditEvent/audit-kari"]
    assert w.ids(policy, "AuditEvent", "patient=Patient/eva") == []


def test_nobody_writes_the_access_log_not_even_the_patient(w: World) -> None:
    policy = w.policy(world.person_claims(world.KARI))
    event = w.content("AuditEvent/audit-kari")
    permitted, reason = w.can_write(policy, {**event, "outcome": "8"})
    assert not permitted and "append-only" in reason
    assert not policy.may("create", "AuditEvent") and not policy.may("delete", "AuditEvent")
    with w.services.store.transaction(write=False) as tx:
        assert not policy.can_delete(tx.conn, event).permitted


def test_patient_writes_own_goal_but_not_the_plan(w: World) -> None:
    policy = w.policy(world.person_claims(world.KARI))
    goal = {**w.content("Goal/goal-kari"), "description": {"text": "Gå på skolen og ha en venn"}}
    assert w.can_write(policy, goal) == (True, "")
    new_goal = {"resourceType": "Goal", "id": "new", "lifecycleStatus": "proposed",
                "subject": {"reference": "Patient/kari"}, "description": {"text": "Spille fotball"}}
    assert w.can_write(policy, new_goal, new=True)[0]
    plan = {**w.content("CarePlan/plan-kari"), "status": "completed"}
    permitted, reason = w.can_write(policy, plan)
    assert not permitted and "CarePlan" in reason
    # Moving a goal into someone else's compartment is writing there.
    assert not w.can_write(policy, {**goal, "subject": {"reference": "Patient/eva"}})[0]


def test_parent_of_a_minor_acts_for_the_child(w: World) -> None:
    policy = w.policy(world.person_claims(world.ANNE))
    assert policy.patients == {"kari"}
    assert w.ids(policy, "CarePlan") == ["CarePlan/plan-kari"]
    assert w.ids(policy, "AuditEvent") == ["AuditEvent/audit-kari"]
    new_goal = {"resourceType": "Goal", "id": "from-mother", "lifecycleStatus": "proposed",
                "subject": {"reference": "Patient/kari"}, "description": {"text": "Sove bedre"}}
    assert w.can_write(policy, new_goal, new=True)[0]


def test_parent_loses_proxy_rights_when_the_child_turns_sixteen(w: World) -> None:
    # Kari was born 2012-03-12: on her 16th birthday the mother's proxy access ends.
    before = w.policy(world.person_claims(world.ANNE), now=world.NOW.replace(year=2028, month=3, day=11))
    after = w.policy(world.person_claims(world.ANNE), now=world.NOW.replace(year=2028, month=3, day=12))
    assert "proxy" in before.bases("kari")
    assert "proxy" not in after.bases("kari")


def test_parent_of_a_seventeen_year_old_sees_nothing(w: World) -> None:
    policy = w.policy(world.person_claims(world.JON_FAR))
    assert policy.patients == frozenset()
    assert w.ids(policy, "CarePlan") == []
    assert w.ids(policy, "Patient") == []
    assert not w.can_read(policy, "Patient/jon")
    assert not w.can_write(policy, {"resourceType": "Goal", "id": "g", "lifecycleStatus": "proposed",
                                    "subject": {"reference": "Patient/jon"},
                                    "description": {"text": "x"}}, new=True)[0]


def test_relative_named_in_the_sharing_consent_reads_but_does_not_write(w: World) -> None:
    policy = w.policy(world.person_claims(world.ONKEL))
    assert policy.bases("kari") == ("consent",)
    assert w.ids(policy, "CarePlan") == ["CarePlan/plan-kari"]
    assert w.ids(policy, "AuditEvent") == []  # the access log is the patient's own
    plan = {**w.content("CarePlan/plan-kari"), "status": "completed"}
    assert not w.can_write(policy, plan)[0]
    assert not policy.may("create", "Goal")


def test_relative_without_consent_sees_nothing(w: World) -> None:
    policy = w.policy(world.person_claims(world.NABO))
    assert policy.patients == frozenset()
    assert w.ids(policy, "CarePlan") == [] and w.ids(policy, "RelatedPerson") == []
    assert w.total(policy, "Goal") == 0
    assert not w.can_read(policy, "Patient/kari")


def test_people_read_the_directory(w: World) -> None:
    policy = w.policy(world.person_claims(world.NABO))
    assert w.can_read(policy, "Practitioner/ola") and w.can_read(policy, "Organization/kommune")
    assert not policy.may("create", "Practitioner")


def test_the_person_is_resolved_as_patient_or_relative_for_the_audit(w: World) -> None:
    from fhirip.auth import ActorKind

    assert w.policy(world.person_claims(world.KARI)).resolved_actor.kind is ActorKind.PATIENT
    assert w.policy(world.person_claims(world.ONKEL)).resolved_actor.kind is ActorKind.RELATIVE
    assert w.policy(world.person_claims(world.ONKEL)).consents_for("kari") == ("Consent/kari-deling",)
    stranger = world.person_claims("01018099995")
    assert w.policy(stranger).resolved_actor.kind is ActorKind.PERSON
