"""The access index: rows derived from the resources that decide access, kept in the write
transaction, read at the request's moment.

Time is data: validity intervals are compared with the request's `now` in SQL, so a
guardian's right ends at midnight in Norway on the child's 16th birthday, and a change of
any input is in force for the next decision without anything being kept between them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import consent_world as world
from consent_support import World, put_all
from sqlalchemy import select

from fhirip.consent.grants import derive
from fhirip.consent.index import rebuild
from fhirip.store.schema import access_grant

# Kari is born 2012-03-12; midnight in Oslo (CET, UTC+1) starting her 16th birthday is 23:00 UTC.
SIXTEENTH_IN_OSLO = datetime(2028, 3, 11, 23, 0, tzinfo=UTC)


def _rows(w: World, source_type: str, source_id: str) -> set[tuple]:
    columns = [c for c in access_grant.c if c.name != "gid"]
    with w.services.store.transaction(write=False) as tx:
        return set(tx.conn.execute(select(*columns).where(access_grant.c.source_type == source_type,
                                                          access_grant.c.source_id == source_id)))


def _all_rows(w: World) -> list[tuple]:
    columns = [c for c in access_grant.c if c.name != "gid"]
    with w.services.store.transaction(write=False) as tx:
        return sorted(tx.conn.execute(select(*columns)), key=repr)


def test_a_parent_loses_the_record_at_midnight_in_norway_on_the_sixteenth_birthday(w: World) -> None:
    mother = world.person_claims(world.ANNE)
    before = SIXTEENTH_IN_OSLO.replace(hour=22, minute=59)
    assert "kari" in w.policy(mother, now=before).patients
    # 23:30 UTC on 11 March is 00:30 on 12 March in Oslo: Kari is 16, though not yet in UTC.
    assert "kari" not in w.policy(mother, now=SIXTEENTH_IN_OSLO.replace(minute=30)).patients


def test_a_birth_date_change_rederives_the_guardian_rows_in_the_same_write(w: World) -> None:
    mother = world.person_claims(world.ANNE)
    kari = w.content("Patient/kari")
    assert "proxy" in w.policy(mother).bases("kari")
    put_all(w.services, [{**kari, "birthDate": "2008-03-12"}])  # 18 on NOW
    try:
        assert "proxy" not in w.policy(mother).bases("kari")  # (the team's consent still names her)
    finally:
        put_all(w.services, [kari])
    assert "proxy" in w.policy(mother).bases("kari")


def test_a_new_version_replaces_its_rows_and_a_deletion_removes_them(w: World) -> None:
    consent = w.content("Consent/eva-deling")
    assert {(r.grantee, r.kind, r.effect) for r in _rows(w, "Consent", "eva-deling")} == \
        {("Practitioner/lise", "consent", "permit")}
    put_all(w.services, [{**consent, "status": "inactive"}])
    assert _rows(w, "Consent", "eva-deling") == set()
    put_all(w.services, [consent])
    assert len(_rows(w, "Consent", "eva-deling")) == 1

    extra = {"resourceType": "PractitionerRole", "id": "lise-dps", "practitioner": {"reference": "Practitioner/lise"},
             "organization": {"reference": "Organization/dps"}}
    put_all(w.services, [extra])

    def delete(tx):
        tx.delete(tx.current("PractitionerRole", "lise-dps"))

    assert {r.kind for r in _rows(w, "PractitionerRole", "lise-dps")} == {"role"}
    w.services.store.run(delete, write=True)
    assert _rows(w, "PractitionerRole", "lise-dps") == set()


def test_rebuilding_the_index_gives_the_rows_the_writes_kept(w: World) -> None:
    kept = _all_rows(w)
    assert kept
    w.services.store.run(lambda tx: rebuild(tx.conn), write=True)
    assert _all_rows(w) == kept


def test_derivation_is_a_function_of_the_resource() -> None:
    consent = world.sharing_consent("c", "kari", {
        "type": "permit", "period": {"start": "2026-01-10", "end": "2027-01-10"},
        "actor": [world._actor("Practitioner/ola"),
                  {"reference": {"identifier": {"system": world.HPR, "value": world.PER}}}],
        "provision": [{"type": "deny", "class": [{"system": world.RESOURCE_TYPES, "code": "Goal"}],
                       "period": {"start": "2026-03"}}]})
    rows = derive("Consent", consent)
    assert rows == derive("Consent", consent)
    permits = {r.grantee for r in rows if r.effect == "permit"}
    assert permits == {"Practitioner/ola", f"{world.HPR}|{world.PER}"}
    deny = next(r for r in rows if r.effect == "deny")
    assert deny.grantee == "*" and deny.classes == ("Goal",)
    assert deny.valid_from == datetime(2026, 3, 1) and deny.valid_to == datetime(2027, 1, 11)
    assert derive("Consent", {**consent, "status": "inactive"}) == []
    malformed = {**consent, "provision": {**consent["provision"], "period": {"start": "soon"}}}
    assert derive("Consent", malformed) == []  # a malformed period never grants


def test_the_resolution_statement_has_a_slot_for_every_key_a_token_can_carry() -> None:
    # The caller's identifier keys are bound one per slot; a kind of key added to `token_keys`
    # without a slot would otherwise be a key the decision never looks up.
    from dataclasses import replace

    from fhirip.auth import Actor, ActorKind
    from fhirip.consent.decide import TOKEN_KEY_SLOTS, token_keys

    practitioner = Actor.from_claims(world.practitioner_claims("1234567", "974600951"))
    person = Actor.from_claims(world.person_claims(world.ANNE))
    everything = replace(person, hpr_number=practitioner.hpr_number, org_number=practitioner.org_number,
                         kind=ActorKind.PERSON)
    assert len(token_keys(everything)) == TOKEN_KEY_SLOTS


def _condition_callers() -> list[dict[str, Any]]:
    """The callers the condition tests compare across: practitioners of two organisations, a
    person and the coordinating unit."""
    return [world.practitioner_claims(world.OLA, world.KOMMUNE),
            world.practitioner_claims(world.TERJE, world.KOMMUNE),
            world.practitioner_claims(world.BJORN, world.DPS), world.person_claims(world.ANNE),
            world.practitioner_claims(world.UNN, world.ENHET, role="koordinerende-enhet")]


def test_the_condition_built_once_per_decision_admits_what_one_built_afresh_admits(w: World) -> None:
    # `AccessPolicy.sql` builds the alias-independent parts once and applies them to every alias;
    # the rows it admits are those of each group's `compartment_clause` built afresh, and using
    # the shared parts twice in one statement (two aliases) changes nothing; nor does the per-row
    # form (`per_row`) for statements that reach a few rows.
    from sqlalchemy import and_, false, or_

    from fhirip.consent import sql as policy_sql
    from fhirip.store.schema import resource

    callers = _condition_callers()
    per_row_differs = 0
    with w.services.store.transaction(write=False) as tx:
        def rids(alias: Any, condition: Any) -> set[int]:
            return set(tx.conn.execute(select(alias.c.rid).where(condition)).scalars())

        for claims in callers:
            policy = w.policy(claims)
            one, two = resource.alias("one"), resource.alias("two")
            admitted = rids(one, policy.sql(one))
            assert admitted
            fresh = [policy_sql.compartment_clause(two, access, patients, policy.dialect)
                     for access, patients in policy_sql.grouped(policy.grants)]
            if policy.open_types:
                fresh.append(policy_sql.one_of(two.c.res_type, policy.open_types, policy.dialect))
            assert rids(two, or_(*fresh) if fresh else false()) == admitted
            both = select(one.c.rid).join(two, two.c.rid == one.c.rid).where(
                and_(policy.sql(one), policy.sql(two)))
            assert set(tx.conn.execute(both).scalars()) == admitted
            # the form for statements that reach a few rows tests each row by its own links
            assert rids(two, policy.sql(two, per_row=True)) == admitted, claims.get("sub")
            mixed = select(one.c.rid).join(two, two.c.rid == one.c.rid).where(
                and_(policy.sql(one), policy.sql(two, per_row=True)))
            assert set(tx.conn.execute(mixed).scalars()) == admitted
            if str(policy.sql(one, per_row=True)) != str(policy.sql(one)):
                per_row_differs += 1
        assert per_row_differs, "no caller's condition has a per-row form to compare"


def test_the_condition_for_rows_of_named_types_admits_what_the_whole_condition_admits(w: World) -> None:
    # A statement that restricts an alias to some types gets a condition without the parts that
    # cannot concern them (`AccessPolicy.sql(alias, types)`); of the rows of those types it
    # admits exactly what the whole condition admits, for every caller and every type stored, in
    # the general form and in the per-row one.
    from sqlalchemy import and_

    from fhirip.store.schema import resource

    callers = _condition_callers()
    with w.services.store.transaction(write=False) as tx:
        stored = sorted(tx.conn.execute(select(resource.c.res_type).distinct()).scalars())
        kinds = [(t,) for t in stored] + [("Patient", "Goal"), ("CarePlan", "Subscription"), tuple(stored)]

        def rids(alias: Any, types: tuple[str, ...], condition: Any) -> set[int]:
            return set(tx.conn.execute(select(alias.c.rid).where(
                and_(alias.c.res_type.in_(types), condition))).scalars())

        for claims in callers:
            policy = w.policy(claims)
            whole, named = resource.alias("whole"), resource.alias("named")
            for types in kinds:
                assert rids(named, types, policy.sql(named, types)) == rids(whole, types, policy.sql(whole)), \
                    (claims.get("sub"), types)
                assert rids(named, types, policy.sql(named, types, per_row=True)) == \
                    rids(whole, types, policy.sql(whole)), (claims.get("sub"), types, "per row")


def test_the_condition_for_rows_of_named_types_checks_links_against_their_compartment_pairs_only(w: World) -> None:
    # A link row carries its resource's type, so rows of named types are checked against those
    # types' (type, parameter) pairs of the compartment alone (the rows admitted are pinned above).
    from fhirip.store.schema import resource

    policy = w.policy(world.practitioner_claims(world.OLA, world.KOMMUNE))
    named = resource.alias("named")
    with w.services.store.transaction(write=False) as tx:
        def said(condition: Any) -> str:
            compiled = condition.compile(dialect=tx.conn.dialect)
            return compiled.string + repr(list(compiled.params.values()))

        goals, every = said(policy.sql(named, ("Goal",), per_row=True)), said(policy.sql(named, per_row=True))
    assert "Goal.patient" in goals and "CarePlan.patient" not in goals
    assert "Goal.patient" in every and "CarePlan.patient" in every
