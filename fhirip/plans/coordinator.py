"""The coordinator: who it is at a given day, and the rule that there is never more than one.

A coordinator is a CareTeam participant with role Volven 9034 code 8 (code 18 in
the specialist health service) and a `period`; a coordinator without a plan is
an EpisodeOfCare of that type with `careManager`. Periods of the same kind of
coordinator must not overlap: a handover ends one the day before the next starts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from fhirip.errors import Issue
from fhirip.context import Context, visible_keys
from fhirip.plans.codes import (
    COORDINATOR_CODES,
    OPEN_EPISODE_STATUSES,
    VOLVEN_9034,
    coordinator_code,
    covers,
    has_code,
    overlaps,
    period_range,
    reference_id,
)
from fhirip.plans.persons import subject_patients
from fhirip.store import Current
from fhirip.store.unscoped import TokenIs, UnscopedReader, UnscopedUse


@dataclass(frozen=True)
class Coordinator:
    """One coordinator appointment: who, of which kind, when, and where it is recorded."""

    member: dict[str, Any]  # the Reference to the Practitioner(Role)/Organization
    code: str  # Volven 9034: 8 or 18
    period: dict[str, Any]
    source: str  # "CareTeam/x" or "EpisodeOfCare/y"


def team_coordinators(careteam: dict[str, Any]) -> list[Coordinator]:
    """Every coordinator appointment in a CareTeam, past, present and future."""
    found = []
    for participant in careteam.get("participant") or []:
        code = coordinator_code(participant.get("role"))
        if code is not None and isinstance(participant.get("member"), dict):
            found.append(Coordinator(participant["member"], code, participant.get("period") or {},
                                     f"CareTeam/{careteam.get('id')}"))
    return found


def episode_coordinator(episode: dict[str, Any]) -> Coordinator | None:
    """The coordinator an EpisodeOfCare records, if it is a coordinator episode with a careManager."""
    code = coordinator_code(episode.get("type"))
    if code is None or not isinstance(episode.get("careManager"), dict):
        return None
    if episode.get("status") not in OPEN_EPISODE_STATUSES:
        return None
    return Coordinator(episode["careManager"], code, episode.get("period") or {},
                       f"EpisodeOfCare/{episode.get('id')}")


def current(coordinators: Iterable[Coordinator], on: date) -> list[Coordinator]:
    """The appointments in force on `on`; the municipal coordinator (8) before the specialist one (18)."""
    now = [c for c in coordinators if _covers(c.period, on)]
    return sorted(now, key=lambda c: c.code != "8")


def _covers(period: dict[str, Any], on: date) -> bool:
    try:
        return covers(period, on)
    except ValueError:
        return False


# -- the write rule ---------------------------------------------------------------------------

def overlap_issues(appointments: list[Coordinator], where: str,
                   unseen: frozenset[str] = frozenset()) -> list[Issue]:
    """An error for each pair of appointments of the same kind whose periods overlap.

    An appointment recorded in a resource the caller may not see (`unseen`, by source) is not
    described: the refusal says only that the person has another coordinator of the kind, in
    words that do not depend on who it is, since when, or where it is recorded."""
    issues = []
    for index, first in enumerate(appointments):
        for second in appointments[index + 1:]:
            if first.code != second.code:
                continue
            try:
                clash = overlaps(period_range(first.period), period_range(second.period))
            except ValueError as error:
                issues.append(Issue("error", "invalid", f"A coordinator period is not a date: {error}",
                                    (where,)))
                continue
            if clash and (first.source in unseen or second.source in unseen):
                issues.append(Issue(
                    "error", "business-rule",
                    f"The person already has a coordinator (Volven 9034 code {first.code}) in an "
                    "overlapping period. There is one responsible coordinator at any time; the "
                    "person's coordinating unit (CarePlan/$exists names whom to contact) arranges "
                    "a handover", (where,)))
            elif clash:
                issues.append(Issue(
                    "error", "business-rule",
                    f"Two coordinators (Volven 9034 code {first.code}) overlap: "
                    f"{_who(first)} {_when(first.period)} in {first.source} and {_who(second)} "
                    f"{_when(second.period)} in {second.source}. There is one responsible "
                    "coordinator at any time; end one period the day before the next starts "
                    "($handover does this)", (where,)))
    return issues


def _who(c: Coordinator) -> str:
    return c.member.get("reference") or c.member.get("display") or "a coordinator"


def _when(period: dict[str, Any]) -> str:
    return f"[{period.get('start') or '…'} – {period.get('end') or '…'}]"


def refuse_overlapping_coordinators(ctx: Context, written: dict[str, Any],
                                    previous: Current | None) -> list[Issue]:
    """Write hook on CareTeam and EpisodeOfCare: no two coordinators of one kind at once."""
    if written.get("resourceType") == "CareTeam":
        if written.get("status") == "entered-in-error":
            return []
        return overlap_issues(team_coordinators(written), "CareTeam.participant")
    if written.get("resourceType") == "EpisodeOfCare":
        mine = episode_coordinator(written)
        if mine is None:
            return []
        reader = UnscopedReader(ctx.tx.conn, UnscopedUse.ONE_COORDINATOR)
        patients = subject_patients(reader, written.get("patient"), ctx.base_urls)
        # Periods are compared, not keys, so no constraint can hold this rule: the person's lock,
        # held until commit, makes a second coordinator episode written at the same moment wait
        # and then be checked against the first.
        ctx.tx.hold(f"coordinator-episodes|Patient/{patient_id}" for patient_id in patients)
        others = [c for c in (episode_coordinator(e) for e in _person_episodes(reader, patients)
                              if e.get("id") != written.get("id")) if c is not None]
        # The rule holds whoever writes; episodes the caller may not see are not described.
        seen = visible_keys(ctx, {("EpisodeOfCare", c.source.partition("/")[2]) for c in others})
        unseen = frozenset(c.source for c in others
                           if ("EpisodeOfCare", c.source.partition("/")[2]) not in seen)
        return overlap_issues([mine, *others], "EpisodeOfCare.period", unseen)
    return []


# -- reading what is stored -------------------------------------------------------------------

def _person_episodes(reader: UnscopedReader, patient_ids: set[str]) -> list[dict[str, Any]]:
    """Open coordinator EpisodeOfCare resources of the given Patients (past the caller: a rule)."""
    if not patient_ids:
        return []
    episodes = reader.naming_patients("EpisodeOfCare", "patient", patient_ids,
                                      tokens=(TokenIs("type", COORDINATOR_CODES, VOLVEN_9034),))
    unique = {e.res_id: e.content for e in episodes}
    return [e for e in unique.values() if e.get("status") in OPEN_EPISODE_STATUSES]


def plan_coordinators(reader: UnscopedReader, careplan: dict[str, Any], on: date) -> list[Coordinator]:
    """The coordinators in force on `on` for a plan: its care teams', else the person's episodes."""
    team_ids = [i for i in (reference_id(t, "CareTeam") for t in careplan.get("careTeam") or []) if i]
    teams = reader.contents("CareTeam", team_ids) if team_ids else []
    in_teams = current((c for t in teams if t.get("status") not in ("inactive", "entered-in-error")
                        for c in team_coordinators(t)), on)
    if in_teams:
        return in_teams
    episodes = _person_episodes(reader, subject_patients(reader, careplan.get("subject")))
    return current((c for c in (episode_coordinator(e) for e in episodes) if c is not None), on)


def is_coordinator_episode(episode: dict[str, Any]) -> bool:
    return has_code(episode.get("type") or [], VOLVEN_9034, COORDINATOR_CODES)
