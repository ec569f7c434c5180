"""Inbox orders the end-to-end tests offer a shop endpoint, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from decimal import Decimal

from optsync.demo.world import shop_orders


def two_good_orders_and_one_bad(codes: list[str]) -> tuple[list[dict], list[dict]]:
    """Two orders (the first grossing exactly 9.99 + 15.02) and one naming an unknown product."""
    good = shop_orders(codes, count=2)
    good[0]["lines"] = [
        {"line_no": 1, "product_code": codes[0], "quantity": Decimal(3),
         "unit_price": Decimal("3.33"), "price_kind": "gross", "vat_rate": Decimal(23)},
        {"line_no": 2, "product_code": codes[1], "quantity": Decimal("1.5"),
         "unit_price": Decimal("10.01"), "price_kind": "gross", "vat_rate": Decimal(8)},
    ]
    bad = shop_orders(codes, start=10, count=1)
    bad[0]["lines"][0]["product_code"] = "NIE-MA-TAKIEGO"
    return good, bad
