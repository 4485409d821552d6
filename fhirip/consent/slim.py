"""The few fields a decision reads from CareTeams and Consents, read once per stored version.

A practitioner may sit on hundreds of care teams, each named by a sharing Consent.
Fetching and parsing every one of those documents on every first decision is what
made it slow, yet a stored version never changes. So a decision asks the index
which CareTeams and Consents concern the actor and reads only their identity
(row, version, time of writing); the elements the rules look at are extracted
from a version's content the first time it is met and kept in `_FACTS`, keyed by
database, row, version and time of writing. The decision itself is made afresh
from the current versions on every request: a withdrawn consent is a new version,
met (and read) on the next request.

- `memberships`: per CareTeam listing one of the actor's references as participant,
  the team's status and subject and each participant's member, period and role.
  `identity` applies the exact reference, period and role rules.
- `consents_around`: every Consent of the patients concerned (those a Consent naming
  one of the actor's references or identifiers is about, and the patients given),
  holding exactly the elements `provisions.evaluate` reads.

Identifier lists travel as ONE parameter (a JSON array on SQLite, an array on
PostgreSQL), so the statement text is the same for one id or a thousand.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import orjson
from sqlalchemy import Connection, String, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY

from fhirip.consent.access import Access
from fhirip.consent.lookups import Ref, local_ref
from fhirip.consent.provisions import ActorNames, is_sharing, permit_access
from fhirip.consent.timing import period_covers
from fhirip.consent.vocabulary import COORDINATOR_CODES
from fhirip.store.engine import generic_plans

_TEXT_ARRAY = ARRAY(String)
# Versions kept. A CareTeam's facts take about 2 KB, a sharing Consent's about 2 KB and
# any other Consent's a few hundred bytes: at most some 300 MB, which holds the teams and
# consents of every practitioner of the national data set (100 000 plans) at once.
MAX_FACTS = 200_000


@dataclass(frozen=True)
class TeamFacts:
    team_id: str
    status: str | None
    subject: Any  # the subject Reference as written
    # Per member, each of its participant entries as (period as written, coordinator role?).
    by_member: dict[Ref, tuple[tuple[Any, bool], ...]]


@dataclass(frozen=True)
class Membership:
    """One participant entry of a CareTeam that names one of the actor's references."""

    team_id: str
    team_status: str | None
    subject: Any
    member: Ref
    period: Any  # as written (None when absent)
    coordinator: bool  # the entry's role is the plan coordinator's (Volven 9034 code 8 or 18)


class VersionFacts:
    """What was extracted from stored versions; the oldest entries make room for new ones.
    Reads take no lock (a dict lookup is atomic); writes do."""

    def __init__(self, max_entries: int = MAX_FACTS):
        self.max_entries = max_entries
        self._entries: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> Any:
        return self._entries.get(key)

    def put(self, key: tuple[Any, ...], facts: Any) -> None:
        with self._lock:
            self._entries[key] = facts
            while len(self._entries) > self.max_entries:
                del self._entries[next(iter(self._entries))]


_FACTS = VersionFacts()


def _ids(conn: Connection, name: str, values: Collection[Any]) -> Any:
    ordered = sorted(set(values))
    if conn.dialect.name == "postgresql":
        return bindparam(name, [str(v) for v in ordered], type_=_TEXT_ARRAY)
    return bindparam(name, orjson.dumps(ordered).decode(), type_=String)


def _planned_once(conn: Connection, query: Any) -> list[Any]:
    """The rows of one of this module's lookups: each is the same index seeks whatever its lists
    hold, so PostgreSQL need not plan it afresh for each caller (`generic_plans`)."""
    with generic_plans(conn):
        return conn.execute(query).all()


def _content(value: Any) -> dict[str, Any]:
    if isinstance(value, (str, bytes)):
        return orjson.loads(value)
    return value if isinstance(value, dict) else {}


_NOT_DELETED = {"postgresql": "NOT r.deleted"}


@cache
def _teams_sql(dialect: str) -> Any:
    listed = "= ANY(:{0})" if dialect == "postgresql" else "IN (SELECT value FROM json_each(:{0}))"
    return text(f"""
        SELECT r.rid, r.version, r.last_updated, r.res_id FROM resource r
        WHERE r.rid IN (SELECT sr.rid FROM search_reference sr
                        WHERE sr.target_id {listed.format('ids')} AND sr.target_type {listed.format('types')}
                          AND sr.res_type = 'CareTeam' AND sr.param = 'participant')
          AND {_NOT_DELETED.get(dialect, 'r.deleted = 0')}""")


