"""Assembling the long-lived services of a server process from its settings."""

from __future__ import annotations

from fhirip import operations
from fhirip.config import Settings
from fhirip.interactions.context import Services
from fhirip.search import index as search_index
from fhirip.store import Store


def build_services(settings: Settings, *, migrate: bool = True) -> Services:
    store = Store(settings.effective_database_url, indexer=search_index)
    if migrate:
        store.migrate()
    operations.load_all()
    services = Services(settings=settings, store=store)
    return services
