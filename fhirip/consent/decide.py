"""Resolving a caller to grantee keys, and their rows of the access index to an AccessPolicy.

Default deny. Called at the start of every request; nothing is kept afterwards, so a
withdrawal committed before the request began is in force for it. The caller's token
gives identifier keys (HPR number, organisation number, fødselsnummer/D-nummer); one
statement (`_resolution`) reads what the index holds for them (`fhirip.consent.grants`
for what each kind of row means):

1. identifiers → the caller's own patients (`self`), the RelatedPersons with their number
   (`relative`) and the children they are parent/guardian of while under 16 (`proxy`),
   the Practitioner and Organization carrying them (`alias`), and the current
   PractitionerRoles of those Practitioners for the organisation the caller acts for (`role`);
2. those references → the CareTeams they are a current member of (`member`), the patients
   they coordinate (`coordinator`) or administer as the coordinating unit (`unit`), and the
   Consent rows naming them or their teams;
3. the deny provisions naming no actor (`*`) of every patient reached.

Only the rows in force at `now` are read (`valid_from <= now < valid_to`, in SQL). Then:
an active sharing Consent's permit grants its types and labels (the current coordinator's
also writes); a deny wins over every grant but the patient's own; a coordinator without a
sharing Consent, and the coordinating unit, get the administrative view; break-the-glass
reads every compartment for `BREAK_THE_GLASS_MINUTES` after the token's issue; a system
client reads exactly the types its `system/` scopes name. SMART scopes bound all of it
(`AccessPolicy.may`, `AccessPolicy.sql`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson
from psycopg import RawCursor
from sqlalchemy import (
    Connection,
    String,
    and_,
    any_,
    bindparam,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

from fhirip.auth.actor import Actor, ActorKind
from fhirip.consent.access import Access, Basis
from fhirip.consent.administrative import ADMIN_READ_TYPES, ADMIN_WRITE_TYPES
from fhirip.consent.compartment import in_compartment
from fhirip.consent.grants import EVERYONE, key
from fhirip.consent.policy import AccessPolicy, scope_read_types, scope_write_types
from fhirip.consent.scopes import scope_queries
from fhirip.consent.vocabulary import (
    AUDIT_TYPE,
    COORDINATING_UNIT_ROLE,
    HPR_SYSTEM,
    ORG_NUMBER_SYSTEM,
    PERSON_SYSTEMS,
    PERSON_WRITABLE_TYPES,
    PUBLIC_TO_PEOPLE,
    all_resource_types,
)
from fhirip.model.dates import to_naive_utc
from fhirip.store import StoredVersion
from fhirip.store.schema import access_grant, resource, resource_version, search_reference

# Emergency access lasts as long as a fresh token: at most this long after it was issued.
BREAK_THE_GLASS_MINUTES = 30

_G = access_grant
_V = resource_version
_R = resource
_L = search_reference
# The version a read names, in the order `StoredVersion` takes them (the store's own read).
_VERSION_COLUMNS = (_V.c.seq, _V.c.rid, _V.c.res_type, _V.c.res_id, _V.c.version, _V.c.last_updated,
                    _V.c.method, _V.c.deleted, _V.c.content)
# The kind of the row that carries the version, which no row of the index has.
READ_KIND = "version"
# The kind of the rows naming the patients a read's resource refers to (`_reading_within`).
LINKED_KIND = "linked"
# What the decision reads of each row (a PractitionerRole's `via` is compared in SQL only).
_COLUMNS = (_G.c.grantee, _G.c.kind, _G.c.patient_id, _G.c.target, _G.c.effect, _G.c.action,
            _G.c.classes, _G.c.labels, _G.c.resources, _G.c.purposes, _G.c.rank, _G.c.source_type,
            _G.c.source_id)


class Row(NamedTuple):
    grantee: str
    kind: str
    patient_id: str | None
    target: str | None
    effect: str
    action: str
    classes: str | None
    labels: str | None
    resources: str | None
    purposes: str | None
    rank: int
    source_type: str
    source_id: str

    @property
    def source(self) -> str:
        return f"{self.source_type}/{self.source_id}"


def is_coordinating_unit(actor: Actor) -> bool:
    """The koordinerende enhet: an organisation number and the role claim naming the unit."""
    return actor.org_number is not None and COORDINATING_UNIT_ROLE in actor.roles


# The most identifier keys a token carries: an organisation, an HPR number and a person's numbers.
TOKEN_KEY_SLOTS = 2 + len(PERSON_SYSTEMS)


def token_keys(actor: Actor) -> frozenset[str]:
    """The identifier keys the caller's token carries."""
    found = {key(ORG_NUMBER_SYSTEM, actor.org_number), key(HPR_SYSTEM, actor.hpr_number)}
    if actor.is_person:
        found |= {key(system, actor.person_id) for system in PERSON_SYSTEMS}
    return frozenset(k for k in found if k is not None)


