"""Concurrent coordinator changes: one coordinator at a time, no lost update.

64 coordinator episodes of one person race to be created: one is, the others are refused as
overlapping it (422), as a later one is. 64 handovers of the same team race, each to another
incoming coordinator on another date.
Whatever order they run in, the team that remains has coordinator periods that do not
overlap and exactly one open one; every handover that answered 200 is in the team, and its
Communication and Provenance point at the version it wrote, which history still holds.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
from production_data import (
    SYSTEM,
    VOLVEN_9034,
    at_once,
    coordinator,
    created,
    new_fnr,
    patient,
    practitioner,
    search_all,
    statuses,
)

from fhirip.testing.served import ServedFhirip

RACERS = 64
FIRST = date(2026, 1, 1)


def _handover(incoming: str, on: date) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": [
        {"name": "coordinator", "valueReference": {"reference": incoming}},
        {"name": "date", "valueDate": on.isoformat()},
        {"name": "note", "valueString": f"Overlevert til {incoming}"}]}


def _coordinator_periods(team: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(member, start, end or '') of each coordinator of the team, ordered by start."""
    found = []
    for participant in team.get("participant") or []:
        codes = {c.get("code") for r in participant.get("role") or [] for c in r.get("coding") or []
                 if c.get("system") == VOLVEN_9034}
        if codes & {"8", "18"}:
            period = participant.get("period") or {}
            found.append((participant["member"]["reference"], period.get("start", ""), period.get("end", "")))
    return sorted(found, key=lambda p: p[1])


def _assert_one_at_a_time(periods: list[tuple[str, str, str]]) -> None:
    assert [p for p in periods if not p[2]] == periods[-1:], periods  # one open period, the last
    for (_, _, end), (_, start, _) in zip(periods, periods[1:]):
        assert end < start, periods  # no overlap: each ends before the next starts


def _written(response: httpx.Response, kind: str) -> dict[str, Any]:
    [found] = [e["resource"] for e in response.json()["entry"] if e["resource"]["resourceType"] == kind]
    return found


def test_racing_handovers_keep_one_coordinator_and_every_winner(served: ServedFhirip) -> None:
    with served.client(served.token(**SYSTEM)) as client:
        person = created(client.post("/Patient", json=patient(new_fnr())))
        first = created(client.post("/Practitioner", json=practitioner("Først")))
        team_id = created(client.post("/CareTeam", json={
            "resourceType": "CareTeam", "status": "active", "subject": {"reference": f"Patient/{person}"},
            "name": "Ansvarsgruppe",
            "participant": [coordinator(f"Practitioner/{first}", FIRST.isoformat())]}))
        incoming = at_once(RACERS, lambda i: created(client.post("/Practitioner",
                                                                 json=practitioner(f"Ny{i}"))))
        # dates spread over the year, so that later and earlier handovers meet in every order
        days = [FIRST + timedelta(days=1 + (i * 37) % 300) for i in range(RACERS)]
        responses = at_once(RACERS, lambda i: client.post(
            f"/CareTeam/{team_id}/$handover", json=_handover(f"Practitioner/{incoming[i]}", days[i])))
        assert not [r for r in responses if r.status_code >= 500], statuses(responses)
        winners = [r for r in responses if r.status_code == 200]
        assert winners, statuses(responses)

        team = client.get(f"/CareTeam/{team_id}").json()
        periods = _coordinator_periods(team)
        _assert_one_at_a_time(periods)
        # no lost update: every handover that answered 200 is in the team, each as one version
        members = {member for member, _, _ in periods}
        for response in winners:
            recipient = _written(response, "Communication")["recipient"][0]["reference"]
            assert recipient in members, statuses(responses)
        assert int(team["meta"]["versionId"]) == 1 + len(winners), statuses(responses)
        # the note and the Provenance of each winner point at its own version, kept in history
        for response in winners:
            written = _written(response, "CareTeam")
            version = written["meta"]["versionId"]
            kept = client.get(f"/CareTeam/{team_id}/_history/{version}")
            assert kept.status_code == 200 and kept.json() == written
            targets = {t["reference"] for t in _written(response, "Provenance")["target"]}
            assert f"CareTeam/{team_id}/_history/{version}" in targets
            about = {a["reference"] for a in _written(response, "Communication")["about"]}
            assert f"CareTeam/{team_id}" in about
        notes = client.get("/Communication", params={"about": f"CareTeam/{team_id}", "_summary": "count"})
        assert notes.json()["total"] == len(winners)


def _episode(patient_id: str, manager: str, start: date) -> dict[str, Any]:
    return {"resourceType": "EpisodeOfCare", "status": "active",
            "type": [{"coding": [{"system": VOLVEN_9034, "code": "8"}]}],
            "patient": {"reference": f"Patient/{patient_id}"}, "period": {"start": start.isoformat()},
            "careManager": {"reference": manager}}


def test_racing_coordinator_episodes_of_one_person_leave_one(served: ServedFhirip) -> None:
    with served.client(served.token(**SYSTEM)) as client:
        person = created(client.post("/Patient", json=patient(new_fnr())))
        managers = at_once(RACERS, lambda i: created(client.post("/Practitioner",
                                                                 json=practitioner(f"K{i}"))))
        responses = at_once(RACERS, lambda i: client.post("/EpisodeOfCare", json=_episode(
            person, f"Practitioner/{managers[i]}", FIRST + timedelta(days=i))))
        episodes = search_all(client, "/EpisodeOfCare", patient=f"Patient/{person}", status="active")
        assert len(episodes) == 1, statuses(responses)
        assert statuses(responses) == {201: 1, 422: RACERS - 1}
        later = client.post("/EpisodeOfCare", json=_episode(person, f"Practitioner/{managers[0]}", FIRST))
        assert later.status_code == 422
        refusals = [r.json()["issue"][0]["diagnostics"] for r in responses if r.status_code == 422]
        assert all("There is one responsible coordinator at any time" in said for said in refusals)
