"""Sample databases are deterministic, Optima-shaped and never overwrite data."""

from __future__ import annotations

import json
from decimal import Decimal
from importlib import resources
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from optsync.demo import sample
from optsync.errors import BadInput
from optsync.optima import reader
from optsync.optima.inbound import import_guid, tax_digits
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


def test_the_sample_data_is_the_demo_packages_catalogue_resource(company, t):
    catalogue = json.loads(
        (resources.files("optsync.demo") / "data" / "catalogue.json").read_text(encoding="utf-8")
    )
    w, c, k = t.Towary.c, t.TwrCeny.c, t.Kontrahenci.c
    with company.connect() as conn:
        products = conn.execute(
            select(w.Twr_Kod, w.Twr_Nazwa, w.Twr_JM, w.Twr_Stawka, c.TwC_Wartosc)
            .join(t.TwrCeny, (c.TwC_TwrID == w.Twr_TwrId) & (c.TwC_TwCNumer == 1))
            .order_by(w.Twr_TwrId)
        ).all()
        price_lists = conn.execute(
            select(t.DefCeny.c.DfC_Lp, t.DefCeny.c.DfC_Nazwa).order_by(t.DefCeny.c.DfC_Lp)
        ).all()
        definitions = set(conn.execute(select(t.DokDefinicje.c.DDf_Klasa, t.DokDefinicje.c.DDf_Symbol)))
        warehouses = set(conn.scalars(select(t.Magazyny.c.Mag_Symbol)))
        customers = set(conn.scalars(select(k.Knt_Nazwa1)))
    assert [(p[0], p[1], p[2], int(p[3]), Decimal(p[4]).quantize(Decimal("0.01"))) for p in products] == [
        (p["code"], p["name"], p["unit"], p["vat_rate"], Decimal(p["retail_price"]))
        for p in catalogue["products"]
    ]
    assert price_lists == [(p["number"], p["name"]) for p in catalogue["price_lists"]]
    assert definitions == {(d["class"], d["symbol"]) for d in catalogue["document_definitions"]}
    assert warehouses == {w["symbol"] for w in catalogue["warehouses"]}
    assert {c["name1"] for c in catalogue["customers"]} <= customers


def test_the_draft_receipt_is_written_by_the_writer_as_imported_receipts_are(company, t):
    n, e, d = t.TraNag.c, t.TraElem.c, t.DokDefinicje.c
    with company.connect() as conn:
        drafts = conn.execute(select(t.TraNag).where(n.TrN_Bufor == 1)).mappings().all()
        pa_definition = conn.scalar(select(d.DDf_DDfID).where(d.DDf_Klasa == 305))
        [draft] = drafts
        lines = conn.execute(select(t.TraElem).where(e.TrE_TrNId == draft["TrN_TrNID"])).mappings().all()
    assert (draft["TrN_TypDokumentu"], draft["TrN_Rodzaj"], draft["TrN_Detal"]) == (305, 305000, 1)
    assert (draft["TrN_NumerString"], draft["TrN_NumerNr"]) == ("PA/@numerS/2026", 3)  # after PA/1, PA/2
    # the writer's marks: the till's application id and the GUID of its external id, the
    # document definition of its class, the exchange rate 1/1 of the home currency
    assert draft["TrN_ImportAppId"] == sample.DRAFT_APP_ID
    assert draft["TrN_NumerObcy"] == "KASA2/PAR/0006"
    assert draft["TrN_ImportRowId"] == import_guid("sample", "receipts", "KASA2/PAR/0006")
    assert draft["TrN_DDfId"] == pa_definition
    assert (draft["TrN_KursNumer"], draft["TrN_KursL"], draft["TrN_KursM"]) == (3, 1, 1)
    assert draft["TrN_PodNazwa1"] == "Nieokreślony" and draft["TrN_OpeZalKod"] == "ADMIN"
    assert lines and all(line["TrE_KursNumer"] == 3 and line["TrE_TypNB"] == 1 for line in lines)
    assert sum(line["TrE_WartoscBrutto"] for line in lines) == draft["TrN_RazemBrutto"]


def test_the_optima_adapter_holds_no_demo_data():
    adapter = Path(reader.__file__).parent
    assert not (adapter / "sample.py").exists()
    for module in adapter.rglob("*.py"):
        text = module.read_text(encoding="utf-8")
        assert "optsync.demo" not in text and "from optsync import demo" not in text, module
