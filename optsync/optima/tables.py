"""SQLAlchemy Core definitions of the Optima tables optsync reads and writes (optima-schema.md).

One definition serves every dialect: on SQL Server and PostgreSQL the tables live in schema
``CDN``, on SQLite in no schema. The computed columns of a real install (``Baz_NazwaBazy``,
``Baz_NazwaSerwera``, ``TrN_NumerPelny``) are plain nullable columns here, marked with
``info={"computed": True}``: optsync reads them where useful but never writes them on SQL
Server, and never depends on ``TrN_NumerPelny`` (see :func:`full_number`).

NOT NULL columns carry server defaults (0, '' or the current time) so that the SQLite and
PostgreSQL databases built by :mod:`optsync.optima.sample` accept inserts of only the relevant
columns; the writer still sets every listed NOT NULL column, because a real install's defaults
are not guaranteed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from functools import cache
from typing import Any, Literal

from sqlalchemy import (
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
    Unicode,
    UnicodeText,
    Uuid,
    text,
)
from sqlalchemy.engine import Connection, CursorResult
from sqlalchemy.sql.schema import SchemaItem

from optsync.errors import BadInput

CDN = "CDN"
_ZERO = text("0")
_EMPTY = text("''")
_NOW = text("CURRENT_TIMESTAMP")


def _pk(name: str) -> Column[Any]:
    return Column(name, Integer, primary_key=True, autoincrement=True)


def _int(name: str, *, null: bool = False, small: bool = False) -> Column[Any]:
    kind = SmallInteger if small else Integer
    return Column(name, kind, nullable=null, server_default=None if null else _ZERO)


def _small(name: str, *, null: bool = False, default: int = 0) -> Column[Any]:
    server_default = None if null else text(str(default))
    return Column(name, SmallInteger, nullable=null, server_default=server_default)


def _dec(name: str, precision: int, scale: int, *, null: bool = False) -> Column[Any]:
    kind = Numeric(precision, scale, asdecimal=True)
    return Column(name, kind, nullable=null, server_default=None if null else _ZERO)


def _str(name: str, length: int, *, null: bool = False, unicode: bool = False) -> Column[Any]:
    kind = Unicode(length) if unicode else String(length)
    return Column(name, kind, nullable=null, server_default=None if null else _EMPTY)


def _ustr(name: str, length: int, *, null: bool = False) -> Column[Any]:
    return _str(name, length, null=null, unicode=True)


def _dt(name: str, *, null: bool = False) -> Column[Any]:
    return Column(name, DateTime(), nullable=null, server_default=None if null else _NOW)


def _computed(column: Column[Any]) -> Column[Any]:
    column.info["computed"] = True
    return column


@dataclass(frozen=True)
class OptimaTables:
    """The Optima tables of one schema (``CDN`` or none), sharing one ``MetaData``."""

    metadata: MetaData
    schema: str | None
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

    def config_tables(self) -> list[Table]:
        """The tables of an Optima configuration database."""
        return [self.Bazy, self.Operatorzy, self.BazZakazy]

    def company_tables(self) -> list[Table]:
        """The tables of an Optima company database."""
        names = {f.name for f in fields(self)} - {"metadata", "schema"}
        config = {t.name for t in self.config_tables()}
        return [getattr(self, n) for n in sorted(names) if n not in config]


def _table(md: MetaData, name: str, *items: SchemaItem, returning: bool) -> Table:
    return Table(name, md, *items, implicit_returning=returning)


def _build(schema: str | None, returning: bool) -> OptimaTables:
    md = MetaData(schema=schema)

    def T(name: str, *items: SchemaItem) -> Table:
        return _table(md, name, *items, returning=returning)

    bazy = T(
        "Bazy",
        _pk("Baz_BazID"),
        _small("Baz_AutomatycznyBackup"),
        _int("Baz_CzasArchiwacji"),
        _str("Baz_Dostep", 254),
        _small("Baz_DostepnaWBIP"),
        _small("Baz_DostepnaWPM"),
        _small("Baz_DostepnaWPPK", default=1),
        Column("Baz_GUID", Uuid(as_uuid=False), nullable=False, default=lambda: str(uuid.uuid4())),
        _str("Baz_Nazwa", 120),
        _str("Baz_NazwaArchiwum", 511),
        _computed(_str("Baz_NazwaBazy", 254, null=True)),
        _computed(_str("Baz_NazwaSerwera", 254, null=True)),
        _small("Baz_Nieaktywna"),
        _str("Baz_NIP", 24, null=True),
        _small("Baz_OkresArchiwacji"),
        _ustr("Baz_Opis", 254),
        _dec("Baz_RozmiarBazy", 8, 2, null=True),
        _dec("Baz_RozmiarDanychBin", 8, 2, null=True),
        _dt("Baz_TS_Arch", null=True),
        Index("BazNazwa", "Baz_Nieaktywna", "Baz_Nazwa", unique=True),
    )
    operatorzy = T(
        "Operatorzy",
        _pk("Ope_OpeID"),
        _small("Ope_Administrator"),
        _ustr("Ope_Haslo", 64),
        _ustr("Ope_HasloChk", 2),
        _str("Ope_Kod", 20),
        _ustr("Ope_Nazwisko", 50),
        _small("Ope_Nieaktywny"),
        Index("OpeKod", "Ope_Kod", unique=True),
    )
    bazzakazy = T(
        "BazZakazy",
        _pk("BZa_BZaID"),
        _int("BZa_BazID", null=True),
        _int("BZa_OpeID", null=True),
        Index("BZaBaza", "BZa_BazID", "BZa_OpeID", unique=True),
    )
    systemcdn = T(
        "SystemCDN",
        Column("SYS_ID", Integer, primary_key=True, autoincrement=False),
        _str("SYS_Wartosc", 254),
    )
    towary = T(
        "Towary",
        _pk("Twr_TwrId"),
        _str("Twr_EAN", 40),
        _small("Twr_ESklep", null=True),
        _small("Twr_Flaga"),
        _ustr("Twr_JM", 20),
        _str("Twr_Kod", 50),
        _small("Twr_Mobile", default=1),
        _ustr("Twr_Nazwa", 255),
        _small("Twr_NieAktywny"),
        _ustr("Twr_NumerKat", 40),
        _int("Twr_OpeModID", null=True),
        _int("Twr_OpeZalID", null=True),
        Column("Twr_Opis", UnicodeText(), nullable=False, server_default=_EMPTY),
        _dec("Twr_Stawka", 5, 2),
        _dt("Twr_TS_Mod"),
        _dt("Twr_TS_Zal"),
        _int("Twr_TwCNumer"),
        _int("Twr_TwGGIDNumer"),
        _small("Twr_Typ", default=1),
        _str("Twr_Waluta", 3),
        Index("TwrKod", "Twr_Kod", unique=True),
        Index("TwrTSMod", "Twr_TS_Mod", "Twr_TwrId"),
    )
    twrceny = T(
        "TwrCeny",
        _pk("TwC_TwCID"),
        _small("TwC_Aktualizacja"),
        _int("TwC_DokID"),
        _dec("TwC_Marza", 7, 2),
        _dec("TwC_MarzaWStu", 7, 2),
        _dec("TwC_Offset", 7, 4),
        _int("TwC_Punkty"),
        _int("TwC_TwCNumer"),
        _int("TwC_TwrFirma", null=True),
        _int("TwC_TwrID"),
        _small("TwC_TwrLp", null=True),
        _int("TwC_TwrNumer", null=True),
        _small("TwC_TwrTyp", null=True),
        _small("TwC_Typ", default=1),
        _str("TwC_Waluta", 3),
        _dec("TwC_Wartosc", 17, 4),
        _dec("TwC_WartoscZakOld", 17, 4),
        _dec("TwC_Zaokraglenie", 7, 4),
        Index("TwCTowar", "TwC_TwrID", "TwC_TwCNumer", unique=True),
    )
    defceny = T(
        "DefCeny",
        _pk("DfC_DfCId"),
        _small("DfC_Aktualizacja"),
        _int("DfC_Lp"),
        _dec("DfC_Marza", 5, 2),
        _ustr("DfC_Nazwa", 20),
        _small("DfC_Nieaktywna", null=True),
        _dec("DfC_Offset", 7, 4),
        _small("DfC_Typ", default=1),
        _str("DfC_Waluta", 3),
        _int("DfC_XL_Lp", null=True),
        _dec("DfC_Zaokraglenie", 7, 4),
        Index("DfCLp", "DfC_Lp", unique=True),
    )
    twrilosci = T(
        "TwrIlosci",
        _pk("TwI_TwIId"),
        _dec("TwI_Braki", 15, 4),
        _dt("TwI_Data", null=True),
        _dec("TwI_Ilosc", 15, 4),
        _int("TwI_MagId", null=True),
        _dec("TwI_Rezerwacje", 15, 4),
        _dec("TwI_RezerwacjeZlecenia", 15, 4),
        _int("TwI_TwrId"),
        _dec("TwI_Wartosc", 15, 2),
        _dec("TwI_Zamowienia", 15, 4),
        Index("TwITowar", "TwI_TwrId", "TwI_MagId", "TwI_Data", unique=True),
    )
    magazyny = T(
        "Magazyny",
        _pk("Mag_MagId"),
        _ustr("Mag_Nazwa", 50),
        _small("Mag_NieAktywny"),
        _str("Mag_Symbol", 20),
        _dt("Mag_TS_Mod"),
        _dt("Mag_TS_Zal"),
        Index("MagSymbol", "Mag_Symbol", unique=True),
    )
    kontrahenci = T(
        "Kontrahenci",
        _pk("Knt_KntId"),
        _ustr("Knt_Email", 127),
        _small("Knt_Export"),
        _str("Knt_ImportAppId", 5, null=True),
        _str("Knt_ImportRowId", 36, null=True),
        _str("Knt_Kod", 20),
        _str("Knt_KodPocztowy", 10),
        _ustr("Knt_Kraj", 40),
        _ustr("Knt_Miasto", 40),
        _ustr("Knt_Nazwa1", 50),
        _ustr("Knt_Nazwa2", 50),
        _ustr("Knt_Nazwa3", 250),
        _small("Knt_Nieaktywny"),
        _ustr("Knt_Nip", 20),
        _str("Knt_NipKraj", 2),
        _ustr("Knt_NrDomu", 10),
        _ustr("Knt_NrLokalu", 10),
        _int("Knt_OpeModID", null=True),
        _int("Knt_OpeZalID", null=True),
        _str("Knt_OpeZalKod", 20),
        _str("Knt_Telefon1", 20),
        _dt("Knt_TS_Export", null=True),
        _dt("Knt_TS_Mod"),
        _dt("Knt_TS_Zal"),
        _ustr("Knt_Ulica", 40),
        Index("KntKod", "Knt_Kod", unique=True),
        Index("KntGUID", "Knt_ImportRowId", unique=True),
        Index("KntTSMod", "Knt_TS_Mod", "Knt_KntId"),
    )
    tranag = T(
        "TraNag",
        _pk("TrN_TrNID"),
        _int("TrN_Anulowany"),
        _small("TrN_Bufor"),
        _dt("TrN_DataDok"),
        _dt("TrN_DataOpe"),
        _dt("TrN_DataWys"),
        _int("TrN_DDfId", null=True),
        _small("TrN_Detal"),
        _int("TrN_eSklepID", null=True),
        _small("TrN_Export"),
        _str("TrN_ImportAppId", 5, null=True),
        _str("TrN_ImportRowId", 36, null=True),
        _small("TrN_Korekta"),
        _int("TrN_MagZrdId", null=True),
        _int("TrN_NumerNr"),
        _str("TrN_NumerObcy", 256),
        _computed(_ustr("TrN_NumerPelny", 30, null=True)),
        _str("TrN_NumerString", 31),
        _int("TrN_OpeZalID", null=True),
        _str("TrN_OpeZalKod", 20),
        _ustr("TrN_OpeZalNazwisko", 50),
        _int("TrN_PodID", null=True),
        _str("TrN_PodKodPocztowy", 10),
        _ustr("TrN_PodMiasto", 40),
        _small("TrN_PodmiotTyp", null=True),
        _ustr("TrN_PodNazwa1", 50),
        _ustr("TrN_PodNazwa2", 50),
        _ustr("TrN_PodUlica", 40),
        _dec("TrN_RazemBrutto", 15, 2),
        _dec("TrN_RazemNetto", 15, 2),
        _dec("TrN_RazemVAT", 15, 2),
        _int("TrN_Rodzaj"),
        _dt("TrN_Termin"),
        _dt("TrN_TS_Export", null=True),
        _dt("TrN_TS_Mod"),
        _dt("TrN_TS_Zal"),
        _int("TrN_TypDokumentu"),
        _str("TrN_Waluta", 3),
        Index("TrNGUID", "TrN_ImportRowId", unique=True),
        Index(
            "TrNTypNUmer",
            "TrN_TypDokumentu",
            "TrN_NumerString",
            "TrN_NumerNr",
            "TrN_Anulowany",
            unique=True,
        ),
        Index("TrNTSMod", "TrN_TS_Mod", "TrN_TrNID"),
    )
    traelem = T(
        "TraElem",
        _pk("TrE_TrEID"),
        _small("TrE_Aktywny", default=1),
        _dec("TrE_Cena0", 17, 4),
        _dec("TrE_CenaT", 17, 4),
        _dec("TrE_CenaW", 17, 4),
        _dt("TrE_DataDok"),
        _dec("TrE_Ilosc", 15, 4),
        _ustr("TrE_Jm", 20),
        _int("TrE_Lp"),
        _int("TrE_MagId", null=True),
        _dec("TrE_Rabat", 5, 2),
        _dec("TrE_Stawka", 5, 2),
        _int("TrE_TrNId"),
        _int("TrE_TwrId", null=True),
        _str("TrE_TwrKod", 50),
        _ustr("TrE_TwrNazwa", 255),
        _int("TrE_TypDokumentu"),
        _dec("TrE_WartoscBrutto", 15, 2),
        _dec("TrE_WartoscNetto", 15, 2),
        Index("TrETraNag", "TrE_TrNId", "TrE_Lp", "TrE_TrEID", unique=True),
    )
    dokdefinicje = T(
        "DokDefinicje",
        _pk("DDf_DDfID"),
        _int("DDf_Klasa"),
        _ustr("DDf_Nazwa", 256),
        _small("DDf_Nieaktywna"),
        _ustr("DDf_Numeracja", 50),
        _str("DDf_Symbol", 5),
        Index("DDfKlasa", "DDf_Klasa", "DDf_Symbol"),
    )
    usuniete = T(
        "UsunieteObiekty",
        _pk("UOb_UObID"),
        _str("UOb_ImportRowId", 36),
        _int("UOb_Typ"),
        Index("UObTypIRID", "UOb_Typ", "UOb_ImportRowId", unique=True),
    )
    return OptimaTables(
        metadata=md,
        schema=schema,
        Bazy=bazy,
        Operatorzy=operatorzy,
        BazZakazy=bazzakazy,
        SystemCDN=systemcdn,
        Towary=towary,
        TwrCeny=twrceny,
        DefCeny=defceny,
        TwrIlosci=twrilosci,
        Magazyny=magazyny,
        Kontrahenci=kontrahenci,
        TraNag=tranag,
        TraElem=traelem,
        DokDefinicje=dokdefinicje,
        UsunieteObiekty=usuniete,
    )


@cache
def optima_tables(schema: str | None, *, implicit_returning: bool = True) -> OptimaTables:
    """Return the (cached) Optima table definitions for ``schema`` (``"CDN"`` or ``None``).

    ``implicit_returning=False`` is what SQL Server needs: Optima's tables carry triggers, and
    an ``OUTPUT inserted`` clause without ``INTO`` fails on a table with triggers, so new ids
    are fetched with ``SCOPE_IDENTITY()`` instead.
    """
    return _build(schema, implicit_returning)


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
