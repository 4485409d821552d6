"""One person, many Patient records: matching Patients by fødselsnummer or D-nummer.

Hospital and municipality may each hold a Patient for the same person; the plan
rules speak of the person, so every rule asks here which Patient ids are "the
same person" as the one a resource names. These lookups read past the caller
(`fhirip.store.unscoped`): they decide integrity rules, not what a caller sees.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fhirip.model.references import parse_local
from fhirip.plans.codes import NATIONAL_ID_SYSTEMS
from fhirip.store.unscoped import UnscopedReader


def person_of(reader: UnscopedReader, identifiers: Iterable[tuple[str, str]] = (),
              patient_ids: Iterable[str] = ()) -> set[str]:
    """The Patients given by id or carrying one of the (system, value) identifiers, and every
    Patient with the same national identifier as one of them: one statement for either kind
    of start. The ids given are in the answer even when no such Patient is stored."""
    identifiers, patient_ids = set(identifiers), set(patient_ids)
    if not identifiers and not patient_ids:
        return set()
    return reader.same_person(NATIONAL_ID_SYSTEMS, identifiers, patient_ids)


def same_person(reader: UnscopedReader, patient_ids: Iterable[str]) -> set[str]:
    """The given Patient ids and every other Patient with the same national identifier."""
    return person_of(reader, (), patient_ids)


def subject_patients(reader: UnscopedReader, subject: Any, base_urls: tuple[str, ...] = ()) -> set[str]:
    """The Patient ids a reference names: a Patient here (`Patient/x`, or an absolute URL under
    one of `base_urls`), or a logical identifier reference. An absolute URL of another server
    names no Patient here, whatever id it ends in.

    A resource written in a transaction may refer to a Patient created in the same
    Bundle; the literal id is then already rewritten and counts even before it is stored.
    """
    if not isinstance(subject, dict):
        return set()
    local = parse_local(subject["reference"], base_urls) if isinstance(subject.get("reference"), str) else None
    if local is not None and local[0] == "Patient":
        return same_person(reader, {local[1]})
    identifier = subject.get("identifier")
    if isinstance(identifier, dict) and identifier.get("system") and identifier.get("value"):
        return person_of(reader, {(identifier["system"], identifier["value"])})
    return set()
