"""Fingerprint queries compile for SQL Server and change with every exported column."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.dialects import mssql

from optsync.optima.fingerprint import QUERIES
from optsync.optima.tables import optima_tables


def test_fingerprint_queries_compile_for_sql_server():
    t = optima_tables("CDN", implicit_returning=False)
    for build in QUERIES.values():
        for query in build(t, "mssql"):
            sql = str(query.compile(dialect=mssql.dialect()))
            assert "[CDN]." in sql
    (stock, *_) = QUERIES["stock"](t, "mssql")
    assert "datediff(minute, '2000-01-01', [CDN].[TwrIlosci].[TwI_Data])" in str(
        stock.compile(dialect=mssql.dialect()))


# -- every exported column of prices and stock moves the fingerprint -------------------------
#
# Each change touches one row the way Optima would (a product's code or a warehouse's symbol
# with its modification stamp, as Optima stamps every edit of a card) and first checks that
# the change really changes what the export reads, then that the fingerprint saw it.


def _read(conn, t, entity):
    from optsync.optima.reader import read_prices, read_stock

    read = {"prices": read_prices, "stock": read_stock}[entity]
    return [row for batch in read(conn, t) for row in batch]


def _later(conn, column):
    from datetime import timedelta

    from sqlalchemy import func, select

    return conn.execute(select(func.max(column))).scalar_one() + timedelta(minutes=1)


def _price(t, product=1, price_list=1):
    c = t.TwrCeny.c
    return t.TwrCeny.update().where(c.TwC_TwrID == product, c.TwC_TwCNumer == price_list)


def _stock_row(t, product, warehouse, *, oldest):
    """A stock row of (product, warehouse): the current (latest dated) one, or the oldest."""
    from sqlalchemy import select

    i = t.TwrIlosci.c
    order = i.TwI_Data.asc() if oldest else i.TwI_Data.desc()
    return (select(i.TwI_TwIId).where(i.TwI_TwrId == product, i.TwI_MagId == warehouse)
            .order_by(order).limit(1).scalar_subquery())


def _stock(t, product=1, warehouse=1, *, oldest=False):
    i = t.TwrIlosci.c
    return t.TwrIlosci.update().where(
        i.TwI_TwIId == _stock_row(t, product, warehouse, oldest=oldest))


PRICE_CHANGES = {
    "value": lambda conn, t: conn.execute(
        _price(t).values(TwC_Wartosc=t.TwrCeny.c.TwC_Wartosc + Decimal("0.01"))),
    "currency": lambda conn, t: conn.execute(_price(t).values(TwC_Waluta="EUR")),
    "price_list (the price moves to another list)": lambda conn, t: conn.execute(
        _price(t, price_list=2).values(TwC_TwCNumer=9)),
    "price_list (the list's number changes)": lambda conn, t: conn.execute(
        t.DefCeny.update().where(t.DefCeny.c.DfC_Lp == 2).values(DfC_Lp=7)),
    "price_list (a list is switched off)": lambda conn, t: conn.execute(
        t.DefCeny.update().where(t.DefCeny.c.DfC_Lp == 2).values(DfC_Nieaktywna=1)),
    "price_list_name": lambda conn, t: conn.execute(
        t.DefCeny.update().where(t.DefCeny.c.DfC_Lp == 1).values(DfC_Nazwa="Detal 2027")),
    "product_code": lambda conn, t: conn.execute(
        t.Towary.update().where(t.Towary.c.Twr_TwrId == 1)
        .values(Twr_Kod="NOWY-KOD", Twr_TS_Mod=_later(conn, t.Towary.c.Twr_TS_Mod))),
    "product_code (the price moves to another product)": lambda conn, t: conn.execute(
        _price(t, product=1, price_list=1).values(TwC_TwrID=999)),
    "a price removed": lambda conn, t: conn.execute(
        t.TwrCeny.delete().where(t.TwrCeny.c.TwC_TwrID == 1, t.TwrCeny.c.TwC_TwCNumer == 1)),
}

STOCK_CHANGES = {
    "quantity": lambda conn, t: conn.execute(
        _stock(t).values(TwI_Ilosc=t.TwrIlosci.c.TwI_Ilosc + 1)),
    "reserved": lambda conn, t: conn.execute(
        _stock(t).values(TwI_Rezerwacje=t.TwrIlosci.c.TwI_Rezerwacje + 1)),
    "warehouse": lambda conn, t: conn.execute(
        t.Magazyny.update().where(t.Magazyny.c.Mag_MagId == 1)
        .values(Mag_Symbol="MAG-GL", Mag_TS_Mod=_later(conn, t.Magazyny.c.Mag_TS_Mod))),
    "warehouse (the stock moves to another warehouse)": lambda conn, t: conn.execute(
        _stock(t, warehouse=2).values(TwI_MagId=3)),
    "product_code": lambda conn, t: conn.execute(
        t.Towary.update().where(t.Towary.c.Twr_TwrId == 1)
        .values(Twr_Kod="NOWY-KOD", Twr_TS_Mod=_later(conn, t.Towary.c.Twr_TS_Mod))),
    "product_code (the stock moves to another product)": lambda conn, t: conn.execute(
        _stock(t, warehouse=2).values(TwI_TwrId=999)),
    "the current stock row (an older row dated after it)": lambda conn, t: conn.execute(
        _stock(t, oldest=True).values(TwI_Data=_later(conn, t.TwrIlosci.c.TwI_Data))),
}


def _moves_the_fingerprint(company, t, entity, change) -> None:
    from optsync.optima.fingerprint import fingerprint

    with company.connect() as conn:
        before, rows_before = fingerprint(conn, t, entity), _read(conn, t, entity)
    with company.begin() as conn:
        change(conn, t)
    with company.connect() as conn:
        after, rows_after = fingerprint(conn, t, entity), _read(conn, t, entity)
    assert rows_after != rows_before, "the change does not change what the export reads"
    assert after != before


@pytest.mark.parametrize("change", PRICE_CHANGES.values(), ids=PRICE_CHANGES.keys())
def test_a_change_of_each_exported_price_column_changes_the_fingerprint(company, t, change):
    _moves_the_fingerprint(company, t, "prices", change)


@pytest.mark.parametrize("change", STOCK_CHANGES.values(), ids=STOCK_CHANGES.keys())
def test_a_change_of_each_exported_stock_column_changes_the_fingerprint(company, t, change):
    _moves_the_fingerprint(company, t, "stock", change)


def test_a_stock_row_dated_back_so_that_an_older_one_is_current_changes_the_fingerprint(
    company, t
):
    from datetime import datetime

    _moves_the_fingerprint(company, t, "stock", lambda conn, t: conn.execute(
        _stock(t).values(TwI_Data=datetime(2025, 11, 1, 8, 0))))


# -- computed ahead, on a second connection --------------------------------------------------

def test_fingerprints_computed_ahead_equal_those_computed_in_the_step(company, t):
    from optsync.optima.fingerprint import Fingerprints, fingerprint

    ahead = Fingerprints(t)
    ahead.start(company, ["products", "prices", "stock", "prices"])
    with company.connect() as conn:
        assert ahead.get(conn, "prices") == fingerprint(conn, t, "prices")
        assert ahead.get(conn, "stock") == fingerprint(conn, t, "stock")
        assert ahead.get(conn, "products") is None  # read by its watermark, not fingerprinted
    assert ahead._ready.keys() == {"prices", "stock"}  # both came from the second connection


def test_a_fingerprint_that_failed_ahead_is_taken_again_in_the_step_which_meets_the_error(
        company, t, tmp_path):
    from sqlalchemy import create_engine

    from optsync.optima.fingerprint import Fingerprints, fingerprint

    elsewhere = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")  # no Optima tables there
    ahead = Fingerprints(t)
    ahead.start(elsewhere, ["prices"])
    with company.connect() as conn:
        assert ahead.get(conn, "prices") == fingerprint(conn, t, "prices")
    assert ahead._ready == {}
    broken = Fingerprints(t)
    broken.start(elsewhere, ["stock"])
    with elsewhere.connect() as conn, pytest.raises(Exception, match="no such table"):
        broken.get(conn, "stock")
    elsewhere.dispose()


def test_of_fingerprints_ahead_a_failed_query_alone_is_taken_again_in_the_step(company, t):
    """A query that failed ahead does not throw away the others: the entity's queries that
    succeeded are kept for its step, which runs only the missing one (and meets its error)."""
    from sqlalchemy import text

    from optsync.optima.fingerprint import Fingerprints, fingerprint, stock_queries

    stock = f'"{t.schema}"."TwrIlosci"' if t.schema else '"TwrIlosci"'
    with company.begin() as conn:
        conn.execute(text(f"DROP TABLE {stock}"))
    ahead = Fingerprints(t)
    ahead.start(company, ["prices", "stock"])
    ahead.wait()
    assert ahead._ready.keys() == {"prices"}
    kept = {str(q) for q in stock_queries(t, company.dialect.name)[1:]}  # all but TwrIlosci's
    assert set(ahead.memo) == kept
    with company.connect() as conn:
        assert ahead.get(conn, "prices") == fingerprint(conn, t, "prices")
        with pytest.raises(Exception, match="(?i)twrilosci"):
            ahead.get(conn, "stock")
