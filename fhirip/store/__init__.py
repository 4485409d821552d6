"""The resource store (SQLAlchemy 2; SQLite embedded, PostgreSQL in production)."""

from fhirip.store.records import Current, StoredVersion, instant, now_utc
from fhirip.store.store import Indexes, Store, Tx

__all__ = ["Current", "Indexes", "Store", "StoredVersion", "Tx", "instant", "now_utc"]