@cache
def _content_sql(dialect: str) -> Any:
    listed = "= ANY(CAST(:rids AS bigint[]))" if dialect == "postgresql" else "IN (SELECT value FROM json_each(:rids))"
    return text(f"SELECT r.rid, r.version, r.last_updated, r.res_id, r.content FROM resource r WHERE r.rid {listed}")


def memberships(conn: Connection, members: Collection[Ref]) -> list[Membership]:
    """The participant entries of current CareTeams that name one of `members`."""
    if not members:
        return []
    query = _teams_sql(conn.dialect.name).bindparams(
        _ids(conn, "ids", {i for _, i in members}), _ids(conn, "types", {t for t, _ in members}))
    found = []
    for team in _facts_of(conn, conn.execute(query), team_facts):
        for member in members:
            for period, coordinator in team.by_member.get(member, ()):
                found.append(Membership(team.team_id, team.status, team.subject, member, period, coordinator))
    return found


@cache
def _teams_by_sql(dialect: str) -> Any:
    if dialect == "postgresql":
        return text("""
            SELECT r.rid, r.version, r.last_updated, r.res_id FROM resource r
            WHERE r.res_type = 'CareTeam' AND r.res_id = ANY(:ids) AND NOT r.deleted
            UNION
            SELECT r.rid, r.version, r.last_updated, r.res_id FROM unnest(CAST(:patients AS text[])) AS j(value)
            CROSS JOIN LATERAL (SELECT sr.rid FROM search_reference sr
                                WHERE sr.target_id = j.value AND sr.target_type = 'Patient'
                                  AND sr.res_type = 'CareTeam' AND sr.param = 'patient' OFFSET 0) AS sr
            JOIN resource r ON r.rid = sr.rid
            WHERE NOT r.deleted""")
    return text("""
        SELECT r.rid, r.version, r.last_updated, r.res_id FROM resource r
        WHERE r.res_type = 'CareTeam' AND r.res_id IN (SELECT value FROM json_each(:ids)) AND r.deleted = 0
        UNION
        SELECT r.rid, r.version, r.last_updated, r.res_id FROM json_each(:patients) AS j
        CROSS JOIN search_reference sr ON sr.target_id = j.value AND sr.target_type = 'Patient'
                                      AND sr.res_type = 'CareTeam' AND sr.param = 'patient'
        CROSS JOIN resource r ON r.rid = sr.rid
        WHERE r.deleted = 0""")


def teams(conn: Connection, *, ids: Collection[str] = (), patients: Collection[str] = ()) -> list[Membership]:
    """The participant entries of the current CareTeams with these ids or about these patients,
    for every member (the caller picks the actor's)."""
    if not ids and not patients:
        return []
    query = _teams_by_sql(conn.dialect.name).bindparams(_ids(conn, "ids", ids), _ids(conn, "patients", patients))
    rows = _planned_once(conn, query)
    return [Membership(team.team_id, team.status, team.subject, member, period, coordinator)
            for team in _facts_of(conn, rows, team_facts)
            for member, entries in team.by_member.items() for period, coordinator in entries]


def named_teams(consents: Iterable[ConsentFacts]) -> set[str]:
    """Ids of the CareTeams any provision of these Consents names as actor."""
    found: set[str] = set()
    for consent in consents:
        if consent.plain is not None:
            found |= {i for t, i in consent.plain.refs if t == "CareTeam"}
        elif consent.content is not None:
            found |= {i for t, i in _provision_actors(consent.content.get("provision")) if t == "CareTeam"}
    return found


def _provision_actors(provision: Any) -> Iterable[Ref]:
    if not isinstance(provision, dict):
        return
    for actor in provision.get("actor") or []:
        ref = local_ref(actor.get("reference")) if isinstance(actor, dict) else None
        if ref is not None:
            yield ref
    for nested in provision.get("provision") or []:
        yield from _provision_actors(nested)


