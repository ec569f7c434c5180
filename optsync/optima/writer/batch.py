"""The machinery every import shares: batches, one savepoint per record, complete rows.

Records are written in chunks of ``batch_size``, one transaction per chunk and a SAVEPOINT per
record, so a record lands whole or not at all and a bad record never takes good ones down.
Each entity module supplies two functions: ``prepare`` validates a chunk and does its batched
look-ups (one ``IN`` query per chunk), turning each record into a typed plan or an
:class:`ImportResult` (a rejection, or a record Optima already has); ``write`` writes one plan.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar

from sqlalchemy import Engine, event, insert, select
from sqlalchemy.engine import Connection, CursorResult
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InternalError, StatementError

from optsync.entities import ENTITIES
from optsync.optima import inbound as v
from optsync.optima.columns import NOW, Marker
from optsync.optima.inbound import Rejected, import_guid
from optsync.optima.operator import OperatorInfo
from optsync.optima.reader import IN_CHUNK
from optsync.optima.rows import TableShape, reflect_shape, server_now
from optsync.optima.tables import OptimaTables, new_id
from optsync.secrets import exception_text, first_line

Status = Literal["imported", "duplicate", "rejected"]
# Errors a database raises about one record's values (constraints, triggers, overflows);
# anything else (lost connection, locks, bugs) aborts the chunk and propagates.
RECORD_ERRORS = (IntegrityError, DataError, InternalError)
P = TypeVar("P")


@dataclass(frozen=True)
class ImportResult:
    """What became of one inbound record."""

    status: Status
    erp_id: int | None = None
    erp_number: str | None = None
    error: str | None = None


def rejected(error: str) -> ImportResult:
    """A ``rejected`` result with a reason."""
    return ImportResult("rejected", error=error)


def transactional(engine: Engine) -> Engine:
    """Return ``engine``, or on pysqlite a copy that emits ``BEGIN IMMEDIATE`` itself.

    pysqlite's legacy transaction mode does not begin a transaction before ``SAVEPOINT``, so
    releasing the first savepoint would commit it (SQLAlchemy's SQLite docs, "Transactions with
    SQLite and the sqlite3 driver"). The listener lives on an option copy of the engine only;
    ``IMMEDIATE`` takes the write lock up front, which also keeps numbering race-free.
    """
    if engine.dialect.name != "sqlite" or engine.dialect.driver != "pysqlite":
        return engine
    copy = engine.execution_options()

    @event.listens_for(copy, "begin")
    def _begin(conn: Connection) -> None:
        if not conn.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return copy


def on_driver(conn: Connection) -> bool:
    """Whether a record's statements may go straight to the DBAPI connection: on SQLite and
    PostgreSQL when nothing listens to SQLAlchemy's cursor events (SQL Server's fast
    executemany is set in one; a tool watching the statements is another). SQLAlchemy's own
    path costs more per statement than a narrow insert takes."""
    return (conn.dialect.name in _DRIVER_IDS and not conn.dispatch.before_cursor_execute
            and not conn.dispatch.after_cursor_execute)


def driver_execute(conn: Connection, sql: str, params: Any = (), *, many: bool = False) -> Any:
    """Run one statement on the connection's DBAPI cursor (inside its transaction); a driver
    error comes out as SQLAlchemy's exception for it (``IntegrityError``...), as
    ``exec_driver_sql`` would raise it. Returns the cursor."""
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    try:
        if many:
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params)
    except conn.dialect.loaded_dbapi.Error as exc:
        gone = conn.dialect.is_disconnect(exc, dbapi, cursor)
        cursor.close()
        raise DBAPIError.instance(sql, params, exc, conn.dialect.loaded_dbapi.Error,
                                  connection_invalidated=gone, dialect=conn.dialect) from exc
    except BaseException:
        cursor.close()
        raise
    return cursor


class SavepointLost(RuntimeError):
    """A failed record could not be undone: the chunk as a whole must be rolled back."""


def savepoint_sql(dialect_name: str, name: str) -> tuple[list[str], list[str], list[str]]:
    """The statements that begin, release and roll back to a savepoint on this dialect.
    SQL Server has ``SAVE TRANSACTION`` (inside a transaction it opens first, as SQLAlchemy
    does) and nothing to release."""
    if dialect_name == "mssql":
        return (["IF @@TRANCOUNT = 0 BEGIN TRANSACTION", f"SAVE TRANSACTION {name}"], [],
                [f"ROLLBACK TRANSACTION {name}"])
    return ([f"SAVEPOINT {name}"], [f"RELEASE SAVEPOINT {name}"],
            [f"ROLLBACK TO SAVEPOINT {name}", f"RELEASE SAVEPOINT {name}"])


@contextmanager
def savepoint(conn: Connection, name: str = "optsync_record", *,
              direct: bool | None = None) -> Iterator[None]:
    """A savepoint around the block, rolled back to if the block raises.

    Issued as the plain statements they are (``direct``: on the driver, see
    :func:`on_driver`): SQLAlchemy's ``begin_nested`` compiles its savepoint statements anew
    each time, a fifth of a small import's time.
    """
    begin, release, rollback = savepoint_sql(conn.dialect.name, name)
    if direct is None:
        direct = on_driver(conn)
    run = (lambda sql: driver_execute(conn, sql).close()) if direct else conn.exec_driver_sql
    for sql in begin:
        run(sql)
    try:
        yield
    except BaseException as failed:
        try:
            for sql in rollback:
                run(sql)
        except Exception as exc:
            # The database lost more than the record (a trigger rolled the transaction
            # back, the connection is gone): records before it in the chunk may be lost too,
            # so the chunk must not go on as if only this record failed.
            raise SavepointLost(f"a failed record could not be undone ({first_line(exc)}); "
                                "the chunk is rolled back and tried again on the next pass"
                                ) from failed
        raise
    for sql in release:
        run(sql)


def chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def error_text(exc: Exception) -> str:
    """The reason a database gave for refusing a record, in one line."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return f"database refused the record: {first_line(exc.orig)}"
    return str(exc)


