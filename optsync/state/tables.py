"""Tables of the state database: configuration, runs, logs, sync state, locks, installs.

URLs are stored masked (``***`` for a password) with the password Fernet-encrypted beside
them, so the database alone never reveals a secret.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# Keys must stay short enough for an index on every server (SQL Server: 900 bytes).
_NAME = String(200)

meta = Table(
    "optsync_meta",
    metadata,
    Column("key", String(50), primary_key=True),
    Column("value", Text, nullable=False),
)

operator = Table(
    "optsync_operator",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1
    Column("acronym", String(20), nullable=False),
    Column("password_secret", Text),
    Column("verified", Boolean),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

companies = Table(
    "optsync_companies",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", _NAME, nullable=False, unique=True),
    Column("db_url", Text, nullable=False),
    Column("db_secret", Text),
    Column("config_db_url", Text),
    Column("config_db_secret", Text),
    Column("description", Text, nullable=False, default=""),
    Column("source", String(20), nullable=False, default="manual"),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

integrations = Table(
    "optsync_integrations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("company_id", Integer, ForeignKey("optsync_companies.id"), nullable=False),
    Column("name", _NAME, nullable=False),
    Column("app", String(10), nullable=False),
    Column("endpoint", Text, nullable=False),
    Column("endpoint_secret", Text),
    Column("kind", String(20), nullable=False),
    Column("export_entities", Text, nullable=False),  # comma list
    Column("import_entities", Text, nullable=False),
    Column("price_list", Integer),
    Column("warehouse", String(20)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("company_id", "name"),
)

schedules = Table(
    "optsync_schedules",
    metadata,
    Column("company_id", Integer, ForeignKey("optsync_companies.id"), primary_key=True),
    Column("enabled", Boolean, nullable=False),
    Column("start_min", Integer, nullable=False),
    Column("end_min", Integer, nullable=False),
    Column("every_min", Integer, nullable=False),
    Column("days", String(20), nullable=False),  # "0,1,2,3,4"
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

runs = Table(
    "optsync_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("company_id", Integer),  # no FK: runs outlive their company
    Column("company", _NAME, nullable=False),
    Column("trigger", String(20), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("status", String(20), nullable=False),  # running, ok, partial, failed, skipped
    Column("reason", String(50)),
    Column("steps", Text, nullable=False, default="[]"),
    # Added in schema version 3: False for a dry run or one narrowed by --only/--entity,
    # which does not serve a scheduled start (NULL in older rows: complete).
    Column("complete", Boolean),
    Index("ix_optsync_runs_company", "company_id", "started_at"),
)

logs = Table(
    "optsync_logs",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("ts", DateTime(timezone=True), nullable=False),
    Column("level", String(10), nullable=False),
    Column("category", String(20), nullable=False),
    Column("company", _NAME),
    Column("run_id", Integer),
    Column("message", Text, nullable=False),
    Column("data", Text),
    Index("ix_optsync_logs_ts", "ts"),
    Index("ix_optsync_logs_run", "run_id"),
)

sync_marks = Table(
    "optsync_sync_marks",
    metadata,
    Column("integration_id", Integer, primary_key=True),
    Column("entity", String(20), primary_key=True),
    # Optima server's local time (naive) at the start of the last complete read; before
    # schema version 4, the newest modification stamp sent.
    Column("watermark", DateTime),
    Column("digest", String(64)),  # of a whole full-read entity, to skip unchanged ones
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # Added in schema version 4: the same instant as ``watermark`` in UTC (naive); NULL in
    # a mark written by an older version, whose watermark is then a newest stamp.
    Column("started_utc", DateTime),
)

# Schema versions 1 to 3 (16-byte hex hashes); replaced by export_hashes in version 4.
sync_hashes = Table(
    "optsync_sync_hashes",
    metadata,
    Column("integration_id", Integer, primary_key=True),
    Column("entity", String(20), primary_key=True),
    Column("key", String(400), primary_key=True),
    Column("hash", String(32), nullable=False),
    sqlite_with_rowid=False,  # the key is the row: one b-tree, not two
)

# Added in schema version 4: per record key, a 63-bit hash of what was last sent (>= 0), or
# (< 0) the first 63 bits of a hash written by an older version, recognized until replaced.
export_hashes = Table(
    "optsync_export_hashes",
    metadata,
    Column("integration_id", Integer, primary_key=True, autoincrement=False),
    Column("entity", String(20), primary_key=True),
    Column("key", String(400), primary_key=True),
    Column("hash", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

# Added in schema version 2.
locks = Table(
    "optsync_locks",
    metadata,
    Column("company_id", Integer, primary_key=True, autoincrement=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("token", String(40), nullable=False),
    Column("run_id", Integer),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

installs = Table(
    "optsync_installs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("host", String(255), nullable=False),
    Column("backend", String(20), nullable=False),
    Column("target", Text, nullable=False),
    Column("install_id", String(40), nullable=False),
    Column("installed_at", DateTime(timezone=True), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("entries", Integer, nullable=False, default=0),
    Column("active", Boolean, nullable=False, default=True),
)
