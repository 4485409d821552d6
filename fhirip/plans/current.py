"""The current plan of a person: what a hospital or GP system needs, in one consent-filtered Bundle.

https://hl7.org/fhir/R4/bundle.html#searchset

The searchset holds the person's open individual plan (the match; only its
open measures, marked SUBSETTED) and, as includes, the Patient record(s), the
plan's goals that are not ended, its care team(s) with each participant's
contact details, the coordinator (team participant or coordinator episode with
its careManager), the responsible parties of the open measures, and the plan
and sharing consents in force. Every read is a statement carrying the caller's
policy (`fhirip.plans.policy_reads`); what the caller may not see is simply
not there.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from fhirip.errors import BadRequest
from fhirip.plans.codes import (
    COORDINATOR_CODES,
    NATIONAL_ID_SYSTEMS,
    OPEN_EPISODE_STATUSES,
    OPEN_GOAL_STATUSES,
    OPEN_PLAN_STATUSES,
    VOLVEN_9034,
    has_code,
    is_individual_plan,
    is_plan_consent,
    is_sharing_consent,
    measure_is_open,
    referenced,
)
from fhirip.plans.person_graph import PATIENT_PARAMS
from fhirip.plans.persons import person_of
from fhirip.search.index import token_rows
from fhirip.store.unscoped import UnscopedReader

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


def person_records(reader: UnscopedReader, identifiers: set[tuple[str, str]],
                   patient_ids: set[str] = frozenset()) -> set[str]:
    """Every Patient record that can belong to the person: those carrying the identifiers
    (or given by id) and those sharing a national identifier with them. Read past the
    caller, only to bound the caller's decision to these patients (`scoped`); one statement."""
    return person_of(reader, identifiers, patient_ids)


