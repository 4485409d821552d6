"""A live fhirip server on a loopback port and an HTTP client for it (tests, benchmarks).

Real HTTP through the real WSGI app: the server runs werkzeug's threaded server in
a background thread; `Fhir` is an httpx client that sends FHIR JSON.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import text
from werkzeug.serving import make_server

from fhirip.bootstrap import build_services
from fhirip.config import Settings
from fhirip.context import Services
from fhirip.store.schema import metadata
from fhirip.testing.postgres import TemporaryPostgres


def database_url(kind: str, tmp: Path, postgres: TemporaryPostgres | None, name: str) -> str:
    import os

    if kind == "sqlite":
        return f"sqlite:///{tmp / (name + '.sqlite3')}"
    if postgres is None:
        return os.environ["FHIRIP_TEST_POSTGRES_URL"]
    return postgres.create_database(name)


class LiveServer:
    def __init__(self, services: Services):
        from server.app import create_app  # the facade is imported only where a server runs

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
        with self.services.audit_trail.held(), self.services.store.write_gate(), engine.connect() as conn:
            with conn.begin():
                if engine.dialect.name == "postgresql":
                    names = ", ".join(t.name for t in tables)
                    conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
                else:
                    for table in tables:
                        conn.execute(table.delete())

    def stop(self) -> None:
        self.httpd.shutdown()
        self.services.audit_trail.close()
        self.services.store.dispose()


def make_services(kind: str, tmp: Path, postgres: TemporaryPostgres | None, name: str,
                  **settings: Any) -> Services:
    url = database_url(kind, tmp, postgres, name)
    config = Settings(data_dir=tmp, database_url=url, allow_synthetic_identifiers=True)
    for key, value in settings.items():
        setattr(config, key, value)
    return build_services(config)


class Fhir(httpx.Client):
    """An HTTP client for the live server that sends FHIR JSON by default."""

    def send_json(self, method: str, url: str, body: object, **headers: str) -> httpx.Response:
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


def token_for(services: Services, **claims: object) -> str:
    """A bearer token signed with the server's development key (the server trusts it)."""
    from fhirip.auth.devkeys import DevKeys

    return DevKeys.load_or_create(services.settings.data_dir).mint(claims)


SYSTEM_CLAIMS = {"sub": "test-system", "client_id": "test-system", "scope": "system/*.cruds"}


class DpopAuth(httpx.Auth):
    """Sends a DPoP-bound token (RFC 9449) with a fresh proof, signed with `key`, on every request."""

    def __init__(self, token: str, key: Any):
        self.token = token
        self.key = key

    def auth_flow(self, request: httpx.Request) -> Any:
        from fhirip.auth.devkeys import dpop_proof

        url = str(request.url.copy_with(query=None, fragment=None))
        request.headers["Authorization"] = f"DPoP {self.token}"
        request.headers["DPoP"] = dpop_proof(self.key, method=request.method, url=url, access_token=self.token)
        yield request
