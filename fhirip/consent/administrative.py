"""The coordinating unit's administrative view: that a plan exists, not what it says.

The koordinerende enhet (helse- og omsorgstjenesteloven § 7-3) receives requests for
an individual plan and appoints coordinators. It sees that a plan exists, its status,
period, coordinator and team, but not clinical content:

- readable types: Patient (demographics), CarePlan (masked), CareTeam, EpisodeOfCare,
  RelatedPerson (team members), Consent (whether consent is in place);
- not readable: Goal, Condition, Observation, QuestionnaireResponse, DocumentReference,
  Task, Communication … and everything else in the compartment;
- CarePlan is served masked (`mask_care_plan`): the activities keep their status,
  period, performer and codes of the measure status, but lose description, detail
  code, product, goal links, progress and outcome; notes, description, goals,
  addresses, supportingInfo, the plans it is based on or replaces, contained
  resources and the narrative are dropped. A masked resource carries
  the v3 ObservationValue `MASKED` security label so a client can tell.
- searches on CarePlan parameters that reach masked elements are refused
  (`HIDDEN_SEARCH_PARAMS`), since a match would reveal the hidden text.

Writes: the unit registers the person and organises the plan, so it may write
Patient, CareTeam, EpisodeOfCare and Consent of the patients it administers, and
create a new Patient whose managingOrganization is the unit itself.
"""

from __future__ import annotations

import copy
from typing import Any

ADMIN_READ_TYPES = frozenset({"Patient", "CarePlan", "CareTeam", "EpisodeOfCare", "RelatedPerson", "Consent"})
ADMIN_WRITE_TYPES = frozenset({"Patient", "CareTeam", "EpisodeOfCare", "Consent"})

MASKED_LABEL = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "MASKED",
                "display": "masked"}

_CARE_PLAN_DROPPED = ("text", "description", "note", "goal", "addresses", "supportingInfo",
                      "contained", "replaces", "basedOn")
_ACTIVITY_DROPPED = ("outcomeCodeableConcept", "outcomeReference", "progress", "reference")
_DETAIL_KEPT = ("kind", "status", "statusReason", "doNotPerform", "scheduledTiming", "scheduledPeriod",
                "scheduledString", "performer", "location", "extension")

# Parameters whose values come from masked CarePlan elements (plus the full-text ones):
# activity.detail.code, activity.reference, goal, addresses, basedOn and replaces. Every
# other CarePlan parameter reads an element the view keeps (the custom ones read
# extensions of the plan and of activity.detail, which are kept).
HIDDEN_SEARCH_PARAMS: dict[str, frozenset[str]] = {
    "CarePlan": frozenset({"activity-code", "activity-reference", "goal", "condition", "based-on",
                           "replaces", "_text", "_content"}),
}
_ALWAYS_HIDDEN = frozenset({"_text", "_content"})


def mask_care_plan(care_plan: dict[str, Any]) -> dict[str, Any]:
    """A copy of a CarePlan with the clinical content removed (see the module docstring)."""
    masked = {k: copy.deepcopy(v) for k, v in care_plan.items() if k not in _CARE_PLAN_DROPPED}
    activities = []
    for activity in care_plan.get("activity") or []:
        if not isinstance(activity, dict):
            continue
        kept = {k: copy.deepcopy(v) for k, v in activity.items() if k not in _ACTIVITY_DROPPED and k != "detail"}
        detail = activity.get("detail")
        if isinstance(detail, dict):
            kept["detail"] = {k: copy.deepcopy(v) for k, v in detail.items() if k in _DETAIL_KEPT}
        activities.append(kept)
    if activities:
        masked["activity"] = activities
    meta = dict(masked.get("meta") or {})
    labels = [label for label in meta.get("security") or [] if label.get("code") != MASKED_LABEL["code"]]
    meta["security"] = labels + [dict(MASKED_LABEL)]
    masked["meta"] = meta
    return masked


def hidden_search_params(res_type: str) -> frozenset[str]:
    return HIDDEN_SEARCH_PARAMS.get(res_type, _ALWAYS_HIDDEN)
