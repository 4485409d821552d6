"""The Actor: who is asking, mapped from the claims of a verified HelseID-style token.

Claims read (the HelseID names, see ../shared/domain/anchors-norway.md):

=============================================  ==========================================
``sub``                                        subject (pseudonymous id at the issuer)
``client_id`` (or ``azp``)                     the calling application
``helseid://claims/hpr/hpr_number``            HPR number → a practitioner
``helseid://claims/identity/pid``              fødselsnummer/D-nummer → a person
``helseid://claims/client/claims/orgnr_parent`` organisation number (legal entity)
``helseid://claims/client/claims/orgnr_child``  organisation number of the point of care
``helseid://claims/identity/security_level``   level of assurance (4 = high)
``name``                                       display name, for the audit log
``role``                                       role(s), a string or a list of strings
``scope``                                      SMART scopes, space-separated or a list
``authorization_details``                      the trust-framework attestation (see below)
``purpose_of_use``                             development shorthand: v3 PurposeOfUse code
``btg_reason``                                 development shorthand: the reason for break-the-glass
=============================================  ==========================================

A health professional's HelseID token carries the trust-framework attestation
(:mod:`fhirip.auth.attestation`); its purpose of use then decides, and the two top-level
claims above, which HelseID does not issue, are ignored. They remain a shorthand for
development tokens. With an attestation: ETREAT and BTG claim emergency access, the
attested facts standing for the reason; COC is the case handling of the coordinating
unit (the role the consent decision reads, given by the attestation alone); TREAT follows
the consent rules.

The token says only *that* a person is acting; whether that person is the patient
or a relative depends on the Patient and RelatedPerson resources, so the consent
layer resolves a PERSON actor with :meth:`Actor.resolved_as`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any

from fhirip.auth.attestation import Attestation, attestation_from_claims
from fhirip.auth.challenges import invalid_token
from fhirip.errors import Forbidden
from fhirip.auth.scopes import Context, Restriction, ScopeSet

CLAIM_HPR_NUMBER = "helseid://claims/hpr/hpr_number"
CLAIM_PERSON_ID = "helseid://claims/identity/pid"
CLAIM_ORG_NUMBER = "helseid://claims/client/claims/orgnr_parent"
CLAIM_ORG_CHILD = "helseid://claims/client/claims/orgnr_child"
CLAIM_SECURITY_LEVEL = "helseid://claims/identity/security_level"
CLAIM_PURPOSE_OF_USE = "purpose_of_use"
CLAIM_BTG_REASON = "btg_reason"

# Identifier systems fixed by the no-basis profiles (anchors-norway.md §1.1).
FNR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.1"
DNR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.2"
HPR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.4"
ORG_NUMBER_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.101"

# Purposes of use that claim emergency access; with a stated reason they break the glass.
BREAK_THE_GLASS_PURPOSES = frozenset({"ETREAT", "BTG"})

_HPR_NUMBER = re.compile(r"^[0-9]{1,10}$")
_PERSON_ID = re.compile(r"^[0-9]{11}$")
_ORG_NUMBER = re.compile(r"^[0-9]{9}$")
# The role the consent decision reads as the coordinating unit (fhirip.consent.vocabulary).
COORDINATING_UNIT_ROLE = "koordinerende-enhet"
CASE_HANDLING_PURPOSE = "COC"
HIGH_ASSURANCE = "4"

_PURPOSE_CODE = re.compile(r"^[A-Z][A-Z0-9_]{0,31}$")
_MAX_REASON = 1000


class ActorKind(StrEnum):
    PRACTITIONER = "practitioner"
    PERSON = "person"  # a citizen not yet known to be the patient or a relative
    PATIENT = "patient"
    RELATIVE = "relative"
    SYSTEM = "system"


# Which clinical scope contexts count for each kind of actor: a backend client acts
# through system/ scopes only, a human user through patient/ and user/ scopes only.
_SCOPE_CONTEXTS: dict[ActorKind, frozenset[Context]] = {
    ActorKind.SYSTEM: frozenset({Context.SYSTEM}),
    ActorKind.PRACTITIONER: frozenset({Context.PATIENT, Context.USER}),
    ActorKind.PERSON: frozenset({Context.PATIENT, Context.USER}),
    ActorKind.PATIENT: frozenset({Context.PATIENT, Context.USER}),
    ActorKind.RELATIVE: frozenset({Context.PATIENT, Context.USER}),
}


@dataclass(frozen=True)
class Actor:
    """An authenticated caller. Immutable; one per request."""

    sub: str
    kind: ActorKind
    issuer: str
    client_id: str | None = None
    hpr_number: str | None = None
    person_id: str | None = None  # fødselsnummer or D-nummer
    org_number: str | None = None
    name: str | None = None
    roles: tuple[str, ...] = ()
    scopes: ScopeSet = field(default_factory=lambda: ScopeSet((), ()))
    purpose_of_use: str | None = None
    btg_reason: str | None = None
    # When the token was issued (its `iat`): break-the-glass lasts a limited time from it.
    issued_at: datetime | None = None
    # The SMART launch context's `patient` claim: the one Patient id `patient/` scopes speak for.
    patient: str | None = None
    org_child: str | None = None  # the point of care's organisation number
    security_level: str | None = None
    attestation: Attestation | None = None

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any], *, require_attestation: bool = False,
                    scope_prefix: str = "") -> Actor:
        """Map verified token claims to an Actor; malformed claims are an invalid token (401),
        an attestation the rules refuse is Forbidden (403). With ``require_attestation`` a
        health professional's token without one is refused too. ``scope_prefix`` is the
        namespace the identity provider puts before the API's scopes (HelseID: ``nhn:<api>/``):
        a scope carrying it is read without it, so ``nhn:fhirip/user/*.rs`` is ``user/*.rs``."""
        issuer = _optional_string(claims, "iss") or ""
        client_id = _optional_string(claims, "client_id") or _optional_string(claims, "azp")
        hpr_number = _identifier(claims, CLAIM_HPR_NUMBER, _HPR_NUMBER, "digits only")
        person_id = _identifier(claims, CLAIM_PERSON_ID, _PERSON_ID, "11 digits")
        org_number = _identifier(claims, CLAIM_ORG_NUMBER, _ORG_NUMBER, "9 digits")
        issued_at = _issued_at(claims)
        attestation = attestation_from_claims(claims, person_id=person_id, hpr_number=hpr_number,
                                              org_number=org_number, issued_at=issued_at)
        security_level = _security_level(claims)
        purpose_of_use, btg_reason = _purpose_of_use(claims), _btg_reason(claims)
        roles = _string_or_list(claims, "role")
        if attestation is not None:
            if security_level != HIGH_ASSURANCE:
                raise Forbidden("The trust-framework attestation is refused: the user must be authenticated "
                                f"at security level {HIGH_ASSURANCE} (helseid://claims/identity/security_level)")
            purpose_of_use = attestation.purpose
            btg_reason = attestation.reason() if attestation.emergency else None
            org_number = org_number or attestation.legal_entity.id
            # Case handling is what the coordinating unit does; no other purpose makes one.
            roles = tuple(role for role in roles if role != COORDINATING_UNIT_ROLE)
            if purpose_of_use == CASE_HANDLING_PURPOSE:
                roles += (COORDINATING_UNIT_ROLE,)
        elif hpr_number is not None and require_attestation:
            raise Forbidden("A health professional's token must carry the trust-framework attestation "
                            "(authorization_details of type nhn:tillitsrammeverk:parameters) stating the "
                            "purpose of use")

        if hpr_number is not None or attestation is not None:
            # Health personnel in a care relation, with or without an HPR number: never a citizen.
            kind = ActorKind.PRACTITIONER
        elif person_id is not None:
            kind = ActorKind.PERSON
        else:
            kind = ActorKind.SYSTEM

        sub = _optional_string(claims, "sub")
        if sub is None:
            # Client-credentials tokens may carry no sub; the client is then the subject.
            if kind is not ActorKind.SYSTEM or client_id is None:
                raise invalid_token("the token has no 'sub' claim")
            sub = client_id

        return cls(
            sub=sub,
            kind=kind,
            issuer=issuer,
            client_id=client_id,
            hpr_number=hpr_number,
            person_id=person_id,
            org_number=org_number,
            name=_optional_string(claims, "name"),
            roles=roles,
            scopes=ScopeSet.parse(" ".join(scope[len(scope_prefix):] if scope_prefix and scope.startswith(scope_prefix)
                                           else scope for scope in _string_or_list(claims, "scope"))),
            purpose_of_use=purpose_of_use,
            btg_reason=btg_reason,
            issued_at=issued_at,
            org_child=_identifier(claims, CLAIM_ORG_CHILD, _ORG_NUMBER, "9 digits"),
            security_level=security_level,
            attestation=attestation,
            patient=_optional_string(claims, "patient"),
        )

    @property
    def role(self) -> str | None:
        """The first role claimed, for callers that expect one."""
        return self.roles[0] if self.roles else None

    @property
    def is_person(self) -> bool:
        return self.kind in (ActorKind.PERSON, ActorKind.PATIENT, ActorKind.RELATIVE)

    @property
    def break_the_glass(self) -> bool:
        """Emergency access is claimed: an emergency purpose of use AND a stated reason."""
        return self.purpose_of_use in BREAK_THE_GLASS_PURPOSES and bool(self.btg_reason)

    @property
    def person_identifier(self) -> tuple[str, str] | None:
        """(system, value) of the person identifier; a D-nummer has first digit 4-7."""
        if self.person_id is None:
            return None
        system = DNR_SYSTEM if self.person_id[0] in "4567" else FNR_SYSTEM
        return system, self.person_id

    def resolved_as(self, kind: ActorKind) -> Actor:
        """The same person, now known to be the patient or a relative."""
        if self.kind is not ActorKind.PERSON or kind not in (ActorKind.PATIENT, ActorKind.RELATIVE):
            raise ValueError(f"cannot resolve a {self.kind} actor as {kind}")
        return replace(self, kind=kind)

    def scope_allows(self, resource_type: str, interaction: str) -> bool:
        """Whether any of the token's scopes reaches this interaction on this type.

        An upper bound only: True may still come with query restrictions (see
        :meth:`scope_restrictions`), and the consent decision applies on top.
        Interactions: read, vread, history (= history-instance), history-type,
        history-system, search (= search-type), search-system, create, update, patch, delete.
        """
        return bool(self.scopes.matching(_SCOPE_CONTEXTS[self.kind], resource_type, interaction))

    @property
    def patient_context_only(self) -> bool:
        """The token names a patient in context and every clinical scope it has speaks for
        that patient (`patient/...`): it reaches that patient's record and no other."""
        return self.patient is not None and bool(self.scopes.clinical) and \
            all(scope.context is Context.PATIENT for scope in self.scopes.clinical)

    def scope_restrictions(self, resource_type: str, interaction: str) -> tuple[Restriction, ...] | None:
        """The query restrictions the scopes put on this interaction.

        None: some scope permits it without restriction. A non-empty tuple: a resource
        is within scope only if it matches at least one of these restrictions (each a
        set of search parameters that must all match). An empty tuple: not permitted.
        """
        matching = self.scopes.matching(_SCOPE_CONTEXTS[self.kind], resource_type, interaction)
        if any(not scope.restriction for scope in matching):
            return None
        return tuple(scope.restriction for scope in matching)


def _issued_at(claims: Mapping[str, Any]) -> datetime | None:
    value = claims.get("iat")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return datetime.fromtimestamp(value, timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise invalid_token("the iat claim is not a valid time") from None


def _optional_string(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_token(f"claim '{name}' must be a string")
    value = value.strip()
    return value or None


def _string_or_list(claims: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = claims.get(name)
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(value.split()) if name == "scope" else (value,)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise invalid_token(f"claim '{name}' must be a string or a list of strings")


def _identifier(claims: Mapping[str, Any], name: str, pattern: re.Pattern[str], shape: str) -> str | None:
    value = claims.get(name)
    if isinstance(value, int) and not isinstance(value, bool) and name == CLAIM_HPR_NUMBER:
        value = str(value)  # some issuers emit the HPR number as a JSON number
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not pattern.match(value):
        raise invalid_token(f"claim '{name}' must be {shape}")
    return value


def _purpose_of_use(claims: Mapping[str, Any]) -> str | None:
    value = claims.get(CLAIM_PURPOSE_OF_USE)
    if isinstance(value, dict):  # the attestation form {"system": ..., "code": ...}
        value = value.get("code")
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _PURPOSE_CODE.match(value.strip().upper()):
        raise invalid_token(f"claim '{CLAIM_PURPOSE_OF_USE}' must be a v3 PurposeOfUse code such as TREAT")
    return value.strip().upper()


def _security_level(claims: Mapping[str, Any]) -> str | None:
    value = claims.get(CLAIM_SECURITY_LEVEL)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if value is None:
        return None
    if value not in ("1", "2", "3", "4"):
        raise invalid_token(f"claim '{CLAIM_SECURITY_LEVEL}' must be 1, 2, 3 or 4")
    return value


def _btg_reason(claims: Mapping[str, Any]) -> str | None:
    reason = _optional_string(claims, CLAIM_BTG_REASON)
    if reason is not None and len(reason) > _MAX_REASON:
        raise invalid_token(f"claim '{CLAIM_BTG_REASON}' is longer than {_MAX_REASON} characters")
    return reason
