"""Hypothesis strategies for AuditEvents: every shape the trail builds (`fhirip.audit.audit_event`),
and AuditEvent JSON of other shapes; and the generic extractor's rows of one, to compare with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
from hypothesis import strategies as st

from fhirip.audit import audit_event
from fhirip.audit.codes import INTERACTION_ACTION, OUTCOMES
from fhirip.audit.event_index import RES_TYPE
from fhirip.auth.actor import Actor, ActorKind
from fhirip.search.index import TABLES, extract
from fhirip.search.registry import registry
from fhirip.store.records import _stamped
from fhirip.store.schema import search_sort

ISSUERS = ["https://helseid-sts.test.nhn.no", "https://idporten.test.no", ""]
NAMES = st.sampled_from([None, "Kari Nordmann", "Ærlige Øyvind Åsen", "José Hernández", "  "])


def generic_rows(event: dict[str, Any]) -> dict[str, list[tuple[Any, ...]]]:
    """The generic extractor's rows, as tuples in column order without `rid`, by row kind."""
    by_table = {table: kind for kind, table in TABLES.items()} | {search_sort: "sort"}
    return {by_table[table]: [tuple(row[c.name] for c in table.c if c.name != "rid") for row in rows]
            for table, rows in extract(registry(), RES_TYPE, event).items() if rows}


@st.composite
def actors(draw: st.DrawFn) -> Actor | None:
    kind = draw(st.sampled_from([*ActorKind, None]))
    if kind is None:
        return None  # the request could not be authenticated
    person = kind in (ActorKind.PERSON, ActorKind.PATIENT, ActorKind.RELATIVE)
    emergency = draw(st.booleans())
    return Actor(
        sub=draw(st.sampled_from(["pseudonym", "sub-2", "client-a"])), kind=kind,
        issuer=draw(st.sampled_from(ISSUERS)),
        client_id=draw(st.sampled_from([None, "ip-app", "journal-system"])),
        hpr_number=draw(st.sampled_from(["9144900", "565501872"])) if kind is ActorKind.PRACTITIONER else None,
        person_id=draw(st.sampled_from(["15076500565", "41076500565"])) if person else None,
        org_number=draw(st.sampled_from([None, "974589095", "983044778"])),
        name=draw(NAMES), roles=tuple(draw(st.lists(st.sampled_from(["sykepleier", "Lege", "koordinator"]),
                                                     max_size=2))),
        purpose_of_use=draw(st.sampled_from(["ETREAT", "BTG"]) if emergency else st.sampled_from([None, "TREAT", "COC"])),
        btg_reason=draw(st.sampled_from(["Akutt innleggelse, pasienten er bevisstløs", "ulykke"]))
        if emergency else None)


REFERENCES = st.sampled_from(["CarePlan/cp1", "CarePlan/cp1/_history/2", "Goal/g-7", "Patient/p1", "Patient/p2",
                              "Consent/c1", "Practitioner/pr1", "Condition/c.9"])


@st.composite
def trail_events(draw: st.DrawFn) -> dict[str, Any]:
    """Any event `audit_event` builds (reads, searches, writes, denials, break-the-glass, system
    clients, several patients), stamped as the journal stores it."""
    actor = draw(actors())
    break_the_glass = actor is not None and actor.break_the_glass and draw(st.booleans())
    interaction = draw(st.sampled_from(sorted(INTERACTION_ACTION)))
    status = draw(st.sampled_from([200, 201, 204, 400, 401, 403, 404, 410, 422, 500]))
    outcome = draw(st.sampled_from(sorted(OUTCOMES)))
    path = draw(st.sampled_from(["/fhir/CarePlan/cp1", "/fhir/Goal?patient=p1&_count=5",
                                 "/fhir/Patient?identifier=15076500565", "/fhir/metadata", "/fhir/"]))
    recorded = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(
        milliseconds=draw(st.integers(0, 10**11)))
    recorded = recorded.astimezone(timezone(timedelta(minutes=draw(st.sampled_from([0, 60, 120, -300, 330])))))
    event = audit_event(
        actor, interaction=interaction, outcome=outcome,
        resource_refs=draw(st.lists(REFERENCES, max_size=4)),
        patient_refs=draw(st.lists(st.sampled_from(["Patient/p1", "Patient/p2", "Patient/p3"]), max_size=3)),
        request_url=path, method=draw(st.sampled_from(["GET", "POST", "PUT", "delete"])), status=status,
        break_the_glass=break_the_glass, recorded=recorded,
        consent_refs=draw(st.lists(st.sampled_from(["Consent/c1", "Consent/c2"]), max_size=2)),
        client_address=draw(st.sampled_from([None, "127.0.0.1", "10.1.2.3", "2001:db8::1"])))
    event["id"] = draw(st.uuids()).hex
    return orjson.loads(_stamped(event, 1, recorded))  # as the journal hands it on: JSON, stamped


