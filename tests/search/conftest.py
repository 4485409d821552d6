"""Search tests run on a real database: a temp SQLite file, or FHIRIP_TEST_DATABASE_URL.

Resources are written through the real store (`fhirip.store.store.Store`) with
the search index as its indexer, exactly as the server writes them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from fhirip.search import index, search
from fhirip.search.execute import SearchResult
from fhirip.store.engine import make_engine
from fhirip.store.schema import metadata
from fhirip.store.store import Store

BASE = "http://fhirip.test/fhir"


@pytest.fixture(scope="session")
def database_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    url = os.environ.get("FHIRIP_TEST_DATABASE_URL") or \
        f"sqlite:///{tmp_path_factory.mktemp('search') / 'search.sqlite3'}"
    engine = make_engine(url)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    yield Store(url, engine=engine, indexer=index)
    engine.dispose()


class SearchDb:
    """The store plus small helpers to write resources and run searches."""

    def __init__(self, store: Store):
        self.store = store

    @property
    def dialect(self) -> str:
        return self.store.dialect

    def put(self, *resources: dict[str, Any]) -> None:
        def work(tx: Any) -> None:
            for resource in resources:
                body = orjson.loads(orjson.dumps(resource))
                previous = tx.current(body["resourceType"], body["id"])
                tx.write(body, method="PUT", previous=previous)
        self.store.run(work, write=True)

    def delete(self, res_type: str, res_id: str) -> None:
        def work(tx: Any) -> None:
            tx.delete(tx.current(res_type, res_id))
        self.store.run(work, write=True)

    def search(self, res_type: str | None, query: str | list[tuple[str, str]] = "",
               **options: Any) -> SearchResult:
        params = parse_query(query) if isinstance(query, str) else query
        with self.store.transaction(write=True) as tx:
            return search(tx.conn, res_type, params, base_url=BASE, **options)

    def ids(self, res_type: str | None, query: str | list[tuple[str, str]] = "",
            **options: Any) -> list[str]:
        """Ids of the matches (sorted unless the query sorts)."""
        result = self.search(res_type, query, **options)
        found = [e.res_id for e in result.entries if e.mode == "match"]
        sorted_query = "_sort" in (query if isinstance(query, str) else str(query))
        return found if sorted_query else sorted(found)


def parse_query(query: str) -> list[tuple[str, str]]:
    """`a=1&b=2` → [("a", "1"), ("b", "2")] (values as written: tests use no %-escapes)."""
    pairs = []
    for part in query.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((name, value))
    return pairs


@pytest.fixture
def db(database_store: Store) -> SearchDb:
    engine = database_store.engine
    with engine.connect() as conn:
        conn.info["write"] = True
        with conn.begin():
            tables = list(reversed(metadata.sorted_tables))
            if engine.dialect.name == "postgresql":
                conn.execute(text("TRUNCATE " + ", ".join(t.name for t in tables)
                                  + " RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    conn.execute(table.delete())
    return SearchDb(database_store)
