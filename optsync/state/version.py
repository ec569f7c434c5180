"""The state database's schema version this optsync writes (kept apart from the migrations so
that a scheduled start can check it without loading SQLAlchemy)."""

SCHEMA_VERSION = 4
