"""The Flask facade of fhirip: HTTP in, OperationOutcome-shaped errors out."""
