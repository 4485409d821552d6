"""The plan as a reader sees it: one structure, organised by the § 19 content list.

Both the printable plan (`$render`, HTML and PDF) and the CarePlan's own
narrative are drawn from a `PlanDocument`, so they can never say different
things. Resources are fetched through a `Fetch` function: the render operation
passes one that applies the caller's consent policy, the narrative one that
reads the store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from fhirip.plans.codes import (
    LEGAL_BASIS_URL,
    LIVSOMRADE_URL,
    MEASURE_STATUS_URL,
    NEXT_EVALUATION_URL,
    codings,
    extension_value,
    is_plan_consent,
    is_sharing_consent,
    measure_is_open,
    referenced,
)
from fhirip.plans.coordinator import current, episode_coordinator, team_coordinators
from fhirip.plans.fetching import Fetch

TERMINOLOGY = Path(__file__).resolve().parents[2] / "terminology" / "CodeSystem"


PLAN_STATUS = {"draft": "Under arbeid (utkast)", "active": "Aktiv", "on-hold": "Satt på vent",
               "revoked": "Avsluttet (samtykke trukket)", "completed": "Avsluttet",
               "entered-in-error": "Registrert ved feil", "unknown": "Ukjent"}
GOAL_STATUS = {"proposed": "Foreslått", "planned": "Planlagt", "accepted": "Avtalt", "active": "Aktivt",
               "on-hold": "På vent", "completed": "Nådd", "cancelled": "Avbrutt", "rejected": "Avvist"}
DETAIL_STATUS = {"not-started": "Ikke startet", "scheduled": "Planlagt", "in-progress": "Igangsatt",
                 "on-hold": "På vent", "completed": "Avsluttet", "cancelled": "Avbrutt",
                 "stopped": "Stanset", "unknown": "Ukjent"}
# The role shown for a participant whose role is not coded, by what they are.
KIND_LABEL = {"Patient": "Planeier", "RelatedPerson": "Pårørende", "Practitioner": "Fagperson",
              "PractitionerRole": "Fagperson", "Organization": "Tjeneste eller etat"}
CONSENT_STATUS = {"active": "Gitt", "inactive": "Trukket tilbake / erstattet", "rejected": "Avslått",
                  "proposed": "Foreslått", "draft": "Utkast"}


@cache
def _displays(code_system: str) -> dict[str, str]:
    path = TERMINOLOGY / f"{code_system}.json"
    if not path.exists():
        return {}
    found: dict[str, str] = {}

    def walk(concepts: list[dict[str, Any]]) -> None:
        for concept in concepts:
            found[concept["code"]] = concept.get("display", concept["code"])
            walk(concept.get("concept") or [])

    walk(json.loads(path.read_text(encoding="utf-8")).get("concept") or [])
    return found


def concept_text(concept: Any, code_system: str | None = None) -> str:
    """Text for a CodeableConcept: its text, a coding display, or the published display of its code."""
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for coding in codings(concept):
        if coding.get("display"):
            return str(coding["display"])
        if code_system:
            shown = _displays(code_system).get(str(coding.get("code")))
            if shown:
                return shown
        system = str(coding.get("system") or "")
        if system.endswith("9034"):
            return _displays("volven-9034").get(str(coding.get("code")), str(coding.get("code")))
        if "ip-careteam-role" in system:
            return _displays("ip-careteam-role").get(str(coding.get("code")), str(coding.get("code")))
    return next((str(c.get("code")) for c in codings(concept) if c.get("code")), "")


def measure_status_text(code: str | None) -> str:
    if not code:
        return ""
    return _displays("ip-measure-status").get(code, code.capitalize())


@dataclass
class Party:
    """Someone named in the plan: a person, a relative, a professional, a service."""

    reference: str
    name: str
    kind: str  # Patient | RelatedPerson | Practitioner | PractitionerRole | Organization | CareTeam …
    telecom: list[str] = field(default_factory=list)
    organisation: str = ""


@dataclass
class GoalView:
    text: str
    status: str
    domain: str
    expressed_by: str


@dataclass
class MeasureView:
    description: str
    status: str
    responsible: list[str]
    starts: str
    next_evaluation: str
    goals: list[str]
    is_open: bool


@dataclass
class ParticipantView:
    party: Party
    role: str
    period: str


@dataclass
class CoordinatorView:
    party: Party
    kind: str
    period: str
    is_current: bool


@dataclass
class ConsentView:
    kind: str  # "Samtykke til planen" | "Samtykke til deling av opplysninger"
    status: str
    given: str
    given_by: str
    period: str


@dataclass
class PlanDocument:
    plan_id: str
    title: str
    status: str
    person: Party | None
    birth_date: str
    description: str
    period: str
    next_revision: str
    legal_basis: str
    goals: list[GoalView]
    participants: list[ParticipantView]
    coordinators: list[CoordinatorView]
    measures: list[MeasureView]
    consents: list[ConsentView]
    cooperation: list[Party]
    printed: str


def human_name(resource: dict[str, Any]) -> str:
    names = resource.get("name")
    if isinstance(names, str):
        return names
    for name in names or []:
        if name.get("text"):
            return str(name["text"])
        parts = [*(name.get("given") or []), name.get("family") or ""]
        text = " ".join(p for p in parts if p)
        if text:
            return text
    return ""


def period_text(period: Any) -> str:
    if not isinstance(period, dict) or not (period.get("start") or period.get("end")):
        return ""
    start, end = period.get("start"), period.get("end")
    if start and end:
        return f"{norwegian_date(start)} – {norwegian_date(end)}"
    return f"fra {norwegian_date(start)}" if start else f"til {norwegian_date(end)}"


def norwegian_date(value: Any) -> str:
    """'2026-06-15' → '15.06.2026'; partial dates stay partial ('2003-05' → '05.2003')."""
    if not isinstance(value, str) or not value:
        return ""
    parts = value[:10].split("-")
    return ".".join(reversed(parts))


class _Parties:
    """Resolves references to display names and contact details, reading what is not known yet
    together."""

    def __init__(self, fetch: Fetch, references: list[Any], known: dict[tuple[str, str], dict[str, Any]]):
        """`known`: resources fetched already, by (type, id); the others are fetched together."""
        targets = {target for target in (referenced(reference) for reference in references) if target}
        self.found: dict[tuple[str, str], dict[str, Any]] = {key: known[key] for key in targets if key in known}
        self.found |= fetch.by_keys(targets - known.keys())
        # A PractitionerRole is shown by its practitioner's name and its organisation.
        more = {target for (t, _), role in self.found.items() if t == "PractitionerRole"
                for target in (referenced(role.get(key)) for key in ("practitioner", "organization"))
                if target and target not in self.found}
        self.found |= fetch.by_keys(more - known.keys())
        self.found |= {key: known[key] for key in more if key in known}

    def party(self, reference: Any) -> Party:
        target = referenced(reference)
        display = reference.get("display", "") if isinstance(reference, dict) else ""
        if target is None:
            return Party("", display or "(ukjent)", "")
        resource = self.found.get(target)
        ref = f"{target[0]}/{target[1]}"
        if resource is None:  # not visible to the reader, or not on this server
            return Party(ref, display or "(ikke tilgjengelig)", target[0])
        name, organisation = self._name(target[0], resource), ""
        telecom = [t.get("value", "") for t in resource.get("telecom") or [] if t.get("value")]
        if target[0] == "PractitionerRole":
            practitioner = self.found.get(referenced(resource.get("practitioner")) or ("", ""))
            org = self.found.get(referenced(resource.get("organization")) or ("", ""))
            name = (human_name(practitioner) if practitioner else "") or \
                concept_text((resource.get("code") or [{}])[0]) or display
            organisation = (org or {}).get("name", "")
            if not telecom and practitioner:
                telecom = [t.get("value", "") for t in practitioner.get("telecom") or [] if t.get("value")]
        return Party(ref, name or display or ref, target[0], telecom, organisation)

    @staticmethod
    def _name(res_type: str, resource: dict[str, Any]) -> str:
        if res_type in ("Organization", "CareTeam", "HealthcareService"):
            return str(resource.get("name") or "")
        return human_name(resource)


def build_document(plan: dict[str, Any], fetch: Fetch, *, on: date) -> PlanDocument:
    """Gather everything the plan's reader needs, through `fetch`, as of the day `on`."""
    goal_keys = [t for t in (referenced(g) for g in plan.get("goal") or []) if t and t[0] == "Goal"]
    team_keys = [t for t in (referenced(c) for c in plan.get("careTeam") or []) if t and t[0] == "CareTeam"]
    patient = referenced(plan.get("subject"))
    # What the plan itself names is read at once: its goals, teams and the parties it names.
    references = [plan.get("subject"), *(plan.get("contributor") or []), plan.get("author")]
    for activity in plan.get("activity") or []:
        references += (activity.get("detail") or {}).get("performer") or []
    known = fetch.by_keys([*goal_keys, *team_keys, *(t for t in (referenced(r) for r in references if r) if t)])
    goals = [resource for key, resource in known.items() if key[0] == "Goal" and key in set(goal_keys)]
    teams = [resource for key, resource in known.items() if key[0] == "CareTeam" and key in set(team_keys)]
    episodes, consents = [], []
    if patient and patient[0] == "Patient":
        named = fetch.by_patient_of_types(["EpisodeOfCare", "Consent"], patient[1])
        episodes, consents = named["EpisodeOfCare"], named["Consent"]
    references += [g.get("expressedBy") for g in goals]
    for team in teams:
        references += [p.get("member") for p in team.get("participant") or []]
        references += [p.get("onBehalfOf") for p in team.get("participant") or []]
        references += team.get("managingOrganization") or []
    references += [e.get("careManager") for e in episodes]
    references += [p for c in consents for p in c.get("performer") or []]
    parties = _Parties(fetch, [r for r in references if r], known)
    person = parties.party(plan["subject"]) if plan.get("subject") else None
    person_resource = parties.found.get(patient) if patient else None
    goal_text = {g["id"]: (g.get("description") or {}).get("text") or concept_text(g.get("description"))
                 for g in goals}
    return PlanDocument(
        plan_id=str(plan.get("id", "")),
        title=str(plan.get("title") or "Individuell plan"),
        status=PLAN_STATUS.get(str(plan.get("status")), str(plan.get("status") or "")),
        person=person,
        birth_date=norwegian_date((person_resource or {}).get("birthDate")),
        description=str(plan.get("description") or ""),
        period=period_text(plan.get("period")),
        next_revision=norwegian_date(extension_value(plan, NEXT_EVALUATION_URL, "Date")),
        legal_basis=concept_text(extension_value(plan, LEGAL_BASIS_URL, "CodeableConcept"), "ip-legal-basis"),
        goals=[_goal(g, parties) for g in goals],
        participants=_participants(teams, parties),
        coordinators=_coordinators(teams, episodes, parties, on),
        measures=[_measure(a, parties, goal_text) for a in plan.get("activity") or []],
        consents=[_consent(c, parties) for c in consents if is_plan_consent(c) or is_sharing_consent(c)],
        cooperation=_cooperation(plan, teams, parties),
        printed=norwegian_date(on.isoformat()),
    )


