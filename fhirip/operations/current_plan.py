"""The current individual plan of a person: `CarePlan/$current` and `Patient/[id]/$current-plan`.

https://hl7.org/fhir/R4/operations.html
(operation definition: http://fhirip.no/fhir/OperationDefinition/CarePlan-current)

`GET CarePlan/$current?patient-identifier=<system>|<value>` is what a hospital or
GP system calls when it knows the person only by fødselsnummer or D-nummer;
`GET Patient/[id]/$current-plan` does the same for a known Patient record.
Both return the searchset described in `fhirip.plans.current`, filtered by the
caller's consent policy, decided for the person's Patient records alone
(`Operation.within`, `decide(within=...)`): the same grants to them, at the cost of one person.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection

from fhirip.canonical import OPERATION_DEFINITION
from fhirip.errors import NotFound
from fhirip.context import Context
from fhirip.interactions.request import FhirRequest, FhirResponse
from fhirip.operations import Operation, register
from fhirip.plans.current import carries, current_plan_bundle, parse_identifier, person_in, person_records
from fhirip.plans.policy_reads import PolicyReads
from fhirip.operations.worklist_request import View
from fhirip.store.unscoped import UnscopedReader, UnscopedUse


def _person_by_identifier(conn: Connection, req: FhirRequest) -> set[str]:
    """The Patient records of the person the identifier names (read past the caller, only to
    decide the caller's access for them alone; what the caller sees is read under it)."""
    identifier = parse_identifier(req.param("patient-identifier"))
    return person_records(UnscopedReader(conn, UnscopedUse.CURRENT_PLAN_SCOPE), {identifier})


def _person_of_patient(conn: Connection, req: FhirRequest) -> set[str]:
    return person_records(UnscopedReader(conn, UnscopedUse.CURRENT_PLAN_SCOPE), set(), {req.res_id or ""})


def _records(ctx: Context, req: FhirRequest, find: Callable[[Connection, FhirRequest], set[str]]) -> set[str]:
    """The person's Patient records: those the decision was made for, or (a request the server
    makes itself, decided for no one) found here."""
    within = ctx.access.within if ctx.access is not None else None
    return set(within) if within is not None else find(ctx.tx.conn, req)


def _reads(ctx: Context) -> tuple[PolicyReads, View | None]:
    """Reads under the caller's decision (made for the person's records alone, `within`)."""
    access = ctx.access
    if access is None:
        return PolicyReads(ctx.tx.conn, ctx.policy), None
    return PolicyReads(ctx.tx.conn, access.sql), access.mask if access.masks else None


def current_by_identifier(ctx: Context, req: FhirRequest) -> FhirResponse:
    identifier = parse_identifier(req.param("patient-identifier"))
    records = _records(ctx, req, _person_by_identifier)
    reads, view = _reads(ctx)
    around = reads.person_around(records)
    patients = person_in(around, records, lambda patient: carries(patient, {identifier}))
    return FhirResponse(200, resource=current_plan_bundle(around, patients, base_url=req.base_url,
                                                          self_url=req.url, view=view))


def current_of_patient(ctx: Context, req: FhirRequest) -> FhirResponse:
    records = _records(ctx, req, _person_of_patient)
    reads, view = _reads(ctx)
    around = reads.person_around(records)
    patients = person_in(around, records, lambda patient: patient["id"] == req.res_id)
    if not patients:
        raise NotFound(f"Patient/{req.res_id} is not known")
    return FhirResponse(200, resource=current_plan_bundle(around, patients, base_url=req.base_url,
                                                          self_url=req.url, view=view))


register(Operation(
    name="current", levels=frozenset({"type"}), handler=current_by_identifier,
    resource_types=frozenset({"CarePlan"}), definition=f"{OPERATION_DEFINITION}/CarePlan-current",
    documentation="The person's current individual plan with open measures, goals, care team, "
                  "coordinator and consent status; patient-identifier=<system>|<value>",
    within=_person_by_identifier))
register(Operation(
    name="current-plan", levels=frozenset({"instance"}), handler=current_of_patient,
    resource_types=frozenset({"Patient"}), definition=f"{OPERATION_DEFINITION}/Patient-current-plan",
    documentation="The current individual plan of this Patient (and of every Patient record "
                  "with the same fødselsnummer/D-nummer)",
    within=_person_of_patient))