def _in_force(table: Any) -> Any:
    now = bindparam("now")
    return and_(or_(table.c.valid_from.is_(None), table.c.valid_from <= now),
                or_(table.c.valid_to.is_(None), table.c.valid_to > now))


def _columns(table: Any) -> list[Any]:
    return [table.c[column.name] for column in _COLUMNS]


def _among(column: Any, found: Any, dialect: str) -> Any:
    """`column IN (found)`, a subquery of keys; on PostgreSQL `= ANY(ARRAY(found))`: the keys
    are gathered first and each is then looked up by the index. As a join, the planner judges a
    key to match the table's average number of rows (an organisation's key matches hundreds of
    thousands), and for a caller in a few hundred care teams it reads the whole table instead."""
    if dialect == "postgresql":
        return column == any_(func.array(found.scalar_subquery()))
    return column.in_(found)


def _resolution(dialect: str, reading: bool = False) -> Any:
    """The caller's rows in one statement (built once per database; a request binds its keys and
    moment); `reading`: and as its last row the newest version of the resource `:res_type/:res_id`
    (`decide_reading`):

    1. `ids`: the rows naming the token's identifiers (their own patients, the Practitioner,
       Organization and RelatedPersons carrying them, the consents naming them);
    2. `roles`: the current PractitionerRoles of those Practitioners, for no organisation or
       one the caller acts for;
    3. `named`: the rows naming those references, or the CareTeams they are current members of
       (`reach`, both at once: one index lookup per key);
    4. the deny provisions naming no one, of every patient reached."""
    g1, g2, g3, g4, g5 = (access_grant.alias(f"g{n}") for n in range(1, 6))
    # One parameter per slot (unused slots NULL, which matches nothing), not an expanding list: the
    # statement's text is the same for every caller, so it is compiled and prepared once.
    slots = [bindparam(f"key{n}", type_=String) for n in range(TOKEN_KEY_SLOTS)]
    ids = select(*_columns(g1)).where(g1.c.grantee.in_(slots), _in_force(g1)).cte("ids")
    aliases = select(ids.c.target).where(ids.c.kind == "alias")
    roles = select(*_columns(g2)).where(g2.c.kind == "role", g2.c.grantee.in_(aliases), _in_force(g2),
                                        or_(g2.c.via.is_(None), g2.c.via.in_(aliases))).cte("roles")
    # UNION ALL: these lists are only looked in (IN, = ANY), where a repeat changes nothing and
    # dropping repeats would cost a sort.
    refs = union_all(select(ids.c.target).where(or_(ids.c.kind == "alias", ids.c.kind == "relative")),
                     select(roles.c.target)).cte("refs")
    teams = select(g4.c.target).where(g4.c.kind == "member",
                                      _among(g4.c.grantee, select(refs.c.target), dialect), _in_force(g4))
    # One lookup over the union, not `IN refs OR IN teams`: PostgreSQL cannot drive an index by
    # an OR of two subqueries, and reads the whole table for it instead.
    reach = union_all(select(refs.c.target), teams).cte("reach")
    named = select(*_columns(g3)).where(_among(g3.c.grantee, select(reach.c.target), dialect),
                                        _in_force(g3)).cte("named")
    reached = union_all(select(ids.c.patient_id), select(named.c.patient_id))
    everyone = select(*_columns(g5)).where(g5.c.grantee == EVERYONE,
                                           _among(g5.c.patient_id, reached, dialect), _in_force(g5))
    parts = [select(*ids.c), select(*roles.c), select(*named.c), everyone]
    return _with_version(parts) if reading else union_all(*parts)