@dataclass
class Call:
    """What the chunks of one import call share; additions wait until their savepoint holds."""

    now: datetime = datetime.min  # the Optima server's clock, read at the start of each chunk
    seen: dict[str, ImportResult] = field(default_factory=dict)
    pending: list[Callable[[], None]] = field(default_factory=list)

    def later(self, apply: Callable[[], None]) -> None:
        """Run ``apply`` once the current record's savepoint is released."""
        self.pending.append(apply)

    def keep(self) -> None:
        for apply in self.pending:
            apply()
        self.pending.clear()


class Target:
    """One Optima company as the writer sees it: tables, operator, and each table's shape as
    this database has it (reflected once per writer, that is once per pass)."""

    def __init__(
        self,
        engine: Engine,
        tables: OptimaTables,
        operator: OperatorInfo,
        *,
        app_id: str,
        namespace: str,
        batch_size: int,
        warn: Callable[[str], None] | None,
        clock: Callable[[Connection], datetime] = server_now,
    ) -> None:
        self.engine = transactional(engine)
        self.t = tables
        self.operator = operator
        self.app_id = app_id[:5]
        self.namespace = namespace
        self.batch_size = batch_size
        self.warn = warn
        self.clock = clock
        self._shapes: dict[str, TableShape] = {}
        self._fast: dict[tuple[Any, ...], _DriverInsert] = {}
        self.dry = False  # checks only: see :meth:`run`

    def shape(self, conn: Connection, name: str) -> TableShape:
        if name not in self._shapes:
            self._shapes[name] = reflect_shape(conn, getattr(self.t, name), self.warn)
        return self._shapes[name]

    def insert(self, conn: Connection, name: str, values: Mapping[str, Any], now: datetime) -> int:
        """Insert one complete row into table ``name``; return its id.

        On SQLite and PostgreSQL the row goes to the driver like :meth:`insert_many`'s (the id
        from ``lastrowid`` or ``RETURNING``); elsewhere (SQL Server: Optima's triggers forbid
        ``OUTPUT`` without ``INTO``) through SQLAlchemy, which knows how to ask for it.
        """
        shape = self.shape(conn, name)
        row = shape.row(values, now)
        if conn.dialect.name not in _DRIVER_IDS:
            result: CursorResult[Any] = conn.execute(insert(shape.table), row)
            return new_id(result)
        keys = tuple(row)
        fast = self._fast.get((name, keys, "id"))
        if fast is None:
            fast = self._fast[(name, keys, "id")] = _DriverInsert(conn, shape, keys, returning=True)
        return fast.execute_one(conn, row)

    def insert_many(
        self, conn: Connection, name: str, rows: Sequence[Mapping[str, Any]], now: datetime
    ) -> None:
        """Insert complete rows into table ``name`` with one executemany on the driver.

        Lines are the widest rows optsync writes (a ``TraElem`` row has over a hundred NOT
        NULL columns), so the statement is compiled once per table and set of columns and the
        rows go to the driver with SQLAlchemy's own conversions of each column's type.
        """
        if not rows:
            return
        shape = self.shape(conn, name)
        complete = [shape.row(r, now) for r in rows]
        keys = tuple(complete[0])
        fast = self._fast.get((name, keys))
        if fast is None:
            fast = self._fast[(name, keys)] = _DriverInsert(conn, shape, keys)
        fast.execute(conn, complete)

    def lookup(self, conn: Connection, column: Any, keys: Iterable[Any], *cols: Any) -> dict[Any, Any]:
        """``{key: row}`` for rows whose ``column`` is in ``keys``, one IN query per 2,000 keys."""
        found: dict[Any, Any] = {}
        for part in chunks(sorted(set(keys)), IN_CHUNK):
            for row in conn.execute(select(column, *cols).where(column.in_(list(part)))):
                found.setdefault(row[0], row)
        return found

    def guid(self, record: Mapping[str, Any], entity: str, external_id: str) -> str:
        """The record's ``guid``, else the deterministic GUID of its external id."""
        guid = v.field_text(record, ENTITIES[entity].inbound_field("guid"))
        if guid:
            return guid
        if not external_id:
            raise Rejected("missing external_id (or guid)")
        return import_guid(self.namespace, entity, external_id)

    def operator_columns(self, prefix: str) -> dict[str, Any]:
        """The operator as creator and last modifier, in the columns ``<prefix>_OpeZal*`` and
        ``<prefix>_OpeMod*`` (a table lacking some of them simply drops them)."""
        op = self.operator
        return {
            f"{prefix}_OpeZalID": op.id,
            f"{prefix}_OpeZalKod": op.code[:20],
            f"{prefix}_OpeZalNazwisko": op.name[:50],
            f"{prefix}_OpeModID": op.id,
            f"{prefix}_OpeModKod": op.code[:20],
            f"{prefix}_OpeModNazwisko": op.name[:50],
        }

    # -- the shared loop ---------------------------------------------------------------------

    def run(
        self,
        records: Sequence[Mapping[str, Any]],
        prepare: Callable[[Connection, Sequence[Mapping[str, Any]], Call], list[P | ImportResult]],
        write: Callable[[Connection, P, Call], ImportResult],
        call: Call | None = None,
    ) -> list[ImportResult]:
        """Prepare and write ``records`` chunk by chunk; one result per record, in order."""
        results: list[ImportResult] = []
        call = call or Call()
        if self.dry:
            return self._check(records, prepare, call)
        for chunk in chunks(records, self.batch_size):
            with self.engine.begin() as conn:
                call.now = self.clock(conn)
                direct = on_driver(conn)
                for plan in prepare(conn, chunk, call):
                    if isinstance(plan, ImportResult):
                        results.append(plan)
                    else:
                        results.append(self._write_one(conn, plan, call, write, direct))
        return results

    def _check(
        self,
        records: Sequence[Mapping[str, Any]],
        prepare: Callable[[Connection, Sequence[Mapping[str, Any]], Call], list[P | ImportResult]],
        call: Call,
    ) -> list[ImportResult]:
        """A dry run: every check made before writing; a record that passes them all comes back
        ``imported`` with no id, and nothing is written."""
        results: list[ImportResult] = []
        for chunk in chunks(records, self.batch_size):
            with self.engine.connect() as conn:
                call.now = self.clock(conn)
                for plan in prepare(conn, chunk, call):
                    results.append(plan if isinstance(plan, ImportResult) else ImportResult("imported"))
                conn.rollback()
        return results

    @staticmethod
    def _write_one(
        conn: Connection, plan: P, call: Call, write: Callable[[Connection, P, Call], ImportResult],
        direct: bool = False,
    ) -> ImportResult:
        call.pending.clear()
        try:
            with savepoint(conn, direct=direct):
                result = write(conn, plan, call)
        except Rejected as exc:
            return rejected(str(exc))
        except RECORD_ERRORS as exc:
            if exc.connection_invalidated:
                raise
            return rejected(error_text(exc))
        except StatementError as exc:  # a value the driver's conversion refused
            if isinstance(exc, DBAPIError):
                raise
            return rejected(error_text(exc.orig if isinstance(exc.orig, Exception) else exc))
        except (ArithmeticError, ValueError, TypeError, OverflowError) as exc:
            return rejected(unreadable(exc))
        call.keep()
        return result


