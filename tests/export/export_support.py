"""Serving fhirip for the export tests, loading their world, and a Bulk Data client."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson

from fhirip.consent import index as access_index
from fhirip.model.references import local_references
from fhirip.search import index as search_index
from fhirip.store import Indexes, Store
from fhirip.testing.postgres import TemporaryPostgres
from fhirip.testing.served import ServedFhirip

ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}


def database_url(kind: str, postgres: TemporaryPostgres | None, directory: Path, name: str) -> str:
    if kind == "postgresql":
        return os.environ["FHIRIP_TEST_POSTGRES_URL"] if postgres is None else postgres.create_database(name)
    return f"sqlite:///{(directory / 'data' / 'fhirip.sqlite3').resolve()}"


@contextmanager
def serving(url: str, directory: Path, **environment: str) -> Iterator[ServedFhirip]:
    env = {"FHIRIP_ALLOW_SYNTHETIC_IDENTIFIERS": "true", **environment}
    server = ServedFhirip(directory / "data", url if url.startswith("postgresql") else None, environment=env)
    with server:
        yield server


def load(url: str, records: list[dict[str, Any]]) -> None:
    """Write the records straight into the store (with their links, search and access index)."""
    store = Store(url, indexer=Indexes(search_index, access_index))
    try:
        def work(tx: Any) -> None:
            for item in records:
                tx.write(item, method="PUT", previous=tx.current(item["resourceType"], item["id"]),
                         links=local_references(item, ()))
        store.run(work, write=True)
    finally:
        store.dispose()


class BulkClient:
    """One caller of a served server: kick-off, poll, download, delete."""

    def __init__(self, server: ServedFhirip, claims: dict[str, Any]):
        self.server = server
        self.token = server.token(**claims)
        self.http = server.client(self.token)

    def kick_off(self, path: str = "/$export", **params: str) -> httpx.Response:
        return self.http.get(path, params=params, headers=ASYNC)

    def started(self, path: str = "/$export", **params: str) -> str:
        response = self.kick_off(path, **params)
        assert response.status_code == 202, response.text
        return response.headers["Content-Location"]

    def wait(self, status_url: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            response = self.http.get(status_url)
            if response.status_code == 200:
                return response.json()
            assert response.status_code == 202, response.text
            assert "X-Progress" in response.headers and "Retry-After" in response.headers
            assert time.monotonic() < deadline, f"the export did not finish: {response.headers}"
            time.sleep(0.2)

    def files(self, manifest: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        """Type → the exported resources, from every file of the manifest."""
        found: dict[str, list[dict[str, Any]]] = {}
        for output in manifest["output"]:
            response = self.http.get(output["url"], headers={"Accept": "application/fhir+ndjson"})
            assert response.status_code == 200, response.text
            assert response.headers["Content-Type"].startswith("application/fhir+ndjson")
            lines = [orjson.loads(line) for line in response.content.splitlines() if line]
            assert len(lines) == output["count"]
            found.setdefault(output["type"], []).extend(lines)
        return found

    def export(self, path: str = "/$export", **params: str) -> tuple[str, dict[str, Any], dict[str, list[dict[str, Any]]]]:
        url = self.started(path, **params)
        manifest = self.wait(url)
        return url, manifest, self.files(manifest)

    def searched(self, res_type: str) -> list[dict[str, Any]]:
        """What this caller's search of a type finds, every page."""
        found = []
        url: str | None = f"/{res_type}?_count=1000"
        while url:
            response = self.http.get(url)
            assert response.status_code == 200, response.text
            bundle = response.json()
            found += [e["resource"] for e in bundle.get("entry", []) if e.get("search", {}).get("mode") == "match"]
            url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
        return found

    def close(self) -> None:
        self.http.close()


def versions(resources: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {(r["resourceType"], r["id"], r["meta"]["versionId"]) for r in resources}
