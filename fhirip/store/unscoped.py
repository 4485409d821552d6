"""The one reader that looks past the caller: every read of resources made without the caller's
access policy, each for a stated reason.

Every read made for a caller carries the caller's policy inside its SQL (`fhirip.search`,
`fhirip.plans.policy_reads`). A few rules must see every record of a person whatever the
caller may see — one open plan per person, one coordinator at a time, the plan consent an
activation needs, which records are one person — and a few reads are the server's own (a
plan's generated narrative, the ids a transaction may assign). They read here, and only here:
an `UnscopedReader` is made with the `UnscopedUse` it serves, so each place that looks past
the caller says so and why. Whoever answers from what it reads must answer in words that do
not depend on what the caller may not see (the README lists each use and its answer).

The statements know nothing of the plan rules: codes and systems come from the caller, and are
written into the statement text at execution (`literal_execute`), so that the database plans
with the values (PostgreSQL's generic plans would otherwise miss how selective they are).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from itertools import product
from typing import Any

import orjson
from sqlalchemy import Connection, Text, and_, bindparam, cast, exists, literal, select, true, tuple_

from fhirip.store.schema import resource, search_reference, search_token


class UnscopedUse(Enum):
    """Why a read looks past the caller (the README's table gives each one's answer)."""

    ONE_PLAN_PER_PERSON = "a person has one open individual plan"
    ONE_COORDINATOR = "a person has one coordinator of a kind at a time"
    PLAN_ACTIVATION = "the plan consent and coordinator a plan activation needs"
    PLAN_CONSENT_CHANGES = "a new plan consent supersedes the older; a withdrawn one ends the plan"
    PLAN_EXISTS = "CarePlan/$exists: whether a person has a plan, and whom to contact"
    CURRENT_PLAN_SCOPE = "$current: the person's records, to bound the caller's decision to them"
    DUPLICATE_PLANS = "the migration's report of persons with more than one open plan"
    UNRESTRICTED = "a reader the policy does not restrict (the server's own narrative and examples)"
    NEW_IDS = "the ids a transaction may give its new resources (taken ones, deleted included)"
    VERSION_NUMBERS = "the current version numbers of rows the caller's query admitted"


@dataclass(frozen=True)
class TokenIs:
    """A condition on a token search parameter: one of `codes`, in `system` when given."""

    param: str
    codes: Collection[str]
    system: str | None = None


@dataclass(frozen=True)
class Naming:
    """A current resource naming one of the patients asked about."""

    res_id: str
    patient_id: str
    last_updated: datetime
    content: dict[str, Any]


def _fixed(name: str) -> Any:
    """A value given at execution and written into the statement text (see the module's doc)."""
    return bindparam(name, literal_execute=True)


def _fixed_list(name: str) -> Any:
    return bindparam(name, expanding=True, literal_execute=True)


def _constant(value: str) -> Any:
    return literal(value, literal_execute=True)


# The current content as JSON text on both databases (PostgreSQL would otherwise hand back
# JSONB parsed by the standard library), parsed with orjson.
_R = resource.alias("unscoped")
_CONTENT = cast(_R.c.content, Text)


def _person() -> Any:
    """Each seed Patient (by id or carrying one of the identifiers) with every live Patient
    sharing one of its national identifiers (itself included; none without one). Flat outer
    joins: cheap to plan, and SQLite walks them from the seed."""
    national, same_token, same = (search_token.alias("national"), search_token.alias("same_token"),
                                  resource.alias("same"))

    def from_seed(seed: Any, seed_token: Any | None) -> Any:
        start = seed if seed_token is None else seed_token.join(seed, seed.c.rid == seed_token.c.rid)
        joined = (start
                  .outerjoin(national, and_(national.c.rid == seed.c.rid, national.c.res_type == _constant("Patient"),
                                            national.c.param == _constant("identifier"),
                                            national.c.system.in_(_fixed_list("national_systems"))))
                  .outerjoin(same_token, and_(same_token.c.res_type == _constant("Patient"),
                                              same_token.c.param == _constant("identifier"),
                                              same_token.c.code == national.c.code,
                                              same_token.c.system == national.c.system))
                  .outerjoin(same, and_(same.c.rid == same_token.c.rid, same.c.res_type == _constant("Patient"),
                                        same.c.deleted.is_(False))))
        return (select(seed.c.res_id, same.c.res_id.label("same_id")).select_from(joined)
                .where(seed.c.res_type == _constant("Patient"), seed.c.deleted.is_(False)))

    seed_token, by_token_seed, by_id_seed = (search_token.alias("seed_token"), resource.alias("seed"),
                                             resource.alias("seed"))
    by_identifiers = from_seed(by_token_seed, seed_token).where(
        seed_token.c.res_type == _constant("Patient"), seed_token.c.param == _constant("identifier"),
        seed_token.c.code.in_(bindparam("codes", expanding=True)),
        tuple_(seed_token.c.system, seed_token.c.code).in_(bindparam("pairs", expanding=True)))
    by_ids = from_seed(by_id_seed, None).where(by_id_seed.c.res_id.in_(bindparam("ids", expanding=True)))
    return by_identifiers, by_ids


# Built once: every write of a plan, consent or episode asks, and every current-plan call.
_PERSON_BY_IDENTIFIERS, _PERSON_BY_IDS = _person()
_BY_IDS = (select(_CONTENT).where(_R.c.res_type == bindparam("res_type"), _R.c.deleted.is_(False),
                                  _R.c.res_id.in_(bindparam("ids", expanding=True)))
           .order_by(_R.c.rid))
# Resources of several types at once: two IN lists (the caller drops the cross pairs), which both
# databases answer from the (type, id) index.
_BY_KEYS = (select(_R.c.rid, _R.c.res_type, _R.c.res_id, _CONTENT)
            .where(_R.c.res_type.in_(bindparam("types", expanding=True)), _R.c.deleted.is_(False),
                   _R.c.res_id.in_(bindparam("ids", expanding=True)))
            .order_by(_R.c.rid))
_CURRENT_VERSIONS = select(resource.c.rid, resource.c.version).where(
    resource.c.rid.in_(bindparam("rids", expanding=True)))


def _naming(systems: tuple[bool, ...], without: bool, every_patient: bool) -> Any:
    """Current resources of type `naming_type` whose reference parameter `naming_param` names one
    of the `patients` (any patient when `every_patient`), with one token condition per entry of
    `systems` (parameter `token_param_<n>`, one of `token_codes_<n>`, in `token_system_<n>` when
    its entry is true) and, when `without`, no reference by parameter `without_param`."""
    named = _NAMED
    query = (select(_R.c.res_id, named.c.target_id, _R.c.last_updated, _CONTENT)
             .join(named, named.c.rid == _R.c.rid)
             .where(_R.c.res_type == _fixed("naming_type"), _R.c.deleted.is_(False),
                    named.c.res_type == _fixed("naming_type"), named.c.param == _fixed("naming_param"),
                    named.c.target_type == _constant("Patient")))
    if not every_patient:
        query = query.where(named.c.target_id.in_(bindparam("patients", expanding=True)))
    for number, with_system in enumerate(systems):
        alias = _TOKENS[number]
        conditions = [alias.c.rid == _R.c.rid, alias.c.res_type == _fixed("naming_type"),
                      alias.c.param == _fixed(f"token_param_{number}"), alias.c.code.in_(_fixed_list(f"token_codes_{number}"))]
        if with_system:
            conditions.append(alias.c.system == _fixed(f"token_system_{number}"))
        query = query.where(exists(select(alias.c.rid).where(*conditions)))
    if without:
        other = _WITHOUT
        query = query.where(~exists(select(other.c.rid).where(
            other.c.rid == _R.c.rid, other.c.res_type == _fixed("naming_type"), other.c.param == _fixed("without_param"))))
    return query.order_by(_R.c.rid)


# Every shape `naming_patients` asks in (up to two token conditions), built once on one set of
# aliases: building a statement costs far more than running it for one person.
_MOST_TOKENS = 2
_NAMED, _WITHOUT = search_reference.alias("naming"), search_reference.alias("without")
_TOKENS = [search_token.alias(f"token_{number}") for number in range(_MOST_TOKENS)]
_NAMING = {(systems, without, every): _naming(systems, without, every)
           for count in range(_MOST_TOKENS + 1) for systems in product((True, False), repeat=count)
           for without in (True, False) for every in (True, False)}


# Resources of several types naming the patients by one reference parameter, without token
# conditions: what `naming_patients` gives for each type, in one statement.
_NAMING_OF_TYPES = (select(_R.c.res_type, _R.c.res_id, _NAMED.c.target_id, _R.c.last_updated, _CONTENT)
                    .join(_NAMED, _NAMED.c.rid == _R.c.rid)
                    .where(_R.c.res_type.in_(_fixed_list("naming_types")), _R.c.deleted.is_(False),
                           _NAMED.c.res_type == _R.c.res_type, _NAMED.c.param == _fixed("naming_param"),
                           _NAMED.c.target_type == _constant("Patient"),
                           _NAMED.c.target_id.in_(bindparam("patients", expanding=True)))
                    .order_by(_R.c.rid))


class UnscopedReader:
    """Reads of current resources on one connection, without any access policy, for one stated
    `UnscopedUse`. The only way code outside the store and the search reads the resource tables
    past the caller (a test holds every module to that)."""

    def __init__(self, conn: Connection, use: UnscopedUse):
        self.conn = conn
        self.use = use

    def same_person(self, national_systems: Collection[str], identifiers: Iterable[tuple[str, str]] = (),
                    patient_ids: Iterable[str] = ()) -> set[str]:
        """The Patients given by id or carrying one of the (system, value) identifiers, and every
        Patient sharing one of their identifiers in `national_systems`. The ids given are in
        the answer even when no such Patient is stored."""
        ids, pairs = sorted(set(patient_ids)), sorted(set(identifiers))
        found = set(ids)
        systems = sorted(national_systems)
        rows: list[Any] = []
        if pairs:
            rows += self.conn.execute(_PERSON_BY_IDENTIFIERS, {
                "codes": sorted({code for _, code in pairs}), "pairs": pairs, "national_systems": systems})
        if ids:
            rows += self.conn.execute(_PERSON_BY_IDS, {"ids": ids, "national_systems": systems})
        for seed_id, same_id in rows:
            found.add(seed_id)
            if same_id is not None:
                found.add(same_id)
        return found

    def naming_patients(self, res_type: str, param: str, patient_ids: Iterable[str] | None, *,
                        tokens: Sequence[TokenIs] = (), without: str | None = None) -> list[Naming]:
        """Current resources of `res_type` naming one of the Patients (None: any Patient) by
        reference parameter `param`, meeting every token condition and, when `without` is given,
        not referring to anything by that parameter; in row order."""
        if len(tokens) > _MOST_TOKENS:
            raise ValueError(f"at most {_MOST_TOKENS} token conditions")
        params: dict[str, Any] = {"naming_type": res_type, "naming_param": param}
        if patient_ids is not None:
            params["patients"] = sorted(set(patient_ids))
            if not params["patients"]:
                return []
        if without is not None:
            params["without_param"] = without
        for number, token in enumerate(tokens):
            params[f"token_param_{number}"] = token.param
            params[f"token_codes_{number}"] = sorted(token.codes)
            if token.system is not None:
                params[f"token_system_{number}"] = token.system
        statement = _NAMING[tuple(token.system is not None for token in tokens), without is not None,
                            patient_ids is None]
        found: dict[tuple[str, str], Naming] = {}
        for res_id, patient_id, last_updated, content in self.conn.execute(statement, params):
            found.setdefault((res_id, patient_id), Naming(res_id, patient_id, last_updated, orjson.loads(content)))
        return list(found.values())

    def naming_patients_of_types(self, res_types: Iterable[str], param: str,
                                 patient_ids: Iterable[str]) -> dict[str, list[Naming]]:
        """By type, what `naming_patients(res_type, param, patient_ids)` gives for each of the
        types, read in one statement."""
        types, patients = sorted(set(res_types)), sorted(set(patient_ids))
        found: dict[str, dict[tuple[str, str], Naming]] = {res_type: {} for res_type in types}
        if types and patients:
            for res_type, res_id, patient_id, last_updated, content in self.conn.execute(_NAMING_OF_TYPES, {
                    "naming_types": types, "naming_param": param, "patients": patients}):
                found[res_type].setdefault((res_id, patient_id),
                                           Naming(res_id, patient_id, last_updated, orjson.loads(content)))
        return {res_type: list(named.values()) for res_type, named in found.items()}

    def contents(self, res_type: str, ids: Iterable[str]) -> list[dict[str, Any]]:
        """The current, non-deleted resources of `res_type` with these ids, in row order."""
        wanted = sorted(set(ids))
        found: list[dict[str, Any]] = []
        for start in range(0, len(wanted), 100):  # keeps each IN list short
            rows = self.conn.execute(_BY_IDS, {"res_type": res_type, "ids": wanted[start:start + 100]})
            found += [orjson.loads(content) for content in rows.scalars()]
        return found

    def contents_by_keys(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """The current, non-deleted resources with these (type, id) keys, of any types, in row
        order: what `contents` gives for each type, in one statement (per 100 ids)."""
        wanted = set(keys)
        ids = sorted({res_id for _, res_id in wanted})
        types = sorted({res_type for res_type, _ in wanted})
        rows: list[Any] = []
        for start in range(0, len(ids), 100):  # keeps each IN list short
            rows += self.conn.execute(_BY_KEYS, {"types": types, "ids": ids[start:start + 100]}).all()
        rows.sort(key=lambda row: row[0])  # the chunks' rows, together in row order
        return {(t, i): orjson.loads(c) for _, t, i, c in rows if (t, i) in wanted}

    def token_values(self, res_type: str, param: str, systems: Collection[str]) -> list[tuple[str, str, str]]:
        """(id, system, code) of every value of token `param` in `systems` that the current,
        non-deleted resources of `res_type` carry."""
        token = search_token.alias("value")
        query = (select(_R.c.res_id, token.c.system, token.c.code)
                 .join(_R, _R.c.rid == token.c.rid)
                 .where(_R.c.res_type == res_type, _R.c.deleted.is_(False), token.c.res_type == res_type,
                        token.c.param == param, token.c.system.in_(sorted(systems))))
        return [(res_id, system, code) for res_id, system, code in self.conn.execute(query)]

    def ids_in_use(self, keys: set[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which (type, id) pairs name a resource row, deleted ones included."""
        if not keys:
            return set()
        query = select(resource.c.res_type, resource.c.res_id).where(
            resource.c.res_type.in_(sorted({t for t, _ in keys})), resource.c.res_id.in_(sorted({i for _, i in keys})))
        return {(t, i) for t, i in self.conn.execute(query) if (t, i) in keys}

    def current_versions(self, rids: Iterable[int]) -> dict[int, int]:
        """The current version number of each row."""
        wanted = sorted(set(rids))
        if not wanted:
            return {}
        return {rid: version for rid, version in self.conn.execute(_CURRENT_VERSIONS, {"rids": wanted})}

    def everything(self, row: Any) -> Any:
        """A policy condition that admits every row, for a reader shaped for policies
        (`PolicyReads`) made to read past the caller for this reader's stated use."""
        return true()
