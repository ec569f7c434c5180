"""The ``sql`` endpoint: exchange tables in the application's own database, and optsync's mark."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Select,
    Table,
    and_,
    bindparam,
    create_engine,
    delete,
    inspect,
    select,
    update,
)
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from optsync import clock, fastexec
from optsync.dburl import first_line, missing_driver, to_sqlalchemy
from optsync.endpoints.base import (
    Endpoint,
    EndpointMark,
    Export,
    Inbound,
    RowReading,
    Status,
    builtin_kind,
)
from optsync.endpoints.records import (
    MalformedRecord,
    inbound_label,
    inbound_record,
)
from optsync.endpoints.tables import (
    MARK_TABLE,
    METADATA,
    add_missing_columns,
    inbox_lines_table_name,
    inbox_table_name,
    outbound_table_name,
)
from optsync.entities import ENTITIES, EXPORTED
from optsync.errors import BadInput, Unreachable
from optsync.secrets import exception_text
from optsync.upsert import Prepared, update_or_insert, upsert_statement

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

BATCH = 2000  # rows per executemany and per inbox read
IN_CHUNK = 1000  # ids per IN (...) list: SQL Server allows 2100 parameters

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    """The current UTC time without zone, as stored in ``updated_at`` / ``imported_at``."""
    return clock.now().replace(tzinfo=None)


# One translation of odbc: strings for Optima databases and endpoints alike.
sqlalchemy_url = to_sqlalchemy


def waiting_query(entity: str) -> Select[Any]:
    """The inbox rows of ``entity`` waiting to be imported."""
    header = METADATA.tables[inbox_table_name(entity)]
    return select(header).where(header.c.status == "new")


class SqlEndpoint(Endpoint):
    """Exchange tables in a database reached by a SQLAlchemy URL, created on first use."""

    kind = "sql"

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self._engine: Engine | None = None
        self._ready = False
        self.added_columns: list[str] = []  # by ensure_tables, to tables of an earlier optsync
        self._marks: dict[str, list[dict[str, Any]]] = {}
        self._unmarked: dict[str, dict[int, str]] = {}  # inbounds read with an error

    @classmethod
    def accepts(cls, target: str) -> bool:
        """URLs with ``://`` other than ``file://``, and ``odbc:`` connection strings."""
        return builtin_kind(target) == "sql"

    # --- connection -----------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, created on first use (pyodbc is loaded only for mssql)."""
        if self._engine is None:
            url = sqlalchemy_url(self.target.strip())
            options: dict[str, Any] = {}
            if url.startswith("mssql+pyodbc"):
                options["fast_executemany"] = True
            elif url.startswith("sqlite"):
                options["connect_args"] = {"timeout": 30}  # wait for the application's writes
            try:
                self._engine = fastexec.install(create_engine(url, **options))
            except (ArgumentError, ValueError) as exc:
                raise BadInput(
                    f"invalid endpoint URL {self.display}: {self._masked(exc)}",
                    "Use a SQLAlchemy URL such as postgresql+psycopg://user@host/db",
                ) from None
            except ImportError as exc:
                raise missing_driver(self.target, exc, "the sql endpoint") from None
            except NoSuchModuleError as exc:
                raise Unreachable(
                    f"cannot open the sql endpoint {self.display}: {self._masked(exc)}",
                    "Install the database driver the URL names (see 'optsync doctor')",
                ) from None
        return self._engine

    def _masked(self, exc: BaseException) -> str:
        return first_line(exc, self.target.strip()) or type(exc).__name__

    def check(self) -> None:
        """Raise Unreachable unless a connection opens and answers."""
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except DBAPIError as exc:
            raise Unreachable(
                f"cannot reach the sql endpoint {self.display}: {self._masked(exc)}",
                "Check the URL, that the server runs and the credentials",
            ) from None

    def ensure_tables(self) -> None:
        """Create every missing exchange table and add the columns missing from existing ones.

        Existing tables and rows are left alone apart from those added columns (tables made by
        an earlier optsync), which :attr:`added_columns` lists.
        """
        self.check()
        with self.engine.begin() as conn:
            METADATA.create_all(conn, checkfirst=True)
            self.added_columns = add_missing_columns(conn)
        if self.added_columns:
            log.info("columns added to %s: %s", self.display, ", ".join(self.added_columns))
        self._ready = True

    def upgrade(self) -> list[str]:
        """Create missing tables and add missing columns now; the columns added."""
        self.ensure_tables()
        return list(self.added_columns)

    # --- optsync's mark -------------------------------------------------------------------

    def read_marks(self) -> dict[str, EndpointMark]:
        """The rows of ``optsync_mark`` by identity; {} when the table does not exist."""
        table = METADATA.tables[MARK_TABLE]
        with self.engine.connect() as conn:
            if not inspect(conn).has_table(MARK_TABLE):
                return {}
            rows = conn.execute(select(table)).mappings().all()
        return {
            row["identity"]: EndpointMark(
                row["identity"], int(row["last_run"]), company=row["company"],
                integration=row["integration"], updated_at=row["updated_at"]
                if isinstance(row["updated_at"], datetime) else None,
            )
            for row in rows
        }

    def write_mark(self, mark: EndpointMark) -> None:
        """Replace the row of the mark's identity in ``optsync_mark`` (one transaction)."""
        self._ensure()
        table = METADATA.tables[MARK_TABLE]
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.identity == mark.identity))
            conn.execute(table.insert().values(
                identity=mark.identity, company=mark.company, integration=mark.integration,
                last_run=mark.last_run, updated_at=mark.updated_at or utcnow(),
            ))

    def holds_data(self) -> bool:
        """Whether any outbound exchange table exists and has a row (tables are not created)."""
        with self.engine.connect() as conn:
            present = set(inspect(conn).get_table_names())
            for entity in EXPORTED:
                name = outbound_table_name(entity)
                if name not in present:
                    continue
                table = METADATA.tables[name]
                key = table.c[ENTITIES[entity].key[0]]
                if conn.execute(select(key).limit(1)).first() is not None:
                    return True
        return False

    def live_keys(self, entity: str) -> Iterator[tuple[Any, ...]]:
        """Keys of the outbound rows with ``deleted = 0`` (none when the table is missing)."""
        name = outbound_table_name(entity)
        table = METADATA.tables[name]
        columns = [table.c[k] for k in ENTITIES[entity].key]
        with self.engine.connect() as conn:
            if not inspect(conn).has_table(name):
                return iter(())
            rows = conn.execute(select(*columns).where(table.c.deleted == 0)).all()
        return iter([tuple(row) for row in rows])

    def _ensure(self) -> None:
        if not self._ready:
            self.ensure_tables()

    def close(self) -> None:
        """Write pending marks and release the connection pool."""
        if self._engine is not None:
            try:
                for entity in list(self._marks):
                    self._flush(entity)
            except Exception as exc:  # noqa: BLE001 - lost marks only mean "already imported" later
                log.warning("marks of %s not written: %s", self.display, self._masked(exc))
            finally:
                self._engine.dispose()
                self._engine = None
                self._ready = False

    # --- export ---------------------------------------------------------------------------

    def _export(self, entity: str, run_id: int) -> Export:
        self._ensure()
        return SqlExport(self, entity, run_id)

    def outbound_rows(self, entity: str) -> list[dict[str, Any]]:
        """Every row of an outbound table, key order, with ``deleted``/``updated_at``; documents nest ``lines``."""
        self._ensure()
        table = METADATA.tables[outbound_table_name(entity)]
        spec = ENTITIES[entity]
        keys = [table.c[k] for k in spec.key]
        with self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(select(table).order_by(*keys)).mappings()]
            if spec.outbound_lines_table:
                lines_table = METADATA.tables[spec.outbound_lines_table]
                by_doc: dict[int, list[dict[str, Any]]] = {}
                query = select(lines_table).order_by(lines_table.c.erp_id, lines_table.c.line_no)
                for line in conn.execute(query).mappings():
                    by_doc.setdefault(line["erp_id"], []).append(dict(line))
                for row in rows:
                    row["lines"] = by_doc.get(row["erp_id"], [])
        return rows

    # --- import ---------------------------------------------------------------------------

    def _inbox(self, entity: str) -> Iterator[Inbound]:
        self._ensure()
        header = METADATA.tables[inbox_table_name(entity)]
        with_lines = bool(ENTITIES[entity].inbound_lines)
        lines = METADATA.tables[inbox_lines_table_name(entity)] if with_lines else None
        last_id: int | None = None
        while True:
            query = waiting_query(entity).order_by(header.c.id)
            if last_id is not None:
                query = query.where(header.c.id > last_id)
            query = query.limit(BATCH)
            try:
                with self.engine.connect() as conn:
                    rows = conn.execute(query).mappings().all()
                    by_header = (
                        self._lines(conn, lines, [r["id"] for r in rows])
                        if lines is not None else {}
                    )
                offered = [
                    self._inbound(entity, dict(row), by_header.get(row["id"], []))
                    for row in rows
                ]
                count = len(rows)
            except (DBAPIError, ValueError, TypeError, ArithmeticError, LookupError) as exc:
                # A row the driver cannot hand over (text that is not UTF-8, a value of the
                # wrong type): read this batch row by row, so that only that row is rejected.
                offered, count = self._one_by_one(entity, header, lines, query, exc)
            yield from offered
            if count < BATCH:
                return
            last_id = offered[-1].ref

    def _one_by_one(
        self, entity: str, header: Table, lines: Table | None, query: Any, cause: BaseException
    ) -> tuple[list[Inbound], int]:
        """One batch read a row at a time; a row that cannot be read is offered with its reason.

        Raises when not even the ids can be read: then the endpoint itself fails."""
        ids_query = query.with_only_columns(header.c.id)
        try:
            with self.engine.connect() as conn:
                ids = [row[0] for row in conn.execute(ids_query)]
        except DBAPIError:
            raise cause from None
        offered: list[Inbound] = []
        for row_id in ids:
            try:
                with self.engine.connect() as conn:
                    row = conn.execute(select(header).where(header.c.id == row_id)).mappings().one()
                    found = self._lines(conn, lines, [row_id]) if lines is not None else {}
                offered.append(self._inbound(entity, dict(row), found.get(row_id, [])))
            except (DBAPIError, ValueError, TypeError, ArithmeticError, LookupError) as exc:
                reason = f"the row cannot be read: {self._masked(exc)[:300]}"
                label = f"{header.name} id {row_id}"
                self._unmarked.setdefault(entity, {})[row_id] = reason
                offered.append(Inbound(ref=row_id, record=None, error=reason, label=label))
        return offered, len(ids)

    @staticmethod
    def _lines(conn: Connection, table: Table, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
        found: dict[int, list[dict[str, Any]]] = {}
        for start in range(0, len(ids), IN_CHUNK):
            query = (
                select(table)
                .where(table.c.header_id.in_(ids[start : start + IN_CHUNK]))
                .order_by(table.c.header_id, table.c.line_no)
            )
            for line in conn.execute(query).mappings():
                found.setdefault(line["header_id"], []).append(dict(line))
        return found

    def _inbound(self, entity: str, row: Mapping[str, Any], lines: list[dict[str, Any]]) -> Inbound:
        row_id = row["id"]
        where = f"{inbox_table_name(entity)} id {row_id}"
        try:
            name = inbound_label(entity, row)
        except Exception:  # noqa: BLE001 - only a name for messages
            name = None
        label = f"{name} ({where})" if name else where
        try:
            lines_arg = lines if ENTITIES[entity].inbound_lines else None
            record = inbound_record(entity, row, lines_arg, record_id=row_id)
        except MalformedRecord as exc:
            error = str(exc)
        except (ValueError, TypeError, ArithmeticError, RecursionError) as exc:
            error = f"the row cannot be read: {exception_text(exc)}"  # only this row fails
        else:
            return Inbound(ref=row_id, record=record, error=None, label=label)
        self._unmarked.setdefault(entity, {})[row_id] = error
        return Inbound(ref=row_id, record=None, error=error, label=label)

    def _mark(
        self,
        entity: str,
        inbound: Inbound,
        status: Status,
        erp_id: int | None,
        erp_number: str | None,
        error: str | None,
    ) -> None:
        """Buffer the row's new status; written in batches and at finish_inbox."""
        self._unmarked.get(entity, {}).pop(inbound.ref, None)
        pending = self._marks.setdefault(entity, [])
        pending.append(
            {
                "m_id": inbound.ref,
                "m_status": status,
                "m_erp_id": erp_id,
                "m_erp_number": erp_number,
                "m_imported_at": utcnow() if status == "imported" else None,
                "m_error": error,
            }
        )
        if len(pending) % BATCH == 0:
            try:
                self._flush(entity)
            except Exception:  # noqa: BLE001 - kept, tried again and reported by finish_inbox
                log.debug("marks of %s kept for later", entity)

    def finish_inbox(self, entity: str) -> None:
        """Reject rows read with an error and never marked, then commit every pending mark.

        Marks that cannot be written raise Unreachable naming the endpoint, after every mark
        that could be written was: those rows stay ``new`` and the next pass finds the
        documents already in Optima."""
        for row_id, error in self._unmarked.pop(entity, {}).items():
            self.mark(entity, Inbound(row_id, None, error, ""), status="rejected", error=error)
        try:
            self._flush(entity)
        except Exception as exc:  # noqa: BLE001 - try each row, then report what is left
            unmarked = self._flush_each(entity)
            if unmarked:
                reason = self._masked(exc.orig if isinstance(exc, DBAPIError) else exc)
                ids = ", ".join(str(i) for i in unmarked[:5])
                raise Unreachable(
                    f"the sql endpoint {self.display} could not record the outcome of "
                    f"{len(unmarked)} row(s) of {inbox_table_name(entity)} (id {ids}"
                    f"{', ...' if len(unmarked) > 5 else ''}): {reason[:300]}",
                    "Check the table and the account's rights; those rows stay 'new', and what "
                    "they hold that is in Optima already is recognised on the next pass",
                ) from None

    def _flush_each(self, entity: str) -> list[int]:
        """Write the pending marks one row at a time; the ids whose mark could not be written."""
        pending = self._marks.pop(entity, [])
        failed: list[int] = []
        for mark in pending:
            self._marks[entity] = [mark]
            try:
                self._flush(entity)
            except Exception:  # noqa: BLE001 - collected and reported by finish_inbox
                failed.append(mark["m_id"])
        self._marks.pop(entity, None)
        return failed

    def _flush(self, entity: str) -> None:
        """Write the pending marks in one transaction; they stay pending if it fails."""
        pending = self._marks.get(entity, [])
        if not pending:
            self._marks.pop(entity, None)
            return
        header = METADATA.tables[inbox_table_name(entity)]
        stmt = (
            update(header)
            .where(header.c.id == bindparam("m_id"))
            .values(
                status=bindparam("m_status"),
                erp_id=bindparam("m_erp_id"),
                erp_number=bindparam("m_erp_number"),
                imported_at=bindparam("m_imported_at"),
                error=bindparam("m_error"),
            )
        )
        with self.engine.begin() as conn:
            conn.execute(stmt, pending)
        self._marks.pop(entity, None)


class SqlExport(Export):
    """One transaction upserting an entity's rows; committed when the export block ends."""

    def __init__(self, endpoint: SqlEndpoint, entity: str, run_id: int) -> None:
        super().__init__(entity, run_id)
        spec = ENTITIES[entity]
        self.keys = spec.key
        self.fields = tuple(f.name for f in spec.outbound)
        self.line_fields = tuple(f.name for f in spec.outbound_lines)
        self.lines_key = spec.outbound_lines_key
        self.with_lines = spec.outbound_lines_table is not None
        self.table = METADATA.tables[outbound_table_name(entity)]
        self.conn = endpoint.engine.connect()
        self.transaction = self.conn.begin()
        dialect = self.conn.dialect.name
        self.stmt = upsert_statement(self.table, self.keys, dialect)
        self.prepared = self._prepare(self.stmt, self.table)
        if spec.outbound_lines_table is not None:
            self.lines = METADATA.tables[spec.outbound_lines_table]
            self.lines_stmt = upsert_statement(self.lines, self.lines_key, dialect)
            self.lines_prepared = self._prepare(self.lines_stmt, self.lines)

    def _prepare(self, stmt: Any, table: Table) -> Prepared | None:
        return None if stmt is None else Prepared.build(stmt, table, self.conn.dialect)

    def _upsert_rows(self, names: Sequence[str], rows: Sequence[Sequence[Any]],
                     reading: RowReading | None = None) -> None:
        if self.prepared is None or self.with_lines:
            super()._upsert_rows(names, rows, reading)
        else:
            self._upsert_fast(rows, names, reading)

    def _upsert_fast(self, records: Sequence[Any], order: Sequence[str] | None = None,
                     reading: RowReading | None = None) -> None:
        """Parameter tuples straight from the records (dicts, or value rows in ``order``, as
        the source's driver returned them with ``reading``). A key repeated within one
        executemany is simply upserted twice, the last one winning as in :meth:`_upsert`."""
        assert self.prepared is not None
        make = self.prepared.row_maker({"deleted": 0, "updated_at": utcnow()}, order, reading)
        places = [itemgetter(self.prepared.names.index(k)) for k in self.keys]
        for start in range(0, len(records), BATCH):
            rows = make(records[start : start + BATCH])
            if any(None in set(map(place, rows)) for place in places):
                raise ValueError(f"{self.entity}: a record lacks its key {self.keys}")
            self.conn.exec_driver_sql(self.prepared.sql, rows)

    def _upsert(self, records: Sequence[Mapping[str, Any]]) -> None:
        if self.prepared is not None and not self.with_lines:
            self._upsert_fast(records)
            return
        now = utcnow()
        rows: dict[tuple[Any, ...], dict[str, Any]] = {}  # last one wins within a batch
        for record in records:
            row = {name: record.get(name) for name in self.fields}
            key = tuple(row[k] for k in self.keys)
            if None in key:
                raise ValueError(f"{self.entity}: a record lacks its key {self.keys}: {key!r}")
            row["deleted"] = 0
            row["updated_at"] = now
            rows[key] = row
        batch = list(rows.values())
        self._execute(self.table, self.keys, self.stmt, self.prepared, batch)
        if self.with_lines:
            self._upsert_lines(records, now)

    def _upsert_lines(self, records: Sequence[Mapping[str, Any]], now: datetime) -> None:
        # Lines a document no longer has end up deleted: mark all, then upsert the current ones.
        ids = list({record["erp_id"] for record in records})
        for start in range(0, len(ids), IN_CHUNK):
            self.conn.execute(
                update(self.lines)
                .where(self.lines.c.erp_id.in_(ids[start : start + IN_CHUNK]))
                .where(self.lines.c.deleted == 0)
                .values(deleted=1, updated_at=now)
            )
        rows: dict[tuple[Any, ...], dict[str, Any]] = {}
        for record in records:
            for line in record.get("lines") or ():
                row = {name: line.get(name) for name in self.line_fields}
                row["erp_id"] = record["erp_id"]
                row["deleted"] = 0
                row["updated_at"] = now
                rows[(row["erp_id"], row["line_no"])] = row
        self._execute(
            self.lines, self.lines_key, self.lines_stmt, self.lines_prepared, list(rows.values())
        )

    def _execute(
        self,
        table: Table,
        keys: tuple[str, ...],
        stmt: Any,
        prepared: Prepared | None,
        rows: list[dict[str, Any]],
    ) -> None:
        for start in range(0, len(rows), BATCH):
            chunk = rows[start : start + BATCH]
            if prepared is not None:
                self.conn.exec_driver_sql(prepared.sql, prepared.parameters(chunk))
            elif stmt is not None:
                self.conn.execute(stmt, chunk)
            else:  # a dialect without an upsert statement: slower, row by row
                update_or_insert(self.conn, table, keys, chunk)

    def _delete(self, keys: Sequence[tuple[Any, ...]]) -> None:
        now = utcnow()
        self._mark_deleted(self.table, self.keys, keys, now)
        if self.with_lines:
            self._mark_deleted(self.lines, self.keys, keys, now)

    def _mark_deleted(
        self, table: Table, names: tuple[str, ...], keys: Sequence[tuple[Any, ...]], now: datetime
    ) -> None:
        where = and_(*[table.c[n] == bindparam(f"k_{n}") for n in names])
        stmt = update(table).where(where).values(deleted=1, updated_at=bindparam("k_now"))
        params = [{f"k_{n}": v for n, v in zip(names, key)} | {"k_now": now} for key in keys]
        for start in range(0, len(params), BATCH):
            self.conn.execute(stmt, params[start : start + BATCH])

    def commit(self) -> None:
        """Commit the transaction: every row of this export becomes visible at once."""
        try:
            self.transaction.commit()
        finally:
            self.conn.close()

    def discard(self) -> None:
        """Roll the transaction back."""
        try:
            if self.transaction.is_active:
                self.transaction.rollback()
        finally:
            self.conn.close()
