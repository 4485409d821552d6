"""One individual plan per person: a second open plan is refused, and migrations can list duplicates.

The rule (Prop. 100 L: "bare utarbeides én plan"): a person has at most one
CarePlan with the individuell-plan category in status draft, active or on-hold.
Sub-plans (`partOf` the plan) do not count. "The same person" is matched by
fødselsnummer/D-nummer across Patient records (see `fhirip.plans.persons`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from fhirip.errors import Conflict, Issue
from fhirip.context import Context, visible_keys
from fhirip.plans.codes import (
    CAREPLAN_CATEGORY,
    IP_CATEGORY_CODE,
    NATIONAL_ID_SYSTEMS,
    OPEN_PLAN_STATUSES,
    is_individual_plan,
)
from fhirip.plans.persons import subject_patients
from fhirip.store import Current
from fhirip.store.unscoped import Naming, TokenIs, UnscopedReader, UnscopedUse


def _open_plans(reader: UnscopedReader, patient_ids: Iterable[str] | None) -> list[Naming]:
    """The open individual plans (not sub-plans) whose subject is one of the Patients (None: any)."""
    return reader.naming_patients("CarePlan", "subject", patient_ids, tokens=(
        TokenIs("category", {IP_CATEGORY_CODE}, CAREPLAN_CATEGORY),
        TokenIs("status", OPEN_PLAN_STATUSES)), without="part-of")


def open_plan_ids(reader: UnscopedReader, patient_ids: Iterable[str]) -> list[str]:
    """Ids of the open individual plans whose subject is one of the Patients, newest change first."""
    ordered = sorted(_open_plans(reader, patient_ids), key=lambda plan: plan.last_updated, reverse=True)
    return list(dict.fromkeys(plan.res_id for plan in ordered))


def plan_claims(patient_ids: Iterable[str]) -> set[str]:
    """What an open individual plan claims (`Tx.claim`): each Patient record of its person."""
    return {f"open-plan|Patient/{patient_id}" for patient_id in patient_ids}


def refuse_second_plan(ctx: Context, careplan: dict[str, Any], previous: Current | None) -> list[Issue]:
    """Write hook: 409 when the person already has another open individual plan.

    The database holds the rule: an open plan claims its person's Patient records in the
    writing transaction, before the check, so two plans written at once cannot both pass;
    the loser waits for the winner's commit and is refused in the words a later write gets.
    """
    if not is_individual_plan(careplan) or careplan.get("status") not in OPEN_PLAN_STATUSES:
        if previous is not None and not previous.deleted:
            ctx.tx.claim("CarePlan", careplan["id"], ())  # ended, or no longer an individual plan
        return []
    reader = UnscopedReader(ctx.tx.conn, UnscopedUse.ONE_PLAN_PER_PERSON)
    patients = subject_patients(reader, careplan.get("subject"), ctx.base_urls)
    held = ctx.tx.claim("CarePlan", careplan["id"], plan_claims(patients))
    existing = [plan_id for plan_id in open_plan_ids(reader, patients) if plan_id != careplan["id"]]
    existing += sorted({i for t, i in held.values() if t == "CarePlan"} - set(existing))
    if existing:
        # The rule holds whoever writes, but only plans the caller may see are named: the other
        # plan may be in a record (another Patient with the same fødselsnummer) the caller may not read.
        seen = visible_keys(ctx, {("CarePlan", plan_id) for plan_id in existing})
        names = ", ".join(f"CarePlan/{plan_id}" for plan_id in existing if ("CarePlan", plan_id) in seen)
        which = f"an individual plan ({names})" if names else "an open individual plan"
        raise Conflict(
            f"The person already has {which} in status draft, active or "
            "on-hold; a person has one individual plan. Revise that plan, end it first, or make "
            "this one a sub-plan (CarePlan.partOf)", expression=["CarePlan.subject"])
    return []


@dataclass(frozen=True)
class DuplicatePlans:
    """Open individual plans that belong to one person."""

    identifiers: tuple[tuple[str, str], ...]  # the person's fødselsnummer/D-nummer (may be empty)
    patients: tuple[str, ...]  # the Patient ids involved
    plans: tuple[str, ...]  # CarePlan ids, most recently changed first

    def describe(self) -> str:
        who = ", ".join(f"{s}|{v}" for s, v in self.identifiers) or \
            ", ".join(f"Patient/{p}" for p in self.patients)
        return f"{who}: {', '.join(f'CarePlan/{p}' for p in self.plans)}"


def find_duplicate_plans(conn: Connection) -> list[DuplicatePlans]:
    """Every person with more than one open individual plan, for a migration to merge or review.

    Patients sharing a national identifier are one person, so a hospital's and a
    municipality's plan for the same fødselsnummer are reported together.
    """
    reader = UnscopedReader(conn, UnscopedUse.DUPLICATE_PLANS)
    plans_of: dict[str, list[tuple[str, Any]]] = {}
    for plan in _open_plans(reader, None):
        plans_of.setdefault(plan.patient_id, []).append((plan.res_id, plan.last_updated))
    identifiers_of = _identifiers_by_patient(reader, plans_of)
    # Union-find over Patients: two Patients with a common identifier are one person.
    parent = {patient_id: patient_id for patient_id in plans_of}

    def root(patient_id: str) -> str:
        while parent[patient_id] != patient_id:
            parent[patient_id] = parent[parent[patient_id]]
            patient_id = parent[patient_id]
        return patient_id

    holder: dict[tuple[str, str], str] = {}
    for patient_id in sorted(plans_of):
        for identifier in identifiers_of.get(patient_id, ()):
            if identifier in holder:
                parent[root(patient_id)] = root(holder[identifier])
            else:
                holder[identifier] = patient_id
    people: dict[str, list[str]] = {}
    for patient_id in sorted(plans_of):
        people.setdefault(root(patient_id), []).append(patient_id)
    duplicates = []
    for members in people.values():
        plans = sorted((p for m in members for p in plans_of[m]), key=lambda p: p[1], reverse=True)
        plan_ids = tuple(dict.fromkeys(p[0] for p in plans))
        if len(plan_ids) > 1:
            identifiers = {i for m in members for i in identifiers_of.get(m, ())}
            duplicates.append(DuplicatePlans(tuple(sorted(identifiers)), tuple(members), plan_ids))
    return duplicates


def _identifiers_by_patient(reader: UnscopedReader, patient_ids: Iterable[str]) -> dict[str, set[tuple[str, str]]]:
    wanted = set(patient_ids)
    found: dict[str, set[tuple[str, str]]] = {}
    for patient_id, system, code in reader.token_values("Patient", "identifier", NATIONAL_ID_SYSTEMS):
        if patient_id in wanted:
            found.setdefault(patient_id, set()).add((system, code))
    return found
