"""Audit records: the AuditEvent of every interaction and the Provenance of every write."""

from fhirip.audit.audit_event import audit_event
from fhirip.audit.codes import mask_person_numbers, outcome_for_status
from fhirip.audit.provenance import provenance

__all__ = ["audit_event", "mask_person_numbers", "outcome_for_status", "provenance"]
