"""Runtime settings, read once from the environment and the command line."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str) -> tuple[str, ...]:
    return tuple(item.strip().rstrip("/") for item in os.environ.get(name, "").split(",") if item.strip())


@dataclass
class Settings:
    """Everything an operator can configure. Defaults suit a local developer run."""

    data_dir: Path = field(default_factory=lambda: Path("data"))
    # An SQLAlchemy URL; None means the embedded SQLite store in data_dir.
    database_url: str | None = None
    # Bodies larger than this are refused with 413 before they are read.
    max_body_bytes: int = 10 * 1024 * 1024
    # Reject references to local resources that do not exist (HAPI's default too).
    referential_integrity: bool = True
    # The base URL used in Location headers and fullUrls; None = taken from the request.
    base_url: str | None = None
    default_page_size: int = 20
    max_page_size: int = 1000
    max_bundle_entries: int = 1000
    # Accept synthetic national identity numbers (test data); never in production.
    allow_synthetic_identifiers: bool = False
    # Who moves the audit journal into AuditEvent resources in the background: "thread" (in the
    # serving process, for a store used from a script or a test) or "process" (one of its own,
    # beside the requests, as a server started from the environment does: see `from_env`).
    audit_mover: str = "thread"
    # The longest a request's statement may run (PostgreSQL statement_timeout; on SQLite, the
    # request's transaction), in milliseconds; past it the request ends in a 400 too-costly.
    # 0: no limit. The server's own long jobs (imports, migrations) are not limited.
    statement_timeout_ms: int = 10_000
    # Browser origins allowed to call the server (CORS); empty = none, "*" = any.
    cors_origins: tuple[str, ...] = ()
    # The identity provider's OAuth endpoints, published in .well-known/smart-configuration
    # (None: not published, and no grant that needs them is offered).
    token_endpoint: str | None = None
    authorization_endpoint: str | None = None
    # Bulk Data exports (`fhirip.export`): where their files go (None: <data_dir>/exports), how
    # long a finished export is kept, how long a runner holds a job without recording progress
    # before another may take it over, resources read per chunk, and a pause after each chunk
    # (to leave the database room for requests while a large export runs).
    export_dir: Path | None = None
    export_retention_seconds: int = 24 * 3600
    export_lease_seconds: int = 30
    export_chunk: int = 1000
    export_pause_ms: int = 0

    @property
    def effective_export_dir(self) -> Path:
        return self.export_dir or self.data_dir / "exports"
    # URL prefixes a Subscription's rest-hook may call (none: no rest-hook is accepted), and how
    # many failed deliveries in a row set a Subscription's status to `error`.
    subscription_endpoints: tuple[str, ...] = ()
    subscription_retries: int = 10

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'fhirip.sqlite3').resolve()}"

    @classmethod
    def from_env(cls, **overrides: object) -> "Settings":
        settings = cls(
            data_dir=Path(os.environ.get("FHIRIP_DATA_DIR", "data")),
            database_url=os.environ.get("FHIRIP_DATABASE_URL") or None,
            max_body_bytes=int(os.environ.get("FHIRIP_MAX_BODY_BYTES", 10 * 1024 * 1024)),
            referential_integrity=_env_bool("FHIRIP_REFERENTIAL_INTEGRITY", True),
            base_url=os.environ.get("FHIRIP_BASE_URL") or None,
            allow_synthetic_identifiers=_env_bool("FHIRIP_ALLOW_SYNTHETIC_IDENTIFIERS", False),
            audit_mover=os.environ.get("FHIRIP_AUDIT_MOVER", "process"),
            statement_timeout_ms=int(os.environ.get("FHIRIP_STATEMENT_TIMEOUT_MS", 10_000)),
            cors_origins=_env_list("FHIRIP_CORS_ORIGINS"),
            token_endpoint=os.environ.get("FHIRIP_TOKEN_ENDPOINT") or None,
            authorization_endpoint=os.environ.get("FHIRIP_AUTHORIZATION_ENDPOINT") or None,
            export_dir=Path(os.environ["FHIRIP_EXPORT_DIR"]) if os.environ.get("FHIRIP_EXPORT_DIR") else None,
            export_retention_seconds=int(os.environ.get("FHIRIP_EXPORT_RETENTION", 24 * 3600)),
            export_lease_seconds=int(os.environ.get("FHIRIP_EXPORT_LEASE", 30)),
            export_chunk=int(os.environ.get("FHIRIP_EXPORT_CHUNK", 1000)),
            export_pause_ms=int(os.environ.get("FHIRIP_EXPORT_PAUSE_MS", 0)),
            subscription_endpoints=_env_list("FHIRIP_SUBSCRIPTION_ENDPOINTS"),
            subscription_retries=max(1, int(os.environ.get("FHIRIP_SUBSCRIPTION_RETRIES", 10))),
        )
        for key, value in overrides.items():
            if value is not None:
                setattr(settings, key, value)
        return settings
