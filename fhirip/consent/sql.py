"""The access decision as one SQL condition on a `resource` row.

The condition is AND-ed into every statement that returns resources (search,
includes, chains, `_has`, totals, stored pages, read, vread, history), so what an
actor may not see is never fetched, counted or used to match. It is built from:

- the permitted patients' own Patient rows (by type and id);
- compartment membership: `rid IN (SELECT rid FROM search_reference WHERE
  target_type = 'Patient' AND target_id IN (…) AND (res_type, param) IN (the patient
  compartment's parameters))`, driven by the (target_id, target_type, res_type,
  param, rid) index, so its cost follows the number of permitted patients, not the
  size of the store;
- per group of patients with the same restrictions: type lists, `meta.security`
  labels (EXISTS on the `_security` token rows) and withheld single resources;
- the types readable without a patient (directory and definitions).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    any_,
    bindparam,
    exists,
    false,
    func,
    literal_column,
    not_,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.expression import FromClause

from fhirip.consent.access import Access, Label
from fhirip.consent.vocabulary import compartment_pairs
from fhirip.store.schema import search_reference, search_token

# The link table's alias in every membership subquery. Each subquery has its own scope,
# so the one name serves all of them, and it lets the constant pair list below be SQL text.
LINK_ALIAS = "consent_link"
# One alias object, built once (building one per statement costs more than running the
# query); safe to share because every subquery using it states its correlation.
_LINK = search_reference.alias(LINK_ALIAS)
# The link row's `Type.param`, compared with the compartment's pairs (PostgreSQL).
_LINK_KEY = _LINK.c.res_type.concat(".").concat(_LINK.c.param)
# One instance: SQLAlchemy adapts a type to the dialect once per instance, and that is slow.
_TEXT_ARRAY = ARRAY(String)
# Up to this many values an IN list is written out (the planner sees them); beyond, one parameter.
_FEW = 16
_SAFE_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*\.[A-Za-z][A-Za-z0-9_-]*$")


def one_of(column: Any, values: Collection[str], dialect: str) -> ColumnElement[bool]:
    """`column IN (values)`; on PostgreSQL `= ANY(array)`, and on SQLite beyond a few values
    `IN (SELECT value FROM json_each(?))`: one parameter however many values, so the
    statement text stays the same and short (psycopg re-parses every statement over 4 KiB;
    SQLAlchemy renders each value of an expanding IN on every execution)."""
    return in_list(column, value_list(values, dialect), dialect)


def in_list(column: Any, listed: ValueList, dialect: str) -> ColumnElement[bool]:
    """`one_of` for a list built beforehand (`value_list`), to test several columns against it."""
    if dialect == "postgresql":
        return column == any_(listed.parameter)
    return column.in_(listed.parameter)


@dataclass(frozen=True)
class ValueList:
    """The right-hand side of `one_of` for one list of values: built once, it can be tested
    against the columns of any number of aliases (one parameter in the statement).

    The parameter is built when a statement first uses it: a decision prepares lists (the open
    types, the scopes' types) that most statements, reading other types, never name."""

    values: tuple[str, ...]  # sorted
    dialect: str

    @cached_property
    def parameter(self) -> Any:
        ordered = list(self.values)
        if self.dialect == "postgresql":
            return bindparam(None, ordered, type_=_TEXT_ARRAY)
        if len(ordered) <= _FEW:
            return bindparam(None, ordered, expanding=True, type_=String)
        listed = func.json_each(bindparam(None, orjson.dumps(ordered).decode(), type_=String)).table_valued("value")
        return select(listed.c.value)


def value_list(values: Collection[str], dialect: str) -> ValueList:
    return ValueList(tuple(sorted(values)), dialect)


@dataclass(frozen=True)
class Compartments:
    """What `compartment_clause` needs of one access and its patients that does not depend on
    the alias it is applied to: built once per decision, used for every alias of every
    statement of the request (building them again for each costs more than running them)."""

    access: Access
    patients: ValueList | None  # None: every patient
    # What a link row must be to make its resource a member, but for being one of the
    # compartment's (type, parameter) pairs (`_pairs_condition`, narrowed to a statement's types).
    membership: tuple[ColumnElement[bool], ...]
    few: bool  # few patients: `members` may read their compartments in full
    dialect: str

    @cached_property
    def linked(self) -> ColumnElement[bool]:
        """The membership as one clause, for the per-row test of every alias."""
        return and_(*self.membership)

    @cached_property
    def members(self) -> Any:
        """The members' rids as an uncorrelated subquery, for a few patients; None: tested per
        row. Built when a statement first reads the compartments whole: one that starts from a
        few rows tests each by its own links instead (`compartment_condition`)."""
        # For many patients (or every one: break-the-glass) an uncorrelated IN subquery would be
        # computed in full for every statement (every resource of hundreds of compartments);
        # testing the row's own links costs a seek.
        if not self.few:
            return None
        return select(_LINK.c.rid).where(self.linked, _compartment_pairs_sql(self.dialect)).correlate(None)


def compartments(access: Access, patient_ids: Sequence[str] | None, dialect: str) -> Compartments:
    link = _LINK
    patients = value_list(patient_ids, dialect) if patient_ids is not None else None
    membership = [link.c.target_type == "Patient"]
    if patients is not None:
        membership.append(in_list(link.c.target_id, patients, dialect))
    if access.read_types is not None:
        membership.append(one_of(link.c.res_type, access.read_types, dialect))
    few = patient_ids is not None and len(patient_ids) <= _FEW
    return Compartments(access, patients, tuple(membership), few, dialect)


def compartment_clause(alias: FromClause, access: Access, patient_ids: Sequence[str] | None,
                       dialect: str) -> ColumnElement[bool]:
    """Rows of `alias` in the compartments of these patients (None = of any patient) that
    `access` lets the actor read."""
    return compartment_condition(alias, compartments(access, patient_ids, dialect), dialect)


def compartment_condition(alias: FromClause, built: Compartments, dialect: str,
                          types: Collection[str] | None = None, per_row: bool = False) -> ColumnElement[bool]:
    """`compartment_clause` from its parts built beforehand (`compartments`). `types`: the rows
    of `alias` are of these types only, so the parts no such row can pass or fail are left out
    (the Patient rows, a type excluded that none of them is). `per_row`: the statement reaches
    only a few rows of `alias` (a page, its includes, a chain's target), so membership is tested
    on each row's own links (a seek) rather than by reading the patients' whole compartments;
    the rows admitted are the same."""
    access = built.access
    link = _LINK

    inside: list[ColumnElement[bool]] = []
    if access.reads("Patient") and (types is None or "Patient" in types):
        if built.patients is None:
            inside.append(alias.c.res_type == "Patient")
        else:
            inside.append(and_(alias.c.res_type == "Patient",
                               in_list(alias.c.res_id, built.patients, dialect)))
    if per_row or built.members is None:
        pairs = _pairs_condition(dialect, types)
        if pairs is not None:  # else none of these types is in a compartment: no link admits a row
            inside.append(exists(select(link.c.rid).where(link.c.rid == alias.c.rid, built.linked, pairs)
                                 .correlate(alias)))
    else:
        inside.append(alias.c.rid.in_(built.members))
    if not inside:
        return false()

    conditions: list[ColumnElement[bool]] = [or_(*inside) if len(inside) > 1 else inside[0]]
    if access.excluded_types and (types is None or not access.excluded_types.isdisjoint(types)):
        conditions.append(alias.c.res_type.not_in(sorted(access.excluded_types)))
    if access.required_labels is not None:
        conditions.append(_labelled(alias, access.required_labels))
    if access.denied_labels:
        conditions.append(not_(_labelled(alias, access.denied_labels)))
    if access.excluded_resources:
        conditions.append(not_(tuple_(alias.c.res_type, alias.c.res_id).in_(sorted(access.excluded_resources))))
    return and_(*conditions)


def _pairs_condition(dialect: str, types: Collection[str] | None) -> ColumnElement[bool] | None:
    """`_compartment_pairs_sql`, for the link rows of resources of `types` only (None: of any
    type): the pairs of those types. A link row carries its resource's own type, so for a
    statement that reads only these types through the alias the other pairs can never match,
    and the list the database checks each link against is a few pairs instead of a hundred.
    None: no pair is of these types."""
    if types is None:
        return _compartment_pairs_sql(dialect)
    by_type = _pair_keys()
    keys = sorted(key for res_type in set(types) for key in by_type.get(res_type, ()))
    if not keys:
        return None
    if dialect == "postgresql":
        return _LINK_KEY == any_(_split_by_database(bindparam(None, ",".join(keys), type_=String)))
    return _pairs_in(keys)


@cache
def _pair_keys() -> dict[str, tuple[str, ...]]:
    """Resource type → its `Type.param` keys of the patient compartment, each checked to be safe
    to write into the statement's text."""
    by_type: dict[str, list[str]] = {}
    for res_type, param in compartment_pairs():
        key = f"{res_type}.{param}"
        if not _SAFE_KEY.match(key):
            raise ValueError(f"unexpected compartment parameter {key}")
        by_type.setdefault(res_type, []).append(key)
    return {res_type: tuple(keys) for res_type, keys in by_type.items()}


def _pairs_in(keys: Sequence[str]) -> ColumnElement[bool]:
    """SQLite: the link row's `Type.param` among these (safe) keys, a literal list."""
    values = ", ".join(f"'{key}'" for key in keys)
    return text(f"({LINK_ALIAS}.res_type || '.' || {LINK_ALIAS}.param) IN ({values})")  # type: ignore[return-value]


@cache
def _compartment_pairs_sql(dialect: str) -> ColumnElement[bool]:
    """Whether the link row is one of the patient compartment's (type, parameter) pairs.

    The pairs are a constant: on SQLite a literal `IN ('CarePlan.patient', …)` list,
    on PostgreSQL `= ANY(array)` with the pairs as one array parameter. One string per
    pair (rather than a row-value IN) is a hashed list lookup on both databases."""
    keys = [key for keys in _pair_keys().values() for key in keys]
    if dialect == "postgresql":
        return _LINK_KEY == any_(_split_by_database(bindparam("compartment_keys", ",".join(keys), type_=String)))
    return _pairs_in(keys)


def _split_by_database(joined: Any) -> Any:
    """`string_to_array(joined, ',')` (PostgreSQL): a constant list sent as one text
    parameter, which the driver passes as it is, where an array parameter is converted
    item by item on every statement."""
    return func.string_to_array(joined, literal_column("','"), type_=_TEXT_ARRAY)


def _labelled(alias: FromClause, labels: frozenset[Label]) -> ColumnElement[bool]:
    token = search_token.alias()
    return exists(select(token.c.rid).where(
        token.c.rid == alias.c.rid, token.c.param == "_security",
        or_(*[and_(token.c.code == code, token.c.system == system) if system else token.c.code == code
              for system, code in sorted(labels, key=lambda label: (label[0] or "", label[1]))])))


def grouped(grants: Mapping[str, tuple[Access, ...]]) -> list[tuple[Access, list[str]]]:
    """Patients sharing the same restrictions, so each group is one clause."""
    groups: dict[tuple[Any, ...], tuple[Access, dict[str, None]]] = {}
    for patient_id, accesses in sorted(grants.items()):
        for access in accesses:
            key = access.sql_key()
            if key not in groups:
                groups[key] = (access, {})
            groups[key][1][patient_id] = None
    return [(access, list(patients)) for access, patients in groups.values()]