def _with_version(parts: list[Any], linked: Any = None) -> Any:
    """The rows of `parts`, then the newest version of `:res_type/:res_id` (the store's own
    newest-version read), then, given `linked` (a subquery of patient ids), a row per patient.
    The version's columns follow the row's, empty in the rows of the index; the version's row
    has its kind (`READ_KIND`) and nothing else of a row, a patient's row its kind
    (`LINKED_KIND`) and the patient."""
    version = (select(*_VERSION_COLUMNS).where(_V.c.res_type == bindparam("res_type", type_=String),
                                                _V.c.res_id == bindparam("res_id", type_=String))
               .order_by(_V.c.version.desc()).limit(1).subquery("named_version"))
    padding = [cast(null(), column.type).label(f"v_{column.name}") for column in _VERSION_COLUMNS]

    def only(kind: str, patient: Any = None) -> list[Any]:
        return [literal(kind, String).label("kind") if column.name == "kind" else
                patient.label(column.name) if column.name == "patient_id" and patient is not None else
                cast(null(), column.type).label(column.name) for column in _COLUMNS]

    rows = [*(part.add_columns(*padding) for part in parts), select(*only(READ_KIND), *version.c)]
    if linked is not None:
        rows.append(select(*only(LINKED_KIND, linked.c.patient_id), *padding))
    return union_all(*rows)


@dataclass(frozen=True)
class Compiled:
    """A constant statement compiled once for one kind of database, run as its text.

    SQLAlchemy compiles a statement once as well (its compiled cache), but on every execution
    it still walks the statement for its cache key and processes each parameter; for the
    resolution's five subqueries that costs as much as the database's own work. The text is
    the one SQLAlchemy compiles; `run` binds the values as SQLAlchemy would.

    On PostgreSQL the text has the server's own numbered parameters (`$1`) and is sent as it is
    (psycopg's raw cursor): psycopg parses a text with named parameters into that form on every
    execution once it is longer than its cache takes (4 KiB), as a read's resolution is."""

    text: str
    names: tuple[str, ...] | None  # the parameters in order (positional style); None: by name
    constants: dict[str, Any]  # the values the statement itself carries
    processors: dict[str, Any]  # name → how the database wants the value (SQLite's datetimes)
    numbered: bool  # `$1` parameters, sent to the server as they are

    @classmethod
    def of(cls, statement: Any, dialect: Dialect) -> Compiled:
        compiled = statement.compile(dialect=dialect)
        processors = {}
        for name, bind in compiled.binds.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                processors[compiled.bind_names.get(bind, name)] = process
        names = tuple(compiled.positiontup) if compiled.positional else None
        return cls(str(compiled), names, {k: v for k, v in compiled.params.items() if v is not None}, processors,
                   dialect.paramstyle == "numeric_dollar")

    def run(self, conn: Connection, values: dict[str, Any]) -> list[tuple[Any, ...]]:
        """The statement's rows, read by the driver's own cursor in the transaction of `conn`:
        through SQLAlchemy a textual statement's result description is built anew on every
        execution, for rows that need no processing. A database error still reaches the store
        as SQLAlchemy's (`DBAPIError`: a statement stopped by the time limit, a lost connection)."""
        merged = {**self.constants, **values}
        for name, process in self.processors.items():
            if merged.get(name) is not None:
                merged[name] = process(merged[name])
        params = tuple(merged[name] for name in self.names) if self.names is not None else merged
        driver = conn.connection.dbapi_connection
        cursor = RawCursor(driver) if self.numbered else driver.cursor()  # type: ignore[arg-type, union-attr]
        try:
            cursor.execute(self.text, params)
            return cursor.fetchall()
        except conn.dialect.loaded_dbapi.Error as error:
            lost = conn.dialect.is_disconnect(error, driver, cursor)
            if lost:
                conn.invalidate(error)
            raise DBAPIError.instance(self.text, params, error, conn.dialect.loaded_dbapi.Error,
                                      connection_invalidated=lost) from error
        finally:
            cursor.close()


