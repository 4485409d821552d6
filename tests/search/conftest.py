"""Search tests run on a real database, once on a SQLite file and once on PostgreSQL.

Resources are written through the real store (`fhirip.store.store.Store`) with
the search index as its indexer, exactly as the server writes them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from search_support import SearchDb
from sqlalchemy import text

from fhirip.search import index
from fhirip.store.schema import metadata
from fhirip.store.store import Store
from fhirip.testing.live import database_url
from fhirip.testing.postgres import TemporaryPostgres


@pytest.fixture(scope="session")
def database_store(store_kind: str, postgres: TemporaryPostgres | None,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    url = database_url(store_kind, tmp_path_factory.mktemp("search"), postgres, "search")
    store = Store(url, indexer=index)
    store.migrate()
    yield store
    store.dispose()


@pytest.fixture
def db(database_store: Store) -> SearchDb:
    engine = database_store.engine
    with engine.connect() as conn:
        with conn.begin():
            tables = list(reversed(metadata.sorted_tables))
            if engine.dialect.name == "postgresql":
                conn.execute(text("TRUNCATE " + ", ".join(t.name for t in tables)
                                  + " RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    conn.execute(table.delete())
    return SearchDb(database_store)
