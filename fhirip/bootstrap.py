"""Assembling the long-lived services of a server process from its settings."""

from __future__ import annotations

from typing import Any

import orjson

from fhirip import operations, plans
from fhirip.conformance import load_conformance
from fhirip.interactions.conformance_check import conformance_hook
from fhirip.interactions.write import save
from fhirip.config import Settings
from fhirip.context import Services
from fhirip.search import index as search_index
from fhirip.search import search
from fhirip.search.sortkeys import rebuild_sort_keys
from fhirip.consent import index as access_index
from fhirip.store import Indexes, Store
from fhirip.store.migrations import Rebuild
from fhirip.subscriptions import outbox as subscription_outbox
from fhirip.subscriptions.rules import subscription_rules
from fhirip.terminology import Resolver, TerminologyService
from fhirip.validation.validator import Validator

# The derived tables a schema migration adds, and what fills each for the resources already
# stored (the store cannot: deriving them is search's and consent's business).
REBUILDS: dict[str, Rebuild] = {"search_sort": rebuild_sort_keys, "access_grant": access_index.rebuild}


def build_services(settings: Settings, *, migrate: bool = True) -> Services:
    store = Store(settings.effective_database_url, indexer=Indexes(search_index, access_index, subscription_outbox),
                  statement_timeout_ms=settings.statement_timeout_ms or None)
    if migrate:
        store.migrate(REBUILDS)
    operations.load_all()
    services = Services(settings=settings, store=store, save=save)
    terminology = TerminologyService(extra=_stored_terminology(store))
    validator = Validator(terminology=terminology,
                          allow_synthetic_identifiers=settings.allow_synthetic_identifiers)
    services.extras.update(terminology=terminology, validator=validator)
    services.write_hooks.append(conformance_hook(validator))
    services.write_hooks.extend(plans.write_hooks())
    services.write_hooks.append(subscription_rules)
    if migrate:
        load_conformance(services)
    return services


def _stored_terminology(store: Store) -> Resolver:
    """Lets the terminology service find CodeSystems/ValueSets/ConceptMaps written over the API."""

    def resolve(resource_type: str, url: str) -> dict[str, Any] | None:
        def work(tx: Any) -> dict[str, Any] | None:
            result = search(tx.conn, resource_type, [("url", url), ("_count", "1")], base_url="")
            return orjson.loads(result.entries[0].content) if result.entries else None

        return store.run(work, write=False)

    return resolve
