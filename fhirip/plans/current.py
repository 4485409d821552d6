"""The current plan of a person: what a hospital or GP system needs, in one consent-filtered Bundle.

https://hl7.org/fhir/R4/bundle.html#searchset

The searchset holds the person's open individual plan (the match; only its
open measures, marked SUBSETTED) and, as includes, the Patient record(s), the
plan's goals that are not ended, its care team(s) with each participant's
contact details, the coordinator (team participant or coordinator episode with
its careManager), the responsible parties of the open measures, and the plan
and sharing consents in force. Every read is a search under the caller's
policy; what the caller may not see is simply not there.
"""

from __future__ import annotations

import copy
from typing import Any

from fhirip.errors import BadRequest
from fhirip.plans.codes import (
    CAREPLAN_CATEGORY,
    CONSENT_CATEGORY,
    COORDINATOR_CODES,
    IP_CATEGORY_CODE,
    NATIONAL_ID_SYSTEMS,
    OPEN_EPISODE_STATUSES,
    OPEN_GOAL_STATUSES,
    OPEN_PLAN_STATUSES,
    PLAN_CONSENT_CODES,
    SHARING_CONSENT_CODES,
    VOLVEN_9034,
    measure_is_open,
    referenced,
)
from fhirip.plans.fetching import Fetch

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED",
             "display": "subsetted"}
_STATUS_RANK = {"active": 0, "on-hold": 1, "draft": 2}


def parse_identifier(value: str | None) -> tuple[str, str]:
    """'system|value' → (system, value); a clear 400 when the parameter is missing or malformed."""
    if not value:
        raise BadRequest("Parameter 'patient-identifier' is required: <system>|<value>, e.g. "
                         "urn:oid:2.16.578.1.12.4.1.4.1|12345678901", expression=["patient-identifier"])
    system, bar, code = value.partition("|")
    if not bar or not system or not code:
        raise BadRequest(f"Parameter 'patient-identifier' must be <system>|<value>, got '{value}'",
                         expression=["patient-identifier"])
    return system, code


