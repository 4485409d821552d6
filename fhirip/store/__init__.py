"""The resource store (SQLAlchemy 2; SQLite embedded, PostgreSQL in production)."""

from fhirip.store.store import Current, Store, StoredVersion, Tx, instant, now_utc

__all__ = ["Current", "Store", "StoredVersion", "Tx", "instant", "now_utc"]
