"""The exchange tables of a ``sql`` endpoint, built from the entity registry, and optsync's mark.

Decimals keep their exact value: ``NUMERIC(p, s)`` on server databases and TEXT holding the
decimal string (``'12.30'``) on SQLite, whose NUMERIC affinity would turn them into floats.
Times are ``TIMESTAMP`` without zone; on SQLite TEXT in ISO-8601 (``'2026-11-29 10:00:00'``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    Unicode,
    UnicodeText,
    UniqueConstraint,
    inspect,
    text,
)
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from optsync.entities import ENTITIES, Field


class ExactDecimal(TypeDecorator[Decimal]):
    """NUMERIC(p, s) that never passes through float; exact TEXT on SQLite."""

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int, scale: int) -> None:
        super().__init__(precision=precision, scale=scale, asdecimal=True)
        self.precision = precision
        self.scale = scale

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Text())
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, float):
            value = repr(value)
        number = value if isinstance(value, Decimal) else Decimal(str(value))
        return format(number, "f") if dialect.name == "sqlite" else number

    def bind_processor(self, dialect: Dialect) -> Any:
        """On SQLite, a ``Decimal`` (what records hold) goes straight to its text, without
        the decorator's wrapping: a full export binds hundreds of thousands of them."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        slow = self.process_bind_param

        def process(value: Any) -> Any:
            if value.__class__ is Decimal:
                text = str(value)  # plain digits unless the exponent shows ('1E+3')
                return format(value, "f") if "E" in text or "e" in text else text
            return slow(value, dialect)

        def from_decimal_places(places: int, read: Any) -> Any:
            """``process(read(value))`` where ``read`` makes a float or int the
            ``Decimal("%.{places}f" % value)``: that text is already what ``process`` gives
            (plain digits), so the ``Decimal`` is never built. Anything else (None, text, a
            NaN or infinity) goes the long way."""
            pattern = f"%.{places}f"

            def direct(value: Any) -> Any:
                if value.__class__ is float or value.__class__ is int:
                    text = pattern % value
                    if text[-1].isdigit():  # not 'nan', 'inf'
                        return text
                value = read(value)
                return None if value is None else process(value)

            direct.pattern = pattern  # type: ignore[attr-defined] # what a row maker may inline
            return direct

        process.from_decimal_places = from_decimal_places  # type: ignore[attr-defined]
        return process

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None or isinstance(value, Decimal):
            return value
        try:
            return Decimal(str(value).strip())
        except InvalidOperation:
            return value  # an application wrote garbage: records.coerce names the field


class Timestamp(TypeDecorator[datetime]):
    """TIMESTAMP without zone (aware times stored as UTC); ISO-8601 TEXT on SQLite."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Text())
        if dialect.name == "mssql":
            # optional: the SQL Server dialect, loaded for a SQL Server endpoint only
            from sqlalchemy.dialects.mssql import DATETIME2

            return dialect.type_descriptor(DATETIME2())  # type: ignore[no-untyped-call]
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, datetime) and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        if dialect.name != "sqlite" or value is None or isinstance(value, str):
            return value
        if isinstance(value, datetime):
            return value.isoformat(sep=" ")
        if isinstance(value, date):
            return value.isoformat() + " 00:00:00"
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            return value  # an application wrote garbage: records.coerce names the field


class Flag(TypeDecorator[int]):
    """A 0/1 column (SMALLINT), accepting Python bools."""

    impl = SmallInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else int(value)

    def bind_processor(self, dialect: Dialect) -> Any:
        """An int goes as it is, without the decorator's wrapping (one per exported product)."""
        inner = self.impl_instance.bind_processor(dialect)
        if inner is not None:
            return super().bind_processor(dialect)

        def process(value: Any) -> Any:
            return value if value.__class__ is int else (None if value is None else int(value))

        return process


def column_type(field: Field) -> TypeEngine[Any]:
    """The SQL type of a record field."""
    if field.kind == "str":
        return Unicode(field.size)
    if field.kind == "text":
        return UnicodeText()
    if field.kind == "int":
        return Integer()
    if field.kind == "bool":
        return Flag()
    if field.kind in ("decimal", "vat"):
        assert field.size is not None and field.scale is not None
        return ExactDecimal(field.size, field.scale)
    if field.kind == "datetime":
        return Timestamp()
    raise AssertionError(f"unknown field kind {field.kind!r}")


def _columns(spec: tuple[Field, ...], keys: tuple[str, ...] = ()) -> list[Column[Any]]:
    return [
        Column(
            f.name,
            column_type(f),
            nullable=f.nullable and f.name not in keys,
            autoincrement=False,  # keys come from Optima, never from the application database
        )
        for f in spec
    ]


