"""The one canonical base under which fhirip publishes its conformance resources.

Profiles, extensions, CodeSystems, ValueSets, ConceptMaps, SearchParameters and
OperationDefinitions all live below this base, so a reader of any canonical URL
knows at once that it is ours.
"""

CANONICAL_BASE = "http://fhirip.no/fhir"

STRUCTURE_DEFINITION = f"{CANONICAL_BASE}/StructureDefinition"
CODE_SYSTEM = f"{CANONICAL_BASE}/CodeSystem"
VALUE_SET = f"{CANONICAL_BASE}/ValueSet"
CONCEPT_MAP = f"{CANONICAL_BASE}/ConceptMap"
SEARCH_PARAMETER = f"{CANONICAL_BASE}/SearchParameter"
OPERATION_DEFINITION = f"{CANONICAL_BASE}/OperationDefinition"
