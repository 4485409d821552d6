"""One person, many Patient records: matching Patients by fødselsnummer or D-nummer.

Hospital and municipality may each hold a Patient for the same person; the plan
rules speak of the person, so every rule asks here which Patient ids are "the
same person" as the one a resource names. These lookups read the search index
without a consent policy: they decide integrity rules, not what a caller sees.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, bindparam, select, tuple_, union

from fhirip.plans.codes import NATIONAL_ID_SYSTEMS, reference_id
from fhirip.plans.sql import fixed, fixed_set
from fhirip.search.index import write_pending
from fhirip.store.schema import resource, search_token


def _live_patient(token: Any) -> Any:
    return (select(resource.c.res_id).join(token, token.c.rid == resource.c.rid)
            .where(resource.c.res_type == "Patient", resource.c.deleted.is_(False),
                   token.c.res_type == "Patient", token.c.param == "identifier"))


# The person in one statement: the Patients named by id or carrying one of the identifiers
# (the seeds), and every Patient sharing a fødselsnummer/D-nummer with a seed.
_SEED, _SEED_TOKEN = resource.alias("seed"), search_token.alias("seed_token")
_SEEDS = union(
    select(_SEED.c.rid, _SEED.c.res_id).where(
        _SEED.c.res_type == fixed("Patient"), _SEED.c.res_id.in_(bindparam("ids", expanding=True)),
        _SEED.c.deleted.is_(False)),
    _live_patient(_SEED_TOKEN).with_only_columns(resource.c.rid, resource.c.res_id).where(
        _SEED_TOKEN.c.code.in_(bindparam("codes", expanding=True)),
        tuple_(_SEED_TOKEN.c.system, _SEED_TOKEN.c.code).in_(bindparam("pairs", expanding=True)))).cte("seeds")
_SEED_NATIONAL = search_token.alias("seed_national")
_SEEDS_NATIONAL = (select(_SEED_NATIONAL.c.system, _SEED_NATIONAL.c.code)
                   .where(_SEED_NATIONAL.c.rid.in_(select(_SEEDS.c.rid)),
                          _SEED_NATIONAL.c.res_type == fixed("Patient"),
                          _SEED_NATIONAL.c.param == fixed("identifier"),
                          _SEED_NATIONAL.c.system.in_(fixed_set(NATIONAL_ID_SYSTEMS))).cte("seeds_national"))
_SAME_TOKEN = search_token.alias("same_token")
# Parameters: ids, codes, pairs (each an expanding list; either may be empty).
PERSON = union(
    select(_SEEDS.c.res_id),
    # The codes alone first, so that SQLite too walks the (type, param, code) index from them.
    _live_patient(_SAME_TOKEN).where(
        _SAME_TOKEN.c.code.in_(select(_SEEDS_NATIONAL.c.code)),
        tuple_(_SAME_TOKEN.c.system, _SAME_TOKEN.c.code).in_(
            select(_SEEDS_NATIONAL.c.system, _SEEDS_NATIONAL.c.code))))


def person_of(conn: Connection, identifiers: Iterable[tuple[str, str]] = (),
              patient_ids: Iterable[str] = ()) -> set[str]:
    """The Patients given by id or carrying one of the (system, value) identifiers, and every
    Patient with the same national identifier as one of them, in one statement. The ids
    given are in the answer even when no such Patient is stored."""
    ids, pairs = sorted(set(patient_ids)), sorted(set(identifiers))
    if not ids and not pairs:
        return set()
    write_pending(conn)
    found = conn.execute(PERSON, {"ids": ids, "codes": sorted({code for _, code in pairs}), "pairs": pairs})
    return set(ids) | set(found.scalars())


def same_person(conn: Connection, patient_ids: Iterable[str]) -> set[str]:
    """The given Patient ids and every other Patient with the same national identifier."""
    return person_of(conn, (), patient_ids)


def subject_patients(conn: Connection, subject: Any, resource_json: dict[str, Any] | None = None) -> set[str]:
    """The Patient ids a reference names: a literal `Patient/x`, or a logical identifier reference.

    A resource written in a transaction may refer to a Patient created in the same
    Bundle; the literal id is then already rewritten and counts even before it is stored.
    """
    if not isinstance(subject, dict):
        return set()
    literal = reference_id(subject, "Patient")
    if literal is not None:
        return same_person(conn, {literal})
    identifier = subject.get("identifier")
    if isinstance(identifier, dict) and identifier.get("system") and identifier.get("value"):
        return person_of(conn, {(identifier["system"], identifier["value"])})
    return set()

