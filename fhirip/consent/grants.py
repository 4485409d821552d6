"""Grant derivation: one stored resource → the rows it puts in the access index.

Pure functions of the resource (and, for a RelatedPerson, the patient's birth date);
`fhirip.consent.index` writes their rows in the transaction that writes the resource.
Each row says who (a grantee key), on which patient, what kind of right, which
action and view, which restrictions, and when it is in force (`valid_from` ≤ now <
`valid_to`, naive UTC, None = open): time is data, compared with the request's
moment in SQL, never cached.

Grantee keys are what a caller resolves to: an identifier as `system|value` (the HPR
number, organisation number, fødselsnummer/D-nummer a token carries) or a literal
reference `Type/id` (Practitioner, PractitionerRole, Organization, RelatedPerson,
CareTeam). `*` is everyone (a deny provision naming no actor).

Kinds of row:

- `self`: a Patient's person identifier → that patient (their own record).
- `alias`: an identifier → the Practitioner or Organization carrying it.
- `role`: a Practitioner → a current PractitionerRole of theirs (`via`: the
  organisation the caller must act for, when the role names one).
- `relative`: a person identifier → a RelatedPerson with it (`target`), in its period.
- `proxy`: a parent's/guardian's person identifier → the child, until the child's
  16th birthday in Europe/Oslo.
- `member`: a CareTeam participant → the team (`target`), in the participation's period.
- `coordinator`: the current coordinator (CareTeam role Volven 9034 8/18, or an
  EpisodeOfCare's careManager) → the patient.
- `unit`: a managing organisation (Patient, CareTeam, EpisodeOfCare) → the patient,
  for the coordinating unit's administrative view.
- `consent`: a sharing Consent's permit naming the grantee (`effect` permit), or a
  deny provision taking something away (`effect` deny); `exempt`: an actor a root
  deny's nested permit excepts (`rank`: the provision's position; the first wins).

Consent rules (https://hl7.org/fhir/R4/consent.html#provision, IHE PCF: one nested
level): only an `active` Consent counts; the root period bounds every row; actions
access/use/disclose read, `correct` writes; `class` restricts types, `securityLabel`
requires labels (permit) or withholds them (deny), `data` on a deny withholds single
resources; a deny without actors applies to everyone; `purpose` is checked for
health personnel at request time (`purposes`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fhirip.consent.references import local_ref
from fhirip.consent.timing import sixteenth_birthday, validity
from fhirip.consent.vocabulary import (
    CONSENT_CATEGORY_SYSTEM,
    COORDINATOR_CODES,
    HPR_SYSTEM,
    ORG_NUMBER_SYSTEM,
    PARENT_OR_GUARDIAN,
    PERSON_SYSTEMS,
    READ_ACTIONS,
    RESOURCE_TYPES_SYSTEM,
    SHARING_CATEGORY_CODES,
    WRITE_ACTIONS,
)

INPUT_TYPES = frozenset({"Consent", "CareTeam", "EpisodeOfCare", "RelatedPerson", "Patient", "Practitioner",
                         "PractitionerRole", "Organization"})
EVERYONE = "*"
# EpisodeOfCare statuses in which its care manager is coordinating.
COORDINATING_EPISODE = frozenset({"planned", "waitlist", "active", "onhold"})

Label = tuple[str, str]
Validity = tuple[datetime | None, datetime | None]


@dataclass(frozen=True)
class Grant:
    """One row of the access index (see the module docstring)."""

    grantee: str
    kind: str
    patient_id: str | None = None
    target: str | None = None
    via: str | None = None
    effect: str = "permit"
    action: str = "read"  # read, or write (which includes read; on a deny: writes only)
    view: str = "full"  # full, or administrative
    classes: tuple[str, ...] | None = None  # resource types; None = every type
    labels: tuple[Label, ...] | None = None  # permit: required; deny: withheld
    resources: tuple[str, ...] = ()  # deny: withheld "Type/id"
    purposes: tuple[str, ...] = ()
    rank: int = 0
    valid_from: datetime | None = None
    valid_to: datetime | None = None


def key(system: Any, value: Any) -> str | None:
    """The grantee key of an identifier (None when either part is missing)."""
    if not isinstance(system, str) or not isinstance(value, str) or not system or not value:
        return None
    return f"{system}|{value}"


def ref_key(reference: Any) -> str | None:
    """The grantee key of a literal reference (`{"reference": "Practitioner/1"}`)."""
    found = local_ref(reference)
    return f"{found[0]}/{found[1]}" if found else None


def derive(res_type: str, resource: dict[str, Any], *, birth_date: Any = None) -> list[Grant]:
    """Every index row `resource` gives. `birth_date`: for a RelatedPerson, the birth date of
    the patient it is related to (None when unknown or the Patient does not exist)."""
    deriver = _DERIVERS.get(res_type)
    if deriver is None or not isinstance(resource, dict):
        return []
    if res_type == "RelatedPerson":
        return list(_related_person(resource, birth_date))
    return list(deriver(resource))


def _identifiers(resource: dict[str, Any], systems: Iterable[str]) -> list[str]:
    wanted = set(systems)
    found = []
    for identifier in resource.get("identifier") or []:
        if isinstance(identifier, dict) and identifier.get("system") in wanted:
            k = key(identifier.get("system"), identifier.get("value"))
            if k is not None:
                found.append(k)
    return sorted(set(found))


def _patient_id(reference: Any) -> str | None:
    found = local_ref(reference)
    return found[1] if found and found[0] == "Patient" else None


def within(*intervals: Validity | None) -> Validity | None:
    """The intersection of validity intervals (None when any is malformed)."""
    low: datetime | None = None
    high: datetime | None = None
    for interval in intervals:
        if interval is None:
            return None
        start, end = interval
        if start is not None and (low is None or start > low):
            low = start
        if end is not None and (high is None or end < high):
            high = end
    return low, high


def _active(resource: dict[str, Any]) -> bool:
    return resource.get("active") is not False


def _with(grant: Grant, interval: Validity) -> Grant:
    return Grant(**{**grant.__dict__, "valid_from": interval[0], "valid_to": interval[1]})


# -- the person and directory resources ------------------------------------------------------

def _patient(patient: dict[str, Any]) -> Iterator[Grant]:
    patient_id = patient.get("id")
    if not isinstance(patient_id, str):
        return
    if _active(patient):
        for grantee in _identifiers(patient, PERSON_SYSTEMS):
            yield Grant(grantee, "self", patient_id, target=f"Patient/{patient_id}", action="write")
    organization = ref_key(patient.get("managingOrganization"))
    if organization is not None:
        yield Grant(organization, "unit", patient_id, action="write", view="administrative")


def _related_person(related: dict[str, Any], birth_date: Any) -> Iterator[Grant]:
    related_id = related.get("id")
    period = validity(related.get("period"))
    patient_id = _patient_id(related.get("patient"))
    if not isinstance(related_id, str) or not _active(related) or period is None:
        return
    people = _identifiers(related, PERSON_SYSTEMS)
    for grantee in people:
        yield _with(Grant(grantee, "relative", patient_id, target=f"RelatedPerson/{related_id}"), period)
    sixteenth = sixteenth_birthday(birth_date)
    if patient_id is None or sixteenth is None or not _is_parent_or_guardian(related):
        return
    interval = within(period, (None, sixteenth))
    assert interval is not None
    for grantee in people:
        yield _with(Grant(grantee, "proxy", patient_id, target=f"RelatedPerson/{related_id}", action="write"),
                    interval)


def _is_parent_or_guardian(related: dict[str, Any]) -> bool:
    return any((coding.get("system"), coding.get("code")) in PARENT_OR_GUARDIAN
               for concept in related.get("relationship") or [] if isinstance(concept, dict)
               for coding in concept.get("coding") or [] if isinstance(coding, dict))


def _practitioner(practitioner: dict[str, Any]) -> Iterator[Grant]:
    if isinstance(practitioner.get("id"), str) and _active(practitioner):
        for grantee in _identifiers(practitioner, (HPR_SYSTEM,)):
            yield Grant(grantee, "alias", target=f"Practitioner/{practitioner['id']}")


def _organization(organization: dict[str, Any]) -> Iterator[Grant]:
    if isinstance(organization.get("id"), str) and _active(organization):
        for grantee in _identifiers(organization, (ORG_NUMBER_SYSTEM,)):
            yield Grant(grantee, "alias", target=f"Organization/{organization['id']}")


def _practitioner_role(role: dict[str, Any]) -> Iterator[Grant]:
    """A role counts while active and in its period, and only for a caller acting for the
    organisation it names (if it names one)."""
    practitioner = local_ref(role.get("practitioner"))
    period = validity(role.get("period"))
    if not isinstance(role.get("id"), str) or not _active(role) or period is None or practitioner is None \
            or practitioner[0] != "Practitioner":
        return
    organization = ref_key(role.get("organization"))
    yield _with(Grant(f"Practitioner/{practitioner[1]}", "role", target=f"PractitionerRole/{role['id']}",
                      via=organization), period)


# -- care teams and episodes -----------------------------------------------------------------

def is_coordinator(roles: Any) -> bool:
    """Whether a participant's roles name the plan coordinator (Volven 9034 code 8 or 18)."""
    for concept in roles if isinstance(roles, list) else []:
        for coding in (concept.get("coding") or []) if isinstance(concept, dict) else []:
            if isinstance(coding, dict) and (coding.get("system"), coding.get("code")) in COORDINATOR_CODES:
                return True
    return False


