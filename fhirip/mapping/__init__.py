"""Legacy migration: PlanPro-style exports, ACOS IP-style XML and Word plans to FHIR, and back.

The formats are described in mappings/<family>/FORMAT.md and mapped by the declarative specs
in mappings/ (ip-resources.json plus each family's spec.json).
"""

from fhirip.mapping.bundle import to_bundle
from fhirip.mapping.conversion import (convert, convert_with_losses, export_plan, export_plan_with_losses,
                                       losses_outcome, read_document, read_plans)
from fhirip.mapping.importer import ImportSummary, run_import
from fhirip.mapping.records import Loss, PlanRecord, RecordError
from fhirip.mapping.transaction_view import resources_from_bundle

__all__ = ["ImportSummary", "Loss", "PlanRecord", "RecordError", "convert", "convert_with_losses",
           "export_plan", "export_plan_with_losses", "losses_outcome", "read_document", "read_plans",
           "resources_from_bundle", "run_import", "to_bundle"]