# -- AuditEvents of other shapes: every element a parameter's path reaches, odd values included --

CODINGS = st.fixed_dictionaries({"code": st.sampled_from(["a", "B", "0"])},
                                optional={"system": st.sampled_from(["http://x.test/cs", ""]),
                                          "display": st.sampled_from(["Ærlig", " ", "Query"])})
CONCEPTS = st.one_of(st.fixed_dictionaries({"coding": st.lists(CODINGS, max_size=2)},
                                           optional={"text": st.sampled_from(["Sykepleier", ""])}),
                     st.fixed_dictionaries({"text": st.sampled_from(["lege", "Lege"])}))
IDENTIFIERS = st.fixed_dictionaries({"value": st.sampled_from(["9144900", "x" * 600])},
                                    optional={"system": st.sampled_from(["urn:oid:1.2", "http://id.test"])})
REFERENCE_VALUES = st.fixed_dictionaries({}, optional={
    "reference": st.sampled_from(["Patient/p1", "Patient/p1/_history/3", "http://other.test/fhir/Patient/p9",
                                  "#contained", "urn:uuid:4b1c", "Device/d1", "CarePlan/cp2"]),
    "identifier": IDENTIFIERS, "type": st.sampled_from(["Patient", "Device"]),
    "display": st.sampled_from(["Kari", "fhirip"])})
SCALARS = st.one_of(st.sampled_from(["R", "E", "0", "", "2026-03-01", "2026", "2026-03-01T10:00:00Z",
                                     "not a date", "http://policy.test/p|2"]),
                    st.booleans(), st.integers(-3, 3), st.floats(-2, 2, allow_nan=False), st.none())
ODD = st.one_of(SCALARS, CODINGS, CONCEPTS, REFERENCE_VALUES, st.lists(st.one_of(SCALARS, CODINGS), max_size=2))


def maybe_list(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(values, st.lists(st.one_of(values, st.none()), max_size=3), st.none())


AGENTS = st.fixed_dictionaries({}, optional={
    "who": maybe_list(st.one_of(REFERENCE_VALUES, ODD)), "name": maybe_list(st.one_of(st.sampled_from(
        ["Kari", "  ", "Åse"]), ODD)),
    "nameOther": st.sampled_from(["by choice"]), "role": maybe_list(st.one_of(CONCEPTS, ODD)),
    "altId": maybe_list(SCALARS), "policy": maybe_list(SCALARS),
    "network": maybe_list(st.fixed_dictionaries({}, optional={"address": maybe_list(SCALARS)}))})
ENTITIES = st.fixed_dictionaries({}, optional={
    "what": maybe_list(st.one_of(REFERENCE_VALUES, ODD)), "name": maybe_list(SCALARS),
    "nameText": st.sampled_from(["by choice"]), "role": maybe_list(st.one_of(CODINGS, ODD)),
    "type": maybe_list(st.one_of(CODINGS, ODD))})
SOURCES = st.fixed_dictionaries({}, optional={"observer": maybe_list(st.one_of(REFERENCE_VALUES, ODD)),
                                              "site": maybe_list(SCALARS)})
METAS = st.fixed_dictionaries({}, optional={
    "security": maybe_list(st.one_of(CODINGS, ODD)), "tag": maybe_list(st.one_of(CODINGS, ODD)),
    "profile": maybe_list(SCALARS), "source": maybe_list(SCALARS), "sourceUri": SCALARS})


@st.composite
def odd_events(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = {"resourceType": draw(st.sampled_from([RES_TYPE, RES_TYPE, "Communication"]))}
    parts = {"meta": METAS, "type": maybe_list(st.one_of(CODINGS, ODD)), "subtype": maybe_list(CODINGS),
             "action": maybe_list(SCALARS), "recorded": maybe_list(SCALARS), "outcome": maybe_list(SCALARS),
             "agent": maybe_list(st.one_of(AGENTS, SCALARS)), "entity": maybe_list(ENTITIES),
             "entityExtra": maybe_list(ENTITIES), "source": maybe_list(SOURCES),
             "sourceReference": maybe_list(SOURCES)}
    for name, values in parts.items():
        if draw(st.booleans()):
            event[name] = draw(values)
    return event
