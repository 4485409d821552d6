"""Whether a person has an individual plan: `GET CarePlan/$exists?patient-identifier=<system>|<value>`.

https://hl7.org/fhir/R4/operations.html
(operation definition: http://fhirip.no/fhir/OperationDefinition/CarePlan-exists)

The reports behind the individual plan ask for a routine to check whether a person
already has a plan, or a planning process has started elsewhere, so that no one
starts a second one. Any authenticated health professional (a token with an HPR
number) may ask, whatever their consents (and a system client that reads every CarePlan anyway): the answer is a `Parameters` with `exists`
and, when true, the plan's status, its start and the organisation to contact (the
coordinating unit managing the plan's care team or the coordinator episode) — nothing
else. The lookup reads past the caller's view (`fhirip.store.unscoped`, for
`UnscopedUse.PLAN_EXISTS`), so every question is audited in the person's own access
log: the AuditEvent names their Patient record(s).
"""

from __future__ import annotations

from typing import Any

from fhirip.auth import ActorKind
from fhirip.canonical import OPERATION_DEFINITION
from fhirip.errors import Forbidden
from fhirip.context import Context
from fhirip.interactions.request import FhirRequest, FhirResponse
from fhirip.operations import Operation, register
from fhirip.plans.codes import OPEN_PLAN_STATUSES, is_individual_plan
from fhirip.plans.current import parse_identifier, person_records
from fhirip.plans.policy_reads import PolicyReads
from fhirip.store.unscoped import UnscopedReader, UnscopedUse

_STATUS_RANK = {"active": 0, "on-hold": 1, "draft": 2}


def plan_exists(ctx: Context, req: FhirRequest) -> FhirResponse:
    identifier = parse_identifier(req.param("patient-identifier"))
    actor = ctx.actor
    if ctx.access is not None and not (actor is not None and (
            actor.kind is ActorKind.PRACTITIONER
            or (actor.kind is ActorKind.SYSTEM and ctx.access.sees_every("CarePlan")))):
        raise Forbidden("CarePlan/$exists is for authenticated health personnel (a token with an HPR number)")
    reader = UnscopedReader(ctx.tx.conn, UnscopedUse.PLAN_EXISTS)
    unscoped = PolicyReads(ctx.tx.conn, reader.everything)  # answers only what is below
    patients = person_records(reader, {identifier})
    records = unscoped.by_keys(("Patient", p) for p in patients)
    around = unscoped.around_person(patients) if records else []
    plans = [r for r in around if r.get("resourceType") == "CarePlan" and is_individual_plan(r)
             and r.get("status") in OPEN_PLAN_STATUSES and _subject(r) in patients]
    plans.sort(key=lambda p: (_STATUS_RANK.get(p.get("status"), 9), _start(p) or ""))
    parameters: list[dict[str, Any]] = [{"name": "exists", "valueBoolean": bool(plans)}]
    about = [("Patient", r["id"]) for r in records]
    if plans:
        plan = plans[0]
        parameters.append({"name": "status", "valueCode": plan["status"]})
        if _start(plan):
            parameters.append({"name": "start", "valueDateTime": _start(plan)})
        contact = _contact(unscoped, plan, around)
        if contact is not None:
            parameters.append({"name": "contact", "valueReference": contact})
        about.append(("CarePlan", plan["id"]))
    return FhirResponse(200, resource={"resourceType": "Parameters", "parameter": parameters}, about=tuple(about))


def _subject(plan: dict[str, Any]) -> str | None:
    reference = (plan.get("subject") or {}).get("reference")
    if isinstance(reference, str) and reference.startswith("Patient/"):
        return reference.removeprefix("Patient/")
    return None


def _start(plan: dict[str, Any]) -> str | None:
    start = (plan.get("period") or {}).get("start")
    return start if isinstance(start, str) else None


def _contact(unscoped: PolicyReads, plan: dict[str, Any], around: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The organisation to contact: the one managing the plan's care team, else the one managing an
    open episode of the person, as a reference with its name and organisation number."""
    teams = {(r.get("reference") or "").rsplit("/", 1)[-1] for r in plan.get("careTeam") or [] if isinstance(r, dict)}
    candidates = [org for team in around if team.get("resourceType") == "CareTeam" and team.get("id") in teams
                  for org in team.get("managingOrganization") or []]
    candidates += [episode.get("managingOrganization") for episode in around
                   if episode.get("resourceType") == "EpisodeOfCare"
                   and episode.get("status") in ("planned", "waitlist", "active", "onhold")]
    for candidate in candidates:
        reference = (candidate or {}).get("reference") if isinstance(candidate, dict) else None
        if not isinstance(reference, str) or not reference.startswith("Organization/"):
            continue
        found = unscoped.by_keys([("Organization", reference.removeprefix("Organization/"))])
        if found:
            organization = found[0]
            shown: dict[str, Any] = {"reference": reference}
            if organization.get("name"):
                shown["display"] = organization["name"]
            numbers = [i for i in organization.get("identifier") or [] if isinstance(i, dict)]
            if numbers:
                shown["identifier"] = {"system": numbers[0].get("system"), "value": numbers[0].get("value")}
            return shown
    return None


register(Operation(
    name="exists", levels=frozenset({"type"}), handler=plan_exists,
    resource_types=frozenset({"CarePlan"}), definition=f"{OPERATION_DEFINITION}/CarePlan-exists",
    documentation="Whether the person has an individual plan: exists, and when true its status, start and "
                  "the organisation to contact; patient-identifier=<system>|<value>"))
