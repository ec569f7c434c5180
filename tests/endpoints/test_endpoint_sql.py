"""The sql endpoint against real databases: SQLite files, and PostgreSQL (marked slow)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect

from optsync.endpoints.sql import SqlEndpoint
from optsync.endpoints.tables import METADATA
from optsync.errors import ExitCode, Unreachable


@pytest.fixture
def endpoint(sql_url: str) -> Iterator[SqlEndpoint]:
    ep = SqlEndpoint(sql_url)
    yield ep
    ep.close()


def product(code: str, name: str, price: str = "23.00", active: int = 1) -> dict[str, Any]:
    return {
        "code": code,
        "name": name,
        "description": f'Opis "{name}"',
        "ean": None,
        "unit": "szt",
        "vat_rate": Decimal(price),
        "active": active,
    }


def without_updated_at(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "updated_at"} for row in rows]


def insert(url: str, table: str, rows: list[dict[str, Any]]) -> None:
    """What an application does: plain inserts into the inbox tables."""
    engine = create_engine(url)
    with engine.begin() as conn:
        for row in rows:
            conn.execute(METADATA.tables[table].insert(), row)
    engine.dispose()


def test_tables_are_created_on_first_use_and_ensure_tables_keeps_rows(sql_url: str) -> None:
    first = SqlEndpoint(sql_url)
    first.write("products", [product("A", "Młotek")], [], run_id=1)
    first.close()
    engine = create_engine(sql_url)
    assert set(METADATA.tables) <= set(inspect(engine).get_table_names())
    engine.dispose()

    second = SqlEndpoint(sql_url)
    second.ensure_tables()
    assert [row["code"] for row in second.outbound_rows("products")] == ["A"]
    second.close()


def test_upsert_update_and_delete_leave_exact_rows(endpoint: SqlEndpoint) -> None:
    endpoint.write(
        "products",
        [product("A", "Młotek"), product("B", "Wiertarka"), product("C", "Śrubokręt")],
        [],
        run_id=1,
    )
    with endpoint.export("products", run_id=2) as out:
        out.send([product("B", "Wiertarka udarowa", "8.00")], [("C",)])
    assert (out.upserted, out.deleted) == (1, 1)

    rows = endpoint.outbound_rows("products")
    assert without_updated_at(rows) == [
        {**product("A", "Młotek"), "deleted": 0},
        {**product("B", "Wiertarka udarowa", "8.00"), "deleted": 0},
        {**product("C", "Śrubokręt"), "deleted": 1},
    ]
    assert all(isinstance(row["updated_at"], datetime) for row in rows)


def test_a_deleted_row_sent_again_is_no_longer_deleted(endpoint: SqlEndpoint) -> None:
    endpoint.write("products", [product("A", "Młotek")], [], run_id=1)
    endpoint.write("products", [], [("A",)], run_id=2)
    endpoint.write("products", [product("A", "Młotek")], [], run_id=3)
    assert endpoint.outbound_rows("products")[0]["deleted"] == 0


def test_an_export_block_that_raises_commits_nothing(endpoint: SqlEndpoint) -> None:
    endpoint.write("products", [product("A", "Młotek")], [], run_id=1)
    with pytest.raises(RuntimeError), endpoint.export("products", run_id=2) as out:
        out.send([product("B", "Wiertarka")], [("A",)])
        out.send([product("C", "Piła")], [])
        raise RuntimeError("the pass failed half way")
    assert without_updated_at(endpoint.outbound_rows("products")) == [
        {**product("A", "Młotek"), "deleted": 0}
    ]


def test_prices_and_stock_are_keyed_by_two_columns(endpoint: SqlEndpoint) -> None:
    price = {"product_code": "A", "value": Decimal("12.30"), "currency": "PLN"}
    endpoint.write(
        "prices",
        [
            {**price, "price_list": 1, "price_list_name": "Detaliczna"},
            {**price, "price_list": 2, "price_list_name": "Hurtowa", "value": Decimal("10.0050")},
        ],
        [],
        run_id=1,
    )
    endpoint.write("prices", [], [("A", 2)], run_id=2)
    rows = endpoint.outbound_rows("prices")
    assert [(r["price_list"], r["value"], r["deleted"]) for r in rows] == [
        (1, Decimal("12.30"), 0),
        (2, Decimal("10.0050"), 1),
    ]
    endpoint.write(
        "stock",
        [
            {
                "product_code": "A",
                "warehouse": "MAG",
                "quantity": Decimal(5),
                "reserved": Decimal("1.5"),
            }
        ],
        [],
        run_id=3,
    )
    (stock,) = endpoint.outbound_rows("stock")
    assert (stock["quantity"], stock["reserved"]) == (Decimal(5), Decimal("1.5"))


def test_documents_are_written_with_their_lines(endpoint: SqlEndpoint) -> None:
    line = {"product_code": "A", "unit": "szt", "vat_rate": Decimal("23.00")}
    document = {
        "erp_id": 101,
        "type": "FS",
        "number": "FS/1/2026",
        "issued_at": datetime(2026, 11, 29, 10, 15),
        "customer_code": "KOWALSKI",
        "currency": "PLN",
        "net": Decimal("30.00"),
        "vat": Decimal("6.90"),
        "gross": Decimal("36.90"),
        "lines": [
            {
                **line,
                "line_no": 1,
                "quantity": Decimal(2),
                "unit_price_net": Decimal("10.00"),
                "net": Decimal("20.00"),
                "gross": Decimal("24.60"),
            },
            {
                **line,
                "line_no": 2,
                "quantity": Decimal(1),
                "unit_price_net": Decimal("10.00"),
                "net": Decimal("10.00"),
                "gross": Decimal("12.30"),
            },
        ],
    }
    endpoint.write("documents", [document], [], run_id=1)
    (row,) = endpoint.outbound_rows("documents")
    assert row["issued_at"] == datetime(2026, 11, 29, 10, 15)
    assert row["gross"] == Decimal("36.90")
    assert [(ln["erp_id"], ln["line_no"], ln["gross"], ln["deleted"]) for ln in row["lines"]] == [
        (101, 1, Decimal("24.60"), 0),
        (101, 2, Decimal("12.30"), 0),
    ]

    # Sent again with one line: the other line is marked deleted, like the document later.
    endpoint.write("documents", [{**document, "lines": document["lines"][:1]}], [], run_id=2)
    (row,) = endpoint.outbound_rows("documents")
    assert [(ln["line_no"], ln["deleted"]) for ln in row["lines"]] == [(1, 0), (2, 1)]
    endpoint.write("documents", [], [(101,)], run_id=3)
    (row,) = endpoint.outbound_rows("documents")
    assert row["deleted"] == 1 and {ln["deleted"] for ln in row["lines"]} == {1}


def add_orders(url: str) -> None:
    insert(
        url,
        "optsync_inbox_orders",
        [
            {
                "id": 1,
                "external_id": "WWW-1001",
                "issued_at": datetime(2026, 11, 29, 9, 30),
                "customer_code": "KOWALSKI",
                "currency": "PLN",
                "notes": "Proszę o fakturę",
            },
            {
                "id": 2,
                "external_id": "WWW-1002",
                "customer_name": "Zażółć Gęślą Sp. z o.o.",
                "customer_tax_id": "5261040828",
                "currency": "PLN",
            },
            {"id": 3, "external_id": "WWW-1003"},  # no lines: malformed
        ],
    )
    insert(
        url,
        "optsync_inbox_order_lines",
        [
            {
                "header_id": 1,
                "line_no": 1,
                "product_code": "A",
                "quantity": Decimal(2),
                "unit_price": Decimal("12.30"),
                "price_kind": "gross",
                "vat_rate": Decimal(23),
                "vat_kind": None,
            },
            {
                "header_id": 1,
                "line_no": 2,
                "product_code": "B",
                "quantity": Decimal("1.5"),
                "unit_price": Decimal("4.99"),
                "price_kind": "net",
                "vat_rate": Decimal(8),
                "vat_kind": None,
            },
            {
                "header_id": 2,
                "line_no": 1,
                "product_code": "A",
                "quantity": Decimal(1),
                "unit_price": Decimal("12.30"),
                "price_kind": "gross",
                "vat_rate": Decimal(23),
                "vat_kind": None,
            },
        ],
    )


def test_inbox_orders_are_read_with_their_lines(endpoint: SqlEndpoint, sql_url: str) -> None:
    endpoint.ensure_tables()
    add_orders(sql_url)
    first, second, bad = list(endpoint.inbox("orders"))

    assert first.label == "WWW-1001 (optsync_inbox_orders id 1)" and first.error is None and first.record is not None
    assert first.record["issued_at"] == datetime(2026, 11, 29, 9, 30)
    assert first.record["notes"] == "Proszę o fakturę"
    assert first.record["lines"] == [
        {
            "line_no": 1,
            "product_code": "A",
            "quantity": Decimal(2),
            "unit_price": Decimal("12.30"),
            "price_kind": "gross",
            "vat_rate": Decimal(23),
            "vat_kind": None,
        },
        {
            "line_no": 2,
            "product_code": "B",
            "quantity": Decimal("1.5"),
            "unit_price": Decimal("4.99"),
            "price_kind": "net",
            "vat_rate": Decimal(8),
            "vat_kind": None,
        },
    ]
    assert second.record is not None and second.record["customer_code"] is None
    assert second.record["customer_name"] == "Zażółć Gęślą Sp. z o.o."
    assert bad.record is None and bad.error is not None and "line" in bad.error


def test_marks_persist_and_marked_rows_are_not_offered_again(
    endpoint: SqlEndpoint, sql_url: str
) -> None:
    endpoint.ensure_tables()
    add_orders(sql_url)
    first, second, bad = endpoint.inbox("orders")
    endpoint.mark("orders", first, status="imported", erp_id=7, erp_number="ZS/7/2026")
    endpoint.mark("orders", second, status="rejected", error="unknown product 'A'")
    endpoint.finish_inbox("orders")  # the malformed one was never marked: rejected here
    endpoint.close()

    engine = create_engine(sql_url)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT id, status, erp_id, erp_number, imported_at, error"
            " FROM optsync_inbox_orders ORDER BY id"
        ).all()
    engine.dispose()
    assert [tuple(r[:4]) for r in rows] == [
        (1, "imported", 7, "ZS/7/2026"),
        (2, "rejected", None, None),
        (3, "rejected", None, None),
    ]
    assert rows[0][4] is not None and rows[1][4] is None
    assert rows[1][5] == "unknown product 'A'"
    assert rows[2][5] == bad.error
    assert list(SqlEndpoint(sql_url).inbox("orders")) == []


def test_inbox_customers_products_and_prices(endpoint: SqlEndpoint, sql_url: str) -> None:
    endpoint.ensure_tables()
    insert(sql_url, "optsync_inbox_customers", [{"external_id": "C-1", "name": "Jan Kowalski"}])
    insert(sql_url, "optsync_inbox_products", [{"code": "X1", "name": "Nowy", "active": 1}])
    insert(
        sql_url,
        "optsync_inbox_prices",
        [{"product_code": "X1", "price_list": 2, "value": Decimal("9.99"), "currency": "PLN"}],
    )
    (customer,) = endpoint.inbox("customers")
    (new_product,) = endpoint.inbox("products")
    (price,) = endpoint.inbox("prices")
    assert customer.record is not None and customer.record["name"] == "Jan Kowalski"
    assert new_product.label == "X1 (optsync_inbox_products id 1)"
    assert new_product.record is not None
    assert price.label == "X1/2 (optsync_inbox_prices id 1)"
    assert price.record is not None and price.record["value"] == Decimal("9.99")


def test_sqlite_keeps_exact_decimal_text(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shop.db"
    endpoint = SqlEndpoint(url)
    endpoint.write("products", [product("A", "Młotek", "12.30")], [], run_id=1)
    endpoint.close()
    with sqlite3.connect(tmp_path / "shop.db") as conn:
        assert conn.execute("SELECT vat_rate FROM optsync_products").fetchone() == ("12.30",)


@pytest.mark.parametrize("value, text", [
    (Decimal("12.30"), "12.30"), (Decimal("1E+3"), "1000"), (Decimal("0E-10"), "0.0000000000"),
    (Decimal("-0.0000"), "-0.0000"), (Decimal("1E-7"), "0.0000001"), (1.5, "1.5"), (7, "7"),
    ("2.50", "2.50"),
])
def test_sqlite_stores_every_decimal_as_plain_digits(tmp_path: Path, value, text) -> None:
    """Exact text without an exponent, whatever form the value comes in."""
    endpoint = SqlEndpoint(f"sqlite:///{tmp_path}/shop.db")
    record = product("A", "Młotek") | {"vat_rate": value}
    endpoint.write("products", [record], [], run_id=1)
    endpoint.close()
    with sqlite3.connect(tmp_path / "shop.db") as conn:
        assert conn.execute("SELECT vat_rate FROM optsync_products").fetchone() == (text,)


def test_malformed_values_written_by_an_application_are_rejected_not_fatal(tmp_path: Path) -> None:
    endpoint = SqlEndpoint(f"sqlite:///{tmp_path}/shop.db")
    endpoint.ensure_tables()
    with sqlite3.connect(tmp_path / "shop.db") as conn:
        conn.execute(
            "INSERT INTO optsync_inbox_orders (id, external_id, issued_at) VALUES (1, 'W1', 'wczoraj')"
        )
        conn.execute(
            "INSERT INTO optsync_inbox_order_lines VALUES (1, 1, 'A', 'dwa', NULL, NULL, NULL, NULL)"
        )
        conn.execute("INSERT INTO optsync_inbox_orders (id, external_id) VALUES (2, 'W2')")
        conn.execute(
            "INSERT INTO optsync_inbox_order_lines VALUES (2, 1, 'A', 2, 19.99, 'gross', 23, NULL)"
        )
    bad, good = endpoint.inbox("orders")
    assert bad.error == "issued_at: expected an ISO-8601 date or time, got 'wczoraj'"
    assert good.record is not None and good.record["lines"][0]["unit_price"] == Decimal("19.99")


def test_unreachable_database_exits_69_with_the_password_masked() -> None:
    endpoint = SqlEndpoint("postgresql+psycopg://shop:s3cret@127.0.0.1:1/shop")
    with pytest.raises(Unreachable) as caught:
        endpoint.check()
    assert caught.value.exit_code == ExitCode.UNAVAILABLE
    assert "shop:***@127.0.0.1:1/shop" in caught.value.message
    assert "s3cret" not in caught.value.message


def test_a_sqlite_file_in_a_missing_folder_is_unreachable(tmp_path: Path) -> None:
    with pytest.raises(Unreachable):
        SqlEndpoint(f"sqlite:///{tmp_path}/no/such/folder/shop.db").write(
            "products", [product("A", "Młotek")], [], run_id=1
        )