def _outbound(
    metadata: MetaData, name: str, spec: tuple[Field, ...], keys: tuple[str, ...]
) -> Table:
    return Table(
        name,
        metadata,
        *_columns(spec, keys),
        Column("deleted", Flag(), nullable=False, server_default=text("0")),
        Column("updated_at", Timestamp(), nullable=False),
        PrimaryKeyConstraint(*keys, name=f"pk_{name}"),
    )


def _status_columns() -> list[Column[Any]]:
    return [
        Column("status", Unicode(16), nullable=False, server_default="new"),
        Column("erp_id", Integer()),
        Column("erp_number", Unicode(64)),
        Column("imported_at", Timestamp()),
        Column("error", UnicodeText()),
    ]


MARK_TABLE = "optsync_mark"


def _mark_table(metadata: MetaData) -> Table:
    """optsync's mark: per integration writing here, its identity and the last run it completed."""
    return Table(
        MARK_TABLE,
        metadata,
        Column("identity", Unicode(36), nullable=False),
        Column("company", Unicode(200)),
        Column("integration", Unicode(200)),
        Column("last_run", Integer(), nullable=False),
        Column("updated_at", Timestamp(), nullable=False),
        PrimaryKeyConstraint("identity", name=f"pk_{MARK_TABLE}"),
    )


def build_metadata() -> MetaData:
    """Every exchange table, outbound and inbox, and the mark."""
    metadata = MetaData()
    _mark_table(metadata)
    for spec in ENTITIES.values():
        if spec.outbound_table:
            _outbound(metadata, spec.outbound_table, spec.outbound, spec.key)
        if spec.outbound_lines_table:
            _outbound(metadata, spec.outbound_lines_table, spec.outbound_lines,
                      spec.outbound_lines_key)
    for spec in ENTITIES.values():
        if not spec.inbox_table:
            continue
        name = spec.inbox_table
        header = Table(
            name,
            metadata,
            Column("id", Integer(), primary_key=True, autoincrement=True),
            *_columns(spec.inbound),
            *_status_columns(),
        )
        Index(f"ix_{name}_status", header.c.status, header.c.id)
        if spec.inbox_lines_table:
            header.append_constraint(UniqueConstraint("external_id", name=f"uq_{name}_external_id"))
            lines = spec.inbox_lines_table
            Table(
                lines,
                metadata,
                Column(
                    "header_id",
                    Integer(),
                    ForeignKey(f"{name}.id", ondelete="CASCADE"),
                    nullable=False,
                ),
                *_columns(spec.inbound_lines),
                PrimaryKeyConstraint("header_id", "line_no", name=f"pk_{lines}"),
            )
    return metadata


def outbound_table_name(entity: str) -> str:
    """The outbound table of an exported entity (``optsync_products``)."""
    name = ENTITIES[entity].outbound_table
    assert name is not None, entity
    return name


def inbox_table_name(entity: str) -> str:
    """The inbox table of an imported entity (``optsync_inbox_orders``)."""
    name = ENTITIES[entity].inbox_table
    assert name is not None, entity
    return name


def inbox_lines_table_name(entity: str) -> str:
    """The inbox table of a document's lines (``optsync_inbox_order_lines``)."""
    name = ENTITIES[entity].inbox_lines_table
    assert name is not None, entity
    return name


METADATA = build_metadata()


def add_missing_columns(conn: Connection) -> list[str]:
    """Add the columns an existing exchange table lacks (tables of an earlier optsync).

    Additive only: nothing is dropped or retyped and no row is lost. A column that is NOT NULL
    without a server default is added as nullable, since the rows already there have no value
    for it. Returns the added columns as ``table.column``.
    """
    inspector = inspect(conn)
    present = set(inspector.get_table_names())
    compiler = conn.dialect.ddl_compiler(conn.dialect, None)
    preparer = conn.dialect.identifier_preparer
    word = "" if conn.dialect.name == "mssql" else "COLUMN "
    added: list[str] = []
    for table in METADATA.sorted_tables:
        if table.name not in present:
            continue
        have = {c["name"].lower() for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name.lower() in have or column.primary_key:
                continue
            ddl = (f"ALTER TABLE {preparer.format_table(table)} ADD {word}"
                   f"{preparer.format_column(column)} "
                   f"{compiler.type_compiler.process(column.type, type_expression=column)}")
            default = compiler.get_column_default_string(column)
            if default is not None:
                ddl += f" DEFAULT {default}" + ("" if column.nullable else " NOT NULL")
            conn.exec_driver_sql(ddl)
            added.append(f"{table.name}.{column.name}")
    return added