_DIALECTS = {"sqlite": sqlite.dialect(), "postgresql": postgresql.psycopg.dialect(paramstyle="numeric_dollar")}
_RESOLUTION = {name: Compiled.of(_resolution(name), dialect) for name, dialect in _DIALECTS.items()}
_RESOLUTION_READING = {name: Compiled.of(_resolution(name, reading=True), dialect)
                       for name, dialect in _DIALECTS.items()}
# How each dialect's driver hands back the version's columns as the store's read does (SQLite
# keeps a datetime as text and a boolean as an integer).
_VERSION_RESULTS = {name: [column.type.dialect_impl(dialect).result_processor(dialect, None)
                           for column in _VERSION_COLUMNS] for name, dialect in _DIALECTS.items()}
# The kinds of row that say who the caller is (whichever patient they name): read whole by both
# statements. A `self` row keeps the caller's own record theirs, for the audit record's role.
_IDENTITY_KINDS = ("self", "alias", "relative")
_TEXT_ARRAY = ARRAY(String)


def _one_of_kinds(table: Any, kinds: tuple[str, ...]) -> Any:
    return or_(*(table.c.kind == kind for kind in kinds))


def _patients_in(column: Any, dialect: str) -> Any:
    """`column IN (:within)`: one array parameter on PostgreSQL, an expanding list on SQLite."""
    if dialect == "postgresql":
        return column == any_(bindparam("within", type_=_TEXT_ARRAY))
    return column.in_(bindparam("within", expanding=True))


def _resolution_within(dialect: str) -> Any:
    return union_all(*_within_parts(dialect, None))


def _within_parts(dialect: str, patients: Any) -> list[Any]:
    """The caller's rows that decide about the patients `:within` (the person a request is
    about), driven from the patients' side: their few rows by the patient index, kept where
    they name the caller; of the caller's care teams only those these rows name, found by the
    index on a row's target, not every team the caller is on.

    For those patients the rows `_resolution` gives, in the same order of parts (the rows
    naming the token's identifiers, the roles, the rows naming the caller's references or
    teams, the deny provisions naming no one); of the caller's identity (`_IDENTITY_KINDS`)
    every row; of other patients nothing. `decide` makes of them what it makes of the whole
    resolution: for these patients the same decision.

    `patients`: a subquery of the patients instead of the parameter `:within`."""
    g1, g2, g3, g4, g5 = (access_grant.alias(f"w{n}") for n in range(1, 6))
    slots = [bindparam(f"key{n}", type_=String) for n in range(TOKEN_KEY_SLOTS)]
    ids = select(*_columns(g1)).where(g1.c.grantee.in_(slots), _one_of_kinds(g1, _IDENTITY_KINDS),
                                      _in_force(g1)).cte("ids")
    aliases = select(ids.c.target).where(ids.c.kind == "alias")
    roles = select(*_columns(g2)).where(g2.c.kind == "role", g2.c.grantee.in_(aliases), _in_force(g2),
                                        or_(g2.c.via.is_(None), g2.c.via.in_(aliases))).cte("roles")
    # Every current role of the caller's Practitioners, as the whole resolution reads them among
    # the rows naming the caller's references (the caller's own keys: `AccessPolicy.own_keys`).
    every_role = select(*_columns(g5)).where(g5.c.kind == "role", g5.c.grantee.in_(aliases), _in_force(g5))
    # UNION ALL, as in `_resolution`: these lists are only looked in.
    refs = union_all(select(ids.c.target).where(or_(ids.c.kind == "alias", ids.c.kind == "relative")),
                     select(roles.c.target)).cte("refs")
    among_them = _patients_in(g3.c.patient_id, dialect) if patients is None \
        else _among(g3.c.patient_id, patients, dialect)
    theirs = select(*_columns(g3)).where(among_them, _in_force(g3)).cte("theirs")
    # Looked up by team (the target index), a handful per team, not by the caller's key: a
    # coordinator's key is a member of hundreds of teams.
    memberships = select(*_columns(g4)).where(
        g4.c.kind == "member", _among(g4.c.target, select(theirs.c.grantee), dialect),
        g4.c.grantee.in_(select(refs.c.target)), _in_force(g4)).cte("memberships")
    reach = union_all(select(refs.c.target), select(memberships.c.target)).cte("reach")
    by_identifier = select(*theirs.c).where(theirs.c.grantee.in_(slots), ~_one_of_kinds(theirs, _IDENTITY_KINDS))
    by_reference = select(*theirs.c).where(theirs.c.grantee.in_(select(reach.c.target)),
                                           theirs.c.kind != "member")
    reached = union_all(select(ids.c.patient_id), select(theirs.c.patient_id).where(
        or_(theirs.c.grantee.in_(slots), theirs.c.grantee.in_(select(reach.c.target)))))
    everyone = select(*theirs.c).where(theirs.c.grantee == EVERYONE, theirs.c.patient_id.in_(reached))
    return [select(*ids.c), select(*roles.c), every_role, by_identifier, select(*memberships.c),
            by_reference, everyone]