def _goal(goal: dict[str, Any], parties: _Parties) -> GoalView:
    description = goal.get("description") or {}
    domain = extension_value(goal, LIVSOMRADE_URL, "CodeableConcept")
    expressed = goal.get("expressedBy")
    return GoalView(text=str(description.get("text") or concept_text(description)),
                    status=GOAL_STATUS.get(str(goal.get("lifecycleStatus")), str(goal.get("lifecycleStatus") or "")),
                    domain=concept_text(domain, "ip-livsomrade") if domain else "",
                    expressed_by=parties.party(expressed).name if expressed else "")


def _measure(activity: dict[str, Any], parties: _Parties, goal_text: dict[str, str]) -> MeasureView:
    detail = activity.get("detail") or {}
    own = extension_value(detail, MEASURE_STATUS_URL, "Code")
    status = measure_status_text(own) or DETAIL_STATUS.get(str(detail.get("status")), str(detail.get("status") or ""))
    scheduled = detail.get("scheduledPeriod") or {}
    starts = period_text(scheduled) or str(detail.get("scheduledString") or "")
    goals = [goal_text.get((referenced(g) or ("", ""))[1], "") for g in detail.get("goal") or []]
    return MeasureView(description=str(detail.get("description") or concept_text(detail.get("code"))),
                       status=status,
                       responsible=[parties.party(p).name for p in detail.get("performer") or []],
                       starts=starts,
                       next_evaluation=norwegian_date(extension_value(detail, NEXT_EVALUATION_URL, "Date")),
                       goals=[g for g in goals if g], is_open=measure_is_open(activity))


