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
    Float,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
    true,
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
    # The newest version of a type in one index seek.
    Index(None, "res_type", "seq"),
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

# --- search index tables (fhirip.search) ---
# One table per search parameter type; each row is one value of one parameter
# of one resource (rid). `grp` groups the component values of one composite
# match; it is 0 for ordinary parameters. Lookups lead with (res_type, param,
# value, rid) so an equality or prefix search is a single index range that
# already holds the rid; the (rid, res_type, param) index serves deletes,
# _include and correlated checks (leading with all three equalities, it is also
# the one SQLite picks for a correlated check without statistics, rather than a
# range over every resource of the type).

# Prefix searches are range scans (value >= 'abc' AND value < 'abd'); on
# PostgreSQL that needs byte (C) ordering, which SQLite has by default.
IndexText = String().with_variant(String(collation="C"), "postgresql")

search_string = Table(
    "search_string",
    metadata,
    Column("rid", Key, ForeignKey("resource.rid"), nullable=False),
    Column("res_type", String(64), nullable=False),
    Column("param", String(64), nullable=False),
    Column("grp", Integer, nullable=False, default=0),
    Column("value", IndexText, nullable=False),  # normalised: case and accents folded
    Column("exact", Text, nullable=False),  # as written, for :exact
    Index(None, "res_type", "param", "value", "rid"),
    Index(None, "rid", "res_type", "param"),
)

search_token = Table(
    "search_token",
    metadata,
    Column("rid", Key, ForeignKey("resource.rid"), nullable=False),
    Column("res_type", String(64), nullable=False),
    Column("param", String(64), nullable=False),
    Column("grp", Integer, nullable=False, default=0),
    Column("system", IndexText, nullable=True),
    Column("code", IndexText, nullable=True),
    Column("text", IndexText, nullable=True),  # normalised display/text, for :text
    Column("type_system", IndexText, nullable=True),  # Identifier.type, for :of-type
    Column("type_code", IndexText, nullable=True),
    Index(None, "res_type", "param", "code", "rid"),
    Index(None, "rid", "res_type", "param"),
)

search_reference = Table(
    "search_reference",
    metadata,
    Column("rid", Key, ForeignKey("resource.rid"), nullable=False),
    Column("res_type", String(64), nullable=False),
    Column("param", String(64), nullable=False),
    Column("grp", Integer, nullable=False, default=0),
    Column("target_type", String(64), nullable=True),  # local reference Type/id
    Column("target_id", String(64), nullable=True),
    Column("url", IndexText, nullable=True),  # absolute or canonical reference
    Column("url_version", String(64), nullable=True),  # canonical|version
    Column("ident_system", IndexText, nullable=True),  # Reference.identifier, for :identifier
    Column("ident_value", IndexText, nullable=True),
    Index(None, "target_id", "target_type", "res_type", "param", "rid"),
    Index(None, "res_type", "param", "url"),
    Index(None, "rid", "res_type", "param"),
    # Logical references (Reference.identifier), e.g. a Consent naming a practitioner by HPR
    # number: the access decision looks them up by value. Only the rows that have one.
    Index(None, "ident_value", "res_type", "param", "rid",
          sqlite_where=text("ident_value IS NOT NULL"), postgresql_where=text("ident_value IS NOT NULL")),
)

search_date = Table(
    "search_date",
    metadata,
    Column("rid", Key, ForeignKey("resource.rid"), nullable=False),
    Column("res_type", String(64), nullable=False),
    Column("param", String(64), nullable=False),
    Column("grp", Integer, nullable=False, default=0),
    Column("low", DateTime, nullable=False),  # first instant of the value (UTC)
    Column("high", DateTime, nullable=False),  # last instant of the value (UTC)
    Index(None, "res_type", "param", "low", "rid"),
    Index(None, "res_type", "param", "high", "rid"),
    Index(None, "rid", "res_type", "param"),
)

search_number = Table(
    "search_number",
    metadata,
    Column("rid", Key, ForeignKey("resource.rid"), nullable=False),
    Column("res_type", String(64), nullable=False),
    Column("param", String(64), nullable=False),
    Column("grp", Integer, nullable=False, default=0),
    Column("value", Float, nullable=False),
    Index(None, "res_type", "param", "value", "rid"),
    Index(None, "rid", "res_type", "param"),
)

search_quantity = Table(
    "search_quantity",
    metadata,
    Column("rid", Key, ForeignKey("resource.rid"), nullable=False),
    Column("res_type", String(64), nullable=False),
    Column("param", String(64), nullable=False),
    Column("grp", Integer, nullable=False, default=0),
    Column("value", Float, nullable=False),
    Column("system", IndexText, nullable=True),
    Column("code", IndexText, nullable=True),
    Column("unit", IndexText, nullable=True),
    Index(None, "res_type", "param", "value", "rid"),
    Index(None, "rid", "res_type", "param"),
)