def _care_team(team: dict[str, Any]) -> Iterator[Grant]:
    team_id = team.get("id")
    if not isinstance(team_id, str):
        return
    patient_id = _patient_id(team.get("subject"))
    for organization in team.get("managingOrganization") or []:
        grantee = ref_key(organization)
        if grantee is not None and patient_id is not None:
            yield Grant(grantee, "unit", patient_id, action="write", view="administrative")
    if team.get("status") != "active":
        return
    for participant in team.get("participant") or []:
        if not isinstance(participant, dict):
            continue
        member = ref_key(participant.get("member"))
        period = validity(participant.get("period"))
        if member is None or period is None:
            continue
        yield _with(Grant(member, "member", patient_id, target=f"CareTeam/{team_id}"), period)
        if patient_id is not None and is_coordinator(participant.get("role")):
            yield _with(Grant(member, "coordinator", patient_id, target=f"CareTeam/{team_id}"), period)


def _episode(episode: dict[str, Any]) -> Iterator[Grant]:
    patient_id = _patient_id(episode.get("patient"))
    if patient_id is None:
        return
    organization = ref_key(episode.get("managingOrganization"))
    if organization is not None:
        yield Grant(organization, "unit", patient_id, action="write", view="administrative")
    manager = ref_key(episode.get("careManager"))
    period = validity(episode.get("period"))
    if manager is not None and period is not None and episode.get("status") in COORDINATING_EPISODE:
        yield _with(Grant(manager, "coordinator", patient_id, target=f"EpisodeOfCare/{episode.get('id')}"), period)


