"""Shared fixtures: the two real stores (SQLite file, PostgreSQL cluster) and a live server.

Every test that asks for `fhir` runs twice, once per store, against the real WSGI
app served over real HTTP on a loopback port.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from werkzeug.serving import make_server

from fhirip.bootstrap import build_services
from fhirip.config import Settings
from fhirip.interactions.context import Services
from fhirip.store.schema import metadata
from fhirip.testing.postgres import TemporaryPostgres

STORES = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres() -> Iterator[TemporaryPostgres | None]:
    """One PostgreSQL cluster for the session (or the one FHIRIP_TEST_POSTGRES_URL names)."""
    if os.environ.get("FHIRIP_TEST_POSTGRES_URL"):
        yield None
        return
    with TemporaryPostgres() as cluster:
        yield cluster


def _database_url(kind: str, tmp: Path, postgres: TemporaryPostgres | None, name: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp / (name + '.sqlite3')}"
    if postgres is None:
        return os.environ["FHIRIP_TEST_POSTGRES_URL"]
    return postgres.create_database(name)


@pytest.fixture(scope="session", params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    return request.param


class LiveServer:
    def __init__(self, services: Services):
        from server.app import create_app

        self.services = services
        self.app = create_app(services.settings, services)
        self.httpd = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def reset(self) -> None:
        """Empty every table, so each test starts from a clean store."""
        engine = self.services.store.engine
        tables = list(reversed(metadata.sorted_tables))
        with engine.connect() as conn:
            conn.info["write"] = True
            with conn.begin():
                if engine.dialect.name == "postgresql":
                    names = ", ".join(t.name for t in tables)
                    conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
                else:
                    for table in tables:
                        conn.execute(table.delete())

    def stop(self) -> None:
        self.httpd.shutdown()
        self.services.store.dispose()


def make_services(kind: str, tmp: Path, postgres: TemporaryPostgres | None, name: str,
                  **settings: object) -> Services:
    url = _database_url(kind, tmp, postgres, name)
    config = Settings(data_dir=tmp, database_url=url)
    for key, value in settings.items():
        setattr(config, key, value)
    return build_services(config)


@pytest.fixture(scope="session")
def live_server(store_kind: str, postgres: TemporaryPostgres | None,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp(f"store-{store_kind}")
    server = LiveServer(make_services(store_kind, tmp, postgres, "rest"))
    yield server
    server.stop()


class Fhir(httpx.Client):
    """An HTTP client for the live server that sends FHIR JSON by default."""

    def send_json(self, method: str, url: str, body: object, **headers: str) -> httpx.Response:
        import orjson

        return self.request(method, url, content=orjson.dumps(body),
                            headers={"Content-Type": "application/fhir+json", **headers})

    def create(self, resource: dict, **headers: str) -> httpx.Response:
        return self.send_json("POST", f"/{resource['resourceType']}", resource, **headers)

    def put(self, url: str, body: object = None, **kwargs: object) -> httpx.Response:  # type: ignore[override]
        if body is not None and not kwargs:
            return self.send_json("PUT", url, body)
        return super().put(url, **kwargs)  # type: ignore[arg-type]

    def update(self, resource: dict, **headers: str) -> httpx.Response:
        return self.send_json("PUT", f"/{resource['resourceType']}/{resource['id']}", resource, **headers)


@pytest.fixture
def fhir(live_server: LiveServer) -> Iterator[Fhir]:
    live_server.reset()
    with Fhir(base_url=live_server.url, timeout=30) as client:
        yield client


@pytest.fixture
def base(live_server: LiveServer) -> str:
    return live_server.url
