"""Fixtures of the REST tests: a second live server with a small body limit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rest_checks import SMALL_BODY_LIMIT

from fhirip.testing.live import (
    SYSTEM_CLAIMS,
    Fhir,
    LiveServer,
    make_services,
    token_for,
)
from fhirip.testing.postgres import TemporaryPostgres


@pytest.fixture(scope="session")
def small_body_fhir(store_kind: str, postgres: TemporaryPostgres | None,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fhir]:
    """A live server on the same kind of store that refuses bodies above SMALL_BODY_LIMIT bytes."""
    tmp: Path = tmp_path_factory.mktemp(f"small-{store_kind}")
    server = LiveServer(make_services(store_kind, tmp, postgres, "small_body",
                                      max_body_bytes=SMALL_BODY_LIMIT))
    token = token_for(server.services, **SYSTEM_CLAIMS)
    with Fhir(base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client
    server.stop()
