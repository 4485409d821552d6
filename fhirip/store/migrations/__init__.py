"""Alembic migrations of the store schema, run from code (`Store.migrate`, `fhirip migrate`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, func, select

from fhirip.store.schema import resource

# Fills a derived table (an index) for every resource already stored.
Rebuild = Callable[[Connection], Any]

HERE = Path(__file__).resolve().parent


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head", rebuilds: Mapping[str, Rebuild] | None = None) -> None:
    """Migrate to `revision`; a migration that adds a derived table fills it with `rebuilds[table]`
    (what derives it is known above the store: search, consent; `fhirip.bootstrap.REBUILDS`)."""
    config = alembic_config(engine)
    config.attributes["rebuilds"] = dict(rebuilds or {})
    command.upgrade(config, revision)


def fill_derived(table: str) -> None:
    """In a migration: fill the new derived `table` for the resources already stored, with the
    rebuild the migration was given. Without one only a store holding no resource may be
    migrated (there is nothing to derive), and any other stops the migration."""
    from alembic import op

    bind = op.get_bind()
    config = op.get_context().config
    rebuild = (config.attributes.get("rebuilds") or {}).get(table) if config is not None else None
    if rebuild is not None:
        rebuild(bind)
    elif bind.execute(select(func.count()).select_from(resource)).scalar():
        raise RuntimeError(f"this migration fills {table} from the stored resources, which it was not told how "
                           "to do: run `fhirip migrate`")
