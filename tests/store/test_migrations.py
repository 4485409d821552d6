"""The Alembic migrations build exactly the schema the code declares, on both stores."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from fhirip.store import Store
from fhirip.store.migrations import alembic_config
from fhirip.store.schema import metadata
from fhirip.testing.postgres import TemporaryPostgres


def _url(kind: str, tmp_path: Path, postgres: TemporaryPostgres | None) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
    assert postgres is not None
    return postgres.create_database(f"migrations_{tmp_path.name[-8:].lower()}")


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_migrated_schema_matches_the_declared_schema(kind: str, tmp_path: Path, postgres: TemporaryPostgres) -> None:
    store = Store(_url(kind, tmp_path, postgres))
    store.migrate()
    with store.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    store.dispose()
    assert differences == []


def test_migrating_twice_changes_nothing(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'twice.sqlite3'}")
    store.migrate()
    store.migrate()
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    store.dispose()


def test_a_migration_that_derives_a_table_needs_to_be_told_how_when_resources_are_stored(tmp_path: Path) -> None:
    """The store cannot derive the access index itself (consent does): upgrading a store that
    holds resources without the rebuilds stops, rather than leave the new table empty."""
    store = Store(f"sqlite:///{tmp_path / 'derived.sqlite3'}")
    store.migrate()
    store.run(lambda tx: tx.write({"resourceType": "Patient", "id": "kari"}, method="POST", previous=None), write=True)
    command.downgrade(alembic_config(store.engine), "0007")
    with pytest.raises(RuntimeError, match="access_grant .*fhirip migrate"):
        store.migrate()
    store.dispose()

    empty = Store(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    empty.migrate()  # nothing stored, nothing to derive
    empty.dispose()
