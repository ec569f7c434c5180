"""SQLAlchemy Core definitions of the Optima tables optsync reads and writes, built from the
column list of a real Optima install (:mod:`optsync.optima.columns`).

One definition serves every dialect: on SQL Server and PostgreSQL the tables live in schema
``CDN``, on SQLite in no schema. Each table has every column of the list with its real type and
nullability and only the defaults the list declares. Computed columns of a real install
(``TrN_NumerPelny``, ``Knt_NipPelny``, ``Baz_NazwaBazy``…) are plain nullable columns here,
marked with ``info={"computed": True}``: most are Optima functions over other rows, which no
generated column can express, and optsync never writes them. The indexes are those that matter
to an importer (the unique keys it relies on or can collide with) and no index a real Optima
lacks: there is none on ``Twr_TS_Mod``, ``Knt_TS_Mod`` or ``TrN_TS_Mod``.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    Unicode,
    UnicodeText,
    Uuid,
    text,
)
from sqlalchemy.dialects import mssql
from sqlalchemy.engine import Connection, CursorResult
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeEngine

from optsync.errors import BadInput
from optsync.optima.columns import ColumnSpec, parse_default, table_columns

CDN = "CDN"

# The tables optsync reads or writes, by database.
CONFIG_TABLES = ("Bazy", "Operatorzy", "BazZakazy")
COMPANY_TABLES = (
    "SystemCDN",
    "Towary",
    "TwrCeny",
    "DefCeny",
    "TwrIlosci",
    "Magazyny",
    "Kontrahenci",
    "TraNag",
    "TraElem",
    "DokDefinicje",
    "UsunieteObiekty",
)

# (name, columns, unique) of the real indexes that matter to an importer or a reader.
INDEXES: dict[str, tuple[tuple[str, tuple[str, ...], bool], ...]] = {
    "Bazy": (("BazNazwa", ("Baz_Nieaktywna", "Baz_Nazwa"), True),),
    "Operatorzy": (("OpeKod", ("Ope_Kod",), True),),
    "BazZakazy": (("BZaBaza", ("BZa_BazID", "BZa_OpeID"), True),),
    "Towary": (("TwrKod", ("Twr_Kod",), True),),
    "TwrCeny": (("TwCTowar", ("TwC_TwrID", "TwC_TwCNumer"), True),),
    "DefCeny": (("DfCLp", ("DfC_Lp",), True),),
    "TwrIlosci": (("TwITowar", ("TwI_TwrId", "TwI_MagId", "TwI_Data"), True),),
    "Magazyny": (("MagSymbol", ("Mag_Symbol",), True),),
    "Kontrahenci": (
        ("KntKod", ("Knt_Kod",), True),
        ("KntGUID", ("Knt_ImportRowId",), True),
    ),
    "TraNag": (
        ("TrNGUID", ("TrN_ImportRowId",), True),
        ("TrNTypNUmer", ("TrN_TypDokumentu", "TrN_NumerString", "TrN_NumerNr", "TrN_Anulowany"), True),
        ("TrNNumer", ("TrN_NumerString", "TrN_NumerNr", "TrN_Anulowany"), True),
    ),
    "TraElem": (("TrETraNag", ("TrE_TrNId", "TrE_Lp", "TrE_TrEID"), True),),
    "DokDefinicje": (("DDfKlasa", ("DDf_Klasa", "DDf_Symbol"), False),),
    "UsunieteObiekty": (("UObTypIRID", ("UOb_Typ", "UOb_ImportRowId"), True),),
}


class NewId(FunctionElement[Any]):
    """A server-side new GUID, for the ``newid()`` defaults of the list."""

    inherit_cache = True
    type = Uuid(as_uuid=False)


@compiles(NewId)
def _newid_default(element: NewId, compiler: Any, **kw: Any) -> str:
    return "gen_random_uuid()"


@compiles(NewId, "sqlite")
def _newid_sqlite(element: NewId, compiler: Any, **kw: Any) -> str:
    return "lower(hex(randomblob(16)))"


@compiles(NewId, "mssql")
def _newid_mssql(element: NewId, compiler: Any, **kw: Any) -> str:
    return "newid()"


def sa_type(spec: ColumnSpec) -> TypeEngine[Any]:
    """The SQLAlchemy type of a listed column (SQL Server's own where it differs)."""
    kind = _type_of(spec.base, spec.args)
    if kind is None:
        raise ValueError(f"no SQLAlchemy type for {spec.sql_type!r} ({spec.table}.{spec.name})")
    return kind


@cache  # a type holds no column of its own, so columns of one SQL type share one instance
def _type_of(base: str, args: tuple[str, ...]) -> TypeEngine[Any] | None:
    if base == "int":
        return Integer()
    if base == "bigint":
        return BigInteger()
    if base == "smallint":
        return SmallInteger()
    if base in ("tinyint", "bit"):
        return SmallInteger().with_variant(mssql.TINYINT(), "mssql")
    if base in ("decimal", "numeric"):
        return Numeric(int(args[0]), int(args[1]) if len(args) > 1 else 0, asdecimal=True)
    if base in ("varchar", "char"):
        return Text() if args == ("max",) else String(int(args[0]))
    if base in ("nvarchar", "nchar"):
        return UnicodeText() if args == ("max",) else Unicode(int(args[0]))
    if base in ("datetime", "datetime2", "smalldatetime", "date"):
        return DateTime().with_variant(mssql.DATETIME(), "mssql")
    if base == "uniqueidentifier":
        return Uuid(as_uuid=False)
    return None


def server_default(spec: ColumnSpec) -> Any:
    """The DDL default of a listed column: exactly the one the list declares, or none."""
    if spec.default is None:
        return None
    raw = spec.default.strip().lower()
    if raw == "getdate()":
        return text("CURRENT_TIMESTAMP")
    if raw == "newid()":
        return NewId()
    value = parse_default(spec.default, spec)
    if isinstance(value, str):
        return text("'" + value.replace("'", "''") + "'")
    return text(str(value))


def build_column(spec: ColumnSpec) -> Column[Any]:
    """A ``Column`` for one listed column; computed ones become plain nullable columns."""
    if spec.identity:
        return Column(spec.name, Integer, primary_key=True, autoincrement=True)
    column: Column[Any] = Column(
        spec.name,
        sa_type(spec),
        primary_key=spec.primary_key,
        autoincrement=False,
        nullable=True if spec.computed else spec.nullable,
        server_default=None if spec.computed else server_default(spec),
    )
    if spec.computed:
        column.info["computed"] = True
    return column


class OptimaTables:
    """The Optima tables of one schema (``CDN`` or none), sharing one ``MetaData``.

    A table is built from the column list the first time it is used: a pass that exports
    products, prices and stock builds those few of the tables' thousand columns (start-up).
    """

    Bazy: Table
    Operatorzy: Table
    BazZakazy: Table
    SystemCDN: Table
    Towary: Table
    TwrCeny: Table
    DefCeny: Table
    TwrIlosci: Table
    Magazyny: Table
    Kontrahenci: Table
    TraNag: Table
    TraElem: Table
    DokDefinicje: Table
    UsunieteObiekty: Table

    def __init__(self, schema: str | None, returning: bool) -> None:
        self.metadata = MetaData(schema=schema)
        self.schema = schema
        self._returning = returning
        self._lock = threading.Lock()  # a pass computes fingerprints in a second thread

    def __getattr__(self, name: str) -> Table:
        # Called only for an attribute not set yet: a table not built yet.
        if name not in CONFIG_TABLES + COMPANY_TABLES:
            raise AttributeError(name)
        with self._lock:
            table = self.__dict__.get(name)
            if table is None:
                items: list[Any] = [build_column(spec) for spec in table_columns(name)]
                items += [Index(idx, *cols, unique=unique)
                          for idx, cols, unique in INDEXES.get(name, ())]
                table = Table(name, self.metadata, *items, implicit_returning=self._returning)
                setattr(self, name, table)
        return table

    def config_tables(self) -> list[Table]:
        """The tables of an Optima configuration database."""
        return [getattr(self, n) for n in CONFIG_TABLES]

    def company_tables(self) -> list[Table]:
        """The tables of an Optima company database."""
        return [getattr(self, n) for n in sorted(COMPANY_TABLES)]


@cache
def optima_tables(schema: str | None, *, implicit_returning: bool = True) -> OptimaTables:
    """Return the (cached) Optima table definitions for ``schema`` (``"CDN"`` or ``None``).

    ``implicit_returning=False`` is what SQL Server needs: Optima's tables carry triggers, and
    an ``OUTPUT inserted`` clause without ``INTO`` fails on a table with triggers, so new ids
    are fetched with ``SCOPE_IDENTITY()`` instead.
    """
    return OptimaTables(schema, implicit_returning)


def schema_for(dialect_name: str) -> str | None:
    """Return the schema holding the Optima tables on a dialect: none on SQLite, else ``CDN``."""
    return None if dialect_name == "sqlite" else CDN


def tables_for(bind: Connection | Engine) -> OptimaTables:
    """Return the Optima table definitions that fit the dialect of ``bind``."""
    name = bind.dialect.name
    return optima_tables(schema_for(name), implicit_returning=name != "mssql")


def full_number(numer_string: str, numer_nr: int) -> str:
    """Return the full document number Optima shows, from ``TrN_NumerString`` and ``TrN_NumerNr``.

    Optima keeps a numbering pattern with a placeholder in ``TrN_NumerString`` (``RO/@numerS/2026``)
    and the number in ``TrN_NumerNr``; ``@numerS`` (and the zero-less ``@numer``) is replaced by
    the plain number, giving ``RO/12/2026``. A string without a placeholder gets ``/<nr>``
    appended.
    """
    for placeholder in ("@numerS", "@numer"):
        if placeholder in numer_string:
            return numer_string.replace(placeholder, str(numer_nr), 1)
    return f"{numer_string}/{numer_nr}" if numer_string else str(numer_nr)


def new_id(result: CursorResult[Any]) -> int:
    """Return the identity of the row an ``INSERT`` just wrote."""
    key = result.inserted_primary_key
    if key is None or key[0] is None:
        raise RuntimeError("the database returned no id for the inserted row")
    return int(key[0])


def create_optima_schema(
    engine: Engine, kind: Literal["company", "config"] = "company"
) -> OptimaTables:
    """Create the Optima tables of a company or configuration database (and schema ``CDN``).

    Meant for SQLite and PostgreSQL test, demo and benchmark databases; existing tables are
    left as they are. Refuses SQL Server, where Optima itself owns the schema.
    """
    if engine.dialect.name == "mssql":
        raise BadInput(
            "optsync does not create Optima tables on SQL Server",
            "Point it at a database created by Comarch ERP Optima",
        )
    tables = tables_for(engine)
    with engine.begin() as conn:
        if tables.schema is not None:
            conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{tables.schema}"')
        chosen = tables.config_tables() if kind == "config" else tables.company_tables()
        tables.metadata.create_all(conn, tables=chosen)
    return tables