_RESOLUTION_WITHIN = {dialect: _resolution_within(dialect) for dialect in ("sqlite", "postgresql")}


def _reading_within(dialect: str) -> Any:
    """A read's statement for a type in the patient compartment: the caller's rows that decide
    about the patients the current resource `:res_type/:res_id` refers to (`_resolution_within`
    driven by its reference index rows, and the Patient itself), the newest version and those patients
    (`_with_version`). A version's patients the index does not show are not decided about: the
    decision then admits nothing of it (`AccessPolicy.may_read_version`), never more."""
    named = select(_R.c.rid, _R.c.res_type, _R.c.res_id).where(
        _R.c.res_type == bindparam("res_type", type_=String),
        _R.c.res_id == bindparam("res_id", type_=String)).cte("named_resource")
    # By the (rid, res_type, param) index of the search's references, the rows the compartment
    # membership of `fhirip.consent.sql` reads (of every parameter: a patient too many is only
    # decided about); SQLite would read every link to a Patient by the target index of `resource_link`.
    linked = union_all(
        select(_L.c.target_id.label("patient_id")).where(
            _L.c.rid.in_(select(named.c.rid)), _L.c.res_type == bindparam("res_type", type_=String),
            _L.c.target_type == "Patient"),
        select(named.c.res_id.label("patient_id")).where(named.c.res_type == "Patient")).cte("linked")
    return _with_version(_within_parts(dialect, select(linked.c.patient_id)), linked)


_READING_WITHIN = {name: Compiled.of(_reading_within(name), dialect) for name, dialect in _DIALECTS.items()}


class ReadAhead(NamedTuple):
    """The newest version of `res_type/res_id`, read in the statement that read the caller's
    rows (`decide_reading`); `stored` is None when it never existed."""

    res_type: str
    res_id: str
    stored: StoredVersion | None

    def of(self, res_type: str | None, res_id: str | None) -> bool:
        return (res_type, res_id) == (self.res_type, self.res_id)


