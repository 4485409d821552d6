"""FHIR operations ($name): a registry that modules add themselves to.

https://hl7.org/fhir/R4/operations.html

An operation module calls `register(...)` at import; `load_all()` imports the
built-in ones. The router and the CapabilityStatement read the registry, so a
new operation needs no change anywhere else but its OperationDefinition: each
operation names one as `definition`, the official canonical for a standard
operation, or for the project's own one of profiles/operations/ (loaded into the
store with the other conformance resources, `fhirip.conformance`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Handler = Callable[[Any, Any], Any]  # (Context, FhirRequest) -> FhirResponse
# (Connection, FhirRequest) -> the ids of the Patients the request is about (`Operation.within`)
Within = Callable[[Any, Any], Any]


@dataclass(frozen=True)
class Operation:
    name: str  # without '$'
    levels: frozenset[str]  # system | type | instance
    handler: Handler
    resource_types: frozenset[str] | None = None  # None: any type
    writes: bool = False  # needs a write transaction
    definition: str | None = None  # canonical of its OperationDefinition
    documentation: str = ""
    # The patients every answer of the operation is about, found from the request before the
    # caller's access is decided, so that it is decided for them alone (`decide(within=...)`).
    within: Within | None = None

    def applies(self, level: str, res_type: str | None) -> bool:
        if level not in self.levels:
            return False
        return self.resource_types is None or res_type is None or res_type in self.resource_types


_REGISTRY: dict[str, list[Operation]] = {}

# Modules that register built-in operations; imported lazily by load_all().
BUILT_IN: list[str] = [
    "fhirip.operations.terminology",
    "fhirip.operations.validate",
    "fhirip.operations.convert",
    "fhirip.operations.current_plan",
    "fhirip.operations.plan_exists",
    "fhirip.operations.handover",
    "fhirip.operations.overdue_measures",
    "fhirip.operations.revision_due",
    "fhirip.operations.stale_plans",
    "fhirip.operations.without_coordinator",
    "fhirip.operations.caseload",
    "fhirip.operations.render",
    "fhirip.operations.bulk_export",
    "fhirip.operations.everything",
    "fhirip.operations.subscription_status",
]


def register(operation: Operation) -> Operation:
    _REGISTRY.setdefault(operation.name, []).append(operation)
    return operation


def find(name: str, level: str, res_type: str | None) -> Operation | None:
    for operation in _REGISTRY.get(name, []):
        if operation.applies(level, res_type):
            return operation
    return None


def known(name: str) -> bool:
    return name in _REGISTRY


def all_operations() -> list[Operation]:
    return [op for ops in _REGISTRY.values() for op in ops]


def load_all() -> None:
    for module in BUILT_IN:
        importlib.import_module(module)