# -- consents --------------------------------------------------------------------------------

_SHARING = frozenset((CONSENT_CATEGORY_SYSTEM, code) for code in SHARING_CATEGORY_CODES)


def is_sharing(consent: dict[str, Any]) -> bool:
    return any((coding.get("system"), coding.get("code")) in _SHARING
               for concept in consent.get("category") or [] if isinstance(concept, dict)
               for coding in concept.get("coding") or [] if isinstance(coding, dict))


def provision_actors(provision: dict[str, Any]) -> list[str]:
    """The grantee keys a provision's actors name: literal references and identifiers."""
    found: list[str] = []
    for actor in provision.get("actor") or []:
        reference = actor.get("reference") if isinstance(actor, dict) else None
        literal = ref_key(reference)
        if literal is not None:
            found.append(literal)
        identifier = reference.get("identifier") if isinstance(reference, dict) else None
        if isinstance(identifier, dict):
            logical = key(identifier.get("system"), identifier.get("value"))
            if logical is not None:
                found.append(logical)
    return sorted(set(found))


def permitted_actors(consent: dict[str, Any]) -> list[str]:
    """The grantee keys any permit provision of the Consent names (root or nested)."""
    root = consent.get("provision")
    if not isinstance(root, dict):
        return []
    provisions = [root] + [p for p in root.get("provision") or [] if isinstance(p, dict)]
    return sorted({k for p in provisions if p.get("type") == "permit" for k in provision_actors(p)})


