"""Fixtures of the REST tests: a second live server with a small body limit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

SMALL_BODY_LIMIT = 2048


def _shared_conftest(config: pytest.Config) -> ModuleType:
    """The tests/conftest.py module, as pytest registered it (conftests share one module name)."""
    path = Path(__file__).resolve().parent.parent / "conftest.py"
    module = config.pluginmanager.get_plugin(str(path))
    assert module is not None, f"{path} is not loaded"
    return module


@pytest.fixture(scope="session")
def small_body_fhir(request: pytest.FixtureRequest, store_kind: str, postgres: object,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A live server on the same kind of store that refuses bodies above SMALL_BODY_LIMIT bytes."""
    shared = _shared_conftest(request.config)
    tmp = tmp_path_factory.mktemp(f"small-{store_kind}")
    services = shared.make_services(store_kind, tmp, postgres, "small_body",
                                    max_body_bytes=SMALL_BODY_LIMIT)
    server = shared.LiveServer(services)
    with shared.Fhir(base_url=server.url, timeout=30) as client:
        yield client
    server.stop()
