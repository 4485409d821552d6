"""What the trust-framework attestation adds to a health professional's AuditEvent.

The national profile (HL7 Norway's trust-framework AuditEvent, ../shared/domain/
anchors-norway.md §6.1 and helseid-trust-framework.md §6) records who asked as a
PractitionerRole — the practitioner with the HPR number and authorisation, the
organisation (the department, part of the legal entity, or the legal entity itself) and the
point of care as a Location — plus the patient, the care relation's healthcare service and
the patient's point of care as an Encounter, the purpose of use, and the care-relation
metadata (decision reference, user-selected, time of attestation). The referenced
resources are rebuilt from the token and travel contained in the event.

The practitioner's fødselsnummer is left out: the patient reads these events as their
access log, which must not show it (ATT-8); the HPR number identifies the practitioner.
Events in one patient's log claim the project's profile ``ip-AuditEvent-tillit``.
"""

from __future__ import annotations

from typing import Any

from fhirip.auth.attestation import (
    AUTHORIZATION_SYSTEM,
    HPR_SYSTEM,
    Attestation,
    Code,
    Ident,
)
from fhirip.canonical import CODE_SYSTEM, STRUCTURE_DEFINITION

PROFILE = f"{STRUCTURE_DEFINITION}/ip-AuditEvent-tillit"
_NATIONAL = "http://hl7.no/fhir/StructureDefinition"
PATIENT_EXTENSION = f"{_NATIONAL}/auditevent-patient-extension"
ENCOUNTER_EXTENSION = f"{_NATIONAL}/auditevent-encounter-extension"
CARE_RELATION_EXTENSION = f"{_NATIONAL}/auditevent-carerelation-metadata-extension"
V3_PURPOSE_OF_USE = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
VOLVEN_9151 = "urn:oid:2.16.578.1.12.4.1.1.9151"
ENCOUNTER_CLASS_UNKNOWN = {"system": "http://terminology.hl7.org/CodeSystem/v3-NullFlavor", "code": "UNK"}

# Marks on an event the security officer must review (meta.tag).
REVIEW_SYSTEM = f"{CODE_SYSTEM}/ip-audit-review"
SELF_AUTHORISED = {"system": REVIEW_SYSTEM, "code": "self-authorised", "display": "Selvautorisert tilgang"}
EMERGENCY = {"system": REVIEW_SYSTEM, "code": "break-the-glass", "display": "Nødrettstilgang"}

def review_tags(attestation: Attestation | None, break_the_glass: bool) -> list[dict[str, str]]:
    """The review marks of an access: self-authorised (user_selected) and emergency access."""
    tags = []
    if attestation is not None and attestation.user_selected:
        tags.append(dict(SELF_AUTHORISED))
    if break_the_glass:
        tags.append(dict(EMERGENCY))
    return tags

def _identifier(ident: Ident) -> dict[str, Any]:
    identifier: dict[str, Any] = {"value": ident.id}
    if ident.system:
        identifier["system"] = ident.system
    return identifier

def _organization(local_id: str, ident: Ident, part_of: str | None = None) -> dict[str, Any]:
    organization: dict[str, Any] = {"resourceType": "Organization", "id": local_id,
                                    "identifier": [_identifier(ident)]}
    if ident.name:
        organization["name"] = ident.name
    if part_of:
        organization["partOf"] = {"reference": f"#{part_of}"}
    return organization

def _coding(code: Code) -> dict[str, str]:
    coding = {"code": code.code}
    if code.system:
        coding["system"] = code.system
    if code.text:
        coding["display"] = code.text
    return coding

