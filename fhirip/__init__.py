"""fhirip: a FHIR R4 server for the Norwegian individual plan (individuell plan)."""

__version__ = "0.1.0"
