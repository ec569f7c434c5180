"""Opening the state database and upgrading its schema in place."""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sqlalchemy import Connection, Engine, create_engine, event, inspect, select
from sqlalchemy.engine import make_url

from optsync import clock
from optsync.dburl import engine_for
from optsync.errors import ConfigError, OptsyncError, Unreachable, os_fault, user_name
from optsync.home import check_home, state_url
from optsync.secrets import StoredSecret, Vault, exception_text, first_line, mask_url
from optsync.state import tables as t
from optsync.state import version
from optsync.upsert import update_or_insert


def utcnow() -> datetime:
    """The current time, aware, in UTC (:func:`optsync.clock.now`)."""
    return clock.now()


def iso(ts: datetime | None) -> str | None:
    """A stored time as ISO 8601 in UTC to the second (a naive one is taken as UTC)."""
    if ts is None:
        return None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).isoformat(timespec="seconds")


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


def legacy_hash(hex_digest: str) -> int:
    """A 16-byte hex hash of schema versions 1 to 3 as an ``export_hashes`` value: its first
    63 bits, negative, so that a pass can tell it from a current hash (never negative)."""
    return -(int(hex_digest[:16], 16) >> 1) - 1


def _v4(conn: Connection) -> None:
    """Settled watermarks (the read's start on the server clock, also in UTC) and 8-byte
    hashes. What was sent is kept: old hashes move over as recognizable legacy values, so
    the first pass after the upgrade sends only real changes."""
    add_column(conn, t.sync_marks, t.sync_marks.c.started_utc)
    t.metadata.create_all(conn, tables=[t.export_hashes])
    if not inspect(conn).has_table(t.sync_hashes.name):
        return
    old, new = t.sync_hashes, t.export_hashes
    pairs = conn.execute(select(old.c.integration_id, old.c.entity).distinct()).all()
    for integration_id, entity in pairs:  # by key pages: no cursor stays open while writing
        last = None
        while True:
            page = select(old.c.key, old.c.hash).where(
                old.c.integration_id == integration_id, old.c.entity == entity)
            if last is not None:
                page = page.where(old.c.key > last)
            chunk = conn.execute(page.order_by(old.c.key).limit(5000)).all()
            if not chunk:
                break
            conn.execute(new.insert(), [
                {"integration_id": integration_id, "entity": entity, "key": k,
                 "hash": legacy_hash(h)} for k, h in chunk
            ])
            last = chunk[-1][0]
    old.drop(conn)


# Each entry upgrades the schema by one version; never edit a released step, add one.
MIGRATIONS: list[Callable[[Connection], None]] = [_v1, _v2, _v3, _v4]
SCHEMA_VERSION = len(MIGRATIONS)
assert SCHEMA_VERSION == version.SCHEMA_VERSION, "optsync/state/version.py names the version"


def schema_version(conn: Connection) -> int:
    if not inspect(conn).has_table(t.meta.name):
        return 0
    value = conn.execute(select(t.meta.c.value).where(t.meta.c.key == "schema_version")).scalar()
    return int(value) if value else 0


def _set_meta(conn: Connection, key: str, value: str) -> None:
    update_or_insert(conn, t.meta, ("key",), {"key": key, "value": value})


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
    for step in range(current + 1, target + 1):
        with engine.begin() as conn:
            MIGRATIONS[step - 1](conn)
            _set_meta(conn, "schema_version", str(step))
            if step == 1:
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
    return engine_for(url)


def sqlite_file(url: str) -> Path | None:
    """The file of an SQLite URL (None for other databases)."""
    if not url.lower().startswith("sqlite"):
        return None
    parsed = make_url(url)
    database = parsed.database or ""
    if str(parsed.query.get("uri", "")).lower() in ("true", "1") and database.startswith("file:"):
        database = unquote(urlsplit(database).path)  # file:PATH or file:///PATH
    return Path(database) if database and database != ":memory:" else None


