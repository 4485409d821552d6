"""The policy decision point: from an actor and the current data to an AccessPolicy.

Default deny. Called at the start of every request; it reads the current Patient,
RelatedPerson, Practitioner(Role), Organization, CareTeam, EpisodeOfCare and Consent
rows that concern the actor (through the search index, a handful of rows) and
keeps nothing afterwards.

1. The patient: every Patient whose identifier is the actor's fødselsnummer or
   D-nummer → that compartment, including the AuditEvents about them (their access log).
2. A proxy: a RelatedPerson with the actor's number and a parent/guardian relationship
   → the patient's compartment while the patient is under 16 (see `timing`); after
   that, or for other relatives, only what a sharing Consent names them for.
3. Practitioners, organisations, relatives: active sharing Consents whose permit
   provision names them (directly, by identifier, or through a CareTeam they or their
   organisation are a current member of); nested deny provisions win (`provisions`).
   The current coordinator's consent-based access also writes.
4. The coordinating unit (`administrative`): the administrative view of the patients
   whose CareTeam, EpisodeOfCare or Patient record it manages; a current coordinator
   without a sharing Consent gets the same view of the patients they coordinate.
5. Break-the-glass: a practitioner (HPR number) with purpose of use ETREAT/BTG and a
   stated reason reads every compartment (not the access logs) for at most
   `BREAK_THE_GLASS_MINUTES` after the token was issued; flagged for the audit record.
6. A system client (no person): exactly the types its `system/` scopes name, every row
   of them; Consents never widen it.

SMART scopes bound all of it (`AccessPolicy.may`, `AccessPolicy.sql`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection

from fhirip.auth.actor import Actor, ActorKind
from fhirip.consent import lookups, slim
from fhirip.consent.access import Access, Basis
from fhirip.consent.administrative import ADMIN_READ_TYPES, ADMIN_WRITE_TYPES
from fhirip.consent.identity import Identity, is_coordinating_unit, who, with_teams
from fhirip.consent.lookups import Found, local_ref
from fhirip.consent.policy import AccessPolicy, scope_read_types, scope_write_types
from fhirip.consent.provisions import ActorNames, Deny, evaluate
from fhirip.consent.timing import is_minor
from fhirip.consent.vocabulary import (
    AUDIT_TYPE,
    PARENT_OR_GUARDIAN,
    PERSON_WRITABLE_TYPES,
    PUBLIC_TO_PEOPLE,
)

# Emergency access lasts as long as a fresh token: at most this long after it was issued.
BREAK_THE_GLASS_MINUTES = 30


def decide(conn: Connection, actor: Actor | None, *, now: datetime | None = None,
           token_issued_at: datetime | None = None, within: Collection[str] | None = None,
           known: Identity | None = None) -> AccessPolicy:
    """The access policy of `actor` for one request, from the data as it is now.

    `token_issued_at` (the token's `iat`) bounds break-the-glass in time; without it
    emergency access is refused. `within` limits the decision to the compartments of
    those patients: the grants to them are exactly those of the whole decision, and no
    other patient's compartment is granted (the cost follows these patients, not the
    hundreds of care teams a practitioner may sit on). `known`: who the actor is
    (`identity.who`), when already read in this request.
    """
    now = now or datetime.now(UTC)
    if actor is None:
        return AccessPolicy(actor=None, decided_at=now, dialect=conn.dialect.name)
    scope_types = scope_read_types(actor)
    unit = is_coordinating_unit(actor)

    if actor.kind is ActorKind.SYSTEM and not unit:
        readable = scope_types if scope_types is not None else frozenset(_all_types())
        return AccessPolicy(actor=actor, decided_at=now, open_types=readable,
                            system_writes=scope_write_types(actor), scope_read_types=scope_types,
                            dialect=conn.dialect.name)

    scoped = None if within is None else frozenset(within)
    their_consents = None if scoped is None else slim.consents_around(conn, (), (), scoped)
    identity = with_teams(conn, known if known is not None else who(conn, actor, now), now, within=scoped,
                          named_teams=slim.named_teams(their_consents) if their_consents else ())
    grants: dict[str, list[Access]] = defaultdict(list)

    for patient in identity.own_patients:
        grants[patient.res_id].append(Access(Basis.SELF, None, PERSON_WRITABLE_TYPES))
    _proxy_grants(conn, identity, now, grants)

    unit_orgs = frozenset(org.ref for org in identity.organizations) if unit else frozenset()
    administered = _administered_patients(conn, unit_orgs)
    if scoped is not None:
        administered &= scoped

    names = ActorNames(frozenset(identity.refs), frozenset(identity.identifiers), actor.purpose_of_use,
                       checks_purpose=not actor.is_person)
    # Every patient the actor reaches in any way: a reservation naming them applies to all of it.
    reached = set(grants) | identity.coordinated_patients | administered
    denies, consents = _consent_grants(conn, identity, names, now, grants, reached, their_consents)

    for patient_id in identity.coordinated_patients:
        upgraded = [_as_coordinator(a) for a in grants.get(patient_id, [])]
        if any(a.basis is Basis.COORDINATOR for a in upgraded):
            grants[patient_id] = upgraded
        else:
            grants[patient_id].append(Access(Basis.ADMINISTRATIVE, ADMIN_READ_TYPES, frozenset()))

    for patient_id in administered:
        grants[patient_id].append(Access(Basis.ADMINISTRATIVE, ADMIN_READ_TYPES, ADMIN_WRITE_TYPES))

    if scoped is not None:  # only these patients' Consents were read: grant no one else
        # (but the patient's own access, which no Consent narrows)
        grants = defaultdict(list, {p: g if p in scoped else [a for a in g if a.basis is Basis.SELF]
                                    for p, g in grants.items()})
    final = _apply_denies(grants, denies)
    everyone, refused = _break_the_glass(actor, now, token_issued_at)
    return AccessPolicy(
        actor=actor, decided_at=now, grants=final,
        open_types=frozenset(PUBLIC_TO_PEOPLE), everyone=everyone, scope_read_types=scope_types,
        unit_organizations=unit_orgs, break_the_glass=everyone is not None,
        break_the_glass_refused=refused, coordinating_unit=unit, consents=tuple(sorted(consents)),
        is_relative=bool(identity.related_persons), dialect=conn.dialect.name)


def _proxy_grants(conn: Connection, identity: Identity, now: datetime,
                  grants: dict[str, list[Access]]) -> None:
    parents_of: dict[str, Found] = {}
    for related in identity.related_persons:
        patient = local_ref(related.content.get("patient"))
        if patient and patient[0] == "Patient" and _is_parent_or_guardian(related.content):
            parents_of[patient[1]] = related
    for patient in lookups.by_ids(conn, {("Patient", p) for p in parents_of}):
        if is_minor(patient.content.get("birthDate"), now):
            grants[patient.res_id].append(Access(Basis.PROXY, None, PERSON_WRITABLE_TYPES))


def _is_parent_or_guardian(related_person: dict) -> bool:
    return any((coding.get("system"), coding.get("code")) in PARENT_OR_GUARDIAN
               for concept in related_person.get("relationship") or []
               for coding in (concept or {}).get("coding") or [])


def _consent_grants(conn: Connection, identity: Identity, names: ActorNames, now: datetime,
                    grants: dict[str, list[Access]], reached: set[str],
                    given: list[slim.ConsentFacts] | None = None) -> tuple[dict[str, list[Deny]], set[str]]:
    """Permits from the Consents naming the actor, and the denies of every active Consent
    of the patients concerned (a deny in one Consent narrows a permit in another).
    `given`: the Consents already read (a decision within some patients)."""
    all_consents = given if given is not None else \
        slim.consents_around(conn, identity.refs, identity.identifiers, reached)
    denies: dict[str, list[Deny]] = defaultdict(list)
    used: set[str] = set()
    for consent in all_consents:
        if consent.plain is not None:  # a root permit alone: grants, denies nothing
            permit = consent.plain.grants(names, now)
            if permit is not None and consent.patient is not None:
                grants[consent.patient].append(permit)
                used.add(consent.ref)
            continue
        assert consent.content is not None
        result = evaluate(consent.ref, consent.content, names, now)
        if result.patient is None:
            continue
        if result.permit is not None:
            grants[result.patient].append(result.permit)
            used.add(consent.ref)
        if result.denies:
            denies[result.patient].extend(result.denies)
            used.add(consent.ref)
    return denies, used


def _as_coordinator(access: Access) -> Access:
    if access.basis is not Basis.CONSENT:
        return access
    return Access(Basis.COORDINATOR, access.read_types, None, access.excluded_types,
                  access.required_labels, access.denied_labels, access.excluded_resources, access.consents)


def _apply_denies(grants: dict[str, list[Access]],
                  denies: dict[str, list[Deny]]) -> dict[str, tuple[Access, ...]]:
    """Deny wins: it narrows or removes every access but the patient's own."""
    final: dict[str, tuple[Access, ...]] = {}
    for patient_id, accesses in grants.items():
        kept: list[Access] = []
        for access in accesses:
            narrowed: Access | None = access
            if access.basis is not Basis.SELF:
                for deny in denies.get(patient_id, ()):
                    narrowed = deny.apply(narrowed) if narrowed is not None else None
            if narrowed is not None:
                kept.append(narrowed)
        if kept:
            final[patient_id] = tuple(kept)
    return final


