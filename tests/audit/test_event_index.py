"""The AuditEvent index rows found in one walk (`fhirip.audit.event_index`) are exactly the rows the
generic extractor gives, for every event the trail builds and for AuditEvents of any other shape,
and the walk is used only with the search parameters it was written for."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from audit_event_strategies import ISSUERS, generic_rows, odd_events, trail_events
from hypothesis import HealthCheck, given, settings
from sqlalchemy.dialects import postgresql, sqlite

from fhirip.audit import audit_event
from fhirip.audit.event_index import (
    PINNED,
    RES_TYPE,
    AuditEventIndex,
    fast_path_fits,
    table_of,
)
from fhirip.auth.actor import Actor, ActorKind
from fhirip.search.registry import Registry, load_definitions, registry
from fhirip.store.engine import driver_insert


# One index for the whole module, as a mover keeps one: later events meet the rows remembered
# from earlier ones, and must get exactly the generic rows all the same.
audit_event_rows = AuditEventIndex().rows


def test_the_fast_rows_are_written_for_the_registry_in_use() -> None:
    """A new (or changed) AuditEvent search parameter fails here: the walk must learn it (meanwhile
    every AuditEvent is indexed by the generic extractor, see the tests below)."""
    assert fast_path_fits(registry())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trail_events())
def test_every_trail_event_gets_exactly_the_generic_rows(event: dict[str, Any]) -> None:
    assert audit_event_rows(event) == generic_rows(event)


def test_a_busy_practitioner_event_gets_exactly_the_generic_rows() -> None:
    actor = Actor(sub="pseudonym", kind=ActorKind.PRACTITIONER, issuer=ISSUERS[0], client_id="ip-app",
                  hpr_number="9144900", org_number="974589095", name="Kari Nordmann", roles=("Lege",),
                  purpose_of_use="ETREAT", btg_reason="bevisstløs")
    event = audit_event(actor, interaction="search-type", outcome="0",
                        resource_refs=["CarePlan/cp1", "Patient/p1", "Goal/g1"],
                        patient_refs=["Patient/p1", "Patient/p2"], request_url="/fhir/CarePlan?patient=p1",
                        method="GET", status=200, break_the_glass=True,
                        recorded=datetime(2026, 3, 1, 12, 30, tzinfo=UTC), consent_refs=["Consent/c1"],
                        client_address="10.0.0.1")
    rows = audit_event_rows(event)
    assert rows == generic_rows(event)
    # the walk found what the event says, in every table it fills
    assert {row[1] for row in rows["token"]} >= {"_security", "action", "agent-role", "altid", "entity-role",
                                                  "entity-type", "outcome", "subtype", "type"}
    assert {row[1] for row in rows["reference"]} == {"agent", "entity", "patient"}
    assert {row[1] for row in rows["string"]} == {"address", "agent-name"}
    assert [row[1] for row in rows["sort"]] == ["address", "agent-name", "date"]


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(odd_events())
def test_any_audit_event_json_gets_exactly_the_generic_rows(event: dict[str, Any]) -> None:
    try:
        expected = generic_rows(event)
    except (ValueError, TypeError, AttributeError) as refused:  # the generic extractor refuses it: so must the walk
        with pytest.raises(type(refused)):
            audit_event_rows(event)
        return
    assert audit_event_rows(event) == expected


def test_a_value_remembered_is_not_mistaken_for_an_equal_looking_one() -> None:
    """True, 1 and 1.0 are one dict key in Python but three different index values."""
    events = [{"resourceType": RES_TYPE, "outcome": value, "action": [value, 1, True]} for value in (True, 1, 1.0)]
    for event in events:
        assert audit_event_rows(event) == generic_rows(event)


# -- the guard: another registry, and the rows are the generic extractor's ----------------------

def definitions_with(change: Any) -> list[dict[str, Any]]:
    definitions = copy.deepcopy(load_definitions())
    change(definitions)
    return definitions


def audit_event_definition(definitions: list[dict[str, Any]], code: str) -> dict[str, Any]:
    return next(d for d in definitions if d["code"] == code and RES_TYPE in d.get("base", ()))


def add_parameter(definitions: list[dict[str, Any]]) -> None:
    definitions.append({"resourceType": "SearchParameter", "url": "http://fhirip.no/fhir/SearchParameter/ae-text",
                        "code": "outcome-desc", "type": "string", "base": [RES_TYPE],
                        "expression": "AuditEvent.outcomeDesc", "status": "active"})


def change_expression(definitions: list[dict[str, Any]]) -> None:
    audit_event_definition(definitions, "altid")["expression"] = "AuditEvent.agent.altId | AuditEvent.agent.name"


def change_type(definitions: list[dict[str, Any]]) -> None:
    audit_event_definition(definitions, "address")["type"] = "token"


def remove_parameter(definitions: list[dict[str, Any]]) -> None:
    definitions.remove(audit_event_definition(definitions, "site"))


@pytest.mark.parametrize("change", [add_parameter, change_expression, change_type, remove_parameter])
def test_a_registry_with_other_audit_event_parameters_does_not_get_the_fast_rows(change: Any) -> None:
    from fhirip.model.resources import RESOURCE_TYPES

    assert not fast_path_fits(Registry(definitions_with(change), RESOURCE_TYPES))


def test_an_unchanged_registry_of_its_own_gets_the_fast_rows() -> None:
    from fhirip.model.resources import RESOURCE_TYPES

    assert fast_path_fits(Registry(load_definitions(), RESOURCE_TYPES))


@pytest.mark.parametrize("change", [add_parameter, change_expression])
def test_an_index_made_for_another_registry_gives_no_rows_and_leaves_them_to_the_generic_extractor(
        change: Any) -> None:
    from fhirip.model.resources import RESOURCE_TYPES

    index = AuditEventIndex(Registry(definitions_with(change), RESOURCE_TYPES))
    assert not index.fits
    assert index.rows_by_table(RES_TYPE, EVERY_TABLE) is None
    assert AuditEventIndex().rows_by_table(RES_TYPE, EVERY_TABLE) is not None
    assert AuditEventIndex().rows_by_table("Patient", {"resourceType": "Patient"}) is None


EVERY_TABLE = {"resourceType": RES_TYPE, "action": "R", "recorded": "2026-03-01", "agent": [{"name": "K"}],
               "entity": [{"what": {"reference": "Patient/p1"}}], "meta": {"profile": ["http://p.test"]}}


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.psycopg.dialect()], ids=["sqlite", "postgresql"])
def test_the_rows_are_in_the_column_order_the_driver_insert_names(dialect: Any) -> None:
    rows = audit_event_rows(EVERY_TABLE)
    assert set(rows) == {"string", "token", "reference", "date", "uri", "sort"}
    for kind, found in rows.items():
        _, columns = driver_insert(table_of(kind), dialect)
        names = [name for name, _ in columns]
        assert names[0] == "rid" and all(len(row) == len(names) - 1 for row in found)
        assert all(row[names.index("param") - 1] in PINNED for row in found)
