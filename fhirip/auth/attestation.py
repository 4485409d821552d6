"""The trust-framework attestation (*tillitsrammeverk*) a HelseID access token carries.

A health professional's EHR attests, and HelseID signs into the token, why they ask: who
they are, for which legal entity, point of care and department, in which care relation
(healthcare service, purpose of use, the local access decision and whether they chose it
themselves) and, when the EHR names them, the patient's point of care. It arrives as the
``authorization_details`` entry of type ``nhn:tillitsrammeverk:parameters`` (RFC 9396).
See ../shared/domain/helseid-trust-framework.md §1-§4 for the model and the rules.

Two kinds of refusal: a malformed attestation (not the shapes below) is an invalid token
(401); a well-formed one that the rules refuse — no or an unknown purpose of use, another
person than the token's, an attestation more than an hour old — is 403.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from fhirip.auth.challenges import invalid_token
from fhirip.errors import Forbidden

ATTESTATION_TYPE = "nhn:tillitsrammeverk:parameters"
CLAIM_AUTHORIZATION_DETAILS = "authorization_details"

PURPOSE_OF_USE_SYSTEM = "urn:oid:2.16.840.1.113883.1.11.20448"  # v3 PurposeOfUse
PURPOSES = ("TREAT", "ETREAT", "COC", "BTG")
EMERGENCY_PURPOSES = frozenset({"ETREAT", "BTG"})
FNR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.1"
DNR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.2"
HNR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.3"
HPR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.4"
ENH_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.101"
RESH_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.102"
AUTHORIZATION_SYSTEM = "urn:oid:2.16.578.1.12.4.1.1.9060"  # Volven 9060, e.g. LE = lege
# Volven code systems a healthcare service may come from (spec §4).
HEALTHCARE_SERVICE_SYSTEMS = frozenset(f"urn:oid:2.16.578.1.12.4.1.1.{n}" for n in
                                       (8655, 8451, 8668, 8663, 8662, 8664, 8666, 7750, 8254))
MAX_AGE_SECONDS = 3600  # ATT-58: an attestation more than an hour old is refused

_ORG_NUMBER = re.compile(r"^[0-9]{9}$")
_PERSON_NUMBER = re.compile(r"^[0-9]{11}$")
_HPR_NUMBER = re.compile(r"^[0-9]{1,10}$")
_DECISION_REF = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_MAX_TEXT = 200


@dataclass(frozen=True)
class Ident:
    """An identifier object of the attestation: ``{id, system, name, authority}``."""

    id: str
    system: str | None = None
    name: str | None = None
    authority: str | None = None


@dataclass(frozen=True)
class Code:
    """A code object of the attestation: ``{code, system, text, assigner}``."""

    code: str
    system: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class Attestation:
    """One verified attestation, as the token carried it (validated, nothing inferred)."""

    legal_entity: Ident
    point_of_care: Ident
    purpose_of_use: Code
    decision_ref: str
    user_selected: bool
    attested_at: datetime  # `toa`, or the token's iat when the attestation has none
    identifier: Ident | None = None  # the practitioner's fødselsnummer/D-nummer
    hpr_number: str | None = None
    authorization: Code | None = None
    department: Ident | None = None
    healthcare_service: Code | None = None
    purpose_of_use_details: Code | None = None
    patient_point_of_care: Ident | None = None
    patient_department: Ident | None = None
    patient_identifier: Ident | None = None

    @property
    def purpose(self) -> str:
        return self.purpose_of_use.code

    @property
    def emergency(self) -> bool:
        return self.purpose in EMERGENCY_PURPOSES

    def reason(self) -> str:
        """What the attestation says of the access, for the break-the-glass record: there is
        no free text in it, so the attested facts stand for the reason."""
        parts = [f"Attestert formål {self.purpose}"]
        for code in (self.purpose_of_use_details, self.healthcare_service):
            if code is not None:
                parts.append(f"{code.text} ({code.code})" if code.text else code.code)
        parts.append(f"beslutning {self.decision_ref}" + (" (selvvalgt)" if self.user_selected else ""))
        return "; ".join(parts)


def attestation_from_claims(claims: Mapping[str, Any], *, person_id: str | None, hpr_number: str | None,
                            org_number: str | None, issued_at: datetime | None,
                            now: datetime | None = None) -> Attestation | None:
    """The trust-framework attestation of a token; None when it carries none."""
    entry = _entry(claims.get(CLAIM_AUTHORIZATION_DETAILS))
    if entry is None:
        return None
    where = f"{CLAIM_AUTHORIZATION_DETAILS}[type={ATTESTATION_TYPE}]"
    practitioner = _object(entry, "practitioner", where, required=True)
    relation_name = "care_relationship" if "care_relationship" in entry else "care_relation"
    relation = _object(entry, relation_name, where, required=True)
    at = f"{where}.practitioner"
    rel = f"{where}.{relation_name}"

    purpose = _code(relation, "purpose_of_use", rel)
    if purpose is None:
        raise _refused(f"the attestation states no purpose of use ({rel}.purpose_of_use); one of "
                       f"{', '.join(PURPOSES)} is required")
    if purpose.system != PURPOSE_OF_USE_SYSTEM:
        raise _refused(f"{rel}.purpose_of_use.system must be {PURPOSE_OF_USE_SYSTEM}")
    if purpose.code not in PURPOSES:
        raise _refused(f"purpose of use '{purpose.code}' is not one this server knows "
                       f"({', '.join(PURPOSES)})")

    decision = _object(relation, "decision_ref", rel, required=True)
    decision_id = decision.get("id")
    if not isinstance(decision_id, str) or not _DECISION_REF.match(decision_id):
        raise _malformed(f"{rel}.decision_ref.id must be 1-64 characters of A-Z, a-z, 0-9, _ . -")
    user_selected = decision.get("user_selected")
    if not isinstance(user_selected, bool):
        raise _malformed(f"{rel}.decision_ref.user_selected must be true or false")

    legal_entity = _ident(practitioner, "legal_entity", at, required=True)
    point_of_care = _ident(practitioner, "point_of_care", at, required=True)
    assert legal_entity is not None and point_of_care is not None
    for name, ident in (("legal_entity", legal_entity), ("point_of_care", point_of_care)):
        if ident.system != ENH_SYSTEM or not _ORG_NUMBER.match(ident.id):
            raise _refused(f"{at}.{name} must be an organisation number (9 digits, system {ENH_SYSTEM})")
    if org_number is not None and legal_entity.id != org_number:
        raise _refused(f"{at}.legal_entity ({legal_entity.id}) is not the token's organisation ({org_number})")

    identifier = _ident(practitioner, "identifier", at)
    if identifier is not None:
        if identifier.system not in (FNR_SYSTEM, DNR_SYSTEM) or not _PERSON_NUMBER.match(identifier.id):
            raise _refused(f"{at}.identifier must be a fødselsnummer or D-nummer")
        if identifier.id != person_id:
            raise _refused(f"{at}.identifier is not the authenticated user (helseid://claims/identity/pid)")
    attested_hpr = _ident(practitioner, "hpr_nr", at)
    if attested_hpr is not None:
        if not _HPR_NUMBER.match(attested_hpr.id) or attested_hpr.system not in (None, HPR_SYSTEM):
            raise _refused(f"{at}.hpr_nr must be an HPR number (system {HPR_SYSTEM})")
        if hpr_number is not None and attested_hpr.id != hpr_number:
            raise _refused(f"{at}.hpr_nr is not the token's HPR number")
    authorization = _code(practitioner, "authorization", at)
    if authorization is not None and authorization.system != AUTHORIZATION_SYSTEM:
        raise _refused(f"{at}.authorization.system must be {AUTHORIZATION_SYSTEM} (Volven 9060)")
    service = _code(relation, "healthcare_service", rel)
    if service is not None and service.system not in HEALTHCARE_SERVICE_SYSTEMS:
        raise _refused(f"{rel}.healthcare_service.system must be one of the Volven service code systems")

    patient: Mapping[str, Any] = {}
    patients = entry.get("patients")
    if patients is not None:
        if not isinstance(patients, list) or not all(isinstance(p, dict) for p in patients):
            raise _malformed(f"{where}.patients must be an array of objects")
        patient = patients[0] if patients else {}

    return Attestation(
        legal_entity=legal_entity, point_of_care=point_of_care, purpose_of_use=purpose,
        decision_ref=decision_id, user_selected=user_selected,
        attested_at=_attested_at(entry, where, issued_at, now or datetime.now(timezone.utc)),
        identifier=identifier, hpr_number=attested_hpr.id if attested_hpr else None,
        authorization=authorization, department=_ident(practitioner, "department", at),
        healthcare_service=service, purpose_of_use_details=_code(relation, "purpose_of_use_details", rel),
        patient_point_of_care=_ident(patient, "point_of_care", f"{where}.patients[0]"),
        patient_department=_ident(patient, "department", f"{where}.patients[0]"),
        patient_identifier=_ident(patient, "identifier", f"{where}.patients[0]"))


def _entry(details: Any) -> Mapping[str, Any] | None:
    if details is None:
        return None
    if isinstance(details, dict):
        details = [details]
    if not isinstance(details, list) or not all(isinstance(item, dict) for item in details):
        raise _malformed(f"claim '{CLAIM_AUTHORIZATION_DETAILS}' must be an array of objects")
    found = [item for item in details if item.get("type") == ATTESTATION_TYPE]
    if len(found) > 1:
        raise _malformed(f"the token carries more than one '{ATTESTATION_TYPE}' attestation")
    return found[0] if found else None


def _attested_at(entry: Mapping[str, Any], where: str, issued_at: datetime | None, now: datetime) -> datetime:
    toa = entry.get("toa")
    if toa is None:
        if issued_at is None:
            raise _refused("the attestation has no time (toa) and the token no iat")
        moment = issued_at
    else:
        if isinstance(toa, bool) or not isinstance(toa, int) or not 0 < toa < 2**37:
            raise _malformed(f"{where}.toa must be a time in whole seconds since the epoch")
        moment = datetime.fromtimestamp(toa, timezone.utc)
    age = (now - moment).total_seconds()
    if age > MAX_AGE_SECONDS:
        raise _refused("attestation_has_expired: the attestation is more than 60 minutes old")
    if age < -300:
        raise _refused("the attestation's time (toa) is in the future")
    return moment


def _object(parent: Mapping[str, Any], name: str, where: str, *, required: bool = False) -> Mapping[str, Any]:
    value = parent.get(name)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise _malformed(f"{where}.{name} must be an object" + (" and is required" if required else ""))
    return value


def _text(parent: Mapping[str, Any], name: str, where: str) -> str | None:
    value = parent.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > _MAX_TEXT or not value.isprintable():
        raise _malformed(f"{where}.{name} must be a printable string of at most {_MAX_TEXT} characters")
    return value.strip()


def _ident(parent: Mapping[str, Any], name: str, where: str, *, required: bool = False) -> Ident | None:
    value = _object(parent, name, where, required=required)
    at = f"{where}.{name}"
    if not value:
        if required:
            raise _malformed(f"{at} is required")
        return None
    ident = _text(value, "id", at)
    if ident is None:
        raise _malformed(f"{at}.id is required")
    return Ident(ident, _text(value, "system", at), _text(value, "name", at), _text(value, "authority", at))


def _code(parent: Mapping[str, Any], name: str, where: str) -> Code | None:
    value = _object(parent, name, where)
    if not value:
        return None
    at = f"{where}.{name}"
    code = _text(value, "code", at)
    if code is None:
        raise _malformed(f"{at}.code is required")
    return Code(code, _text(value, "system", at), _text(value, "text", at))


def _malformed(description: str) -> Exception:
    return invalid_token(f"malformed trust-framework attestation: {description}")


def _refused(description: str) -> Forbidden:
    return Forbidden(f"The trust-framework attestation is refused: {description}")