def visible_person(fetch: Fetch, patients: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The visible Patients plus the other visible Patients sharing their national identifier."""
    found = {p["id"]: p for p in patients}
    identifiers = {(i.get("system"), i.get("value")) for p in patients for i in p.get("identifier") or []
                   if i.get("system") in NATIONAL_ID_SYSTEMS and i.get("value")}
    if identifiers:
        query = ",".join(f"{s}|{v}" for s, v in sorted(identifiers))
        for patient in fetch.search("Patient", [("identifier", query)]):
            found.setdefault(patient["id"], patient)
    return list(found.values())


def current_plan_bundle(fetch: Fetch, patients: list[dict[str, Any]], self_url: str) -> dict[str, Any]:
    """The current-plan searchset for a person known by these (visible) Patient records."""
    patients = visible_person(fetch, patients) if patients else []
    includes: dict[tuple[str, str], dict[str, Any]] = {("Patient", p["id"]): p for p in patients}
    plan = _plan(fetch, [p["id"] for p in patients])
    subjects = ",".join(f"Patient/{p['id']}" for p in patients)
    wanted: list[Any] = []
    if plan is not None:
        goal_ids = [i for _, i in _targets(plan.get("goal"), "Goal")]
        if goal_ids:
            _include(includes, fetch.search("Goal", [
                ("_id", ",".join(goal_ids)), ("lifecycle-status", ",".join(OPEN_GOAL_STATUSES))]))
        teams = fetch.by_ids("CareTeam", [i for _, i in _targets(plan.get("careTeam"), "CareTeam")])
        _include(includes, teams)
        wanted += [p.get("member") for t in teams for p in t.get("participant") or []]
        wanted += [p.get("onBehalfOf") for t in teams for p in t.get("participant") or []]
        wanted += [o for t in teams for o in t.get("managingOrganization") or []]
        wanted += [p for a in plan.get("activity") or [] if measure_is_open(a)
                   for p in (a.get("detail") or {}).get("performer") or []]
    if subjects:
        episodes = fetch.search("EpisodeOfCare", [
            ("patient", subjects), ("status", ",".join(OPEN_EPISODE_STATUSES)),
            ("type", ",".join(f"{VOLVEN_9034}|{c}" for c in sorted(COORDINATOR_CODES)))])
        _include(includes, episodes)
        wanted += [e.get("careManager") for e in episodes]
        _include(includes, fetch.search("Consent", [
            ("patient", subjects), ("status", "active"),
            ("category", ",".join(f"{CONSENT_CATEGORY}|{c}"
                                  for c in sorted(PLAN_CONSENT_CODES | SHARING_CONSENT_CODES)))]))
    _include_parties(fetch, includes, wanted)
    entries = []
    base = fetch.base_url.rstrip("/")
    if plan is not None:
        entries.append(_entry(base, _open_part(plan), "match"))
    entries += [_entry(base, resource, "include") for resource in includes.values()]
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset",
                              "total": 1 if plan is not None else 0,
                              "link": [{"relation": "self", "url": self_url}]}
    if entries:
        bundle["entry"] = entries
    return bundle


def _plan(fetch: Fetch, patient_ids: list[str]) -> dict[str, Any] | None:
    if not patient_ids:
        return None
    plans = fetch.search("CarePlan", [
        ("subject", ",".join(f"Patient/{i}" for i in patient_ids)),
        ("category", f"{CAREPLAN_CATEGORY}|{IP_CATEGORY_CODE}"),
        ("status", ",".join(OPEN_PLAN_STATUSES)), ("part-of:missing", "true")])
    if not plans:
        return None
    # One plan per person holds for new data; migrated duplicates may remain: prefer the active one.
    plans.sort(key=lambda p: (p.get("meta") or {}).get("lastUpdated", ""), reverse=True)
    plans.sort(key=lambda p: _STATUS_RANK.get(p.get("status"), 9))  # stable: newest first within a status
    return plans[0]


def _open_part(plan: dict[str, Any]) -> dict[str, Any]:
    """The plan with only its open measures; marked SUBSETTED when anything was left out."""
    shown = copy.deepcopy(plan)
    shown.pop("text", None)
    activities = plan.get("activity") or []
    open_ones = [a for a in activities if measure_is_open(a)]
    if open_ones:
        shown["activity"] = copy.deepcopy(open_ones)
    else:
        shown.pop("activity", None)
    meta = shown.setdefault("meta", {})
    meta["tag"] = [*(meta.get("tag") or []), SUBSETTED]
    return shown


def _targets(references: Any, res_type: str | None = None) -> list[tuple[str, str]]:
    found = []
    for reference in references if isinstance(references, list) else [references]:
        target = referenced(reference)
        if target and (res_type is None or target[0] == res_type):
            found.append(target)
    return found


def _include(includes: dict[tuple[str, str], dict[str, Any]], resources: list[dict[str, Any]]) -> None:
    for resource in resources:
        includes.setdefault((resource["resourceType"], resource["id"]), resource)


def _include_parties(fetch: Fetch, includes: dict[tuple[str, str], dict[str, Any]], wanted: list[Any]) -> None:
    """Fetch the people and services referenced (and a PractitionerRole's practitioner and organisation)."""
    for _round in range(2):
        by_type: dict[str, set[str]] = {}
        for res_type, res_id in _targets([w for w in wanted if w]):
            if (res_type, res_id) not in includes:
                by_type.setdefault(res_type, set()).add(res_id)
        found = [r for res_type, ids in sorted(by_type.items()) for r in fetch.by_ids(res_type, sorted(ids))]
        _include(includes, found)
        wanted = [r.get(key) for r in found if r["resourceType"] == "PractitionerRole"
                  for key in ("practitioner", "organization")]


def _entry(base: str, resource: dict[str, Any], mode: str) -> dict[str, Any]:
    return {"fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}", "resource": resource,
            "search": {"mode": mode}}
