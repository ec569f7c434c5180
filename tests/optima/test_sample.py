"""Sample databases are deterministic, Optima-shaped and never overwrite data."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from optsync.errors import BadInput
from optsync.optima import reader, sample
from optsync.optima.inbound import tax_digits
from optsync.optima.tables import schema_for, tables_for


def dump(url: str) -> list[list[dict]]:
    engine = create_engine(url)
    t = tables_for(engine)
    with engine.connect() as conn:
        out = [
            [r for b in fn(conn, t) for r in b]
            for fn in (
                reader.read_products,
                reader.read_prices,
                reader.read_stock,
                reader.read_customers,
                reader.read_documents,
            )
        ]
    engine.dispose()
    return out


def test_the_same_seed_gives_the_same_data(tmp_path: Path):
    urls = [f"sqlite:///{tmp_path / f'{n}.db'}" for n in ("a", "b", "c")]
    sample.create_company_db(urls[0], seed=3)
    sample.create_company_db(urls[1], seed=3)
    sample.create_company_db(urls[2], seed=4)
    assert dump(urls[0]) == dump(urls[1])
    assert dump(urls[0]) != dump(urls[2])


def test_sample_nips_are_valid(company, t):
    with company.connect() as conn:
        nips = [tax_digits(n) for n in conn.scalars(select(t.Kontrahenci.c.Knt_Nip)) if n]
    assert len(nips) == 15
    assert all(sample.nip_check_digit(n[:9]) == int(n[9]) for n in nips)


def test_a_database_with_optima_data_is_refused(company, db_url):
    with pytest.raises(BadInput):
        sample.create_company_db(db_url)


def test_bulk_database_has_n_of_each(db_url):
    sample.bulk_company_db(db_url, 2500, chunk=1000)
    engine = create_engine(db_url)
    t = tables_for(engine)
    with engine.connect() as conn:
        counts = [
            conn.scalar(select(func.count()).select_from(x))
            for x in (t.Towary, t.TwrCeny, t.TwrIlosci)
        ]
        assert sum(len(b) for b in reader.read_stock(conn, t)) == 2500
    assert counts == [2500, 2500, 2500]
    engine.dispose()


def test_schema_is_cdn_except_on_sqlite():
    assert schema_for("sqlite") is None
    assert schema_for("postgresql") == schema_for("mssql") == "CDN"