def is_coordinator(roles: Any) -> bool:
    """Whether a participant's roles name the plan coordinator (Volven 9034 code 8 or 18)."""
    for concept in roles if isinstance(roles, list) else []:
        for coding in (concept.get("coding") or []) if isinstance(concept, dict) else []:
            if isinstance(coding, dict) and (coding.get("system"), coding.get("code")) in COORDINATOR_CODES:
                return True
    return False


def team_facts(res_id: str, content: dict[str, Any]) -> TeamFacts:
    """What the rules read from one CareTeam version."""
    by_member: dict[Ref, list[tuple[Any, bool]]] = {}
    for entry in content.get("participant") or []:
        member = local_ref(entry.get("member")) if isinstance(entry, dict) else None
        if member is not None:
            key = (sys.intern(member[0]), sys.intern(member[1]))
            by_member.setdefault(key, []).append((entry.get("period"), is_coordinator(entry.get("role"))))
    return TeamFacts(res_id, content.get("status"), content.get("subject"),
                     {member: _shared(tuple(entries)) for member, entries in by_member.items()})


# Most participants have no period and no coordinator role: they share one tuple.
_PLAIN_MEMBER = ((None, False),)


def _shared(entries: tuple[tuple[Any, bool], ...]) -> tuple[tuple[Any, bool], ...]:
    return _PLAIN_MEMBER if entries == _PLAIN_MEMBER else entries


@cache
def _consents_sql(dialect: str) -> Any:
    if dialect == "postgresql":
        return text("""
            WITH wanted(pid) AS (
                SELECT p.target_id FROM unnest(CAST(:ids AS text[])) AS j(value)
                CROSS JOIN LATERAL (SELECT a.rid FROM search_reference a
                                    WHERE a.target_id = j.value AND a.res_type = 'Consent'
                                      AND a.param = 'actor' OFFSET 0) AS a
                JOIN search_reference p ON p.rid = a.rid AND p.res_type = 'Consent' AND p.param = 'patient'
                                       AND p.target_type = 'Patient'
                UNION
                SELECT p.target_id FROM unnest(CAST(:values AS text[])) AS j(value)
                JOIN search_reference a ON a.ident_value = j.value AND a.res_type = 'Consent'
                                       AND a.param = 'actor'
                JOIN search_reference p ON p.rid = a.rid AND p.res_type = 'Consent' AND p.param = 'patient'
                                       AND p.target_type = 'Patient'
                UNION
                SELECT unnest(CAST(:patients AS text[])))
            SELECT DISTINCT r.rid, r.version, r.last_updated, r.res_id
            FROM search_reference q JOIN resource r ON r.rid = q.rid
            WHERE q.target_id IN (SELECT pid FROM wanted) AND q.target_type = 'Patient'
              AND q.res_type = 'Consent' AND q.param = 'patient' AND NOT r.deleted""")
    # Each list drives index seeks: on PostgreSQL as an unnest() with a LATERAL index lookup per value (OFFSET 0 keeps the planner from merging it into a scan), on
    # SQLite by a CROSS JOIN, which fixes the join order (left to themselves both planners
    # may scan every Consent's actor rows instead).
    return text("""
        WITH wanted(pid) AS (
            SELECT p.target_id FROM json_each(:ids) AS j
            CROSS JOIN search_reference a ON a.target_id = j.value AND a.res_type = 'Consent'
                                          AND a.param = 'actor'
            CROSS JOIN search_reference p ON p.rid = a.rid AND p.res_type = 'Consent' AND p.param = 'patient'
                                          AND p.target_type = 'Patient'
            UNION
            SELECT p.target_id FROM json_each(:values) AS j
            CROSS JOIN search_reference a ON a.ident_value = j.value AND a.res_type = 'Consent'
                                          AND a.param = 'actor'
            CROSS JOIN search_reference p ON p.rid = a.rid AND p.res_type = 'Consent' AND p.param = 'patient'
                                          AND p.target_type = 'Patient'
            UNION
            SELECT value FROM json_each(:patients))
        SELECT DISTINCT r.rid, r.version, r.last_updated, r.res_id
        FROM wanted AS w
        CROSS JOIN search_reference q ON q.target_id = w.pid AND q.target_type = 'Patient'
                                      AND q.res_type = 'Consent' AND q.param = 'patient'
        CROSS JOIN resource r ON r.rid = q.rid
        WHERE r.deleted = 0""")


