"""Who the actor is in the data: the resources that name them, found from the token's identifiers.

The token carries identifiers (HPR number, fødselsnummer/D-nummer, organisation
number). A person is the patient of every Patient with their number and the
relative of every RelatedPerson with it; a practitioner is every Practitioner with
their HPR number and every current PractitionerRole of those (for the
organisation they act for); both are members of the CareTeams that list any of
these (or the actor's organisation) as a current participant.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import Connection

from fhirip.auth.actor import Actor
from fhirip.consent import lookups, slim
from fhirip.consent.lookups import Found, Ref, local_ref
from fhirip.consent.timing import period_covers
from fhirip.consent.vocabulary import (
    COORDINATING_UNIT_ROLE,
    HPR_SYSTEM,
    ORG_NUMBER_SYSTEM,
    PERSON_SYSTEMS,
)

# EpisodeOfCare statuses in which its care manager is coordinating.
_COORDINATING_EPISODE = frozenset({"planned", "waitlist", "active", "onhold"})


@dataclass
class Identity:
    """The actor's resources and memberships at the moment of the decision."""

    own_patients: list[Found] = field(default_factory=list)
    related_persons: list[Found] = field(default_factory=list)
    practitioners: list[Found] = field(default_factory=list)  # Practitioner and PractitionerRole
    organizations: list[Found] = field(default_factory=list)
    care_teams: list[Ref] = field(default_factory=list)  # teams the actor is a current member of
    # Patients whose current coordinator the actor is (CareTeam role 8/18 or EpisodeOfCare.careManager).
    coordinated_patients: set[str] = field(default_factory=set)
    identifiers: set[tuple[str, str]] = field(default_factory=set)

    @property
    def member_refs(self) -> set[Ref]:
        """What a CareTeam participant or a provision actor may refer to for this actor."""
        return {f.ref for f in self.related_persons + self.practitioners + self.organizations}

    @property
    def refs(self) -> set[Ref]:
        return self.member_refs | set(self.care_teams)


def is_coordinating_unit(actor: Actor) -> bool:
    """The koordinerende enhet: an organisation number and the role claim naming the unit."""
    return actor.org_number is not None and COORDINATING_UNIT_ROLE in actor.roles


def resolve(conn: Connection, actor: Actor, now: datetime, *, within: Collection[str] | None = None,
            named_teams: Collection[str] = ()) -> Identity:
    """Who the actor is, with their care teams (see `with_teams`)."""
    return with_teams(conn, who(conn, actor, now), now, within=within, named_teams=named_teams)


def who(conn: Connection, actor: Actor, now: datetime) -> Identity:
    """Who the actor is, without their care teams: the resources with their identifiers,
    current PractitionerRoles, and the patients they manage as an episode's care manager."""
    identity = Identity()
    wanted: set[tuple[str, str, str]] = set()
    if actor.org_number is not None:
        identity.identifiers.add((ORG_NUMBER_SYSTEM, actor.org_number))
        wanted.add(("Organization", ORG_NUMBER_SYSTEM, actor.org_number))
    if actor.is_person and actor.person_id is not None:
        identity.identifiers |= {(system, actor.person_id) for system in PERSON_SYSTEMS}
        wanted |= {(res_type, system, actor.person_id) for res_type in ("Patient", "RelatedPerson")
                   for system in PERSON_SYSTEMS}
    if actor.hpr_number is not None:
        identity.identifiers.add((HPR_SYSTEM, actor.hpr_number))
        wanted.add(("Practitioner", HPR_SYSTEM, actor.hpr_number))
    found = [f for f in lookups.by_identifiers(conn, wanted) if f.content.get("active") is not False]
    identity.organizations = [f for f in found if f.res_type == "Organization"]
    identity.own_patients = [f for f in found if f.res_type == "Patient"]
    identity.related_persons = [f for f in found if f.res_type == "RelatedPerson"
                                and period_covers(f.content.get("period"), now)]
    people = [f for f in found if f.res_type == "Practitioner"]
    if people:
        roles = lookups.referring(conn, "PractitionerRole", "practitioner", {p.ref for p in people})
        org_refs = {o.ref for o in identity.organizations}
        identity.practitioners = people + [r for r in roles if _current_role(r, org_refs, now)]
    practitioner_refs = {p.ref for p in identity.practitioners}
    if practitioner_refs:
        for episode in lookups.referring(conn, "EpisodeOfCare", "care-manager", practitioner_refs):
            content = episode.content
            patient = local_ref(content.get("patient"))
            if (patient and patient[0] == "Patient" and content.get("status") in _COORDINATING_EPISODE
                    and period_covers(content.get("period"), now)):
                identity.coordinated_patients.add(patient[1])
    return identity


def with_teams(conn: Connection, identity: Identity, now: datetime, *, within: Collection[str] | None = None,
               named_teams: Collection[str] = ()) -> Identity:
    """The identity with the CareTeams the actor is a current member of (and the patients
    they coordinate in them). With `within`, only the teams about those patients or named
    in `named_teams` (the teams their Consents name) are looked at, not all of the actor's."""
    members = identity.member_refs
    teams: dict[str, Ref] = {}
    coordinated = set(identity.coordinated_patients)
    if within is None:
        entries = slim.memberships(conn, members)
    else:
        entries = [e for e in slim.teams(conn, ids=named_teams, patients=within) if e.member in members]
    for entry in entries:
        if entry.team_status != "active" or not period_covers(entry.period, now):
            continue
        teams.setdefault(entry.team_id, ("CareTeam", entry.team_id))
        patient = local_ref(entry.subject)
        if patient and patient[0] == "Patient" and entry.coordinator:
            coordinated.add(patient[1])
    return replace(identity, care_teams=list(teams.values()), coordinated_patients=coordinated)


def _current_role(role: Found, org_refs: set[Ref], now: datetime) -> bool:
    """A PractitionerRole counts while active, in its period, and (if it names an
    organisation) only when the actor acts for that organisation."""
    content = role.content
    if content.get("active") is False or not period_covers(content.get("period"), now):
        return False
    organization = local_ref(content.get("organization"))
    return organization is None or organization in org_refs