def _administered_patients(conn: Connection, org_refs: frozenset[tuple[str, str]]) -> set[str]:
    if not org_refs:
        return set()
    patients = {p.res_id for p in lookups.referring(conn, "Patient", "organization", org_refs)}
    for episode in lookups.referring(conn, "EpisodeOfCare", "organization", org_refs):
        ref = local_ref(episode.content.get("patient"))
        if ref and ref[0] == "Patient":
            patients.add(ref[1])
    for team in lookups.linking(conn, "CareTeam", "CareTeam.managingOrganization", org_refs):
        ref = local_ref(team.content.get("subject"))
        if ref and ref[0] == "Patient":
            patients.add(ref[1])
    return patients


def _break_the_glass(actor: Actor, now: datetime,
                     issued_at: datetime | None) -> tuple[Access | None, str | None]:
    if not actor.break_the_glass:
        return None, None
    if actor.kind is not ActorKind.PRACTITIONER:
        return None, "break-the-glass is for health personnel with an HPR number"
    if issued_at is None:
        return None, "break-the-glass needs the token's issue time"
    age = _aware(now) - _aware(issued_at)
    if age > timedelta(minutes=BREAK_THE_GLASS_MINUTES) or age < -timedelta(minutes=5):
        return None, f"break-the-glass lasts {BREAK_THE_GLASS_MINUTES} minutes from the token's issue"
    access = Access(Basis.BREAK_THE_GLASS, None, frozenset(), excluded_types=frozenset({AUDIT_TYPE}))
    return access, None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _all_types() -> frozenset[str]:
    from fhirip.consent.vocabulary import all_resource_types

    return all_resource_types()
