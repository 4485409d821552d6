"""Which patients' compartments a resource (as JSON) belongs to.

https://hl7.org/fhir/R4/compartmentdefinition-patient.html

The same parameters and expressions the search index uses decide it, so a write
is judged by exactly the compartment the stored resource will be found in.
"""

from __future__ import annotations

from typing import Any

from fhirip.consent.vocabulary import compartment_params
from fhirip.search.index import reference_rows
from fhirip.search.registry import registry


def patients_of(resource: dict[str, Any]) -> frozenset[str]:
    """Ids of the patients whose compartment holds `resource` (a Patient holds itself)."""
    res_type = resource.get("resourceType")
    found: set[str] = set()
    if res_type == "Patient" and isinstance(resource.get("id"), str):
        found.add(resource["id"])
    reg = registry()
    for code in compartment_params().get(str(res_type), ()):
        param = reg.get(str(res_type), code)
        extractor = reg.extractor(str(res_type), param) if param is not None else None
        if extractor is None:
            continue
        for value in extractor.evaluate(resource):
            if not _may_name_a_patient(value):
                continue  # a performer, a team: most references name no one's record
            for row in reference_rows(value, extractor.resolve_types):
                if row["target_type"] == "Patient" and row["target_id"]:
                    found.add(row["target_id"])
    return frozenset(found)


def _may_name_a_patient(value: Any) -> bool:
    """Whether the index could read a Patient target from `value`: it reads one only from a
    local reference, `Patient/<id>` as written (an absolute URL, a contained or a logical
    reference names no target)."""
    reference = value if isinstance(value, str) else value.get("reference") if isinstance(value, dict) else None
    return not isinstance(reference, str) or reference.startswith("Patient/")


def in_compartment(res_type: str) -> bool:
    return res_type == "Patient" or res_type in compartment_params()
