"""Opening the state database and upgrading its schema in place."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, inspect, select

from optsync.errors import ConfigError, Unreachable
from optsync.home import state_url
from optsync.secrets import Vault, mask_url
from optsync.state import tables as t


def utcnow() -> datetime:
    return datetime.now(UTC)


def _v1(conn: Connection) -> None:
    """Configuration, runs, logs and sync state."""
    t.metadata.create_all(
        conn,
        tables=[
            t.meta, t.operator, t.companies, t.integrations, t.schedules,
            t.runs, t.logs, t.sync_marks, t.sync_hashes,
        ],
    )


def _v2(conn: Connection) -> None:
    """Company lease locks and the record of OS scheduler installs."""
    t.metadata.create_all(conn, tables=[t.locks, t.installs])


def _v3(conn: Connection) -> None:
    """Runs say whether they were complete passes (``run --due`` counts only those)."""
    add_column(conn, t.runs, t.runs.c.complete)


def add_column(conn: Connection, table, column) -> None:
    """``ALTER TABLE ... ADD`` a column of the current definition, unless it is there."""
    if column.name in {c["name"] for c in inspect(conn).get_columns(table.name)}:
        return  # created by an earlier step from the current definition
    kind = column.type.compile(dialect=conn.dialect)
    add = "ADD" if conn.dialect.name == "mssql" else "ADD COLUMN"
    prep = conn.dialect.identifier_preparer
    conn.exec_driver_sql(
        f"ALTER TABLE {prep.format_table(table)} {add} {prep.quote(column.name)} {kind}"
    )


# Each entry upgrades the schema by one version; never edit a released step, add one.
MIGRATIONS: list[Callable[[Connection], None]] = [_v1, _v2, _v3]
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: Connection) -> int:
    if not inspect(conn).has_table(t.meta.name):
        return 0
    value = conn.execute(select(t.meta.c.value).where(t.meta.c.key == "schema_version")).scalar()
    return int(value) if value else 0


def _set_meta(conn: Connection, key: str, value: str) -> None:
    updated = conn.execute(t.meta.update().where(t.meta.c.key == key).values(value=value))
    if not updated.rowcount:
        conn.execute(t.meta.insert().values(key=key, value=value))


def upgrade(engine: Engine, target: int = SCHEMA_VERSION) -> int:
    """Bring the schema up to ``target``, one version a transaction; return the version."""
    with engine.connect() as conn:
        current = schema_version(conn)
    if current > SCHEMA_VERSION:
        raise ConfigError(
            f"the state database has schema version {current}, newer than this optsync "
            f"knows ({SCHEMA_VERSION})",
            "Upgrade optsync on this host",
        )
    for version in range(current + 1, target + 1):
        with engine.begin() as conn:
            MIGRATIONS[version - 1](conn)
            _set_meta(conn, "schema_version", str(version))
            if version == 1:
                _set_meta(conn, "install_id", uuid.uuid4().hex[:12])
    return max(current, target)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout = 30000")
    cur.execute("PRAGMA foreign_keys = ON")
    cur.execute("PRAGMA synchronous = NORMAL")
    cur.close()


def make_engine(url: str) -> Engine:
    """An engine for the state database; SQLite gets WAL and a busy timeout."""
    if url.startswith("sqlite"):
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA journal_mode = WAL")
        return engine
    from optsync.dburl import engine_for

    return engine_for(url)


class State:
    """The home folder, its state database and its secret vault."""

    def __init__(self, home: Path, *, create: bool = True) -> None:
        self.home = home
        self.url = state_url(home)
        self.vault = Vault(home)
        self._engine: Engine | None = None
        self._create = create

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            if self.url.startswith("sqlite"):
                if not self._create and not (self.home / "state.db").exists():
                    raise ConfigError(
                        f"no optsync home at {self.home}", "Run 'optsync init' first"
                    )
                self.home.mkdir(parents=True, exist_ok=True)
            try:
                engine = make_engine(self.url)
                upgrade(engine)
            except ConfigError:
                raise
            except Exception as exc:
                raise Unreachable(
                    f"the state database {mask_url(self.url)} cannot be opened "
                    f"({type(exc).__name__})",
                    "Check state_url in optsync.toml or $OPTSYNC_STATE_URL",
                ) from None
            self._engine = engine
        return self._engine

    def install_id(self) -> str:
        with self.engine.connect() as conn:
            return conn.execute(
                select(t.meta.c.value).where(t.meta.c.key == "install_id")
            ).scalar_one()

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
