"""The few fields a decision reads from CareTeams and Consents, extracted by the database.

A practitioner may sit on hundreds of care teams, each named by a sharing Consent.
Fetching and parsing every one of those documents per decision is what made a
first decision slow; instead the database hands back only what the rules look at
(SQLite JSON1 / PostgreSQL JSONB functions), and the rules in Python stay the
only judge:

- `memberships`: per CareTeam the actor is listed in, the team's status and
  subject and, for each participant whose member reference could name the actor
  (a substring test, a superset), the member reference, period and role as
  written. `identity` then applies the exact reference, period and role rules.
- `consents_around`: every Consent of the patients concerned (those a Consent
  naming one of the actor's references or identifiers is about, and the
  patients given), as its status, patient, category and provision: exactly the
  elements `provisions.evaluate` reads.

Identifier lists travel as ONE parameter (a JSON array on SQLite, an array on
PostgreSQL), so the statement text is the same for one id or a thousand.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import orjson
from sqlalchemy import Connection, String, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY

from fhirip.consent.lookups import Found, Ref

_TEXT_ARRAY = ARRAY(String)


@dataclass(frozen=True)
class Membership:
    """One participant entry of a CareTeam that may name the actor."""

    team_id: str
    team_status: str | None
    subject: Any  # the team's subject Reference (parsed)
    member: Any  # the participant's member Reference, as {"reference": text}
    period: Any  # the participant's period (parsed), None when absent
    role: Any  # the participant's role list (parsed), None when absent


@lru_cache(maxsize=65536)
def parsed(value: str | None) -> Any:
    """A JSON fragment as the database returned it; the same few periods, roles and
    categories recur across thousands of rows, so each distinct text is parsed once.
    Callers must not change what they get back."""
    if value is None:
        return None
    return orjson.loads(value)


def _json_value(value: Any) -> Any:
    """A fragment handed back as JSON text (SQLite, PostgreSQL `->>`)."""
    return parsed(value) if isinstance(value, str) else value


def _ids(conn: Connection, name: str, values: Collection[str]) -> Any:
    ordered = sorted(set(values))
    if conn.dialect.name == "postgresql":
        return bindparam(name, ordered, type_=_TEXT_ARRAY)
    return bindparam(name, orjson.dumps(ordered).decode(), type_=String)


@cache
def _memberships_sql(dialect: str) -> Any:
    if dialect == "postgresql":
        return text("""
            SELECT r.res_id, r.content->>'status', r.content->>'subject',
                   p.value->>'member', p.value->>'period', p.value->>'role'
            FROM resource r
            CROSS JOIN LATERAL jsonb_array_elements(
                CASE WHEN jsonb_typeof(r.content->'participant') = 'array'
                     THEN r.content->'participant' ELSE '[]'::jsonb END) AS p(value)
            WHERE r.rid IN (SELECT sr.rid FROM search_reference sr
                            WHERE sr.target_id = ANY(:ids) AND sr.target_type = ANY(:types)
                              AND sr.res_type = 'CareTeam' AND sr.param = 'participant')
              AND NOT r.deleted
              AND EXISTS (SELECT 1 FROM unnest(CAST(:needles AS text[])) AS n(needle)
                          WHERE strpos(p.value->'member'->>'reference', n.needle) > 0)""")
    # SQLite 3.40 parses the document again for every JSON function call: one call
    # with several paths parses it once, and Python picks the participants.
    return text("""
        SELECT r.res_id, json_extract(r.content, '$.status', '$.subject', '$.participant')
        FROM resource r
        WHERE r.rid IN (SELECT sr.rid FROM search_reference sr
                        WHERE sr.target_id IN (SELECT value FROM json_each(:ids))
                          AND sr.target_type IN (SELECT value FROM json_each(:types))
                          AND sr.res_type = 'CareTeam' AND sr.param = 'participant')
          AND r.deleted = 0""")


def memberships(conn: Connection, members: Collection[Ref]) -> list[Membership]:
    """Participant entries of current CareTeams that may name one of `members` (a superset:
    the caller checks each member reference exactly)."""
    if not members:
        return []
    dialect = conn.dialect.name
    if dialect != "postgresql":
        return _sqlite_memberships(conn, members)
    query = _memberships_sql(dialect).bindparams(
        _ids(conn, "ids", {i for _, i in members}), _ids(conn, "types", {t for t, _ in members}),
        _ids(conn, "needles", {f"{t}/{i}" for t, i in members}))
    found: dict[tuple[Any, ...], Membership] = {}
    for team_id, status, subject, member, period, role in conn.execute(query):
        key = (team_id, member, period, role)
        if key not in found:
            found[key] = Membership(team_id, status, _json_value(subject), _json_value(member),
                                    _json_value(period), _json_value(role))
    return list(found.values())


def _sqlite_memberships(conn: Connection, members: Collection[Ref]) -> list[Membership]:
    query = _memberships_sql("sqlite").bindparams(
        _ids(conn, "ids", {i for _, i in members}), _ids(conn, "types", {t for t, _ in members}))
    needles = tuple(f"{t}/{i}" for t, i in members)
    found = []
    for team_id, fields in conn.execute(query):
        status, subject, participants = orjson.loads(fields)
        for participant in participants if isinstance(participants, list) else []:
            member = participant.get("member") if isinstance(participant, dict) else None
            reference = member.get("reference") if isinstance(member, dict) else None
            if isinstance(reference, str) and any(needle in reference for needle in needles):
                found.append(Membership(team_id, status, subject, member, participant.get("period"),
                                        participant.get("role")))
    return found


@cache
def _consents_sql(dialect: str) -> Any:
    if dialect == "postgresql":
        naming = """
            SELECT p.target_id FROM search_reference a JOIN search_reference p ON p.rid = a.rid
            WHERE a.target_id = ANY(:ids) AND a.res_type = 'Consent' AND a.param = 'actor'
              AND p.res_type = 'Consent' AND p.param = 'patient' AND p.target_type = 'Patient'
            UNION
            SELECT p.target_id FROM search_reference a JOIN search_reference p ON p.rid = a.rid
            WHERE a.ident_value = ANY(:values) AND a.res_type = 'Consent' AND a.param = 'actor'
              AND p.res_type = 'Consent' AND p.param = 'patient' AND p.target_type = 'Patient'
            UNION
            SELECT unnest(CAST(:patients AS text[]))"""
        return text(f"""
            WITH wanted(pid) AS ({naming})
            SELECT DISTINCT r.rid, r.res_id, r.content->>'status', r.content->>'patient',
                   r.content->>'category', r.content->>'provision'
            FROM search_reference q JOIN resource r ON r.rid = q.rid
            WHERE q.target_id IN (SELECT pid FROM wanted) AND q.target_type = 'Patient'
              AND q.res_type = 'Consent' AND q.param = 'patient' AND NOT r.deleted
              AND r.content->>'status' = 'active' AND jsonb_typeof(r.content->'provision') = 'object'""")
    naming = """
        SELECT p.target_id FROM search_reference a JOIN search_reference p ON p.rid = a.rid
        WHERE a.target_id IN (SELECT value FROM json_each(:ids)) AND a.res_type = 'Consent'
          AND a.param = 'actor'
          AND p.res_type = 'Consent' AND p.param = 'patient' AND p.target_type = 'Patient'
        UNION
        SELECT p.target_id FROM search_reference a JOIN search_reference p ON p.rid = a.rid
        WHERE a.ident_value IN (SELECT value FROM json_each(:values)) AND a.res_type = 'Consent'
          AND a.param = 'actor'
          AND p.res_type = 'Consent' AND p.param = 'patient' AND p.target_type = 'Patient'
        UNION
        SELECT value FROM json_each(:patients)"""
    return text(f"""
        WITH wanted(pid) AS ({naming})
        SELECT DISTINCT r.rid, r.res_id, json_extract(r.content, '$.status', '$.patient', '$.category',
                                                      '$.provision')
        FROM search_reference q JOIN resource r ON r.rid = q.rid
        WHERE q.target_id IN (SELECT pid FROM wanted) AND q.target_type = 'Patient'
          AND q.res_type = 'Consent' AND q.param = 'patient' AND r.deleted = 0""")


def consents_around(conn: Connection, targets: Collection[Ref], identifiers: Collection[tuple[str, str]],
                    patients: Collection[str]) -> list[Found]:
    """Every current Consent of the given patients and of every patient who has a Consent
    whose provision actor may be one of the targets or identifiers (matched by id or
    identifier value alone: a superset, since `provisions.evaluate` judges each Consent
    exactly). Each comes back holding only the elements `evaluate` reads. Only active
    Consents with a provision are returned: `evaluate` finds nothing in any other."""
    if not targets and not identifiers and not patients:
        return []
    query = _consents_sql(conn.dialect.name).bindparams(
        _ids(conn, "ids", {i for _, i in targets}), _ids(conn, "values", {v for _, v in identifiers}),
        _ids(conn, "patients", patients))
    found = []
    for row in conn.execute(query):
        if len(row) == 3:  # SQLite: the four elements in one JSON array
            rid, res_id, fields = row
            status, patient, category, provision = orjson.loads(fields)
        else:
            rid, res_id, status, patient, category, provision = row
            patient, category, provision = _json_value(patient), _json_value(category), _fresh(provision)
        if status != "active" or not isinstance(provision, dict):
            continue  # `evaluate` finds nothing in these
        content = {"resourceType": "Consent", "id": res_id, "status": status, "patient": patient,
                   "category": category, "provision": provision}
        found.append(Found(rid, "Consent", res_id, content))
    return found


def _fresh(value: Any) -> Any:
    """A provision is specific to its Consent: parsed on its own, never shared."""
    return orjson.loads(value) if isinstance(value, str) else value