def _index_rows(conn: Connection, actor: Actor, now: datetime, within: Collection[str] | None,
                reading: tuple[str, str] | None
                ) -> tuple[list[Row], set[str], set[str], ReadAhead | None, frozenset[str] | None]:
    """The caller's rows of the access index in force at `now`, with the references they resolve
    to (their own resources and current teams) and the organisations they act for; with
    `within`, only those deciding about these patients (`_resolution_within`). With `reading`,
    also the version a read names and, when its rows were read for the patients the resource
    refers to (`_reading_within`), those patients."""
    keys = sorted(token_keys(actor))
    if not keys:
        return [], set(), set(), None, None
    if len(keys) > TOKEN_KEY_SLOTS:  # `token_keys` learnt a kind of key the statement has no slot for
        raise RuntimeError(f"a token gave {len(keys)} identifier keys; "
                           f"the resolution has {TOKEN_KEY_SLOTS} slots")
    slots = {f"key{n}": keys[n] if n < len(keys) else None for n in range(TOKEN_KEY_SLOTS)}
    ahead = linked = None
    if within is not None:
        result = conn.execute(_RESOLUTION_WITHIN[conn.dialect.name], {**slots, "now": now, "within": sorted(within)})
        found = [Row(*values) for values in result]
    elif reading is None:
        found = [Row(*values) for values in _RESOLUTION[conn.dialect.name].run(conn, {**slots, "now": now})]
    else:
        res_type, res_id = reading
        # A resource in the patient compartment is decided about for its patients only; a type in
        # no one's record (the directory, definitions) by the whole decision, which it needs
        # anyway: read wholesale or not at all, it is not judged by its content.
        by_links = in_compartment(res_type)
        statement = _READING_WITHIN if by_links else _RESOLUTION_READING
        values = statement[conn.dialect.name].run(conn, {**slots, "now": now, "res_type": res_type, "res_id": res_id})
        width = len(_COLUMNS)
        found = [Row(*row[:width]) for row in values if row[1] != READ_KIND and row[1] != LINKED_KIND]
        linked = frozenset(row[2] for row in values if row[1] == LINKED_KIND) if by_links else None
        version = next((row[width:] for row in values if row[1] == READ_KIND), None)
        ahead = ReadAhead(res_type, res_id, None if version is None else StoredVersion(*(
            value if process is None else process(value)
            for value, process in zip(version, _VERSION_RESULTS[conn.dialect.name]))))
    organizations = {r.target for r in found if r.kind == "alias" and r.target and r.target.startswith("Organization/")}
    refs = {r.target for r in found if r.kind in ("alias", "relative", "role", "member") and r.target}
    return [r for r in found if r.kind != "role"], refs, organizations, ahead, linked


def decide(conn: Connection, actor: Actor | None, *, now: datetime | None = None,
           token_issued_at: datetime | None = None, within: Collection[str] | None = None) -> AccessPolicy:
    """The access policy of `actor` for one request, from the access index as it is at `now`.
    `token_issued_at` (the token's `iat`) bounds break-the-glass in time.

    `within`: the request is about these patients only (a person's Patient records): the
    decision about them is the whole decision's, read from their rows at the cost of one
    person; no other patient is granted anything but the caller's own record."""
    return _decide(conn, actor, now, token_issued_at, within, None)[0]


def decide_reading(conn: Connection, actor: Actor | None, res_type: str, res_id: str, *,
                   now: datetime | None = None,
                   token_issued_at: datetime | None = None) -> tuple[AccessPolicy, ReadAhead | None]:
    """`decide`, and the newest version of `res_type/res_id` read in the same statement as the
    caller's rows: a read costs one statement. None instead of it when the decision reads no
    rows (no caller, a system client): the read then reads it itself.

    For a type in the patient compartment the decision is `decide(within=...)` of the patients
    the stored resource refers to in its index (its `within`), read at the cost of those
    patients, not of the caller's whole reach: it may admit the version it names
    (`AccessPolicy.may_read_version`, `mask`); any other answer is the whole decision's to give."""
    return _decide(conn, actor, now, token_issued_at, None, (res_type, res_id))