@dataclass(frozen=True)
class PlainPermit:
    """A Consent whose root provision is a permit with nothing nested and no purpose: it
    grants `access` to the actors it names while its period runs, and denies nothing.
    The same answer `provisions.evaluate` gives, found without reading the provision again."""

    period: Any
    refs: frozenset[Ref]
    identifiers: frozenset[tuple[Any, Any]]
    access: Access | None  # None when the Consent is not a sharing one or permits no action

    def grants(self, names: ActorNames, now: datetime) -> Access | None:
        if self.access is None or not period_covers(self.period, now):
            return None
        if self.refs & names.refs or self.identifiers & names.identifiers:
            return self.access
        return None


@dataclass(frozen=True)
class ConsentFacts:
    ref: str  # "Consent/id"
    patient: str | None  # the Patient id it is about
    plain: PlainPermit | None  # a plain root permit, judged from these facts alone
    # Otherwise what `evaluate` reads: status, patient, category and provision.
    content: dict[str, Any] | None = None


def consents_around(conn: Connection, targets: Collection[Ref], identifiers: Collection[tuple[str, str]],
                    patients: Collection[str]) -> list[ConsentFacts]:
    """Every current Consent of the given patients and of every patient who has a Consent
    whose provision actor may be one of the targets or identifiers (matched by id or
    identifier value alone: a superset, since each Consent is judged exactly). Only active
    Consents with a provision are returned: `evaluate` finds nothing in any other."""
    if not targets and not identifiers and not patients:
        return []
    query = _consents_sql(conn.dialect.name).bindparams(
        _ids(conn, "ids", {i for _, i in targets}), _ids(conn, "values", {v for _, v in identifiers}),
        _ids(conn, "patients", patients))
    rows = _planned_once(conn, query)
    return [consent for consent in _facts_of(conn, rows, consent_facts) if consent is not _NONE]


_NONE = ConsentFacts("", None, None)  # a Consent that grants and denies nothing (kept as such)


def consent_facts(res_id: str, content: dict[str, Any]) -> ConsentFacts:
    """What the rules read from one Consent version (the shared empty facts when it can
    neither grant nor deny)."""
    provision = content.get("provision")
    if content.get("status") != "active" or not isinstance(provision, dict):
        return _NONE
    reduced = {"resourceType": "Consent", "id": res_id, "status": "active", "patient": content.get("patient"),
               "category": content.get("category"), "provision": provision}
    ref = f"Consent/{res_id}"
    patient = local_ref(content.get("patient"))
    patient_id = patient[1] if patient and patient[0] == "Patient" else None
    plain = _plain(ref, reduced, provision)
    return ConsentFacts(ref, patient_id, plain, None if plain is not None else reduced)


def _plain(ref: str, consent: dict[str, Any], root: dict[str, Any]) -> PlainPermit | None:
    if root.get("type") != "permit" or root.get("provision") or root.get("purpose"):
        return None
    actors = [a for a in root.get("actor") or [] if isinstance(a, dict)]
    refs = frozenset(r for a in actors if (r := local_ref(a.get("reference"))) is not None)
    identifiers = frozenset((i.get("system"), i.get("value")) for a in actors
                            if isinstance(a.get("reference"), dict)
                            and isinstance(i := a["reference"].get("identifier"), dict))
    access = permit_access(ref, root) if is_sharing(consent) else None
    return PlainPermit(root.get("period"), refs, identifiers, access)


def _facts_of(conn: Connection, rows: Iterable[Any], extract: Callable[[str, dict[str, Any]], Any]) -> list[Any]:
    """The facts of each (rid, version, last_updated, res_id) row: kept ones, and for the
    others read from the content, in one more statement, and kept."""
    database = sys.intern(str(conn.engine.url))
    found: list[Any] = []
    missing: list[int] = []
    for rid, version, last_updated, _ in rows:
        facts = _FACTS.get((database, rid, version, last_updated))
        if facts is None:
            missing.append(rid)
        else:
            found.append(facts)
    if missing:
        query = _content_sql(conn.dialect.name).bindparams(_ids(conn, "rids", missing))
        for rid, version, last_updated, res_id, content in conn.execute(query):
            facts = extract(res_id, _content(content))
            _FACTS.put((database, rid, version, last_updated), facts)
            found.append(facts)
    return found
