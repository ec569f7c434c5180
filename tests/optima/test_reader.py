"""The reader yields exactly the outbound fields of the exchange tables (README.md), from the right Optima rows."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select

from optsync.demo import sample
from optsync.optima import reader
from optsync.optima.tables import OptimaTables

PRODUCT_KEYS = {"code", "name", "description", "ean", "unit", "vat_rate", "active", "_ts"}
PRICE_KEYS = {"product_code", "price_list", "value", "currency", "price_list_name"}
STOCK_KEYS = {"product_code", "warehouse", "quantity", "reserved"}
CUSTOMER_KEYS = {
    "code",
    "name",
    "tax_id",
    "street",
    "postal_code",
    "city",
    "country",
    "email",
    "phone",
    "active",
    "guid",
    "_ts",
}
DOCUMENT_KEYS = {
    "erp_id",
    "type",
    "number",
    "issued_at",
    "customer_code",
    "currency",
    "net",
    "vat",
    "gross",
    "_ts",
    "lines",
}
LINE_KEYS = {
    "line_no",
    "product_code",
    "quantity",
    "unit",
    "unit_price_net",
    "vat_rate",
    "net",
    "gross",
}


def rows(company: Engine, fn: Any, t: OptimaTables, **kw: Any) -> list[dict[str, Any]]:
    with company.connect() as conn:
        return [row for batch in fn(conn, t, **kw) for row in batch]


def test_products_have_outbound_keys_and_inactive_ones_are_active_0(company, t):
    products = rows(company, reader.read_products, t)
    assert len(products) == 40
    assert all(set(p) == PRODUCT_KEYS for p in products)
    assert isinstance(products[0]["vat_rate"], Decimal)
    inactive = {p["code"] for p in products if p["active"] == 0}
    with company.connect() as conn:
        flagged = set(
            conn.scalars(select(t.Towary.c.Twr_Kod).where(t.Towary.c.Twr_NieAktywny == 1))
        )
    assert inactive == flagged and len(inactive) == 4
    assert {p["active"] for p in products} == {0, 1}


def test_products_since_watermark_are_those_modified_at_or_after_it(company, t):
    products = rows(company, reader.read_products, t)
    since = products[25]["_ts"]
    newer = rows(company, reader.read_products, t, since=since)
    assert [p["code"] for p in newer] == [p["code"] for p in products[25:]]
    assert rows(company, reader.read_products, t, since=datetime(2100, 1, 1)) == []


def test_products_come_in_batches_of_the_requested_size(company, t):
    with company.connect() as conn:
        sizes = [len(b) for b in reader.read_products(conn, t, batch_size=15)]
    assert sizes == [15, 15, 10]


def test_prices_of_the_inactive_price_list_are_never_read(company, t):
    prices = rows(company, reader.read_prices, t)
    assert all(set(p) == PRICE_KEYS for p in prices)
    assert {p["price_list"] for p in prices} == {1, 2}
    assert len(prices) == 80
    assert {p["price_list_name"] for p in prices} == {"Detaliczna", "Hurtowa"}
    kawa = {p["price_list"]: p["value"] for p in prices if p["product_code"] == "KAWA-LAV-1KG"}
    assert kawa == {1: Decimal("74.99"), 2: Decimal("61.49")}
    assert rows(company, reader.read_prices, t, price_list=3) == []
    assert {p["price_list"] for p in rows(company, reader.read_prices, t, price_list=2)} == {2}


def test_stock_is_the_latest_dated_row_per_product_and_warehouse_without_totals(company, t):
    stock = rows(company, reader.read_stock, t)
    assert all(set(s) == STOCK_KEYS for s in stock)
    i, m, w = t.TwrIlosci.c, t.Magazyny.c, t.Towary.c
    expected: dict[tuple[str, str], tuple[datetime, Decimal]] = {}
    with company.connect() as conn:
        history = conn.execute(
            select(w.Twr_Kod, m.Mag_Symbol, i.TwI_Data, i.TwI_Ilosc).select_from(
                t.TwrIlosci.join(t.Towary, i.TwI_TwrId == w.Twr_TwrId).join(
                    t.Magazyny, i.TwI_MagId == m.Mag_MagId
                )
            )
        ).all()
    for code, symbol, day, qty in history:
        if (code, symbol) not in expected or expected[(code, symbol)][0] < day:
            expected[(code, symbol)] = (day, qty)
    got = {(s["product_code"], s["warehouse"]): s["quantity"] for s in stock}
    assert got == {key: qty for key, (_, qty) in expected.items()}
    assert len(stock) == len(expected) and {s["warehouse"] for s in stock} == {"MAG", "SKLEP"}
    only_shop = rows(company, reader.read_stock, t, warehouse="SKLEP")
    assert {s["warehouse"] for s in only_shop} == {"SKLEP"}


def test_stock_ignores_older_rows_added_later(company, t):
    with company.begin() as conn:
        twr_id = conn.scalar(select(t.Towary.c.Twr_TwrId).where(t.Towary.c.Twr_Kod == "BANANY"))
        mag_id = conn.scalar(select(t.Magazyny.c.Mag_MagId).where(t.Magazyny.c.Mag_Symbol == "MAG"))
        sample.insert_complete(
            conn,
            t.TwrIlosci,
            [
                {
                    "TwI_TwrId": twr_id,
                    "TwI_MagId": mag_id,
                    "TwI_Data": datetime(2027, 1, 1),
                    "TwI_Ilosc": Decimal("12.5"),
                },
                {
                    "TwI_TwrId": twr_id,
                    "TwI_MagId": mag_id,
                    "TwI_Data": datetime(2020, 1, 1),
                    "TwI_Ilosc": Decimal(999),
                },
                {
                    "TwI_TwrId": twr_id,
                    "TwI_MagId": None,
                    "TwI_Data": datetime(2028, 1, 1),
                    "TwI_Ilosc": Decimal(5000),
                },
            ],
        )
    stock = rows(company, reader.read_stock, t, warehouse="MAG")
    assert [s["quantity"] for s in stock if s["product_code"] == "BANANY"] == [Decimal("12.5")]


def test_customers_join_names_and_addresses_the_polish_way(company, t):
    customers = {c["code"]: c for c in rows(company, reader.read_customers, t)}
    assert len(customers) == 16 and all(set(c) == CUSTOMER_KEYS for c in customers.values())
    kowalski = customers["HURTOWNIA SPOZYWCZA"]
    assert kowalski["name"] == "Hurtownia Spożywcza Kowalski Sp. z o.o."
    assert kowalski["street"] == "ul. Marszałkowska 84/12"
    assert (kowalski["postal_code"], kowalski["city"]) == ("00-514", "Warszawa")
    assert kowalski["guid"] is None and kowalski["active"] == 1
    zielony = next(c for c in customers.values() if c["name"].startswith("Przedsiębiorstwo"))
    assert zielony["name"].endswith("Zielony Koszyk Jan Wiśniewski")
    assert sum(c["active"] == 0 for c in customers.values()) == 2


def test_customers_since_watermark(company, t):
    everyone = rows(company, reader.read_customers, t)
    later = rows(company, reader.read_customers, t, since=everyone[10]["_ts"])
    assert [c["code"] for c in later] == [c["code"] for c in everyone[10:]]


def test_documents_are_approved_fs_and_pa_with_their_lines(company, t):
    docs = rows(company, reader.read_documents, t)
    assert len(docs) == 5  # the draft and the cancelled invoice are left out
    assert all(set(d) == DOCUMENT_KEYS for d in docs)
    assert [d["type"] for d in docs] == ["FS", "PA", "FS", "PA", "FS"]
    assert docs[0]["number"] == "FS/1/2026" and docs[1]["number"] == "PA/1/2026"
    for doc in docs:
        assert doc["lines"] and all(set(line) == LINE_KEYS for line in doc["lines"])
        assert sum(line["net"] for line in doc["lines"]) == doc["net"]
        assert sum(line["gross"] for line in doc["lines"]) == doc["gross"]
        assert doc["net"] + doc["vat"] == doc["gross"]
        assert [line["line_no"] for line in doc["lines"]] == list(range(1, len(doc["lines"]) + 1))
    assert docs[0]["customer_code"] == "HURTOWNIA SPOZYWCZA"
    assert docs[1]["customer_code"] == "!NIEOKREŚLONY!"


def test_documents_page_by_key_with_the_same_result(company, t):
    whole = rows(company, reader.read_documents, t)
    with company.connect() as conn:
        batches = list(reader.read_documents(conn, t, batch_size=2))
    assert [len(b) for b in batches] == [2, 2, 1]
    assert [d for b in batches for d in b] == whole
    since = whole[3]["_ts"] - timedelta(seconds=1)
    assert [d["erp_id"] for d in rows(company, reader.read_documents, t, since=since)] == [
        d["erp_id"] for d in whole if d["_ts"] >= since
    ]


# -- the next batch fetched ahead ---------------------------------------------------------------

def test_batches_read_ahead_are_the_batches_read_one_by_one(
        company: Engine, t: OptimaTables, monkeypatch):
    """From a database server the next batch is fetched while this one is worked on; from
    SQLite not (its driver takes Python's lock for every row). Either way the same rows."""
    stmt = reader.prices_query(t, price_list=1)
    with company.connect() as conn:
        server = company.dialect.name != "sqlite"
        assert reader._reads_ahead(conn.connection.dbapi_connection) is server
    read: dict[bool, list] = {}
    for ahead in (False, True):
        monkeypatch.setattr(reader, "_reads_ahead", lambda dbapi, ahead=ahead: ahead)
        with company.connect() as conn:
            batches = list(reader.RawRows(conn, stmt, batch_size=7))
        assert len(batches) > 2 and {len(b) for b in batches[:-1]} == {7}
        read[ahead] = [tuple(row) for batch in batches for row in batch]
    assert read[True] == read[False]


class _SlowThenFailing:
    """A cursor whose second fetch (the one read ahead) takes a while, then fails or not."""

    def __init__(self, cursor: Any, fail: bool) -> None:
        self.cursor, self.fail, self.calls, self.finished = cursor, fail, 0, False

    def fetchmany(self, size: int) -> list:
        import time

        self.calls += 1
        if self.calls == 2:
            time.sleep(0.3)
            self.finished = True
            if self.fail:
                raise RuntimeError("connection lost while reading ahead")
        return self.cursor.fetchmany(size)

    def close(self) -> None:
        self.cursor.close()


def test_leaving_early_waits_for_the_batch_read_ahead_and_an_error_ahead_is_raised(
        company: Engine, t: OptimaTables, monkeypatch):
    stmt = reader.prices_query(t, price_list=1)
    monkeypatch.setattr(reader, "_reads_ahead", lambda dbapi: True)  # on SQLite too
    cursor = reader.RawRows._cursor
    for fail in (False, True):
        made: list[_SlowThenFailing] = []

        def slow(self: reader.RawRows, fail: bool = fail, made: list = made) -> _SlowThenFailing:
            made.append(_SlowThenFailing(cursor(self), fail))
            return made[-1]

        monkeypatch.setattr(reader.RawRows, "_cursor", slow)
        with company.connect() as conn:
            batches = iter(reader.RawRows(conn, stmt, batch_size=5))
            assert len(next(batches)) == 5
            if fail:
                with pytest.raises(RuntimeError, match="while reading ahead"):
                    next(batches)
            else:
                batches.close()  # as a pass that fails mid-entity does
                assert made[0].finished  # closing waited for the fetch under way
                assert conn.execute(select(t.Towary.c.Twr_Kod).limit(1)).scalar()
