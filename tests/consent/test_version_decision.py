"""A version judged by its content is judged as the SQL judges the row holding it.

`AccessPolicy.may_read_version` decides an older version (vread, history) from its
JSON; `AccessPolicy.sql` decides current rows inside every query. The two must agree,
or history would show what search hides (or the reverse). Here every actor of the
consent world is asked about every stored resource both ways. The world gets a few
more records for the rules a version decision has to repeat: labels a permit requires,
labels and single resources a reservation withholds, a label named without a system.
"""

from __future__ import annotations

from typing import Any

import consent_world as world
import orjson
import pytest
from consent_support import World, put_all
from sqlalchemy import select

from fhirip.consent import AccessPolicy
from fhirip.store.schema import resource, resource_version

CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


def _goal(goal_id: str, patient: str, *labels: dict[str, str]) -> dict[str, Any]:
    goal: dict[str, Any] = {"resourceType": "Goal", "id": goal_id, "lifecycleStatus": "active",
                            "subject": {"reference": f"Patient/{patient}"}, "description": {"text": goal_id}}
    if labels:
        goal["meta"] = {"security": list(labels)}
    return goal


def _labelled_world() -> list[dict[str, Any]]:
    """Eva shares only her normal-confidentiality resources with Bjørn; Kari withholds her
    restricted ones, her psychiatric ones (named by code alone) and one goal from everyone."""
    bjorn_on_labels = world.sharing_consent("eva-merket", "eva", {
        "type": "permit", "period": {"start": "2026-01-01"},
        "actor": [{"reference": {"reference": "Practitioner/bjorn"}}],
        "securityLabel": [{"system": CONFIDENTIALITY, "code": "N"}]})
    kari_reservation = world.sharing_consent("kari-skjerming", "kari", {
        "type": "permit", "period": {"start": "2026-01-01"},
        "actor": [{"reference": {"reference": "Practitioner/siri"}}],
        "provision": [{"type": "deny", "securityLabel": [{"system": CONFIDENTIALITY, "code": "R"}, {"code": "PSY"}],
                       "data": [{"meaning": "instance", "reference": {"reference": "Goal/goal-kari-skjult"}}]}]})
    return [
        bjorn_on_labels, kari_reservation,
        _goal("goal-eva-normal", "eva", {"system": CONFIDENTIALITY, "code": "N"}),
        _goal("goal-eva-annet-system", "eva", {"system": "http://example.org/labels", "code": "N"}),
        _goal("goal-kari-begrenset", "kari", {"system": CONFIDENTIALITY, "code": "R"}),
        _goal("goal-kari-psykisk", "kari", {"system": ACT_CODE, "code": "PSY"}),
        _goal("goal-kari-skjult", "kari"),
        _goal("goal-kari-vanlig", "kari", {"system": CONFIDENTIALITY, "code": "N"}),
    ]


CLAIMS = {
    "kari": world.person_claims(world.KARI),
    "anne": world.person_claims(world.ANNE),
    "onkel": world.person_claims(world.ONKEL),
    "nabo": world.person_claims(world.NABO),
    "jon": world.person_claims(world.JON),
    "jon-far": world.person_claims(world.JON_FAR),
    "eva": world.person_claims(world.EVA),
    "ola": world.practitioner_claims(world.OLA, world.KOMMUNE),
    "ingrid": world.practitioner_claims(world.INGRID, world.KOMMUNE),
    "ingrid-careplans": world.practitioner_claims(world.INGRID, world.KOMMUNE, scope="user/CarePlan.rs"),
    "terje": world.practitioner_claims(world.TERJE, world.KOMMUNE),
    "bjorn": world.practitioner_claims(world.BJORN, world.DPS),
    "siri": world.practitioner_claims(world.SIRI, world.ANNEN_KOMMUNE),
    "gammel": world.practitioner_claims(world.GAMMEL, world.KOMMUNE),
    "lise": world.practitioner_claims(world.LISE, world.KOMMUNE),
    "unn": world.practitioner_claims(world.UNN, world.ENHET, role="koordinerende-enhet"),
    "break-the-glass": world.practitioner_claims(world.PER, world.KOMMUNE, purpose="ETREAT",
                                                 reason="Bevisstløs i akutten"),
    "system-some": world.system_claims("system/Patient.rs system/CarePlan.cu"),
    "system-all": world.system_claims("system/*.rs"),
}


@pytest.fixture(scope="module")
def labelled(w: World) -> World:
    put_all(w.services, _labelled_world())
    return w


def _stored(w: World) -> dict[tuple[str, str], dict[str, Any]]:
    """Every current, non-deleted resource's content, by (type, id)."""
    with w.services.store.transaction(write=False) as tx:
        rows = tx.conn.execute(
            select(resource.c.res_type, resource.c.res_id, resource_version.c.content)
            .join(resource_version, (resource_version.c.rid == resource.c.rid)
                  & (resource_version.c.version == resource.c.version))
            .where(resource.c.deleted.is_(False)))
        return {(t, i): orjson.loads(c) for t, i, c in rows}


def _row_decision(w: World, policy: AccessPolicy, keys: set[tuple[str, str]]) -> set[tuple[str, str]]:
    with w.services.store.transaction(write=False) as tx:
        return policy.visible(tx.conn, keys)


@pytest.mark.parametrize("actor", list(CLAIMS))
def test_version_decision_agrees_with_the_row_decision_on_every_resource(labelled: World, actor: str) -> None:
    policy = labelled.policy(CLAIMS[actor])
    stored = _stored(labelled)
    by_rows = _row_decision(labelled, policy, set(stored))
    by_content = {key for key, content in stored.items() if policy.may_read_version(key[0], content)}
    assert by_content == by_rows, {"only by content": sorted(by_content - by_rows),
                                   "only by rows": sorted(by_rows - by_content)}


def test_a_permit_on_a_label_admits_only_versions_carrying_it_in_its_system(labelled: World) -> None:
    policy = labelled.policy(CLAIMS["bjorn"])
    stored = _stored(labelled)
    seen = {i for (t, i), c in stored.items() if t == "Goal" and policy.may_read_version(t, c)}
    assert seen == {"goal-eva-normal"}


def test_a_reservation_withholds_labelled_and_named_versions(labelled: World) -> None:
    policy = labelled.policy(CLAIMS["ola"])
    stored = _stored(labelled)
    seen = {i for (t, i), c in stored.items() if t == "Goal" and policy.may_read_version(t, c)}
    assert seen == {"goal-kari", "goal-kari-vanlig"}  # not R, not PSY in any system, not the named one


def test_a_version_in_another_patients_record_is_not_readable(labelled: World) -> None:
    """The same goal id, once as Kari's and once as Eva's: only the version's own subject counts."""
    policy = labelled.policy(CLAIMS["ingrid"])
    as_karis, as_evas = _goal("goal-flyttet", "kari"), _goal("goal-flyttet", "eva")
    assert policy.may_read_version("Goal", as_karis) and not policy.may_read_version("Goal", as_evas)
    # the scopes bound every version: Ingrid's CarePlan-only token reads no goal at all
    assert not labelled.policy(CLAIMS["ingrid-careplans"]).may_read_version("Goal", as_karis)


def test_content_of_another_type_than_asked_about_is_not_readable(labelled: World) -> None:
    policy = labelled.policy(CLAIMS["kari"])
    assert not policy.may_read_version("CarePlan", _goal("goal-kari", "kari"))