def person_in(rows: list[dict[str, Any]], records: Collection[str],
              asked: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """The visible Patients of the person among `rows` (`PolicyReads.person_around` of the
    person's `records`): those `asked` picks (the Patient asked for, or those carrying the
    identifier asked for) and the other visible records sharing a national identifier with one
    of them (every such Patient is among the records: `person_records`)."""
    patients = [r for r in rows if r["resourceType"] == "Patient" and r["id"] in records]
    found = [p for p in patients if asked(p)]
    national = {(i.get("system"), i.get("value")) for p in found for i in p.get("identifier") or []
                if i.get("system") in NATIONAL_ID_SYSTEMS and i.get("value")}
    named = {p["id"] for p in found}
    return found + [p for p in patients if p["id"] not in named and carries(p, national)]


def carries(patient: dict[str, Any], identifiers: Collection[tuple[str, str]]) -> bool:
    """Whether the Patient carries one of the (system, value) identifiers, matched as the search
    index matches them (`Patient?identifier=`)."""
    return any((row["system"], row["code"]) in identifiers for i in patient.get("identifier") or []
               for row in token_rows(i))


def current_plan_bundle(around: list[dict[str, Any]], patients: list[dict[str, Any]], *, base_url: str,
                        self_url: str,
                        view: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> dict[str, Any]:
    """The current-plan searchset for a person known by these (visible) Patient records.

    `around` is what names the person's records and what that names, read in one statement
    under the caller's policy (`PolicyReads.person_around`); the view takes what it shows from
    those rows, following references from visible resources only. `view` gives a resource as
    the caller may see it (the administrative view masks the plan); the includes are
    followed from the plan as shown, never from what is masked."""
    patient_ids = {p["id"] for p in patients}
    visible = {(r["resourceType"], r["id"]): r for r in around}
    includes: dict[tuple[str, str], dict[str, Any]] = {("Patient", p["id"]): p for p in patients}
    related = [r for r in around if r["resourceType"] in PATIENT_PARAMS
               and _named_patient(r, PATIENT_PARAMS[r["resourceType"]]) in patient_ids]
    plan = _plan([r for r in related if r["resourceType"] == "CarePlan"])
    if plan is not None and view is not None:
        plan = view(plan)
    episodes = [r for r in related if r["resourceType"] == "EpisodeOfCare" and _is_coordinator_episode(r)]
    consents = [r for r in related if r["resourceType"] == "Consent" and r.get("status") == "active"
                and (is_plan_consent(r) or is_sharing_consent(r))]
    first: list[Any] = [e.get("careManager") for e in episodes]
    if plan is not None:
        first += [*(plan.get("goal") or []), *(plan.get("careTeam") or [])]
        first += [p for a in plan.get("activity") or [] if measure_is_open(a)
                  for p in (a.get("detail") or {}).get("performer") or []]
    found = _among(visible, includes, first)
    teams = [r for r in found if r["resourceType"] == "CareTeam"]
    second = [p.get(key) for t in teams for p in t.get("participant") or [] for key in ("member", "onBehalfOf")]
    second += [o for t in teams for o in t.get("managingOrganization") or []]
    found += _among(visible, includes, second)
    roles = [r for r in found if r["resourceType"] == "PractitionerRole"]
    found += _among(visible, includes, [r.get(k) for r in roles for k in ("practitioner", "organization")])
    shown = [r for r in found if not (r["resourceType"] == "Goal"
                                      and r.get("lifecycleStatus") not in OPEN_GOAL_STATUSES)]
    _include(includes, [*shown, *episodes, *consents])
    entries = []
    base = base_url.rstrip("/")
    if plan is not None:
        entries.append(_entry(base, _open_part(plan), "match"))
    entries += [_entry(base, resource, "include") for resource in includes.values()]
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset",
                              "total": 1 if plan is not None else 0,
                              "link": [{"relation": "self", "url": self_url}]}
    if entries:
        bundle["entry"] = entries
    return bundle


def _named_patient(resource: dict[str, Any], element: str) -> str | None:
    target = referenced(resource.get(element))
    return target[1] if target is not None and target[0] == "Patient" else None


def _among(visible: dict[tuple[str, str], dict[str, Any]], includes: dict[tuple[str, str], dict[str, Any]],
           references: list[Any]) -> list[dict[str, Any]]:
    """The visible resources these references name (and not included already), in row order."""
    keys = {t for t in _targets([r for r in references if r]) if t not in includes}
    return [resource for key, resource in visible.items() if key in keys]


def _is_coordinator_episode(episode: dict[str, Any]) -> bool:
    return episode.get("status") in OPEN_EPISODE_STATUSES and has_code(
        episode.get("type") or [], VOLVEN_9034, COORDINATOR_CODES)


def _plan(care_plans: list[dict[str, Any]]) -> dict[str, Any] | None:
    plans = [p for p in care_plans if is_individual_plan(p) and p.get("status") in OPEN_PLAN_STATUSES]
    if not plans:
        return None
    # One plan per person holds for new data; migrated duplicates may remain: prefer the active one.
    plans.sort(key=lambda p: (p.get("meta") or {}).get("lastUpdated", ""), reverse=True)
    plans.sort(key=lambda p: _STATUS_RANK.get(p.get("status"), 9))  # stable: newest first within a status
    return plans[0]


def _open_part(plan: dict[str, Any]) -> dict[str, Any]:
    """The plan with only its open measures, marked SUBSETTED. A new top level over the same
    elements: the stored plan is left as it was, and nothing below is copied."""
    shown = {key: value for key, value in plan.items() if key not in ("text", "activity", "meta")}
    open_ones = [a for a in plan.get("activity") or [] if measure_is_open(a)]
    if open_ones:
        shown["activity"] = open_ones
    meta = dict(plan.get("meta") or {})
    meta["tag"] = [*(meta.get("tag") or []), SUBSETTED]
    shown["meta"] = meta
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


def _entry(base: str, resource: dict[str, Any], mode: str) -> dict[str, Any]:
    return {"fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}", "resource": resource,
            "search": {"mode": mode}}
