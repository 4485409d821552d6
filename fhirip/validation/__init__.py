"""Validation of resources against the base R4 rules, the project's profiles and the
Norwegian identifier rules. Entry point: Validator."""

from fhirip.validation.validator import Validator, is_individual_plan

__all__ = ["Validator", "is_individual_plan"]
