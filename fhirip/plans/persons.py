"""One person, many Patient records: matching Patients by fødselsnummer or D-nummer.

Hospital and municipality may each hold a Patient for the same person; the plan
rules speak of the person, so every rule asks here which Patient ids are "the
same person" as the one a resource names. These lookups read the search index
without a consent policy: they decide integrity rules, not what a caller sees.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, and_, bindparam, select, tuple_

from fhirip.plans.codes import NATIONAL_ID_SYSTEMS, reference_id
from fhirip.plans.sql import fixed, fixed_set
from fhirip.store.schema import resource, search_token


def _person(seed: Any, seed_token: Any | None) -> Any:
    """Each seed Patient with every live Patient sharing one of its national identifiers
    (itself included; none when it has no national identifier), from `seed` (a live Patient,
    found through `seed_token` when given). Flat outer joins: cheap to plan, and SQLite
    walks them from the seed (a parenthesised join it would build in full first)."""
    national, same_token, same = (search_token.alias("national"), search_token.alias("same_token"),
                                  resource.alias("same"))
    start = seed if seed_token is None else seed_token.join(seed, seed.c.rid == seed_token.c.rid)
    joined = (start
              .outerjoin(national, and_(national.c.rid == seed.c.rid, national.c.res_type == fixed("Patient"),
                                        national.c.param == fixed("identifier"),
                                        national.c.system.in_(fixed_set(NATIONAL_ID_SYSTEMS))))
              .outerjoin(same_token, and_(same_token.c.res_type == fixed("Patient"),
                                          same_token.c.param == fixed("identifier"),
                                          same_token.c.code == national.c.code,
                                          same_token.c.system == national.c.system))
              .outerjoin(same, and_(same.c.rid == same_token.c.rid, same.c.res_type == fixed("Patient"),
                                    same.c.deleted.is_(False))))
    return (select(seed.c.res_id, same.c.res_id.label("same_id")).select_from(joined)
            .where(seed.c.res_type == fixed("Patient"), seed.c.deleted.is_(False)))


# Built once: every write of a plan, consent or episode asks, and every current-plan call.
_SEED_TOKEN = search_token.alias("seed_token")
# Parameters: codes and pairs, the (system, value) identifiers (the codes alone as well, so
# that the (type, param, code) index finds the rows on both databases).
_PERSON_BY_IDENTIFIERS = _person(resource.alias("seed"), _SEED_TOKEN).where(
    _SEED_TOKEN.c.res_type == fixed("Patient"), _SEED_TOKEN.c.param == fixed("identifier"),
    _SEED_TOKEN.c.code.in_(bindparam("codes", expanding=True)),
    tuple_(_SEED_TOKEN.c.system, _SEED_TOKEN.c.code).in_(bindparam("pairs", expanding=True)))
_SEED = resource.alias("seed")
# Parameter: ids, the Patient ids.
_PERSON_BY_IDS = _person(_SEED, None).where(_SEED.c.res_id.in_(bindparam("ids", expanding=True)))


def person_of(conn: Connection, identifiers: Iterable[tuple[str, str]] = (),
              patient_ids: Iterable[str] = ()) -> set[str]:
    """The Patients given by id or carrying one of the (system, value) identifiers, and every
    Patient with the same national identifier as one of them: one statement for either kind
    of start. The ids given are in the answer even when no such Patient is stored."""
    ids, pairs = sorted(set(patient_ids)), sorted(set(identifiers))
    found = set(ids)
    if not ids and not pairs:
        return found
    rows = []
    if pairs:
        rows += conn.execute(_PERSON_BY_IDENTIFIERS, {"codes": sorted({code for _, code in pairs}), "pairs": pairs})
    if ids:
        rows += conn.execute(_PERSON_BY_IDS, {"ids": ids})
    for seed_id, same_id in rows:
        found.add(seed_id)
        if same_id is not None:
            found.add(same_id)
    return found


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

