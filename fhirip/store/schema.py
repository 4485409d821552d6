"""The relational schema of the resource store.

One row per resource in `resource` (its current state), one row per version in
`resource_version` (the canonical JSON bytes, served as stored), literal local
references in `resource_link`, and the search index tables that
`fhirip.search.index` fills in the same transaction as the write.

The schema is created and changed only through the Alembic migrations in
`fhirip/store/migrations`; this module is their single source of truth.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
Key = BigInteger().with_variant(Integer(), "sqlite")
# PostgreSQL keeps the current version as JSONB as well, so operators and the
# consent layer can query resource content in SQL; SQLite keeps it as JSON text.
Document = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")

resource = Table(
    "resource",
    metadata,
    Column("rid", Key, primary_key=True, autoincrement=True),
    Column("res_type", String(64), nullable=False),
    Column("res_id", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("last_updated", DateTime, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("content", Document, nullable=True),
    UniqueConstraint("res_type", "res_id"),
    Index(None, "res_type", "last_updated"),
)

resource_version = Table(
    "resource_version",
    metadata,
    # A global, monotonically increasing sequence: the order of system history
    # and the cursor that keeps history pages stable under concurrent writes.
    Column("seq", Key, primary_key=True, autoincrement=True),
    Column("rid", Key, ForeignKey("resource.rid"), nullable=False),
    Column("res_type", String(64), nullable=False),
    Column("res_id", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("last_updated", DateTime, nullable=False),
    Column("method", String(8), nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("content", LargeBinary, nullable=True),
    UniqueConstraint("res_type", "res_id", "version"),
    Index(None, "rid", "version"),
    Index(None, "last_updated"),
    Index(None, "res_type", "last_updated"),
)

resource_link = Table(
    "resource_link",
    metadata,
    Column("rid", Key, ForeignKey("resource.rid"), nullable=False),
    Column("target_type", String(64), nullable=False),
    Column("target_id", String(64), nullable=False),
    Column("path", String(255), nullable=False),
    Index(None, "rid"),
    Index(None, "target_type", "target_id"),
)