def _read_only_engine(path: Path) -> Engine:
    """An engine that only reads ``path`` (a state database this user may not write).

    SQLite needs to create ``-shm`` beside a WAL database even to read it; when the folder
    forbids that and no other process has the database open (no ``-wal`` file), the file is
    opened as immutable.
    """
    last: Exception | None = None
    modes = ["mode=ro"]
    if not Path(str(path) + "-wal").exists():
        modes.append("immutable=1")
    for mode in modes:
        uri = f"{path.absolute().as_uri()}?{mode}"
        engine = create_engine(
            f"sqlite:///{path}",  # names the file (and so the pool); the creator opens it
            creator=lambda uri=uri: sqlite3.connect(uri, uri=True, check_same_thread=False),
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar()
            return engine
        except Exception as exc:  # noqa: BLE001 - try the next mode, then report the first
            last = last or exc
            engine.dispose()
    assert last is not None
    raise last


def _disk_full(path: Path) -> bool:
    """Whether the disk holding ``path`` has (next to) no room left: SQLite reports a full
    disk while growing its shared-memory file as an I/O error."""
    try:
        return shutil.disk_usage(path.parent).free < 64 * 1024
    except OSError:
        return False


def _driver_error(exc: BaseException) -> BaseException:
    return getattr(exc, "orig", None) or exc


class State:
    """The home folder, its state database and its secret vault."""

    def __init__(self, home: Path, *, create: bool = True) -> None:
        check_home(home)
        self.home = home
        self.url = state_url(home)
        self.vault = Vault(home, stored=self.stored_secrets)
        self.read_only = False  # opened read-only: this user may read but not write it
        self._engine: Engine | None = None
        self._create = create

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self._open()
            event.listen(self._engine, "handle_error", self._on_error)
        return self._engine

    def _open(self) -> Engine:
        path = sqlite_file(self.url)
        if path is not None:
            if not self._create and not path.exists():
                raise ConfigError(f"no optsync home at {self.home}", "Run 'optsync init' first")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise (os_fault(exc) or exc) from None
        try:
            engine = make_engine(self.url)
            upgrade(engine)
            return engine
        except OptsyncError:
            raise
        except Exception as exc:
            fault = self.fault(exc)
            if path is not None and self._may_read_only(exc, path):
                try:
                    engine = _read_only_engine(path)
                except Exception:  # noqa: BLE001 - the first fault says more
                    raise (fault or exc) from None
                self.read_only = True
                try:
                    upgrade(engine)  # writes nothing when the schema is current
                except Exception as exc2:
                    raise (self.fault(exc2) or exc2) from None
                return engine
            if fault is not None:
                raise fault from None
            raise Unreachable(
                f"the state database {mask_url(self.url)} cannot be opened "
                f"({exception_text(exc)})",
                "Check state_url in optsync.toml or $OPTSYNC_STATE_URL, and that the "
                "database server runs",
            ) from None

    @staticmethod
    def _may_read_only(exc: BaseException, path: Path) -> bool:
        name = getattr(_driver_error(exc), "sqlite_errorname", "") or ""
        return (name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN"))
                and path.is_file() and os.access(path, os.R_OK))

    def _on_error(self, context) -> None:
        """Every later database error of a known cause becomes its one-line error."""
        fault = self.fault(context.original_exception)
        if fault is not None:
            raise fault from None

    def fault(self, exc: BaseException) -> OptsyncError | None:
        """The one-line error for a fault of the state database, or None when unknown."""
        orig = _driver_error(exc)
        if isinstance(orig, OSError) and orig.errno is not None:
            return os_fault(orig)
        path = sqlite_file(self.url)
        where = str(path) if path is not None else mask_url(self.url)
        text = _first_line(orig)
        name = getattr(orig, "sqlite_errorname", "") or ""
        sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or ""
        if name.startswith("SQLITE_FULL") or sqlstate == "53100" or (
                name.startswith("SQLITE_IOERR") and path is not None and _disk_full(path)):
            return Unreachable(
                f"the disk holding the state database {where} is full ({text})",
                "Free space on that disk, then run the command again",
            )
        if name.startswith("SQLITE_READONLY") or sqlstate == "25006":
            return Unreachable(
                f"the state database {where} is read-only for user {user_name()} "
                f"({self._why_read_only(path, text, self.url)})",
                "Give that user write access to it"
                + (f" and to its folder {path.parent}" if path is not None else "")
                + ", or run optsync as the user who owns the home; reading commands "
                "(list, show, status, logs) still work",
            )
        if name == "SQLITE_NOTADB" or name.startswith("SQLITE_CORRUPT"):
            return Unreachable(
                f"the state database {where} is damaged ({text})",
                "Put back a copy from a backup; or move it aside and run 'optsync init' "
                "to start an empty one, then add the operator, companies and schedules again",
            )
        if name.startswith("SQLITE_IOERR"):
            return Unreachable(
                f"reading or writing the state database {where} failed ({text})",
                "Check the disk it is on (free space, dmesg, fsck), then run the command "
                "again",
            )
        if name.startswith("SQLITE_CANTOPEN") and path is not None:
            return Unreachable(
                f"the state database {where} cannot be opened by user {user_name()} ({text})",
                f"Give that user read and write access to {path} and its folder "
                f"{path.parent}, or choose another home with --home DIR",
            )
        if sqlstate == "42501":
            return Unreachable(
                f"the state database {where} refused a change ({text})",
                "Grant the database user of state_url the rights to create and change "
                "optsync's tables",
            )
        return None

    @staticmethod
    def _why_read_only(path: Path | None, text: str, url: str) -> str:
        if "mode=ro" in url.lower() or "immutable=1" in url.lower():
            return "the state URL opens it read-only"
        if path is None:
            return text
        if path.exists() and not os.access(path, os.W_OK):
            return "the file is not writable"
        if not os.access(path.parent, os.W_OK):
            return (f"its folder {path.parent} is not writable, and SQLite writes its "
                    "journal files beside the database")
        try:
            if os.statvfs(path).f_flag & os.ST_RDONLY:
                return "it is on a read-only file system"
        except (AttributeError, OSError):
            pass
        return text

    def stored_secrets(self) -> list[StoredSecret]:
        """Every encrypted value in the state database, named, with how to store it again."""
        found: list[StoredSecret] = []
        with self.engine.connect() as conn:
            for row in conn.execute(select(t.operator.c.acronym, t.operator.c.password_secret)):
                if row.password_secret:
                    found.append(StoredSecret(
                        "the operator's password", row.password_secret,
                        f"'optsync operator set {row.acronym} --password-stdin'"))
            for row in conn.execute(select(t.companies.c.name, t.companies.c.db_secret,
                                           t.companies.c.config_db_secret)):
                again = (f"'optsync company remove {row.name}' and add it again with the "
                         "password in the URL")
                if row.db_secret:
                    found.append(StoredSecret(
                        f"the password in the database URL of company {row.name!r}",
                        row.db_secret, again))
                if row.config_db_secret:
                    found.append(StoredSecret(
                        "the password in the configuration database URL of company "
                        f"{row.name!r}",
                        row.config_db_secret, again))
            for row in conn.execute(
                select(t.companies.c.name.label("company"), t.integrations.c.name,
                       t.integrations.c.endpoint_secret)
                .join(t.companies, t.companies.c.id == t.integrations.c.company_id)
            ):
                if row.endpoint_secret:
                    found.append(StoredSecret(
                        f"the password in the endpoint of integration {row.company}/{row.name}",
                        row.endpoint_secret,
                        f"'optsync integration remove --company {row.company} {row.name}' "
                        "and add it again"))
        return found

    def install_id(self) -> str:
        with self.engine.connect() as conn:
            return conn.execute(
                select(t.meta.c.value).where(t.meta.c.key == "install_id")
            ).scalar_one()

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def _first_line(exc: BaseException) -> str:
    return first_line(exc) or type(exc).__name__
