"""Reading one Consent: does it permit this actor, and what do its deny provisions take away.

https://hl7.org/fhir/R4/consent.html#provision
https://profiles.ihe.net/ITI/PCF (IntermediateConsent: one nested level of exceptions)

Only an `active` Consent counts. Within a provision the elements combine with AND
and repeated values with OR (PCF §P.4.4):

- actor: the provision applies to the actor if any `actor.reference` names them,
  literally (Practitioner/PractitionerRole/Organization/RelatedPerson/CareTeam id) or
  logically (`Reference.identifier` HPR number, organisation number, fødselsnummer);
  a provision without actors applies to everyone the Consent shares with.
- period: the provision is in force only within it (the root period bounds the Consent).
- purpose: if given, a practitioner's purpose of use must be one of them (citizens,
  who state no purpose of use, are not held to it).
- action (consentaction): access/use/disclose permit reading, correct permits writing;
  a permit without action permits reading only.
- class (resource-types): the resource types concerned.
- securityLabel: only resources carrying one of these labels are concerned.
- data: on a deny, the named resources are withheld; on a permit it documents the plan
  the sharing concerns and does not narrow it (the whole compartment is shared).

A root `permit` of a sharing Consent grants; a nested `deny` (a reservasjon) narrows
or removes what any Consent grants. A root `deny` (a blocking Consent under
pasient- og brukerrettighetsloven § 5-3) removes access except for actors a nested
`permit` names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fhirip.consent.access import Access, Basis, Instance, Label
from fhirip.consent.lookups import local_ref
from fhirip.consent.timing import period_covers
from fhirip.consent.vocabulary import (
    AUDIT_TYPE,
    CONSENT_CATEGORY_SYSTEM,
    READ_ACTIONS,
    RESOURCE_TYPES_SYSTEM,
    SHARING_CATEGORY_CODES,
    WRITE_ACTIONS,
)


@dataclass(frozen=True)
class Deny:
    """What one applicable deny provision takes away from an actor."""

    consent: str
    types: frozenset[str] = frozenset()
    labels: frozenset[Label] = frozenset()
    resources: frozenset[Instance] = frozenset()
    writes_only: bool = False  # the provision denies `correct` only

    @property
    def total(self) -> bool:
        """Nothing narrows it: the actor loses the patient altogether."""
        return not (self.types or self.labels or self.resources or self.writes_only)

    def apply(self, access: Access) -> Access | None:
        if self.total:
            return None
        return access.narrowed(types=self.types, labels=self.labels, resources=self.resources,
                               read_only=self.writes_only, consent=self.consent)


@dataclass(frozen=True)
class ActorNames:
    """The references and identifiers that name the actor in a provision."""

    refs: frozenset[tuple[str, str]]
    identifiers: frozenset[tuple[str, str]]
    purpose_of_use: str | None
    # Purposes of use are attested for health personnel; a citizen states none.
    checks_purpose: bool = True

    def named_in(self, provision: dict[str, Any]) -> bool:
        for actor in provision.get("actor") or []:
            reference = (actor or {}).get("reference")
            if local_ref(reference) in self.refs:
                return True
            identifier = (reference or {}).get("identifier") if isinstance(reference, dict) else None
            if isinstance(identifier, dict) and \
                    (identifier.get("system"), identifier.get("value")) in self.identifiers:
                return True
        return False

    def purpose_fits(self, provision: dict[str, Any]) -> bool:
        purposes = {c.get("code") for c in provision.get("purpose") or [] if isinstance(c, dict)}
        return not purposes or not self.checks_purpose or self.purpose_of_use in purposes


@dataclass(frozen=True)
class Evaluation:
    patient: str | None
    permit: Access | None
    denies: tuple[Deny, ...]


_SHARING = frozenset((CONSENT_CATEGORY_SYSTEM, code) for code in SHARING_CATEGORY_CODES)


def is_sharing(consent: dict[str, Any]) -> bool:
    for concept in consent.get("category") or []:
        for coding in (concept or {}).get("coding") or []:
            if (coding.get("system"), coding.get("code")) in _SHARING:
                return True
    return False


def evaluate(consent_ref: str, consent: dict[str, Any], names: ActorNames, now: datetime) -> Evaluation:
    """What this Consent means for the actor now."""
    patient = local_ref(consent.get("patient"))
    patient_id = patient[1] if patient and patient[0] == "Patient" else None
    root = consent.get("provision")
    if consent.get("status") != "active" or patient_id is None or not isinstance(root, dict):
        return Evaluation(patient_id, None, ())
    if not period_covers(root.get("period"), now):
        return Evaluation(patient_id, None, ())
    nested = [p for p in root.get("provision") or [] if isinstance(p, dict)]
    in_force = [p for p in nested if period_covers(p.get("period"), now)]

    if root.get("type") == "permit":
        permit = None
        if is_sharing(consent) and names.named_in(root) and names.purpose_fits(root):
            permit = permit_access(consent_ref, root)
        denies = tuple(_deny(consent_ref, p) for p in in_force
                       if p.get("type") == "deny" and _applies(p, names))
        return Evaluation(patient_id, permit, denies)

    if root.get("type") == "deny":
        exceptions = [p for p in in_force if p.get("type") == "permit" and names.named_in(p)]
        if exceptions:
            permit = permit_access(consent_ref, exceptions[0]) if is_sharing(consent) else None
            return Evaluation(patient_id, permit, ())
        if _applies(root, names):
            return Evaluation(patient_id, None, (_deny(consent_ref, root),))
    return Evaluation(patient_id, None, ())


def _applies(provision: dict[str, Any], names: ActorNames) -> bool:
    """A deny applies to the actors it names, or to everyone if it names none; a deny
    limited to other purposes of use does not apply."""
    if provision.get("actor") and not names.named_in(provision):
        return False
    return names.purpose_fits(provision)


def _codes(concepts: Any, system: str | None = None) -> set[str]:
    return {c.get("code") for c in concepts or [] if isinstance(c, dict) and c.get("code")
            and (system is None or c.get("system") in (system, None))}


def _actions(provision: dict[str, Any]) -> set[str]:
    return {coding.get("code") for concept in provision.get("action") or []
            for coding in (concept or {}).get("coding") or [] if coding.get("code")}


def _labels(provision: dict[str, Any]) -> frozenset[Label]:
    return frozenset((c.get("system"), c.get("code")) for c in provision.get("securityLabel") or []
                     if isinstance(c, dict) and c.get("code"))


def permit_access(consent_ref: str, provision: dict[str, Any]) -> Access | None:
    """The access a permit provision gives the actors it names (None: it permits no action)."""
    actions = _actions(provision)
    reads = not actions or bool(actions & READ_ACTIONS)
    writes = bool(actions & WRITE_ACTIONS)
    if not reads and not writes:
        return None
    classes = _codes(provision.get("class"), RESOURCE_TYPES_SYSTEM)
    types = frozenset(classes) if classes else None
    labels = _labels(provision)
    # The access log is the patient's own; a sharing consent never opens it.
    return Access(Basis.CONSENT, read_types=types, write_types=None if writes else frozenset(),
                  excluded_types=frozenset({AUDIT_TYPE}), required_labels=labels or None,
                  consents=(consent_ref,))


def _deny(consent_ref: str, provision: dict[str, Any]) -> Deny:
    actions = _actions(provision)
    resources = frozenset(ref for item in provision.get("data") or [] if isinstance(item, dict)
                          if (ref := local_ref(item.get("reference"))) is not None)
    return Deny(consent_ref, types=frozenset(_codes(provision.get("class"), RESOURCE_TYPES_SYSTEM)),
                labels=_labels(provision), resources=resources,
                writes_only=bool(actions) and actions <= WRITE_ACTIONS)