def _decide(conn: Connection, actor: Actor | None, now: datetime | None, token_issued_at: datetime | None,
            within: Collection[str] | None,
            reading: tuple[str, str] | None) -> tuple[AccessPolicy, ReadAhead | None]:
    now = now or datetime.now(UTC)
    bound = frozenset(within) if within is not None else None
    if actor is None:
        return AccessPolicy(actor=None, decided_at=now, dialect=conn.dialect.name, within=bound), None
    scope_types = scope_read_types(actor)
    unit = is_coordinating_unit(actor)
    queries = scope_queries(actor)
    if actor.kind is ActorKind.SYSTEM and not unit:
        readable = scope_types if scope_types is not None else all_resource_types()
        return AccessPolicy(actor=actor, decided_at=now, open_types=readable,
                            system_writes=scope_write_types(actor), scope_read_types=scope_types,
                            scope_queries=queries, dialect=conn.dialect.name, within=bound), None

    rows, refs, organizations, ahead, linked = _index_rows(conn, actor, to_naive_utc(now), within, reading)
    if linked is not None:
        bound = linked
    team_refs = {r.target for r in rows if r.kind == "member" and r.target}
    grants: dict[str, list[Access]] = defaultdict(list)
    for row in rows:
        if row.kind == "self" and row.patient_id:
            grants[row.patient_id].append(Access(Basis.SELF, None, PERSON_WRITABLE_TYPES))
    for row in rows:
        if row.kind == "proxy" and row.patient_id:
            grants[row.patient_id].append(Access(Basis.PROXY, None, PERSON_WRITABLE_TYPES))
    unit_orgs = frozenset(tuple(o.split("/", 1)) for o in organizations) if unit else frozenset()
    administered = {r.patient_id for r in rows if r.kind == "unit" and r.grantee in organizations
                    and r.patient_id} if unit else set()
    coordinated = {r.patient_id for r in rows if r.kind == "coordinator" and r.grantee in refs and r.patient_id}
    checks_purpose = not actor.is_person
    denies, consents = _consent_grants(rows, actor.purpose_of_use, checks_purpose, grants)

    for patient_id in coordinated:
        upgraded = [_as_coordinator(a) for a in grants.get(patient_id, [])]
        if any(a.basis is Basis.COORDINATOR for a in upgraded):
            grants[patient_id] = upgraded
        else:
            grants[patient_id].append(Access(Basis.ADMINISTRATIVE, ADMIN_READ_TYPES, frozenset()))
    for patient_id in administered:
        grants[patient_id].append(Access(Basis.ADMINISTRATIVE, ADMIN_READ_TYPES, ADMIN_WRITE_TYPES))

    final = _apply_denies(grants, denies)
    everyone, refused = _break_the_glass(actor, now, token_issued_at)
    if actor.patient_context_only:  # `patient/` scopes with a patient in context: that record only
        assert actor.patient is not None
        reach = final.get(actor.patient, ()) + ((everyone,) if everyone is not None else ())
        final = {actor.patient: reach} if reach else {}
        everyone = None
    return AccessPolicy(
        actor=actor, decided_at=now, grants=final,
        open_types=frozenset(PUBLIC_TO_PEOPLE), everyone=everyone, scope_read_types=scope_types,
        unit_organizations=unit_orgs, break_the_glass=everyone is not None,
        break_the_glass_refused=refused, coordinating_unit=unit, consents=tuple(sorted(consents)),
        is_relative=any(r.kind == "relative" for r in rows), scope_queries=queries,
        own_keys=token_keys(actor) | frozenset(refs - team_refs), dialect=conn.dialect.name, within=bound), ahead


@dataclass(frozen=True)
class Deny:
    """What one deny row takes away from the caller."""

    consent: str
    types: frozenset[str] = frozenset()
    labels: frozenset[tuple[str, str]] = frozenset()
    resources: frozenset[tuple[str, str]] = frozenset()
    writes_only: bool = False

    def apply(self, access: Access) -> Access | None:
        if not (self.types or self.labels or self.resources or self.writes_only):
            return None  # nothing narrows it: the caller loses the patient altogether
        return access.narrowed(types=self.types, labels=self.labels, resources=self.resources,
                               read_only=self.writes_only, consent=self.consent)


def _loads(text: str | None) -> list[Any]:
    return orjson.loads(text) if text else []


def _purpose_fits(row: Row, purpose_of_use: str | None, checks_purpose: bool) -> bool:
    purposes = _loads(row.purposes)
    return not purposes or not checks_purpose or purpose_of_use in purposes


def _permit_access(row: Row) -> Access:
    classes = row.classes and _loads(row.classes)
    labels = frozenset((s, c) for s, c in _loads(row.labels))
    # The access log is the patient's own; a sharing consent never opens it.
    return Access(Basis.CONSENT, read_types=frozenset(classes) if classes else None,
                  write_types=None if row.action == "write" else frozenset(),
                  excluded_types=frozenset({AUDIT_TYPE}), required_labels=labels or None,
                  consents=(row.source,))


def _deny(row: Row) -> Deny:
    return Deny(row.source, types=frozenset(_loads(row.classes)),
                labels=frozenset((s, c) for s, c in _loads(row.labels)),
                resources=frozenset(tuple(r.split("/", 1)) for r in _loads(row.resources)),  # type: ignore[misc]
                writes_only=row.action == "write")


