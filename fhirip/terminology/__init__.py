"""Terminology: the project's CodeSystems, ValueSets and ConceptMaps and the operations on them.

https://hl7.org/fhir/R4/terminology-service.html
"""

from .registry import TERMINOLOGY_DIR, Resolver
from .service import TerminologyService

__all__ = ["TERMINOLOGY_DIR", "Resolver", "TerminologyService"]
