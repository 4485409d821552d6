"""Helpers of the search tests: a store with the search index and small write/search shortcuts."""

from __future__ import annotations

from typing import Any

import orjson

from fhirip.search import search
from fhirip.search.execute import SearchResult
from fhirip.store.store import Store

BASE = "http://fhirip.test/fhir"


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
