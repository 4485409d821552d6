"""FHIR capabilities interaction: the CapabilityStatement, generated from what runs.

https://hl7.org/fhir/R4/http.html#capabilities
https://hl7.org/fhir/R4/capabilitystatement.html

Interactions come from the router table, operations from the operation registry
and search parameters from the search engine, so the statement cannot claim
what the server does not do.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from fhirip import __version__, operations
from fhirip.consent.policy import WRITE_INTERACTIONS
from fhirip.consent.vocabulary import AUDIT_TYPE
from fhirip.context import Context
from fhirip.interactions.request import FhirRequest, FhirResponse
from fhirip.model.resources import RESOURCE_TYPES
from fhirip.search.registry import capability_search_params, registry

_TYPE_LEVEL = ("read", "vread", "update", "patch", "delete", "history-instance",
               "history-type", "create", "search-type")
_SYSTEM_LEVEL = ("transaction", "batch", "search-system", "history-system")
SUBSCRIPTION_DOCUMENTATION = (
    "Criteria-based rest-hook Subscriptions (R4), owned by their creator; each notification is decided as "
    "a search by the owner at delivery (consent in force then, administrative view masked) and audited; "
    "notification Bundles, $status and $events as the R4 Subscriptions Backport IG shapes them.")
_STARTED = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def capabilities(ctx: Context, req: FhirRequest) -> FhirResponse:
    return FhirResponse(200, resource=capability_statement(ctx))


def _routed() -> set[str]:
    from fhirip.interactions.router import ROUTES

    found = {route.interaction for route in ROUTES.values()}
    if "batch" in found:
        found.add("transaction")
    return found


def capability_statement(ctx: Context) -> dict[str, Any]:
    routed = _routed()
    # Search (and so conditional writes) covers the types the search registry knows.
    searchable = set(registry().resource_types())
    resources = []
    for res_type in sorted(RESOURCE_TYPES):
        has_search = res_type in searchable
        # AuditEvents are append-only: a system client may add one, nobody changes one (fhirip.consent).
        writes = res_type != AUDIT_TYPE
        codes = [c for c in _TYPE_LEVEL if c in routed and (has_search or not c.startswith("search"))
                 and (writes or c not in WRITE_INTERACTIONS or c == "create")]
        entry: dict[str, Any] = {
            "type": res_type,
            "interaction": [{"code": c} for c in codes],
            "versioning": "versioned-update",
            "readHistory": True,
            "updateCreate": writes,
            "conditionalCreate": has_search,
            "conditionalRead": "full-support",
            "conditionalUpdate": has_search and writes,
            "conditionalDelete": "single" if has_search and writes else "not-supported",
            "referencePolicy": ["literal", "local", "enforced"] if ctx.settings.referential_integrity
            else ["literal", "local"],
        }
        if res_type == "Subscription":
            entry["documentation"] = SUBSCRIPTION_DOCUMENTATION
        entry.update(search_capabilities(res_type))
        type_ops = [op for op in operations.all_operations()
                    if op.resource_types is None or res_type in op.resource_types]
        type_ops = [op for op in type_ops if op.levels & {"type", "instance"}]
        if type_ops:
            entry["operation"] = [_operation(op) for op in type_ops]
        resources.append(entry)
    rest: dict[str, Any] = {
        "mode": "server",
        "resource": resources,
        "interaction": [{"code": c} for c in _SYSTEM_LEVEL
                        if c in routed and (bool(searchable) or c != "search-system")],
    }
    system_ops = [op for op in operations.all_operations() if "system" in op.levels]
    if system_ops:
        rest["operation"] = [_operation(op) for op in system_ops]
    security = ctx.services.extras.get("security_statement")
    if security:
        rest["security"] = security
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": _STARTED,
        "publisher": "fhirip",
        "kind": "instance",
        "software": {"name": "fhirip", "version": __version__},
        "implementation": {"description": "fhirip: FHIR server for the Norwegian individual plan",
                           "url": ctx.base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json", "application/fhir+json"],
        "rest": [rest],
    }


def search_capabilities(res_type: str) -> dict[str, Any]:
    """searchParam, searchInclude and searchRevInclude of one type, from the registry."""
    params = capability_search_params(res_type)
    references = [p["name"] for p in params if p["type"] == "reference"]
    return {"searchInclude": ["*", *(f"{res_type}:{name}" for name in references)],
            "searchRevInclude": ["*"],
            "searchParam": params}


def _operation(op: operations.Operation) -> dict[str, Any]:
    entry = {"name": op.name, "definition": op.definition or f"urn:fhirip:operation:{op.name}"}
    if op.documentation:
        entry["documentation"] = op.documentation
    return entry
