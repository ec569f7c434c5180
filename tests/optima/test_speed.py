"""The benchmark's import (10,000 orders of 5 lines) lands whole; run apart.

Its speed is the benchmark's to measure (``python bench/bench.py --only import``, 1,000
orders/s or more): a time limit here would fail on a busy machine, not on slow code.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from optsync.demo import sample
from optsync.optima.operator import OperatorInfo
from optsync.optima.tables import tables_for
from optsync.optima.writer import OptimaWriter


@pytest.mark.slow
def test_importing_10000_orders_of_5_lines_on_sqlite(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'bench.db'}"
    sample.bulk_company_db(url, 10_000)
    engine = create_engine(url)
    t = tables_for(engine)
    with engine.begin() as conn:
        sample.insert_complete(conn, t.Kontrahenci, [{"Knt_Kod": "SKLEP1", "Knt_Nazwa1": "Sklep"}])
    writer = OptimaWriter(engine, t, OperatorInfo(1, "ADMIN", "Admin"), namespace="bench")
    orders = [
        {
            "external_id": f"O{i}",
            "issued_at": "2026-03-01",
            "customer_code": "SKLEP1",
            "lines": [
                {
                    "line_no": j + 1,
                    "product_code": f"P{(i * 5 + j) % 10_000 + 1:07d}",
                    "quantity": j + 1,
                    "unit_price": "3.33",
                    "price_kind": "gross",
                }
                for j in range(5)
            ],
        }
        for i in range(10_000)
    ]
    results = writer.import_orders(orders)
    assert {r.status for r in results} == {"imported"}
    assert len({r.erp_id for r in results}) == len(orders)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(t.TraElem)) == 50_000
        assert conn.scalar(select(func.count()).select_from(t.TraNag)) >= len(orders)
