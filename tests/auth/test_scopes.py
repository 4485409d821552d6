"""SMART scopes: v2 cruds, v1 read/write/*, query restrictions, and which contexts count for whom."""

from __future__ import annotations

import pytest

from fhirip.auth.actor import Actor, ActorKind
from fhirip.auth.scopes import Context, ScopeSet, parse_clinical_scope

INTERACTIONS = ["create", "read", "vread", "history", "history-instance", "update", "patch", "delete",
                "search", "search-type", "search-system", "history-type", "history-system"]


def actor(scope: str, kind: ActorKind = ActorKind.PRACTITIONER) -> Actor:
    return Actor(sub="s", kind=kind, issuer="i", scopes=ScopeSet.parse(scope))


@pytest.mark.parametrize(("letter", "allowed"), [
    ("c", {"create"}),
    ("r", {"read", "vread", "history", "history-instance"}),
    ("u", {"update", "patch"}),
    ("d", {"delete"}),
    ("s", {"search", "search-type", "search-system", "history-type", "history-system"}),
])
def test_each_v2_permission_letter_grants_exactly_its_interactions(letter: str, allowed: set[str]) -> None:
    granted = {interaction for interaction in INTERACTIONS
               if actor(f"user/CarePlan.{letter}").scope_allows("CarePlan", interaction)}
    assert granted == allowed


def test_scope_for_one_type_does_not_reach_another() -> None:
    practitioner = actor("user/CarePlan.rs")
    assert practitioner.scope_allows("CarePlan", "read")
    assert not practitioner.scope_allows("Goal", "read")


def test_wildcard_type_reaches_every_type() -> None:
    assert actor("user/*.rs").scope_allows("Consent", "search")


@pytest.mark.parametrize(("v1", "granted"), [
    ("read", {"read", "vread", "history", "history-instance", "search", "search-type", "search-system",
              "history-type", "history-system"}),
    ("write", {"create", "update", "patch", "delete"}),
    ("*", set(INTERACTIONS)),
])
def test_v1_scopes_map_to_their_v2_permissions(v1: str, granted: set[str]) -> None:
    scoped = actor(f"patient/Goal.{v1}", ActorKind.PERSON)
    assert {i for i in INTERACTIONS if scoped.scope_allows("Goal", i)} == granted


@pytest.mark.parametrize("malformed", [
    "user/CarePlan.sr", "user/CarePlan.rr", "user/CarePlan.x", "user/CarePlan.", "user/careplan.rs",
    "admin/CarePlan.rs", "user/CarePlan", "user/CarePlan.read?category=x", "user/CarePlan.rs?",
])
def test_malformed_scopes_grant_nothing(malformed: str) -> None:
    assert parse_clinical_scope(malformed) is None
    assert not actor(malformed).scope_allows("CarePlan", "read")


def test_non_clinical_scopes_are_kept_but_grant_nothing() -> None:
    scopes = ScopeSet.parse("openid fhirUser launch/patient offline_access")
    assert "launch/patient" in scopes and scopes.clinical == ()


def test_query_restriction_is_reported_to_the_caller() -> None:
    scoped = actor("user/CarePlan.rs?category=individuell-plan&status=active")
    assert scoped.scope_allows("CarePlan", "search")
    assert scoped.scope_restrictions("CarePlan", "search") == (
        (("category", "individuell-plan"), ("status", "active")),)


def test_an_unrestricted_scope_lifts_the_restriction() -> None:
    scoped = actor("user/CarePlan.rs?category=individuell-plan user/*.r")
    assert scoped.scope_restrictions("CarePlan", "read") is None
    assert scoped.scope_restrictions("CarePlan", "search") == ((("category", "individuell-plan"),),)
    assert scoped.scope_restrictions("Goal", "search") == ()


def test_restriction_values_are_url_decoded() -> None:
    scope = parse_clinical_scope("patient/Observation.rs?category=http%3A%2F%2Fexample.org%7Clab")
    assert scope is not None and scope.restriction == (("category", "http://example.org|lab"),)
    assert scope.context is Context.PATIENT


def test_system_client_counts_only_system_scopes() -> None:
    client = actor("user/*.cruds patient/*.cruds system/CarePlan.rs", ActorKind.SYSTEM)
    assert client.scope_allows("CarePlan", "read")
    assert not client.scope_allows("Goal", "read")


def test_people_do_not_get_system_scopes() -> None:
    for kind in (ActorKind.PRACTITIONER, ActorKind.PERSON, ActorKind.PATIENT, ActorKind.RELATIVE):
        assert not actor("system/*.cruds", kind).scope_allows("CarePlan", "read")
        assert actor("patient/*.r", kind).scope_allows("CarePlan", "read")


def test_no_scope_allows_nothing() -> None:
    assert not any(actor("").scope_allows("CarePlan", interaction) for interaction in INTERACTIONS)


def test_unknown_interaction_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown interaction 'fetch'"):
        actor("user/*.cruds").scope_allows("CarePlan", "fetch")
