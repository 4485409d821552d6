"""The plan lifecycle: what activating a plan needs, and what a plan consent does to the plan.

https://hl7.org/fhir/R4/careplan.html#status, https://hl7.org/fhir/R4/consent.html

- A plan becomes `active` only with a legal basis (an active plan Consent, or
  compulsory mental health care recorded in the ip-legal-basis extension), a
  current coordinator, a period and at least one goal (§ 19 c, g, h; ip-cp-2).
- A new active plan Consent supersedes the person's earlier ones: they become
  `inactive` in the same transaction, each with a Provenance.
- Withdrawing the plan Consent (active → inactive or rejected) revokes the plans
  it was the basis of, in the same transaction: a new version with status
  `revoked` and an end date, with a Provenance; the history stays.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any


from fhirip.errors import Issue
from fhirip.context import Context
from fhirip.plans.codes import (
    CONSENT_CATEGORY,
    OPEN_PLAN_STATUSES,
    PLAN_CONSENT_CODES,
    covers,
    has_compulsory_care_basis,
    is_individual_plan,
    is_plan_consent,
    reference_id,
    referenced,
)
from fhirip.plans.coordinator import plan_coordinators
from fhirip.plans.one_plan import open_plan_ids
from fhirip.plans.persons import subject_patients
from fhirip.plans.recording import (
    for_the_rule,
    read_for_change,
    record_provenance,
    write_version,
)
from fhirip.store import Current
from fhirip.store.unscoped import TokenIs, UnscopedReader, UnscopedUse

WITHDRAWN = ("inactive", "rejected")

def today() -> date:
    return date.today()


# -- activation -------------------------------------------------------------------------------

def activation_issues(ctx: Context, careplan: dict[str, Any], on: date) -> list[Issue]:
    """What is missing before this individual plan may be active (empty when nothing is)."""
    reader = UnscopedReader(ctx.tx.conn, UnscopedUse.PLAN_ACTIVATION)
    issues = []
    if not has_compulsory_care_basis(careplan) and not active_plan_consents(
            reader, subject_patients(reader, careplan.get("subject"), ctx.base_urls), on):
        issues.append(Issue(
            "error", "business-rule",
            "An individual plan can only be activated with the person's consent: no active plan "
            "Consent (category ip-consent-category 'plan') exists for this person, and the plan "
            "records no compulsory mental health care as its legal basis (extension ip-legal-basis "
            "'tvungent-psykisk-helsevern')", ("CarePlan.extension",)))
    if not plan_coordinators(reader, _with_visible_teams(ctx, careplan), on):
        issues.append(Issue(
            "error", "business-rule",
            "An individual plan can only be activated with a coordinator: neither the plan's "
            "CareTeam (participant with role Volven 9034 code 8 or 18, period covering today) "
            "nor an EpisodeOfCare of the person (careManager) names a current coordinator",
            ("CarePlan.careTeam",)))
    if not (careplan.get("period") or {}).get("start"):
        issues.append(Issue("error", "required",
                            "An individual plan can only be activated with a plan period (§ 19 g): "
                            "CarePlan.period.start is missing", ("CarePlan.period",)))
    if not careplan.get("goal"):
        issues.append(Issue("error", "required",
                            "An individual plan can only be activated with at least one of the "
                            "person's goals (§ 19 a): CarePlan.goal is empty", ("CarePlan.goal",)))
    return issues


def _with_visible_teams(ctx: Context, careplan: dict[str, Any]) -> dict[str, Any]:
    """The plan with only the care teams the caller may see: a team they may not see counts as
    one that does not exist, so the answer does not tell whether it has a coordinator."""
    if ctx.access is None or not careplan.get("careTeam"):
        return careplan
    named = {(t, i) for t, i in (referenced(r) or (None, None) for r in careplan["careTeam"]) if t == "CareTeam"}
    seen = ctx.access.visible(ctx.tx.conn, named)
    return {**careplan, "careTeam": [r for r in careplan["careTeam"] if referenced(r) in seen]}


def check_activation(ctx: Context, careplan: dict[str, Any], previous: Current | None) -> list[Issue]:
    """Write hook: an individual plan going active must have all that activation needs."""
    if not is_individual_plan(careplan) or careplan.get("status") != "active":
        return []
    before = ctx.previous_content
    if before is not None and before.get("status") == "active":
        return []  # a revision of an active plan, not its activation
    return activation_issues(ctx, careplan, today())


# -- plan consents ----------------------------------------------------------------------------

def active_plan_consents(reader: UnscopedReader, patient_ids: set[str], on: date,
                         exclude: str | None = None) -> list[dict[str, Any]]:
    """The person's active plan Consents whose provision period (if any) covers `on`."""
    if not patient_ids:
        return []
    found = reader.naming_patients("Consent", "patient", patient_ids, tokens=(
        TokenIs("category", PLAN_CONSENT_CODES, CONSENT_CATEGORY), TokenIs("status", {"active"})))
    consents = {c.res_id: c.content for c in found}
    return [c for c in consents.values() if c.get("id") != exclude and _in_force(c, on)]


