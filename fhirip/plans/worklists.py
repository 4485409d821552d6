"""Worklists for coordinators and the coordinating unit: what needs attention, consent-filtered.

https://hl7.org/fhir/R4/search.html (each list is a search under the caller's policy)

- overdue measures: open measures whose next evaluation date has passed,
- revision due: active plans whose own next evaluation (revision) date has passed,
- stale plans: active plans not changed for N months (the "plan in a drawer"),
- plans without a coordinator: active plans with no coordinator in force,
- caseload: per coordinator, how many active plans and coordinator-only episodes.

Date criteria run as searches on the project's search parameters
(activity-next-evaluation, next-evaluation, _lastUpdated); which of a plan's
measures are overdue and who is coordinator today is then read from the
visible resources themselves, since the index keeps only current values and
not "today".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from fhirip.plans.codes import (
    CAREPLAN_CATEGORY,
    COORDINATOR_CODES,
    IP_CATEGORY_CODE,
    NEXT_EVALUATION_URL,
    OPEN_EPISODE_STATUSES,
    VOLVEN_9034,
    extension_value,
    measure_is_open,
    referenced,
)
from fhirip.plans.coordinator import (
    Coordinator,
    current,
    episode_coordinator,
    team_coordinators,
)
from fhirip.plans.fetching import Fetch

IP = ("category", f"{CAREPLAN_CATEGORY}|{IP_CATEGORY_CODE}")
ACTIVE = ("status", "active")


def months_before(on: date, months: int) -> date:
    """The same day `months` earlier (clamped to the month's last day)."""
    year, month = divmod(on.year * 12 + on.month - 1 - months, 12)
    month += 1
    for day in range(on.day, 0, -1):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def overdue_measures(fetch: Fetch, on: date) -> list[tuple[dict[str, Any], list[int]]]:
    """Active plans with open measures whose evaluation date is before `on`, with those measures' indexes."""
    found = []
    for plan in fetch.search("CarePlan", [IP, ACTIVE, ("activity-next-evaluation", f"lt{on.isoformat()}"),
                                          ("_sort", "_id")]):
        overdue = [index for index, activity in enumerate(plan.get("activity") or [])
                   if measure_is_open(activity) and _before(
                       extension_value(activity.get("detail") or {}, NEXT_EVALUATION_URL, "Date"), on)]
        if overdue:
            found.append((plan, overdue))
    return found


def _before(value: Any, on: date) -> bool:
    return isinstance(value, str) and value[:10] < on.isoformat()


def revision_due(fetch: Fetch, on: date) -> list[dict[str, Any]]:
    """Active plans whose revision (the plan's next-evaluation date) is before `on`."""
    return fetch.search("CarePlan", [IP, ACTIVE, ("next-evaluation", f"lt{on.isoformat()}"), ("_sort", "_id")])


def stale_plans(fetch: Fetch, on: date, months: int) -> list[dict[str, Any]]:
    """Active plans with no new version since `months` months before `on`."""
    cutoff = months_before(on, months)
    return fetch.search("CarePlan", [IP, ACTIVE, ("_lastUpdated", f"lt{cutoff.isoformat()}"),
                                     ("_sort", "_lastUpdated")])


def _teams_and_episodes(fetch: Fetch, plans: list[dict[str, Any]]) -> tuple[dict[str, dict[str, Any]],
                                                                           dict[str, list[dict[str, Any]]]]:
    team_ids = {t[1] for p in plans for t in (referenced(r) for r in p.get("careTeam") or [])
                if t and t[0] == "CareTeam"}
    teams = {t["id"]: t for t in fetch.by_ids("CareTeam", sorted(team_ids))}
    patients = sorted({t[1] for p in plans for t in [referenced(p.get("subject"))] if t and t[0] == "Patient"})
    episodes: dict[str, list[dict[str, Any]]] = {}
    for start in range(0, len(patients), 100):
        chunk = ",".join(f"Patient/{p}" for p in patients[start:start + 100])
        for episode in fetch.search("EpisodeOfCare", [("patient", chunk), *_coordinator_episode_params()]):
            target = referenced(episode.get("patient"))
            if target:
                episodes.setdefault(target[1], []).append(episode)
    return teams, episodes


def _coordinator_episode_params() -> list[tuple[str, str]]:
    return [("status", ",".join(OPEN_EPISODE_STATUSES)),
            ("type", ",".join(f"{VOLVEN_9034}|{c}" for c in sorted(COORDINATOR_CODES)))]


def _plan_coordinators(plan: dict[str, Any], teams: dict[str, dict[str, Any]],
                       episodes: dict[str, list[dict[str, Any]]], on: date) -> list[Coordinator]:
    in_teams = [c for t in (referenced(r) for r in plan.get("careTeam") or []) if t and t[1] in teams
                if teams[t[1]].get("status") not in ("inactive", "entered-in-error")
                for c in team_coordinators(teams[t[1]])]
    now = current(in_teams, on)
    if now:
        return now
    subject = referenced(plan.get("subject"))
    mine = episodes.get(subject[1], []) if subject else []
    return current([c for c in (episode_coordinator(e) for e in mine) if c is not None], on)


def without_coordinator(fetch: Fetch, on: date) -> list[dict[str, Any]]:
    """Active plans with no coordinator in force on `on` (in their care team or an episode)."""
    plans = fetch.search("CarePlan", [IP, ACTIVE, ("_sort", "_id")])
    teams, episodes = _teams_and_episodes(fetch, plans)
    return [p for p in plans if not _plan_coordinators(p, teams, episodes, on)]


@dataclass(frozen=True)
class Caseload:
    coordinator: str  # "Practitioner/x" or "PractitionerRole/y" (or the name, for a member known by name only)
    display: str
    plans: int  # active individual plans the coordinator is responsible for
    episodes: int  # coordinator-only assignments (an episode, no active plan)
    member: dict[str, Any] = field(default_factory=dict)  # the Reference as the care team records it


def caseloads(fetch: Fetch, on: date) -> list[Caseload]:
    """Per coordinator in force on `on`: active plans and coordinator-only episodes, largest first."""
    plans = fetch.search("CarePlan", [IP, ACTIVE])
    teams, episodes = _teams_and_episodes(fetch, plans)
    plan_counts: Counter[str] = Counter()
    names: dict[str, str] = {}
    members: dict[str, dict[str, Any]] = {}
    with_plan = set()
    for plan in plans:
        coordinators = _plan_coordinators(plan, teams, episodes, on)
        if coordinators:
            key = _key(coordinators[0], names, members)
            plan_counts[key] += 1
        subject = referenced(plan.get("subject"))
        if subject:
            with_plan.add(subject[1])
    episode_counts: Counter[str] = Counter()
    for episode in fetch.search("EpisodeOfCare", _coordinator_episode_params()):
        patient = referenced(episode.get("patient"))
        appointment = episode_coordinator(episode)
        if appointment is None or (patient and patient[1] in with_plan) or not current([appointment], on):
            continue
        episode_counts[_key(appointment, names, members)] += 1
    keys = set(plan_counts) | set(episode_counts)
    loads = [Caseload(k, names.get(k, ""), plan_counts[k], episode_counts[k], members.get(k, {})) for k in keys]
    return sorted(loads, key=lambda c: (-(c.plans + c.episodes), c.coordinator))


def _key(coordinator: Coordinator, names: dict[str, str], members: dict[str, dict[str, Any]]) -> str:
    key = coordinator.member.get("reference") or coordinator.member.get("display") or "?"
    if coordinator.member.get("display"):
        names.setdefault(key, coordinator.member["display"])
    members.setdefault(key, {k: v for k, v in coordinator.member.items() if k in ("reference", "identifier", "display")})
    return key


def worklist_bundle(plans: list[dict[str, Any]], base_url: str, self_url: str,
                    view: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> dict[str, Any]:
    """A searchset of the listed plans (total = how many the caller may see), each as the
    caller may see it (`view`: masked for the administrative view)."""
    base = base_url.rstrip("/")
    if view is not None:
        plans = [view(p) for p in plans]
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(plans),
                              "link": [{"relation": "self", "url": self_url}]}
    if plans:
        bundle["entry"] = [{"fullUrl": f"{base}/CarePlan/{p['id']}", "resource": p, "search": {"mode": "match"}}
                           for p in plans]
    return bundle


def only_measures(plan: dict[str, Any], indexes: list[int]) -> dict[str, Any]:
    """The plan with only the measures at `indexes`, tagged SUBSETTED."""
    from fhirip.plans.current import SUBSETTED

    shown = {k: v for k, v in plan.items() if k != "text"}
    shown["activity"] = [plan["activity"][i] for i in indexes]
    meta = dict(shown.get("meta") or {})
    meta["tag"] = [*(meta.get("tag") or []), SUBSETTED]
    shown["meta"] = meta
    return shown
