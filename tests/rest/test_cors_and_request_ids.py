"""CORS for the configured origins, X-Request-Id, and answers without content labelled as such.

https://fetch.spec.whatwg.org/#http-cors-protocol
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from rest_checks import patient

from fhirip.testing.live import SYSTEM_CLAIMS, Fhir, LiveServer, make_services, token_for
from fhirip.testing.postgres import TemporaryPostgres

APP = "https://app.example.no"


@pytest.fixture(scope="module")
def cors_server(store_kind: str, postgres: TemporaryPostgres | None,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp: Path = tmp_path_factory.mktemp(f"cors-{store_kind}")
    server = LiveServer(make_services(store_kind, tmp, postgres, "rest_cors", cors_origins=(APP,)))
    yield server
    server.stop()


@pytest.fixture
def browser(cors_server: LiveServer) -> Iterator[Fhir]:
    cors_server.reset()
    token = token_for(cors_server.services, **SYSTEM_CLAIMS)
    with Fhir(base_url=cors_server.url, timeout=30,
              headers={"Authorization": f"Bearer {token}", "Origin": APP}) as client:
        yield client


def _preflight(client: Fhir, origin: str):
    return client.options("/Patient", headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                                               "Access-Control-Request-Headers": "authorization, content-type"})


def test_a_preflight_from_a_configured_origin_is_answered_without_a_token(cors_server):
    with Fhir(base_url=cors_server.url, timeout=30) as anonymous:
        response = _preflight(anonymous, APP)
    assert response.status_code == 204 and response.content == b""
    assert "content-type" not in response.headers
    assert response.headers["Access-Control-Allow-Origin"] == APP
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed


def test_answers_to_a_configured_origin_say_so_and_expose_the_fhir_headers(browser):
    created = browser.create(patient())
    assert created.status_code == 201
    assert created.headers["Access-Control-Allow-Origin"] == APP
    exposed = created.headers["Access-Control-Expose-Headers"]
    assert "Location" in exposed and "ETag" in exposed
    refused = browser.get("/Patient/unknown")
    assert refused.status_code == 404 and refused.headers["Access-Control-Allow-Origin"] == APP


def test_another_origin_gets_no_cors_headers(browser, cors_server):
    with Fhir(base_url=cors_server.url, timeout=30) as anonymous:
        response = _preflight(anonymous, "https://evil.example")
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Origin" not in browser.get("/metadata", headers={"Origin": "https://evil.example"}).headers


def test_cors_is_off_unless_configured(fhir):
    response = _preflight(fhir, APP)
    assert response.status_code == 204 and "content-type" not in response.headers
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Origin" not in fhir.get("/metadata", headers={"Origin": APP}).headers


def test_an_answer_without_content_has_no_content_type(fhir):
    fhir.update(patient(id="p"))
    deleted = fhir.delete("/Patient/p")
    assert deleted.status_code == 204 and "content-type" not in deleted.headers
    minimal = fhir.create(patient(), Prefer="return=minimal")
    assert minimal.status_code == 201 and "content-type" not in minimal.headers


def test_a_request_id_is_echoed_and_logged(fhir, caplog):
    given = f"klient-{uuid.uuid4().hex}"
    with caplog.at_level(logging.INFO, logger="fhirip.request"):
        response = fhir.get("/Patient/unknown", headers={"X-Request-Id": given})
    assert response.headers["X-Request-Id"] == given
    assert any(given in record.getMessage() and "404" in record.getMessage() for record in caplog.records)


def test_a_request_without_an_id_or_with_an_unusable_one_gets_a_new_one(fhir):
    first, second = fhir.get("/metadata"), fhir.get("/metadata")
    assert uuid.UUID(first.headers["X-Request-Id"]) != uuid.UUID(second.headers["X-Request-Id"])
    odd = fhir.get("/metadata", headers={"X-Request-Id": "a b\tc" + "x" * 200})
    assert uuid.UUID(odd.headers["X-Request-Id"])


def test_the_capability_statement_says_whether_cors_is_on(browser, fhir):
    assert browser.get("/metadata").json()["rest"][0]["security"]["cors"] is True
    assert fhir.get("/metadata").json()["rest"][0]["security"]["cors"] is False


def test_cors_origins_come_from_the_environment(monkeypatch):
    from fhirip.config import Settings

    monkeypatch.setenv("FHIRIP_CORS_ORIGINS", "https://a.example/, https://b.example")
    assert Settings.from_env().cors_origins == ("https://a.example", "https://b.example")
    monkeypatch.delenv("FHIRIP_CORS_ORIGINS")
    assert Settings.from_env().cors_origins == ()


def test_the_served_server_writes_the_request_id_into_its_access_log(tmp_path):
    """`fhirip serve` (gunicorn) logs each request with the X-Request-Id its answer carries."""
    import os
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "FHIRIP_DATA_DIR": str(tmp_path / "data"), "FHIRIP_AUDIT_MOVER": "thread"}
    env.pop("FHIRIP_DATABASE_URL", None)
    env.pop("FHIRIP_JWKS", None)
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen([str(Path(sys.executable).with_name("fhirip")), "serve", "--no-demo", "--workers", "1",
                               "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    given = f"spor-{uuid.uuid4().hex}"
    try:
        deadline = time.monotonic() + 120  # waiting for the start, not measuring it
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/metadata", headers={"X-Request-Id": given})
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                time.sleep(0.5)
        assert response.headers["X-Request-Id"] == given
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
    lines = [line for line in (tmp_path / "serve.log").read_text().splitlines() if "GET /metadata" in line]
    assert lines and lines[-1].endswith(given)