search_uri = Table(
    "search_uri",
    metadata,
    Column("rid", Key, ForeignKey("resource.rid"), nullable=False),
    Column("res_type", String(64), nullable=False),
    Column("param", String(64), nullable=False),
    Column("grp", Integer, nullable=False, default=0),
    Column("value", IndexText, nullable=False),
    Index(None, "res_type", "param", "value", "rid"),
    Index(None, "rid", "res_type", "param"),
)

# Stable paging: a search whose matches span several pages stores the ordered
# rids once under a random id; later pages are read from here (and filtered by
# the caller's policy again), so writes in between do not shift the pages.
search_session = Table(
    "search_session",
    metadata,
    Column("search_id", String(64), primary_key=True),
    Column("created", DateTime, nullable=False),
    Column("expires", DateTime, nullable=False),
    Column("res_types", Text, nullable=False),  # JSON list, [] = system search
    Column("query", Text, nullable=False),  # JSON list of the accepted (name, value) pairs
    Column("compartment", Text, nullable=True),  # "Patient/123" for compartment searches
    Column("total", Integer, nullable=True),  # rows stored in search_result
    # False when the matches went past the stored bound: only the first ones can be paged
    Column("complete", Boolean, nullable=False, server_default=true()),
    Index(None, "expires"),
)

search_result = Table(
    "search_result",
    metadata,
    Column("search_id", String(64), nullable=False),
    Column("pos", Integer, nullable=False),
    Column("rid", Key, nullable=False),
    PrimaryKeyConstraint("search_id", "pos"),
)

# Sorting: per resource and ordered parameter (date, string, number, quantity), its
# lowest and highest sort value as order-preserving text (`fhirip.search.sortkeys`).
# `_sort` then walks (res_type, param, low|high, rid) in index order and stops at
# the page bound instead of computing and sorting a key for every match.
search_sort = Table(
    "search_sort",
    metadata,
    Column("rid", Key, ForeignKey("resource.rid"), nullable=False),
    Column("res_type", String(64), nullable=False),
    Column("param", String(64), nullable=False),
    Column("low", IndexText, nullable=False),
    Column("high", IndexText, nullable=False),
    PrimaryKeyConstraint("rid", "param"),
    Index(None, "res_type", "param", "low", "rid"),
    Index(None, "res_type", "param", "high", "rid"),
)

# The audit journal: the AuditEvent of a read is committed here, in one short insert,
# before the response leaves; `fhirip.audit.trail` moves journalled events into the
# resource tables in bulk (and always before a request that may read AuditEvents).
audit_journal = Table(
    "audit_journal",
    metadata,
    Column("seq", Key, primary_key=True, autoincrement=True),
    Column("last_updated", DateTime, nullable=False),
    Column("content", LargeBinary, nullable=False),
    # A drain claims rows by number, so a number must never come back (SQLite reuses the largest
    # freed one unless told not to; a PostgreSQL sequence never does).
    sqlite_autoincrement=True,
)
# On PostgreSQL its rows are stored uncompressed up to a page (migration 0015: they live a second).

# --- the access index (fhirip.consent.grants derives its rows, fhirip.consent.index writes them) ---
# Who may see which patient, derived from Consent, CareTeam, EpisodeOfCare, RelatedPerson,
# Patient, Practitioner, PractitionerRole and Organization in the transaction that writes
# them. A request resolves its caller to grantee keys and reads the rows in force at its
# moment (valid_from <= now < valid_to, naive UTC, NULL = open).
access_grant = Table(
    "access_grant",
    metadata,
    Column("gid", Key, primary_key=True, autoincrement=True),
    Column("grantee", String(300), nullable=False),  # `system|value` or `Type/id`, or `*` (everyone)
    Column("kind", String(16), nullable=False),
    Column("patient_id", String(64), nullable=True),
    Column("target", String(200), nullable=True),  # what the grantee key resolves to
    Column("via", String(200), nullable=True),  # a PractitionerRole's organisation
    Column("effect", String(8), nullable=False),  # permit | deny
    Column("action", String(8), nullable=False),  # read | write | none
    Column("view", String(16), nullable=False),  # full | administrative
    Column("classes", Text, nullable=True),  # JSON list of resource types; NULL = every type
    Column("labels", Text, nullable=True),  # JSON list of [system, code]
    Column("resources", Text, nullable=True),  # JSON list of "Type/id" withheld by a deny
    Column("purposes", Text, nullable=True),  # JSON list of purpose-of-use codes
    Column("rank", Integer, nullable=False),
    Column("valid_from", DateTime, nullable=True),
    Column("valid_to", DateTime, nullable=True),
    Column("source_rid", Key, nullable=False),
    Column("source_type", String(64), nullable=False),
    Column("source_id", String(64), nullable=False),
    Index(None, "grantee", "kind"),
    Index(None, "patient_id", "grantee"),
    # Who is on a care team (`member` rows by their team), for a decision about one patient.
    Index(None, "target", "grantee"),
    Index(None, "source_rid"),
)


