"""The code systems and codes the audit records use, and the FHIR interaction table behind them.

https://hl7.org/fhir/R4/valueset-audit-event-type.html
https://hl7.org/fhir/R4/codesystem-restful-interaction.html
https://hl7.org/fhir/R4/valueset-audit-event-action.html
"""

from __future__ import annotations

import re
from datetime import datetime

AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"
AUDIT_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
SECURITY_SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
EXTRA_SECURITY_ROLE_TYPE = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
V3_ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
V3_ROLE_CLASS = "http://terminology.hl7.org/CodeSystem/v3-RoleClass"
V3_PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
V3_DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
PROVENANCE_PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"

# restful-interaction code → AuditEvent.action (C create, R read, U update, D delete, E execute).
# Searches are "E": the spec files "perform a query/search operation" under execute.
INTERACTION_ACTION: dict[str, str] = {
    "read": "R",
    "vread": "R",
    "history": "R",
    "history-instance": "R",
    "capabilities": "R",
    "create": "C",
    "update": "U",
    "patch": "U",
    "delete": "D",
    "search": "E",
    "search-type": "E",
    "search-system": "E",
    "history-type": "E",
    "history-system": "E",
    "operation": "E",
    "batch": "E",
    "transaction": "E",
}

QUERY_INTERACTIONS = frozenset({"search", "search-type", "search-system", "history-type", "history-system"})

# AuditEvent.outcome: 0 success, 4 minor failure, 8 serious failure, 12 major failure.
OUTCOMES = frozenset({"0", "4", "8", "12"})

BREAK_THE_GLASS_LABEL = {"system": V3_ACT_REASON, "code": "BTG", "display": "break the glass"}

_PERSON_NUMBER = re.compile(r"(?<![0-9])[0-9]{11}(?![0-9])")


def outcome_for_status(status: int) -> str:
    """The AuditEvent outcome for an HTTP status: 2xx/3xx success, 4xx minor, 5xx serious."""
    if status < 400:
        return "0"
    return "4" if status < 500 else "8"


def mask_person_numbers(text: str) -> str:
    """Hide 11-digit numbers (fødselsnummer, D-nummer) so they never sit in a logged URL."""
    return _PERSON_NUMBER.sub("*" * 11, text)


def instant(moment: datetime) -> str:
    """A FHIR instant; a naive datetime is refused because the log must be unambiguous."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"recorded must carry a time zone, got the naive datetime {moment.isoformat()}")
    return moment.isoformat(timespec="milliseconds")


def coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    result = {"system": system, "code": code}
    if display:
        result["display"] = display
    return result