def _participants(teams: list[dict[str, Any]], parties: _Parties) -> list[ParticipantView]:
    seen = []
    for team in teams:
        for participant in team.get("participant") or []:
            if not participant.get("member"):
                continue
            party = parties.party(participant["member"])
            roles = ", ".join(t for t in (concept_text(r) for r in participant.get("role") or []) if t)
            seen.append(ParticipantView(party, roles or KIND_LABEL.get(party.kind, ""),
                                        period_text(participant.get("period"))))
    return seen


def _coordinators(teams: list[dict[str, Any]], episodes: list[dict[str, Any]], parties: _Parties,
                  on: date) -> list[CoordinatorView]:
    appointments = [c for t in teams for c in team_coordinators(t)]
    appointments += [c for c in (episode_coordinator(e) for e in episodes) if c is not None]
    now = current(appointments, on)
    kinds = {"8": "Koordinator", "18": "Koordinator (spesialisthelsetjenesten)"}
    views = [CoordinatorView(parties.party(c.member), kinds[c.code], period_text(c.period), c in now)
             for c in appointments]
    return sorted(views, key=lambda v: (not v.is_current, v.period))


def _consent(consent: dict[str, Any], parties: _Parties) -> ConsentView:
    kind = "Samtykke til planen" if is_plan_consent(consent) else "Samtykke til deling av opplysninger"
    given_by = ", ".join(parties.party(p).name for p in consent.get("performer") or [])
    return ConsentView(kind, CONSENT_STATUS.get(str(consent.get("status")), str(consent.get("status") or "")),
                       norwegian_date(consent.get("dateTime")), given_by,
                       period_text((consent.get("provision") or {}).get("period")))


def _cooperation(plan: dict[str, Any], teams: list[dict[str, Any]], parties: _Parties) -> list[Party]:
    references = [*(plan.get("contributor") or [])]
    for team in teams:
        references += team.get("managingOrganization") or []
        references += [p["member"] for p in team.get("participant") or []
                       if (referenced(p.get("member")) or ("",))[0] == "Organization"]
    unique: dict[str, Party] = {}
    for reference in references:
        party = parties.party(reference)
        unique.setdefault(party.reference or party.name, party)
    return list(unique.values())