# Facts only one resource may hold at a time, held by the primary key: one open individual plan
# per person, one Patient per national identifier (`fhirip.plans`). A resource states its claims
# in the transaction that writes it (`Tx.claim`); a second holder's insert finds the row taken,
# however many writers run at once. Deleting the resource gives its claims up.
resource_claim = Table(
    "resource_claim",
    metadata,
    Column("claim", String(255), primary_key=True),  # "kind|key", e.g. "open-plan|Patient/123"
    Column("res_type", String(64), nullable=False),
    Column("res_id", String(64), nullable=False),
    Index(None, "res_type", "res_id"),
)

# DPoP proofs already seen (RFC 9449 §11.1): one row per proof key and jti while the proof
# could still be accepted, so a replay is refused by whichever server process it reaches.
# The key is a digest of the proof key's thumbprint and the jti (fixed length, whatever the
# client sends); a row is purged once `expires` has passed.
dpop_jti = Table(
    "dpop_jti",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("expires", DateTime, nullable=False),
    Index(None, "expires"),
)

# Bulk Data exports (`fhirip.export`): one row per job, its caller (the decided-upon identity,
# rebuilt for every chunk so the job reads what that caller may read), what it exports, the
# snapshot it reads (`snapshot_seq`: the newest version committed at kick-off), and its progress
# (`sweep`, `after_rid`, the files written so far with their sizes), so a job resumes after a
# restart. A runner holds a job while `lease_until` is in the future.
export_job = Table(
    "export_job",
    metadata,
    Column("job_id", String(64), primary_key=True),
    Column("owner", String(700), nullable=False),  # issuer|sub|client_id of the caller
    Column("caller", Text, nullable=False),  # JSON: the caller as decided at kick-off
    Column("request_url", Text, nullable=False),
    Column("level", String(16), nullable=False),  # system | patient | group
    Column("plan", Text, nullable=False),  # JSON: types, since, elements, group members
    Column("transaction_time", DateTime, nullable=False),
    Column("snapshot_seq", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),  # queued | running | done | failed
    Column("sweep", Integer, nullable=False, default=0),
    Column("after_rid", BigInteger, nullable=False, default=0),
    Column("exported", BigInteger, nullable=False, default=0),
    Column("outputs", Text, nullable=False, default="[]"),  # JSON: [{type, file, count, size}]
    Column("error", Text, nullable=True),
    Column("runner", String(128), nullable=True),
    Column("lease_until", DateTime, nullable=True),
    Column("created", DateTime, nullable=False),
    Column("finished", DateTime, nullable=True),
    Column("expires", DateTime, nullable=True),
    Index(None, "owner", "status"),
    Index(None, "status", "created"),
)

# Subscriptions (`fhirip.subscriptions`): one row per Subscription resource, kept from its current
# version in the transaction that writes it, with the delivery state the deliverers share (the
# number of events numbered so far, the retry schedule, which deliverer holds it and until when).
subscription = Table(
    "subscription",
    metadata,
    Column("rid", Key, primary_key=True),  # the Subscription's resource row
    Column("res_id", String(64), nullable=False),
    Column("owner", String(300), nullable=False),  # `issuer|sub` of the caller who created it
    Column("criteria_type", String(64), nullable=False),
    # What the criteria pin down, if anything, so a write records events only for Subscriptions it
    # can concern: one id (`_id=x`), one patient named by a reference parameter (`subject=Patient/x`).
    Column("watch_id", String(64), nullable=True),
    Column("watch_param", String(64), nullable=True),
    Column("watch_patient", String(64), nullable=True),
    Column("active", Boolean, nullable=False),
    Column("events", Integer, nullable=False),  # events numbered since the subscription started
    Column("failures", Integer, nullable=False),  # failed deliveries in a row
    Column("retry_at", DateTime, nullable=True),
    Column("held_by", String(64), nullable=True),
    Column("held_until", DateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Index(None, "criteria_type", "active"),
    Index(None, "owner"),
)

# The outbox: a write of a type some active subscription watches records one row per such
# subscription in its own transaction (`pending`); a deliverer decides it as a read by the
# subscription's owner, numbers it (`numbered`) or drops it without trace, and sends it
# (`delivered`; `withheld` when the owner may no longer see it by the time it is sent).
subscription_event = Table(
    "subscription_event",
    metadata,
    Column("seq", Key, primary_key=True, autoincrement=True),
    Column("subscription_rid", Key, nullable=False),
    Column("res_type", String(64), nullable=False),
    Column("res_id", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("recorded_at", DateTime, nullable=False),
    Column("state", String(12), nullable=False),
    Column("number", Integer, nullable=True),
    Column("sent_at", DateTime, nullable=True),
    Index(None, "subscription_rid", "state", "seq"),
    Index(None, "subscription_rid", "number"),
)
