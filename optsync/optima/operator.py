"""The Optima configuration database: the operator check and the company list.

Before a pass, the operator optsync acts as must exist in ``CDN.Operatorzy``, not be blocked
and not be barred from the company in ``CDN.BazZakazy``.

Companies are matched by the database name taken from ``Baz_Dostep`` (``NET:<db>,<server>,NT=<n>``,
parsed in Python so the computed ``Baz_NazwaBazy`` is not needed) or by ``Baz_Nazwa``,
case-insensitively, as SQL Server names are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.engine import Connection

from optsync.errors import ConfigError
from optsync.optima.tables import OptimaTables, tables_for


@dataclass(frozen=True)
class OperatorInfo:
    """The Optima operator optsync acts as (``id`` is None when no configuration database is known)."""

    id: int | None
    code: str
    name: str


@dataclass(frozen=True)
class CompanyRow:
    """One company listed in ``CDN.Bazy``."""

    bazid: int
    name: str
    database: str
    server: str
    active: bool


def parse_dostep(dostep: str) -> tuple[str, str]:
    """Return (database, server) from ``Baz_Dostep`` text ``NET:<database>,<server>,NT=<n>``."""
    body = dostep.split(":", 1)[1] if ":" in dostep else dostep
    parts = [p.strip() for p in body.split(",")]
    return parts[0], parts[1] if len(parts) > 1 else ""


def operator_query(t: OptimaTables, acronym: str) -> Select[Any]:
    """Select the operator with code ``acronym``."""
    o = t.Operatorzy.c
    return select(o.Ope_OpeID, o.Ope_Kod, o.Ope_Nazwisko, o.Ope_Nieaktywny).where(
        o.Ope_Kod == acronym
    )


def companies_query(t: OptimaTables) -> Select[Any]:
    """Select every company of the configuration database."""
    b = t.Bazy.c
    return select(
        b.Baz_BazID,
        b.Baz_Nazwa,
        b.Baz_NazwaBazy,
        b.Baz_NazwaSerwera,
        b.Baz_Dostep,
        b.Baz_Nieaktywna,
    ).order_by(b.Baz_BazID)


def ban_query(t: OptimaTables, ope_id: int, baz_id: int) -> Select[Any]:
    """Select the ``BazZakazy`` row barring operator ``ope_id`` from company ``baz_id``."""
    z = t.BazZakazy.c
    return select(z.BZa_BZaID).where(z.BZa_OpeID == ope_id, z.BZa_BazID == baz_id)


def read_companies(config_conn: Connection) -> list[CompanyRow]:
    """Return every company listed in the configuration database, active or not."""
    rows = config_conn.execute(companies_query(tables_for(config_conn))).all()
    companies = []
    for baz_id, name, database, server, dostep, nieaktywna in rows:
        if not database:
            database, parsed_server = parse_dostep(dostep or "")
            server = server or parsed_server
        companies.append(CompanyRow(baz_id, name, database, server or "", nieaktywna == 0))
    return companies


def _matches(company: CompanyRow, wanted: str) -> bool:
    wanted = wanted.strip().lower()
    stem = PurePath(wanted).stem if wanted.endswith((".db", ".sqlite", ".sqlite3")) else wanted
    return wanted in {company.database.lower(), company.name.lower()} or (
        stem == company.database.lower()
    )


def find_company(config_conn: Connection, db_name: str) -> CompanyRow | None:
    """Return the company whose database name (or ``Baz_Nazwa``) is ``db_name``, if listed."""
    return next((c for c in read_companies(config_conn) if _matches(c, db_name)), None)


def check_operator(
    config_conn: Connection,
    acronym: str,
    *,
    company_db_name: str | None = None,
    company_bazid: int | None = None,
) -> OperatorInfo:
    """Return the operator if it exists, is not blocked and is not barred from the company,
    else raise :class:`ConfigError` naming the reason."""
    t = tables_for(config_conn)
    row = config_conn.execute(operator_query(t, acronym)).first()
    if row is None:
        raise ConfigError(
            f"operator {acronym} does not exist in the Optima configuration database",
            "Set an existing Optima operator with 'optsync operator set ACRONYM'",
        )
    ope_id, code, name, nieaktywny = row
    if nieaktywny:
        raise ConfigError(
            f"operator {acronym} is blocked in Optima",
            "Unblock the operator in Optima (Konfiguracja > Operatorzy) or set another one",
        )
    baz_id = company_bazid
    if baz_id is None and company_db_name:
        company = find_company(config_conn, company_db_name)
        if company is None:
            raise ConfigError(
                f"company database {company_db_name} is not listed in the Optima "
                "configuration database",
                "Check the company's --config-db, or run 'optsync company discover'",
            )
        baz_id = company.bazid
    if baz_id is not None and config_conn.execute(ban_query(t, ope_id, baz_id)).first():
        raise ConfigError(
            f"operator {acronym} is barred from this company in Optima",
            "Allow the operator access to the company in Optima or set another operator",
        )
    return OperatorInfo(ope_id, code, name)
