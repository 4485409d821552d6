"""Coordinator handover: end one coordinator's period and start the next, in one transaction.

The seeds' worst continuity problem is the change of coordinator (000:2293–2295).
A handover therefore never leaves a gap or an overlap: the outgoing period ends
the day before the handover date, the incoming one starts on it, a handover note
(`Communication`) records what was passed on, and a `Provenance` ties the new
versions together. A coordinator without a plan (EpisodeOfCare.careManager) is
handed over by finishing that episode and starting the next one.

The team (or episode) is read under a row lock and written back with the version that was
read: concurrent handovers of one team run one after the other, each from the newest version,
so none overwrites another and each note and Provenance names a version that stays.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import date
from typing import Any

from fhirip.errors import BadRequest, NotFound, Unprocessable
from fhirip.context import Context
from fhirip.plans.codes import (
    OPEN_EPISODE_STATUSES,
    coordinator_code,
    day_before,
    referenced,
)
from fhirip.plans.coordinator import (
    Coordinator,
    current,
    episode_coordinator,
    team_coordinators,
)
from fhirip.plans.recording import read_for_change, record_provenance, write_version
from fhirip.store import Current, instant, now_utc

COORDINATOR_TYPES = ("Practitioner", "PractitionerRole")


@dataclass(frozen=True)
class Handover:
    incoming: dict[str, Any]  # Reference to the new coordinator
    on: date  # the first day of the new coordinator
    note: str  # what the outgoing coordinator passes on
    code: str | None = None  # Volven 9034 kind (8 or 18) when a team has both


def checked_incoming(reference: Any) -> dict[str, Any]:
    target = referenced(reference)
    if target is None or target[0] not in COORDINATOR_TYPES:
        raise BadRequest("Parameter 'coordinator' must be a reference to a Practitioner or "
                         "PractitionerRole (e.g. {\"reference\": \"PractitionerRole/123\"})",
                         expression=["Parameters.parameter.where(name='coordinator')"])
    return {key: value for key, value in reference.items() if key in ("reference", "display", "type")}


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return referenced(a) is not None and referenced(a) == referenced(b)


def _outgoing(appointments: list[Coordinator], handover: Handover, where: str) -> Coordinator:
    now = current(appointments, handover.on)
    if handover.code is not None:
        now = [c for c in now if c.code == handover.code]
    if not now:
        raise Unprocessable(f"{where} has no coordinator on {handover.on.isoformat()} to hand over "
                            "from; appoint the first coordinator by updating the resource")
    if len({c.code for c in now}) > 1:
        raise BadRequest(f"{where} has both a municipal (8) and a specialist (18) coordinator; "
                         "say which is handed over with parameter 'role'", expression=["role"])
    outgoing = now[0]
    if _same(outgoing.member, handover.incoming):
        raise Unprocessable(f"{handover.incoming.get('reference')} is already the coordinator")
    start = outgoing.period.get("start")
    if start and start[:10] >= handover.on.isoformat():
        raise Unprocessable(f"The outgoing coordinator started on {start}; the handover date "
                            f"{handover.on.isoformat()} must be later", expression=["date"])
    return outgoing


def hand_over_team(ctx: Context, team_id: str, handover: Handover) -> list[Current]:
    """End the current coordinator of a CareTeam and start `handover.incoming`; returns what was written."""
    found = read_for_change(ctx, "CareTeam", team_id)
    if found is None:
        raise NotFound(f"CareTeam/{team_id} does not exist")
    team, version = found
    where = f"CareTeam/{team_id}"
    outgoing = _outgoing(team_coordinators(team), handover, where)
    end = day_before(handover.on).isoformat()
    incoming_role = None
    for participant in team.get("participant") or []:
        if (coordinator_code(participant.get("role")) == outgoing.code
                and participant.get("member") == outgoing.member
                and (participant.get("period") or {}) == outgoing.period):
            participant["period"] = {**(participant.get("period") or {}), "end": end}
            incoming_role = copy.deepcopy(participant.get("role"))
    team.setdefault("participant", []).append(
        {"role": incoming_role, "member": handover.incoming, "period": {"start": handover.on.isoformat()}})
    written_team = write_version(ctx, team, expected=version)
    note = _note(team.get("subject"), [f"CareTeam/{team_id}"], outgoing.member, handover)
    written_note = write_version(ctx, note)
    proof = record_provenance(ctx, [written_team, written_note], activity="UPDATE",
                              reason=f"Koordinatorbytte {handover.on.isoformat()}: {handover.note}")
    return [written_team, written_note, proof]


def hand_over_episode(ctx: Context, episode_id: str, handover: Handover) -> list[Current]:
    """Finish a coordinator EpisodeOfCare the day before and start the next one with the new careManager."""
    found = read_for_change(ctx, "EpisodeOfCare", episode_id)
    if found is None:
        raise NotFound(f"EpisodeOfCare/{episode_id} does not exist")
    episode, version = found
    where = f"EpisodeOfCare/{episode_id}"
    appointment = episode_coordinator(episode)
    if appointment is None:
        raise Unprocessable(f"{where} is not an open coordinator episode (type Volven 9034 code 8 "
                            f"or 18, status {', '.join(OPEN_EPISODE_STATUSES)}, with a careManager)")
    outgoing = _outgoing([appointment], handover, where)
    successor = {key: copy.deepcopy(value) for key, value in episode.items()
                 if key not in ("id", "meta", "text", "statusHistory", "period", "careManager")}
    successor.update({"status": "active", "period": {"start": handover.on.isoformat()},
                      "careManager": handover.incoming})
    episode["status"] = "finished"
    episode["period"] = {**(episode.get("period") or {}), "end": day_before(handover.on).isoformat()}
    written_old = write_version(ctx, episode, expected=version)
    written_new = write_version(ctx, successor)
    note = _note(episode.get("patient"), [where, f"EpisodeOfCare/{written_new.res_id}"],
                 outgoing.member, handover)
    written_note = write_version(ctx, note)
    proof = record_provenance(ctx, [written_old, written_new, written_note], activity="UPDATE",
                              reason=f"Koordinatorbytte {handover.on.isoformat()}: {handover.note}")
    return [written_old, written_new, written_note, proof]


def _note(subject: Any, about: list[str], outgoing: dict[str, Any], handover: Handover) -> dict[str, Any]:
    """The handover note from the outgoing to the incoming coordinator."""
    note: dict[str, Any] = {
        "resourceType": "Communication", "status": "completed",
        "category": [{"text": "Koordinatorbytte"}],
        "about": [{"reference": reference} for reference in about],
        "sent": instant(now_utc()),
        "sender": outgoing, "recipient": [handover.incoming],
        "payload": [{"contentString": handover.note}],
    }
    if isinstance(subject, dict):
        note["subject"] = subject
    return note