def _in_force(consent: dict[str, Any], on: date) -> bool:
    period = (consent.get("provision") or {}).get("period")
    if not period:
        return True
    try:
        return covers(period, on)
    except ValueError:
        return False


def apply_plan_consent(ctx: Context, consent: dict[str, Any], previous: Current | None) -> list[Issue]:
    """Write hook on Consent: a new plan consent supersedes the old; a withdrawn one ends the plan."""
    if not is_plan_consent(consent):
        return []
    before = ctx.previous_content
    was_active = before is not None and before.get("status") == "active"
    status = consent.get("status")
    if status == "active" and not was_active:
        _supersede_older(ctx, consent)
    elif status in WITHDRAWN and before is not None and was_active and not ctx.superseding:
        _revoke_plans(ctx, consent, before)
    return []


def _supersede_older(ctx: Context, consent: dict[str, Any]) -> None:
    reader = UnscopedReader(ctx.tx.conn, UnscopedUse.PLAN_CONSENT_CHANGES)
    patients = subject_patients(reader, consent.get("patient"), ctx.base_urls)
    older = [c for c in active_plan_consents(reader, patients, today(), exclude=consent["id"])]
    # A consent for a later plan period replaces the earlier; one for the same period too.
    retiring = replace(ctx, superseding=True)
    for found in older:
        # Changed from its locked newest version: a concurrent change of it is not lost.
        locked = read_for_change(retiring, "Consent", found["id"])
        if locked is None or locked[0].get("status") != "active":
            continue
        old, version = locked
        old["status"] = "inactive"
        written = write_version(for_the_rule(retiring), old, expected=version)
        # Not naming the new consent: it may be in another record of the person, hidden
        # from those who read this one.
        record_provenance(retiring, [written], activity="OBSOLETE",
                          reason="Erstattet av nytt samtykke til planen")


def _revoke_plans(ctx: Context, consent: dict[str, Any], before: dict[str, Any]) -> None:
    reader = UnscopedReader(ctx.tx.conn, UnscopedUse.PLAN_CONSENT_CHANGES)
    # The person whose consent stood: the withdrawing version cannot point the rule elsewhere.
    patients = subject_patients(reader, before.get("patient"), ctx.base_urls)
    if active_plan_consents(reader, patients, today(), exclude=consent["id"]):
        return  # another plan consent still stands
    named = [i for i in (reference_id(d.get("reference"), "CarePlan")
                         for d in (consent.get("provision") or {}).get("data") or []) if i]
    # Only the person's own open plans: a name in the consent (an external URL is not checked
    # as a reference on this server) never reaches another person's plan.
    own = open_plan_ids(reader, patients)
    plan_ids = [i for i in named if i in own] if named else own
    for plan_id in plan_ids:
        locked = read_for_change(ctx, "CarePlan", plan_id)
        if locked is None or locked[0].get("status") not in OPEN_PLAN_STATUSES:
            continue
        plan, version = locked
        if has_compulsory_care_basis(plan):
            continue  # compulsory care, not consent, is this plan's basis
        plan["status"] = "revoked"
        period = dict(plan.get("period") or {})
        period.setdefault("end", today().isoformat())
        plan["period"] = period
        written = write_version(for_the_rule(ctx), plan, expected=version)
        record_provenance(ctx, [written], activity="ABORT",
                          reason="Samtykket til planen er trukket tilbake")