def _consent_grants(rows: Iterable[Row], purpose_of_use: str | None, checks_purpose: bool,
                    grants: dict[str, list[Access]]) -> tuple[dict[str, list[Deny]], set[str]]:
    """Per Consent: its permit for the caller, or (a root deny) the first exception naming the
    caller; its deny provisions applying to the caller unless an exception names them."""
    by_source: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        if row.source_type == "Consent" and row.kind in ("consent", "exempt") and row.patient_id:
            by_source[row.source].append(row)
    denies: dict[str, list[Deny]] = defaultdict(list)
    used: set[str] = set()
    for source, found in sorted(by_source.items()):
        patient_id = found[0].patient_id
        assert patient_id is not None
        exempt = sorted((r for r in found if r.kind == "exempt"), key=lambda r: r.rank)
        if exempt:
            if exempt[0].action != "none":
                grants[patient_id].append(_permit_access(exempt[0]))
                used.add(source)
            continue
        permits = [r for r in found if r.effect == "permit" and _purpose_fits(r, purpose_of_use, checks_purpose)]
        if permits:
            grants[patient_id].append(_permit_access(permits[0]))
            used.add(source)
        seen: set[tuple[Any, ...]] = set()
        for row in found:
            if row.effect != "deny" or not _purpose_fits(row, purpose_of_use, checks_purpose):
                continue
            deny = _deny(row)
            if (deny.types, deny.labels, deny.resources, deny.writes_only) not in seen:
                seen.add((deny.types, deny.labels, deny.resources, deny.writes_only))
                denies[patient_id].append(deny)
                used.add(source)
    return denies, used


def _as_coordinator(access: Access) -> Access:
    if access.basis is not Basis.CONSENT:
        return access
    return Access(Basis.COORDINATOR, access.read_types, None, access.excluded_types,
                  access.required_labels, access.denied_labels, access.excluded_resources, access.consents)


def _apply_denies(grants: dict[str, list[Access]],
                  denies: dict[str, list[Deny]]) -> dict[str, tuple[Access, ...]]:
    """Deny wins: it narrows or removes every access but the patient's own."""
    final: dict[str, tuple[Access, ...]] = {}
    for patient_id, accesses in grants.items():
        kept: list[Access] = []
        for access in accesses:
            narrowed: Access | None = access
            if access.basis is not Basis.SELF:
                for deny in denies.get(patient_id, ()):
                    narrowed = deny.apply(narrowed) if narrowed is not None else None
            if narrowed is not None:
                kept.append(narrowed)
        if kept:
            final[patient_id] = tuple(kept)
    return final


def _break_the_glass(actor: Actor, now: datetime,
                     issued_at: datetime | None) -> tuple[Access | None, str | None]:
    if not actor.break_the_glass:
        return None, None
    if actor.kind is not ActorKind.PRACTITIONER:
        return None, "break-the-glass is for health personnel with an HPR number"
    if issued_at is None:
        return None, "break-the-glass needs the token's issue time"
    age = _aware(now) - _aware(issued_at)
    if age > timedelta(minutes=BREAK_THE_GLASS_MINUTES) or age < -timedelta(minutes=5):
        return None, f"break-the-glass lasts {BREAK_THE_GLASS_MINUTES} minutes from the token's issue"
    access = Access(Basis.BREAK_THE_GLASS, None, frozenset(), excluded_types=frozenset({AUDIT_TYPE}))
    return access, None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


_COORDINATORS = select(_G.c.grantee, _G.c.target).where(
    _G.c.kind == "coordinator", _G.c.patient_id == bindparam("patient"), _in_force(_G)).order_by(_G.c.grantee)


def coordinators_of(conn: Connection, patient_id: str, now: datetime) -> list[tuple[str, str]]:
    """(coordinator reference, the CareTeam or EpisodeOfCare naming them) in force for the patient."""
    return [(grantee, target or "") for grantee, target in
            conn.execute(_COORDINATORS, {"patient": patient_id, "now": to_naive_utc(now)})]
