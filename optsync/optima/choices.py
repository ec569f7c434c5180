"""The values an integration's settings may take in a company database: price lists, warehouses.

``--price-list N`` names an active price list by its number (``DefCeny.DfC_Lp``; inactive ones
are never exported), ``--warehouse SYMBOL`` a warehouse by ``Magazyny.Mag_Symbol``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Select, or_, select

from optsync.dburl import connect_check, engine_for, timeout_args
from optsync.errors import Unreachable
from optsync.optima.tables import tables_for
from optsync.secrets import exception_text, mask_url, secrets_of


def price_lists_query(tables: Any) -> Select[Any]:
    """Active price lists: number and name, by number."""
    d = tables.DefCeny.c
    return (select(d.DfC_Lp, d.DfC_Nazwa)
            .where(or_(d.DfC_Nieaktywna == 0, d.DfC_Nieaktywna.is_(None)))
            .order_by(d.DfC_Lp))


def warehouses_query(tables: Any) -> Select[Any]:
    """Every warehouse's symbol."""
    m = tables.Magazyny.c
    return select(m.Mag_Symbol).order_by(m.Mag_MagId)


def price_lists(conn: Connection, tables: Any) -> list[tuple[int, str]]:
    """Active price lists as (number, name), by number."""
    rows = conn.execute(price_lists_query(tables)).all()
    return [(int(lp), (name or "").strip()) for lp, name in rows]


def warehouses(conn: Connection, tables: Any) -> list[str]:
    """Every warehouse symbol, sorted."""
    return sorted({(s or "").strip() for (s,) in conn.execute(warehouses_query(tables))} - {""})


def describe_price_lists(found: list[tuple[int, str]]) -> str:
    return ", ".join(f"{lp} ({name})" if name else str(lp) for lp, name in found) or "none"


def setting_problems(conn: Connection, tables: Any, price_list: int | None,
                     warehouse: str | None) -> dict[str, str]:
    """Per exported entity (``prices``, ``stock``), why its setting names nothing in Optima."""
    problems: dict[str, str] = {}
    if price_list is not None:
        found = price_lists(conn, tables)
        if price_list not in {lp for lp, _ in found}:
            problems["prices"] = (
                f"price list {price_list} is not an active price list of the company "
                f"database (active: {describe_price_lists(found)})")
    if warehouse is not None:
        symbols = warehouses(conn, tables)
        if warehouse.strip() not in symbols:
            problems["stock"] = (
                f"warehouse {warehouse!r} does not exist in the company database "
                f"(warehouses: {', '.join(symbols) or 'none'})")
    return problems


def check_settings(url: str, price_list: int | None, warehouse: str | None) -> dict[str, str]:
    """:func:`setting_problems` in the company database at ``url``.

    Unreachable (exit 69) when the database cannot be opened or lacks the Optima tables these
    settings live in: the caller decides whether that stops anything.
    """
    connect_check(url, "the company database")
    engine = engine_for(url, what="the company database", **timeout_args(url))
    try:
        with engine.connect() as conn:
            return setting_problems(conn, tables_for(conn), price_list, warehouse)
    except Exception as exc:  # noqa: BLE001 - no such table, a driver error: cannot check
        raise Unreachable(
            f"the price lists and warehouses of the company database {mask_url(url)} cannot "
            f"be read ({exception_text(exc, secrets_of(url))})",
            "Check that the company points at its Optima database ('optsync doctor')",
        ) from None
    finally:
        engine.dispose()