def _actions(provision: dict[str, Any]) -> set[str]:
    return {coding.get("code") for concept in provision.get("action") or [] if isinstance(concept, dict)
            for coding in concept.get("coding") or [] if isinstance(coding, dict) and coding.get("code")}


def _classes(provision: dict[str, Any]) -> tuple[str, ...]:
    return tuple(sorted({c["code"] for c in provision.get("class") or [] if isinstance(c, dict)
                         and isinstance(c.get("code"), str) and c.get("system") in (RESOURCE_TYPES_SYSTEM, None)}))


def _labels(provision: dict[str, Any]) -> tuple[Label, ...]:
    return tuple(sorted({(c.get("system") or "", c["code"]) for c in provision.get("securityLabel") or []
                         if isinstance(c, dict) and isinstance(c.get("code"), str)}))


def _purposes(provision: dict[str, Any]) -> tuple[str, ...]:
    return tuple(sorted({c["code"] for c in provision.get("purpose") or [] if isinstance(c, dict)
                         and isinstance(c.get("code"), str)}))


def _permit(grantee: str, patient_id: str, provision: dict[str, Any], *, kind: str = "consent",
            rank: int = 0, purposes: tuple[str, ...] = ()) -> Grant | None:
    """What a permit provision gives the actors it names (None: it permits no action)."""
    actions = _actions(provision)
    reads = not actions or bool(actions & READ_ACTIONS)
    writes = bool(actions & WRITE_ACTIONS)
    if not reads and not writes:
        return None
    return Grant(grantee, kind, patient_id, action="write" if writes else "read",
                 classes=_classes(provision) or None, labels=_labels(provision) or None,
                 purposes=purposes, rank=rank)


def _deny(grantee: str, patient_id: str, provision: dict[str, Any]) -> Grant:
    actions = _actions(provision)
    resources = tuple(sorted({f"{found[0]}/{found[1]}" for item in provision.get("data") or []
                              if isinstance(item, dict) and (found := local_ref(item.get("reference")))}))
    return Grant(grantee, "consent", patient_id, effect="deny",
                 action="write" if actions and actions <= WRITE_ACTIONS else "read",
                 classes=_classes(provision) or None, labels=_labels(provision) or None,
                 resources=resources, purposes=_purposes(provision))


def _consent(consent: dict[str, Any]) -> Iterator[Grant]:
    patient_id = _patient_id(consent.get("patient"))
    root = consent.get("provision")
    if consent.get("status") != "active" or patient_id is None or not isinstance(root, dict):
        return
    period = validity(root.get("period"))
    if period is None:
        return
    nested = [p for p in root.get("provision") or [] if isinstance(p, dict)]
    sharing = is_sharing(consent)
    if root.get("type") == "permit":
        if sharing:
            for grantee in provision_actors(root):
                permit = _permit(grantee, patient_id, root, purposes=_purposes(root))
                if permit is not None:
                    yield _with(permit, period)
        for provision in nested:
            interval = within(period, validity(provision.get("period")))
            if provision.get("type") != "deny" or interval is None:
                continue
            for grantee in provision_actors(provision) or [EVERYONE]:
                yield _with(_deny(grantee, patient_id, provision), interval)
    elif root.get("type") == "deny":
        for rank, provision in enumerate(nested):
            interval = within(period, validity(provision.get("period")))
            if provision.get("type") != "permit" or interval is None:
                continue
            for grantee in provision_actors(provision):
                permit = _permit(grantee, patient_id, provision, kind="exempt", rank=rank) if sharing else None
                # An actor excepted from the deny, with what the exception grants (if anything).
                yield _with(permit or Grant(grantee, "exempt", patient_id, action="none", rank=rank), interval)
        for grantee in provision_actors(root) or [EVERYONE]:
            yield _with(_deny(grantee, patient_id, root), period)


_DERIVERS = {
    "Patient": _patient, "RelatedPerson": lambda r: _related_person(r, None), "Practitioner": _practitioner,
    "Organization": _organization, "PractitionerRole": _practitioner_role, "CareTeam": _care_team,
    "EpisodeOfCare": _episode, "Consent": _consent,
}
