"""Complete rows for Optima's tables: every NOT NULL column named, computed columns never.

A :class:`TableShape` knows which columns of one table can be written and what each NOT NULL
column gets when the caller gives no value (the listed default, else ``''``, ``0`` or the
"no date" of :mod:`optsync.optima.columns`). :func:`reflect_shape` builds it from the table as
this database has it (Optima versions differ: each release adds columns), once per pass (a
shape built before from the same report of the database is used again):
columns the database lacks are left out, a NOT NULL column the list does not know gets a
neutral value of its type (and is reported once), and a column is computed when the list says
so or the database reports it (SQL Server does). :func:`static_shape` builds it from the list
alone, for the sample databases optsync creates itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cache, cached_property, lru_cache
from typing import Any

from sqlalchemy import Column, Integer, MetaData, Table, inspect, select, text, types
from sqlalchemy.engine import Connection

from optsync.optima.columns import NEWID, NO_DATE, NOW, Marker, column_map, parse_default
from optsync.optima.tables import sa_type


@dataclass(frozen=True)
class TableShape:
    """How to write complete rows into one Optima table of one database."""

    name: str
    table: Table  # the writable columns (and the identity key), for INSERT statements
    fill: dict[str, Any]  # NOT NULL column -> value used when the caller gives none
    names: dict[str, str]  # column name as written or lower-cased -> the database's spelling
    unknown: tuple[str, ...] = ()  # NOT NULL columns the column list does not know

    def has(self, column: str) -> bool:
        """Whether this database's table has ``column`` and optsync may write it."""
        return column.lower() in self.names

    def row(self, values: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        """A complete row: ``values`` (columns this table lacks are dropped) over the fill;
        :data:`NOW` becomes ``now`` (the server's clock) and :data:`NEWID` a new GUID."""
        out = self.fill.copy()
        names = self.names
        for key, value in values.items():
            actual = names.get(key) or names.get(key.lower())
            if actual is not None:
                out[actual] = value
        for key in self.markers:
            value = out[key]
            if value is NOW:
                out[key] = now
            elif value is NEWID:
                out[key] = str(uuid.uuid4())
        return out

    @cached_property
    def markers(self) -> tuple[str, ...]:
        """The filled columns whose value is known only when a row is written."""
        return tuple(k for k, value in self.fill.items() if isinstance(value, Marker))


def _neutral_for_type(sa: types.TypeEngine[Any]) -> Any:
    if isinstance(sa, (types.DateTime, types.Date)):
        return NO_DATE
    if isinstance(sa, types.Uuid):
        return NEWID
    if isinstance(sa, (types.String, types.Text)):
        return ""
    if isinstance(sa, types.Numeric) and not isinstance(sa, (types.Integer, types.Float)):
        return Decimal(0)
    return 0


@cache
def static_shape(table: Table) -> TableShape:
    """The shape of a table exactly as the column list describes it."""
    specs = column_map(table.name)
    fill: dict[str, Any] = {}
    names: dict[str, str] = {}
    keep: list[Column[Any]] = []
    for column in table.columns:
        spec = specs[column.name]
        if spec.identity:
            names[column.name.lower()] = names[column.name] = column.name  # an explicit id
            keep.append(Column(column.name, Integer, primary_key=True, autoincrement=True))
            continue
        if spec.computed:
            continue
        names[column.name.lower()] = names[column.name] = column.name
        keep.append(Column(column.name, column.type, primary_key=column.primary_key))
        if not spec.nullable:
            fill[column.name] = spec.neutral()
    return TableShape(
        table.name, _table(table.name, table.schema, keep, table.implicit_returning), fill, names
    )


def reflect_shape(
    conn: Connection, table: Table, warn: Callable[[str], None] | None = None
) -> TableShape:
    """The shape of ``table`` as the database behind ``conn`` has it (see the module doc)."""
    inspector = inspect(conn)
    reflected = tuple(
        _Reflected(c["name"], repr(c["type"]), c["nullable"], _text(c.get("default")),
                   "identity" in c, bool(c.get("computed")), c["type"])
        for c in inspector.get_columns(table.name, schema=table.schema)
    )
    pk = inspector.get_pk_constraint(table.name, schema=table.schema)["constrained_columns"]
    returning = table.implicit_returning and conn.dialect.name != "mssql"  # Optima's triggers
    shape = _shape(conn.dialect.name, table.name, table.schema, returning, reflected,
                   frozenset(pk))
    if shape.unknown and warn is not None:
        warn(
            f"Optima table {table.name} has NOT NULL columns optsync does not know: "
            f"{', '.join(shape.unknown)}; they are written with neutral values"
        )
    return shape


@dataclass(frozen=True)
class _Reflected:
    """One column as the database reports it; equal when the reports are equal."""

    name: str
    type_text: str
    nullable: bool
    default: str | None
    identity: bool
    computed: bool
    type: types.TypeEngine[Any] = field(compare=False)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


@lru_cache(maxsize=64)  # a shape is built once per table shape, not once per pass and company
def _shape(
    dialect: str, name: str, schema: str | None, returning: bool,
    reflected: tuple[_Reflected, ...], pk: frozenset[str],
) -> TableShape:
    """The shape from one report of the database (``dialect`` only keys the cache: a column
    optsync does not know keeps the type object of the dialect that reported it)."""
    specs = {n.lower(): spec for n, spec in column_map(name).items()}
    fill: dict[str, Any] = {}
    names: dict[str, str] = {}
    keep: list[Column[Any]] = []
    unknown: list[str] = []
    for col in reflected:
        spec = specs.get(col.name.lower())
        identity = (spec is not None and spec.identity) or col.identity or (
            spec is None and col.name in pk and isinstance(col.type, types.Integer)
        )
        if identity:
            names[col.name.lower()] = names[col.name] = col.name
            keep.append(Column(col.name, Integer, primary_key=True, autoincrement=True))
            continue
        if (spec is not None and spec.computed) or col.computed:
            continue
        kind = sa_type(spec) if spec is not None else col.type
        names[col.name.lower()] = names[col.name] = col.name
        if spec is not None:
            names[spec.name] = col.name
        keep.append(Column(col.name, kind, primary_key=col.name in pk))
        if col.nullable:
            continue
        if spec is not None:
            fill[col.name] = spec.neutral()
            continue
        value = _reflected_default(col.default)
        fill[col.name] = _neutral_for_type(col.type) if value is None else value
        unknown.append(col.name)
    return TableShape(name, _table(name, schema, keep, returning), fill, names, tuple(unknown))


def _reflected_default(raw: Any) -> Any:
    if raw is None:
        return None
    try:
        value = parse_default(str(raw))
    except (ArithmeticError, ValueError):
        return None
    return value


def _table(name: str, schema: str | None, columns: list[Column[Any]], returning: bool) -> Table:
    return Table(name, MetaData(schema=schema), *columns, implicit_returning=returning)


def server_now(conn: Connection) -> datetime:
    """The database server's current local time (Optima's stamps are the server's local time,
    not the host's): ``GETDATE()`` on SQL Server, ``LOCALTIMESTAMP`` on PostgreSQL, SQLite's
    ``datetime('now', 'localtime')``."""
    dialect = conn.dialect.name
    if dialect == "mssql":
        value = conn.scalar(text("SELECT GETDATE()"))
    elif dialect == "postgresql":
        value = conn.scalar(text("SELECT LOCALTIMESTAMP"))
    elif dialect == "sqlite":
        value = conn.scalar(text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now', 'localtime')"))
    else:
        value = conn.scalar(select(text("CURRENT_TIMESTAMP")))
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if getattr(value, "tzinfo", None) is not None:
        value = value.replace(tzinfo=None)
    return value.replace(microsecond=(value.microsecond // 1000) * 1000)
