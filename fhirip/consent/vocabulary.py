"""The codes and type groups the access rules are written in.

https://hl7.org/fhir/R4/consent.html (provision.action, class, securityLabel)
https://hl7.org/fhir/R4/compartmentdefinition-patient.html (the patient compartment)
"""

from __future__ import annotations

from functools import cache

from fhirip.auth.actor import DNR_SYSTEM, FNR_SYSTEM, HPR_SYSTEM, ORG_NUMBER_SYSTEM
from fhirip.canonical import CODE_SYSTEM

PERSON_SYSTEMS = (FNR_SYSTEM, DNR_SYSTEM)
__all__ = ["HPR_SYSTEM", "ORG_NUMBER_SYSTEM", "PERSON_SYSTEMS"]

CONSENT_CATEGORY_SYSTEM = f"{CODE_SYSTEM}/ip-consent-category"
# The published code is `ip-samtykke-deling`; `deling` is the short form the demo data uses.
SHARING_CATEGORY_CODES = frozenset({"ip-samtykke-deling", "deling"})

# https://hl7.org/fhir/R4/codesystem-consent-action.html
CONSENT_ACTION_SYSTEM = "http://terminology.hl7.org/CodeSystem/consentaction"
READ_ACTIONS = frozenset({"access", "use", "disclose"})
WRITE_ACTIONS = frozenset({"correct"})
RESOURCE_TYPES_SYSTEM = "http://hl7.org/fhir/resource-types"

# Who is a parent or guardian of the patient (the relationship is read from the
# RelatedPerson towards the patient, as no-basis defines it).
V3_ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
NO_BASIS_FAMILY_RELATION = "http://hl7.no/fhir/CodeSystem/no-basis-family-relation"
NO_BASIS_PARENTAL_RESPONSIBILITY = "http://hl7.no/fhir/CodeSystem/no-basis-parental-responsibility"
PARENT_OR_GUARDIAN: frozenset[tuple[str, str]] = frozenset({
    (V3_ROLE_CODE, "MTH"), (V3_ROLE_CODE, "FTH"), (V3_ROLE_CODE, "PRN"), (V3_ROLE_CODE, "GUARD"),
    (NO_BASIS_FAMILY_RELATION, "mor"), (NO_BASIS_FAMILY_RELATION, "far"),
    (NO_BASIS_FAMILY_RELATION, "medmor"),
    (NO_BASIS_PARENTAL_RESPONSIBILITY, "felles"), (NO_BASIS_PARENTAL_RESPONSIBILITY, "mor"),
    (NO_BASIS_PARENTAL_RESPONSIBILITY, "far"), (NO_BASIS_PARENTAL_RESPONSIBILITY, "medmor"),
    (NO_BASIS_PARENTAL_RESPONSIBILITY, "andre"),
})

# The coordinator of an individual plan: Volven 9034 code 8 (municipal) or 18 (specialist care).
VOLVEN_9034 = "urn:oid:2.16.578.1.12.4.1.1.9034"
COORDINATOR_CODES = frozenset({(VOLVEN_9034, "8"), (VOLVEN_9034, "18")})

# The role claim that marks a caller as acting for the koordinerende enhet.
COORDINATING_UNIT_ROLE = "koordinerende-enhet"

# Directory data: who the health actors are. Readable by every authenticated person or
# practitioner (the HPR and the organisation registers are public), written by system clients.
DIRECTORY_TYPES = frozenset({
    "Practitioner", "PractitionerRole", "Organization", "Location", "HealthcareService", "Endpoint",
})
# Definitions the server publishes (profiles, terminology, forms): no personal data.
DEFINITION_TYPES = frozenset({
    "CodeSystem", "ValueSet", "ConceptMap", "NamingSystem", "StructureDefinition",
    "SearchParameter", "OperationDefinition", "CapabilityStatement", "CompartmentDefinition",
    "ImplementationGuide", "Questionnaire", "PlanDefinition", "ActivityDefinition",
})
PUBLIC_TO_PEOPLE = DIRECTORY_TYPES | DEFINITION_TYPES

# The patient's own writes (and a proxy's for a minor): what the person states themselves.
PERSON_WRITABLE_TYPES = frozenset({"Consent", "Goal", "QuestionnaireResponse", "Communication"})

# The access log belongs to the patient: readable by the patient (and a proxy), never
# written through the API by anyone.
AUDIT_TYPE = "AuditEvent"


@cache
def compartment_params() -> dict[str, tuple[str, ...]]:
    """Resource type → the search parameters that put it in a patient's compartment."""
    from fhirip.search.registry import registry

    return {res_type: params for res_type, params in registry().patient_compartment.items() if params}


@cache
def compartment_pairs() -> tuple[tuple[str, str], ...]:
    """(resource type, parameter) pairs of the patient compartment, for SQL."""
    return tuple(sorted((res_type, param) for res_type, params in compartment_params().items()
                        for param in params))


@cache
def all_resource_types() -> frozenset[str]:
    """Every resource type the server stores."""
    from fhirip.model.resources import RESOURCE_TYPES

    return RESOURCE_TYPES
