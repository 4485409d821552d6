"""Migration jobs against the store: importing legacy plans and exporting them again.

A legacy plan becomes one transaction Bundle (fhirip.mapping) and runs through the
same transaction interaction as an HTTP client's Bundle, with every write rule,
profile check and reference check of the server. Export gathers a patient's
compartment and the people and organisations it refers to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from fhirip.errors import FhirError
from fhirip.context import Services
from fhirip.interactions.request import FhirRequest
from fhirip.interactions.router import handle
from fhirip.search import search

DIRECTORY_TYPES = ("Practitioner", "PractitionerRole", "Organization", "RelatedPerson")


def submitter(services: Services, actor: Any = None) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Submit one transaction Bundle; the transaction-response, or an OperationOutcome if refused."""
    base_url = services.settings.base_url or ""

    def submit(bundle: dict[str, Any]) -> dict[str, Any]:
        request = FhirRequest(method="POST", resource=bundle, base_url=base_url)
        try:
            response = handle(services, request, [], actor, internal=actor is None)
        except FhirError as error:
            return error.outcome()
        return orjson.loads(orjson.dumps(response.resource))

    return submit


def plan_resources(services: Services, patient_id: str) -> list[dict[str, Any]]:
    """A patient, everything in their compartment, what refers to their plans, and the
    directory entries (practitioners, organisations, relatives) all of it refers to."""

    def work(tx: Any) -> list[dict[str, Any]]:
        stored = tx.read("Patient", patient_id)
        if stored is None or stored.deleted:
            return []
        found: dict[tuple[str, str], dict[str, Any]] = {("Patient", patient_id): orjson.loads(stored.content)}
        params = [("_count", "1000")]
        result = search(tx.conn, None, params, base_url="", compartment=("Patient", patient_id))
        while True:
            for entry in result.entries:
                found[(entry.res_type, entry.res_id)] = orjson.loads(entry.content)
            following = result.links.get("next")
            if not following:
                break
            query = following.split("?", 1)[1]
            from urllib.parse import parse_qsl

            result = search(tx.conn, None, parse_qsl(query), base_url="")
        plan_ids = sorted(res_id for res_type, res_id in found if res_type == "CarePlan")
        if plan_ids:  # what belongs to a plan without being in the compartment (meetings, …)
            result = search(tx.conn, "CarePlan", [("_id", ",".join(plan_ids)), ("_revinclude", "*"),
                                                  ("_count", "1000")], base_url="")
            for entry in result.entries:
                found.setdefault((entry.res_type, entry.res_id), orjson.loads(entry.content))
        wanted = set()
        for resource in found.values():
            for target_type, target_id in _references(resource):
                if target_type in DIRECTORY_TYPES and (target_type, target_id) not in found:
                    wanted.add((target_type, target_id))
        for key, content in tx.read_many(sorted(wanted)).items():
            found[key] = orjson.loads(content)
        return list(found.values())

    return services.store.run(work, write=True, unlimited=True)  # an export job, not a request


def _references(resource: dict[str, Any]) -> list[tuple[str, str]]:
    from fhirip.model.references import local_references

    return [(ref.res_type, ref.res_id) for ref in local_references(resource)]
