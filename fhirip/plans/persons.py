"""One person, many Patient records: matching Patients by fødselsnummer or D-nummer.

Hospital and municipality may each hold a Patient for the same person; the plan
rules speak of the person, so every rule asks here which Patient ids are "the
same person" as the one a resource names. These lookups read the search index
without a consent policy: they decide integrity rules, not what a caller sees.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, bindparam, select, tuple_

from fhirip.plans.codes import NATIONAL_ID_SYSTEMS, reference_id
from fhirip.plans.sql import fixed, fixed_set
from fhirip.search.index import write_pending
from fhirip.store.schema import resource, search_token


def _live_patient(token: Any) -> Any:
    return (select(resource.c.res_id).join(token, token.c.rid == resource.c.rid)
            .where(resource.c.res_type == "Patient", resource.c.deleted.is_(False),
                   token.c.res_type == "Patient", token.c.param == "identifier"))


# Built once with expanding parameters: every write of a plan, consent or episode asks these.
_TOKEN = search_token.alias()
_NATIONAL_IDENTIFIERS = (
    select(_TOKEN.c.system, _TOKEN.c.code).join(resource, resource.c.rid == _TOKEN.c.rid)
    .where(resource.c.res_type == fixed("Patient"), resource.c.res_id.in_(bindparam("ids", expanding=True)),
           resource.c.deleted.is_(False), _TOKEN.c.res_type == fixed("Patient"),
           _TOKEN.c.param == fixed("identifier"), _TOKEN.c.system.in_(fixed_set(NATIONAL_ID_SYSTEMS))))
# The codes alone as well, so that the index on (type, param, code) finds the rows.
_PATIENTS_WITH_IDENTIFIERS = _live_patient(_TOKEN).where(
    _TOKEN.c.code.in_(bindparam("codes", expanding=True)),
    tuple_(_TOKEN.c.system, _TOKEN.c.code).in_(bindparam("pairs", expanding=True)))


def national_identifiers(conn: Connection, patient_ids: Iterable[str]) -> set[tuple[str, str]]:
    """The (system, value) fødselsnummer/D-nummer pairs the given Patients carry."""
    ids = sorted(set(patient_ids))
    if not ids:
        return set()
    write_pending(conn)
    return {(system, code) for system, code in conn.execute(_NATIONAL_IDENTIFIERS, {"ids": ids})}


def patients_with_identifiers(conn: Connection, identifiers: Iterable[tuple[str, str]]) -> set[str]:
    """Ids of the Patients that carry any of the (system, value) identifiers."""
    pairs = sorted(set(identifiers))
    if not pairs:
        return set()
    codes = sorted({code for _, code in pairs})
    write_pending(conn)
    return set(conn.execute(_PATIENTS_WITH_IDENTIFIERS, {"codes": codes, "pairs": pairs}).scalars())


def same_person(conn: Connection, patient_ids: Iterable[str]) -> set[str]:
    """The given Patient ids and every other Patient with the same national identifier."""
    ids = set(patient_ids)
    return ids | patients_with_identifiers(conn, national_identifiers(conn, ids))


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
        return same_person(conn, patients_with_identifiers(
            conn, {(identifier["system"], identifier["value"])}))
    return set()