def contained(attestation: Attestation, hpr_number: str | None, name: str | None,
              patient: str | None) -> list[dict[str, Any]]:
    """The resources the event refers to, rebuilt from the attestation (ids local to the event)."""
    a = attestation
    practitioner: dict[str, Any] = {"resourceType": "Practitioner", "id": "practitioner"}
    hpr = a.hpr_number or hpr_number
    if hpr:
        practitioner["identifier"] = [{"system": HPR_SYSTEM, "value": hpr}]
    if name or (a.identifier and a.identifier.name):
        practitioner["name"] = [{"text": name or a.identifier.name}]  # type: ignore[union-attr]
    if a.authorization is not None:
        practitioner["qualification"] = [{"code": {"coding": [
            {**_coding(a.authorization), "system": AUTHORIZATION_SYSTEM}]}}]
    resources = [practitioner, _organization("legal-entity", a.legal_entity)]
    organization = "legal-entity"
    if a.department is not None:
        resources.append(_organization("department", a.department, part_of="legal-entity"))
        organization = "department"
    resources.append(_organization("point-of-care", a.point_of_care))
    resources.append({"resourceType": "Location", "id": "location",
                      "managingOrganization": {"reference": "#point-of-care"}})
    resources.append({"resourceType": "PractitionerRole", "id": "role",
                      "practitioner": {"reference": "#practitioner"},
                      "organization": {"reference": f"#{organization}"},
                      "location": [{"reference": "#location"}]})
    encounter = _encounter(a, patient)
    if encounter:
        resources.extend(encounter)
    return resources

def _encounter(a: Attestation, patient: str | None) -> list[dict[str, Any]]:
    if a.healthcare_service is None and a.patient_point_of_care is None and a.patient_department is None:
        return []
    resources: list[dict[str, Any]] = []
    encounter: dict[str, Any] = {"resourceType": "Encounter", "id": "encounter", "status": "unknown",
                                 "class": dict(ENCOUNTER_CLASS_UNKNOWN)}
    if a.healthcare_service is not None:
        encounter["serviceType"] = {"coding": [_coding(a.healthcare_service)]}
    if patient:
        encounter["subject"] = {"reference": patient}
    if a.patient_point_of_care is not None:
        resources.append(_organization("patient-point-of-care", a.patient_point_of_care))
        resources.append({"resourceType": "Location", "id": "patient-location",
                          "managingOrganization": {"reference": "#patient-point-of-care"}})
        encounter["location"] = [{"location": {"reference": "#patient-location"}}]
    if a.patient_department is not None:
        resources.append(_organization("patient-department", a.patient_department))
        encounter["serviceProvider"] = {"reference": "#patient-department"}
    return [encounter, *resources]

def extensions(attestation: Attestation, patient: str | None, with_encounter: bool) -> list[dict[str, Any]]:
    """The national extensions: the patient, the encounter and the care-relation metadata."""
    a = attestation
    found: list[dict[str, Any]] = []
    if patient:
        found.append({"url": PATIENT_EXTENSION, "valueReference": {"reference": patient}})
    if with_encounter:
        found.append({"url": ENCOUNTER_EXTENSION, "valueReference": {"reference": "#encounter"}})
    found.append({"url": CARE_RELATION_EXTENSION, "extension": [
        {"url": "decision-ref-id", "valueString": a.decision_ref},
        {"url": "decision-ref-user-selected", "valueBoolean": a.user_selected},
        {"url": "toa", "valueUnsignedInt": int(a.attested_at.timestamp())},
    ]})
    return found

def purpose_of_event(attestation: Attestation) -> dict[str, Any]:
    """The purpose of use, and its details where they come from Volven 9151."""
    codings = [{"system": V3_PURPOSE_OF_USE, "code": attestation.purpose}]
    details = attestation.purpose_of_use_details
    if details is not None and details.system == VOLVEN_9151:
        codings.append(_coding(details))
    return {"coding": codings}

def organisation_display(attestation: Attestation) -> str:
    """The legal entity (and department), in words where the token names them."""
    entity = attestation.legal_entity.name or f"org.nr. {attestation.legal_entity.id}"
    department = attestation.department
    return f"{entity}, {department.name}" if department is not None and department.name else entity