class _DriverInsert:
    """An INSERT compiled once, executed on the driver with SQLAlchemy's type conversions."""

    def __init__(
        self, conn: Connection, shape: TableShape, keys: tuple[str, ...], *, returning: bool = False
    ) -> None:
        stmt = insert(shape.table)
        if returning and conn.dialect.name == "postgresql":
            stmt = stmt.returning(*shape.table.primary_key.columns)
        compiled = stmt.compile(dialect=conn.dialect, column_keys=list(keys))
        self.sql = compiled.string
        processors = getattr(compiled, "_bind_processors", {})
        self.positional = compiled.positiontup is not None
        order = list(compiled.positiontup) if self.positional else list(keys)
        self.order = order
        self._values = _values_function(order, processors, shape.fill)
        self.direct = on_driver(conn)  # the engine's listeners do not change

    def _params(self, row: dict[str, Any]) -> Any:
        values = self._values(row)
        return values if self.positional else dict(zip(self.order, values))

    def execute(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        params = [self._params(row) for row in rows]
        if self.direct:
            driver_execute(conn, self.sql, params, many=True).close()
        else:
            conn.exec_driver_sql(self.sql, params)

    def execute_one(self, conn: Connection, row: dict[str, Any]) -> int:
        """Insert one row; return the id the database gave it."""
        returned = conn.dialect.name == "postgresql"
        if self.direct:
            cursor = driver_execute(conn, self.sql, self._params(row))
            try:
                found = cursor.fetchone() if returned else (cursor.lastrowid,)
            finally:
                cursor.close()
            new = found[0] if found else None
        else:
            result = conn.exec_driver_sql(self.sql, self._params(row))
            new = result.scalar() if returned else result.lastrowid
        if new is None:
            raise RuntimeError("the database returned no id for the inserted row")
        return int(new)


def _last(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``process`` remembering its last value: the server's time is the same object for
    every row of a chunk, and converting a time costs more than an insert's other values."""
    seen: list[Any] = [object(), None]

    def run(value: Any) -> Any:
        if value is not seen[0]:
            seen[0], seen[1] = value, process(value)
        return seen[1]

    return run


def _values_function(order: list[str], processors: Mapping[str, Any],
                     fill: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A function of one complete row giving its converted values in ``order``, written out
    once per statement (no loop per value). A column still holding its fill value (the same
    object: most of a wide row) gets the conversion made here, once."""
    scope: dict[str, Any] = {}
    parts = []
    for i, key in enumerate(order):
        process = processors.get(key)
        if process is None:
            parts.append(f"r[{key!r}]")
            continue
        value = fill.get(key)
        scope[f"p{i}"] = _last(process) if value is NOW else process  # one time for a chunk
        if value is not None and not isinstance(value, Marker):
            scope[f"f{i}"], scope[f"d{i}"] = value, process(value)
            parts.append(f"(d{i} if (v{i} := r[{key!r}]) is f{i} "
                         f"else None if v{i} is None else p{i}(v{i}))")
        else:
            parts.append(f"(None if (v{i} := r[{key!r}]) is None else p{i}(v{i}))")
    exec(f"def values(r):\n    return ({', '.join(parts)},)\n", scope)  # noqa: S102
    return scope["values"]  # type: ignore[no-any-return]


_DRIVER_IDS = ("sqlite", "postgresql")  # dialects whose driver hands back a new row's id


def unreadable(exc: BaseException) -> str:
    """The reason for a record that broke something unexpected (a value no code path foresaw)."""
    return f"the record cannot be read: {exception_text(exc)}"


def parse_each(
    chunk: Sequence[Mapping[str, Any]], parse: Callable[[Mapping[str, Any]], P]
) -> list[P | ImportResult]:
    """Parse every record of a chunk; a record that fails, however, becomes a rejection."""
    plans: list[P | ImportResult] = []
    for record in chunk:
        try:
            if not isinstance(record, Mapping):
                raise Rejected("record is not an object")
            plans.append(parse(record))
        except Rejected as exc:
            plans.append(rejected(str(exc)))
        except (ArithmeticError, ValueError, TypeError, LookupError, RecursionError) as exc:
            plans.append(rejected(unreadable(exc)))
    return plans
