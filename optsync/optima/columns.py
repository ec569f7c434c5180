"""Every column of the real Optima tables, and the value Optima writes where nobody says more.

``optima-columns.tsv`` (package data beside this module) lists each column of the Optima
tables optsync knows: database (``company`` or ``config``), table, column, SQL Server type,
nullability, the default the database declares, the computed expression and whether it is the
primary key. It was taken from a schema scaffold of a real Optima install. Everything about the
shape of Optima's tables comes from that list: the tables optsync creates for tests, the demo
and the benchmark (:mod:`optsync.optima.tables`), and the complete rows the writer inserts
(:mod:`optsync.optima.rows`).

A real table is wide and strict (``TraNag`` has 264 columns, 134 NOT NULL), and a scaffold may
leave out a default equal to zero, so an INSERT never relies on a server default: it names every
NOT NULL column, with the listed default where there is one, else ``''`` for text, ``0`` for
numbers and flags, :data:`NO_DATE` for a date nobody set.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

NO_DATE = datetime(1900, 1, 1)  # the "no date" Optima keeps in NOT NULL date columns


class Marker:
    """A value known only when a row is written: the server's clock, or a new GUID."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


NOW = Marker("getdate()")  # the database server's current time, read once per batch
NEWID = Marker("newid()")  # a new GUID for each row
_TYPE = re.compile(r"^(?P<base>[a-z]+)(?:\((?P<args>[^)]*)\))?$")
_NUMBER_TYPES = {"smallint", "integer", "bigint", "numeric", "decimal", "real", "double"}
_CAST = re.compile(r"(?P<value>'(?:[^']|'')*'|-?[0-9.]+)(?P<type>(?:::[a-z ]+)+)", re.IGNORECASE)


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a real Optima table, as the column list describes it."""

    database: str
    table: str
    name: str
    sql_type: str
    nullable: bool
    default: str | None
    computed: str | None
    primary_key: bool

    @property
    def base(self) -> str:
        """The SQL Server type name without its size: ``decimal``, ``nvarchar``, ``int``…"""
        return _parts(self.sql_type)[0]

    @property
    def args(self) -> tuple[str, ...]:
        """The size of the type: ``("15", "2")`` for ``decimal(15, 2)``, ``("max",)``…"""
        return _parts(self.sql_type)[1]

    @property
    def length(self) -> int | None:
        """The length of a text column (``None`` for ``max`` and non-text columns)."""
        if self.is_text and self.args and self.args[0].isdigit():
            return int(self.args[0])
        return None

    @property
    def is_text(self) -> bool:
        return self.base in ("varchar", "nvarchar", "char", "nchar", "text", "ntext")

    @property
    def is_date(self) -> bool:
        return self.base in ("datetime", "datetime2", "smalldatetime", "date")

    @property
    def is_decimal(self) -> bool:
        return self.base in ("decimal", "numeric", "money")

    @property
    def identity(self) -> bool:
        """An ``int`` primary key: Optima's identity column, never written."""
        return self.primary_key and self.base == "int" and self.name != "SYS_ID"

    def default_value(self) -> Any:
        """The Python value of the listed default (``None`` when none is listed)."""
        if self.default is None:
            return None
        return parse_default(self.default, self)

    def neutral(self) -> Any:
        """What a NOT NULL column gets when nothing else is known: its listed default, else
        ``''``, ``0`` or :data:`NO_DATE` by type."""
        listed = self.default_value()
        return neutral_of(self.base) if listed is None else listed


@cache  # a few dozen distinct types, asked for on every column of every table built
def _parts(sql_type: str) -> tuple[str, tuple[str, ...]]:
    match = _TYPE.match(sql_type.strip().lower())
    if not match:
        raise ValueError(f"unknown SQL type in the Optima column list: {sql_type!r}")
    args = tuple(a.strip() for a in (match["args"] or "").split(",") if a.strip())
    return match["base"], args


def neutral_of(base: str) -> Any:
    """The neutral value of a SQL Server type name: ``''``, ``0``, :data:`NO_DATE` or a GUID."""
    if base in ("varchar", "nvarchar", "char", "nchar", "text", "ntext"):
        return ""
    if base in ("datetime", "datetime2", "smalldatetime", "date"):
        return NO_DATE
    if base in ("decimal", "numeric", "money"):
        return Decimal(0)
    if base == "uniqueidentifier":
        return NEWID
    return 0


def parse_default(raw: str, spec: ColumnSpec | None = None) -> Any:
    """Turn a listed or reflected default (``''``, ``1``, ``-1``, ``getdate()``, ``newid()``,
    PostgreSQL's ``'x'::character varying``) into a value;
    ``getdate()`` and ``newid()`` become the markers :data:`NOW` and :data:`NEWID`."""
    text = raw.strip()
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    cast = _CAST.fullmatch(text)  # PostgreSQL reports 'x'::character varying, '-1'::integer
    if cast:
        text = cast["value"]
        if cast["type"].lower().replace("::", " ").split()[0] in _NUMBER_TYPES:
            text = text.strip("'")  # a number in quotes: its value, not text
    lowered = text.lower()
    if lowered == "getdate()":
        return NOW
    if lowered == "newid()":
        return NEWID
    if text.startswith(("'", "N'")) and text.endswith("'"):
        return text[text.index("'") + 1 : -1].replace("''", "'")
    if spec is not None and spec.is_decimal:
        return Decimal(text)
    if spec is not None and spec.is_date:
        return NO_DATE if text == "0" else text
    try:
        return int(text)
    except ValueError:
        return Decimal(text)


@cache
def all_columns() -> tuple[ColumnSpec, ...]:
    """Every column of the list, in its order."""
    data = resources.files("optsync.optima").joinpath("optima-columns.tsv").read_text("utf-8")
    rows = csv.DictReader(data.splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE)
    return tuple(
        ColumnSpec(
            database=r["database"],
            table=r["table"],
            name=r["column"],
            sql_type=r["type"],
            nullable=r["nullable"] == "yes",
            default=r["default"] or None,
            computed=r["computed"] or None,
            primary_key=r["primary_key"] == "yes",
        )
        for r in rows
    )


@cache
def table_columns(table: str) -> tuple[ColumnSpec, ...]:
    """The columns of one Optima table (``TraNag``, ``Towary``…), in the list's order."""
    found = tuple(c for c in all_columns() if c.table == table)
    if not found:
        raise KeyError(f"table {table!r} is not in the Optima column list")
    return found


@cache
def column_map(table: str) -> dict[str, ColumnSpec]:
    """``{column name: spec}`` of one table."""
    return {c.name: c for c in table_columns(table)}
