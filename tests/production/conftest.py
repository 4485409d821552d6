"""The server started the documented way (`fhirip serve`, several workers, --preload) on each store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from production_data import SYSTEM  # noqa: F401 - the suite's system client, defined once there

from fhirip.testing.postgres import TemporaryPostgres
from fhirip.testing.served import ServedFhirip


def served_database(kind: str, postgres: TemporaryPostgres | None, name: str, tmp: Path) -> str | None:
    """None leaves the server on its embedded SQLite store in the data directory."""
    import os

    if kind == "sqlite":
        return None
    if postgres is None:
        return os.environ["FHIRIP_TEST_POSTGRES_URL"]
    return postgres.create_database(name)


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def served(request: pytest.FixtureRequest, postgres: TemporaryPostgres | None,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedFhirip]:
    """`fhirip serve --workers 2` (preload), as the README starts production; one per module and store."""
    tmp = tmp_path_factory.mktemp(f"served-{request.param}")
    name = f"served_{request.module.__name__.rsplit('.', 1)[-1]}"
    server = ServedFhirip(tmp / "data", served_database(request.param, postgres, name, tmp))
    server.kind = request.param  # type: ignore[attr-defined]
    with server:
        yield server
