"""Alembic environment: runs migrations on the engine the store hands over."""

from __future__ import annotations

from alembic import context

from fhirip.store.schema import metadata

engine = context.config.attributes.get("engine")
if engine is None:  # `alembic` run by hand: FHIRIP_DATABASE_URL or the default SQLite file
    from fhirip.config import Settings
    from fhirip.store.engine import make_engine

    engine = make_engine(Settings.from_env().effective_database_url)

from fhirip.store.engine import write_gate  # noqa: E402

# Writers queue for SQLite's write lock before they begin (a migration reads, then writes).
with write_gate(engine.url.render_as_string(hide_password=False))(), engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":  # a migration may take long: no request limit
            connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
        context.run_migrations()
