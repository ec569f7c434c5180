"""The writer imports whole documents or nothing, never twice, with exact totals."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, select, text

from optsync.optima.operator import OperatorInfo
from optsync.optima.tables import OptimaTables, tables_for
from optsync.optima.writer import ImportResult, OptimaWriter, transactional

OPERATOR = OperatorInfo(7, "JKOWAL", "Jan Kowalski")


def order(external_id: str, *lines: tuple[str, Any, Any], **extra: Any) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "issued_at": "2026-03-02T10:15:00",
        "customer_code": "HURTOWNIA SPOZYWCZA",
        "currency": "PLN",
        "lines": [
            {
                "line_no": n,
                "product_code": code,
                "quantity": qty,
                "unit_price": price,
                "price_kind": "gross",
            }
            for n, (code, qty, price) in enumerate(lines, 1)
        ],
        **extra,
    }


@pytest.fixture
def writer(company: Engine, t: OptimaTables) -> OptimaWriter:
    return OptimaWriter(company, t, OPERATOR, namespace="test/eshop")


def headers(company: Engine, t: OptimaTables, klasa: int = 308) -> list[Any]:
    n = t.TraNag.c
    with company.connect() as conn:
        return (
            conn.execute(select(t.TraNag).where(n.TrN_TypDokumentu == klasa).order_by(n.TrN_TrNID))
            .mappings()
            .all()
        )


def lines_of(company: Engine, t: OptimaTables, trn_id: int) -> list[Any]:
    e = t.TraElem.c
    with company.connect() as conn:
        return (
            conn.execute(select(t.TraElem).where(e.TrE_TrNId == trn_id).order_by(e.TrE_Lp))
            .mappings()
            .all()
        )


def orphan_headers(company: Engine, t: OptimaTables) -> int:
    n, e = t.TraNag.c, t.TraElem.c
    with company.connect() as conn:
        return conn.scalar(
            select(func.count())
            .select_from(t.TraNag.outerjoin(t.TraElem, e.TrE_TrNId == n.TrN_TrNID))
            .where(e.TrE_TrEID.is_(None))
        )


def test_order_becomes_a_draft_ro_with_lines_and_totals_exact_to_the_grosz(writer, company, t):
    [result] = writer.import_orders(
        [order("WWW-1", ("MLEKO-UHT-32", 3, "3.33"), ("KAWA-LAV-1KG", 1, "74.99"))]
    )
    assert result.status == "imported" and result.erp_number == "RO/1/2026"
    [h] = headers(company, t)
    assert h["TrN_TrNID"] == result.erp_id
    assert (h["TrN_TypDokumentu"], h["TrN_Rodzaj"], h["TrN_Bufor"]) == (308, 308000, 1)
    assert h["TrN_RazemBrutto"] == Decimal("84.98")  # 3 x 3.33 = 9.99 exactly, + 74.99
    assert h["TrN_RazemNetto"] == Decimal("9.51") + Decimal("60.97")
    assert h["TrN_RazemVAT"] == h["TrN_RazemBrutto"] - h["TrN_RazemNetto"]
    assert h["TrN_ImportRowId"] and h["TrN_ImportAppId"] == "OSYNC"
    assert h["TrN_NumerObcy"] == "WWW-1"
    assert (h["TrN_OpeZalID"], h["TrN_OpeZalKod"], h["TrN_OpeZalNazwisko"]) == (
        7,
        "JKOWAL",
        "Jan Kowalski",
    )
    assert h["TrN_PodmiotTyp"] == 1 and h["TrN_PodNazwa1"].startswith("Hurtownia Spożywcza")
    assert h["TrN_PodMiasto"] == "Warszawa"
    assert h["TrN_DataDok"].isoformat() == "2026-03-02T00:00:00"
    lines = lines_of(company, t, result.erp_id)
    assert [(ln["TrE_TwrKod"], ln["TrE_Ilosc"], ln["TrE_WartoscBrutto"]) for ln in lines] == [
        ("MLEKO-UHT-32", Decimal(3), Decimal("9.99")),
        ("KAWA-LAV-1KG", Decimal(1), Decimal("74.99")),
    ]
    assert lines[0]["TrE_Stawka"] == Decimal(5) and lines[1]["TrE_Stawka"] == Decimal(23)


def test_numbers_continue_per_class_and_year(writer, company, t):
    results = writer.import_orders(
        [order(f"N{i}", ("BANANY", 1, 1)) for i in range(3)]
        + [order("Y", ("BANANY", 1, 1), issued_at="2027-01-02")]
    )
    assert [r.erp_number for r in results] == ["RO/1/2026", "RO/2/2026", "RO/3/2026", "RO/1/2027"]
    [again] = writer.import_orders([order("N9", ("BANANY", 1, 1))])
    assert again.erp_number == "RO/4/2026"


def test_unknown_product_rejects_only_its_order_and_names_the_code(writer, company, t):
    results = writer.import_orders(
        [
            order("A", ("BANANY", 1, "6.99")),
            order("B", ("BANANY", 1, "6.99"), ("NIE-MA-TAKIEGO", 2, "1.00")),
            order("C", ("JABLKA-SZAMPION", 2, "4.49")),
        ]
    )
    assert [r.status for r in results] == ["imported", "rejected", "imported"]
    assert "NIE-MA-TAKIEGO" in results[1].error
    assert len(headers(company, t)) == 2 and orphan_headers(company, t) == 0


def test_the_same_order_twice_is_a_duplicate_and_one_row(writer, company, t):
    first = writer.import_orders([order("DUP", ("BANANY", 2, "6.99"))])[0]
    again = writer.import_orders([order("DUP", ("BANANY", 2, "6.99"))])[0]
    assert again == ImportResult("duplicate", first.erp_id, first.erp_number)
    both = writer.import_orders(
        [order("TWICE", ("BANANY", 1, 1)), order("TWICE", ("BANANY", 1, 1))]
    )
    assert [r.status for r in both] == ["imported", "duplicate"]
    assert both[1].erp_id == both[0].erp_id
    assert len(headers(company, t)) == 2


def test_an_explicit_guid_is_the_import_row_id(writer, company, t):
    guid = "8d2b8a5e-6a3c-4c1e-9d6f-1f2e3d4c5b6a"
    writer.import_orders([order("G1", ("BANANY", 1, 1), guid=guid)])
    assert headers(company, t)[0]["TrN_ImportRowId"] == guid
    assert writer.import_orders([order("G1", ("BANANY", 1, 1), guid=guid)])[0].status == "duplicate"
    [other] = writer.import_orders([order("OTHER-ID", ("BANANY", 1, 1), guid=guid)])
    assert other.status == "rejected" and "RO/1/2026" in other.error and "G1" in other.error


def test_a_failure_mid_document_leaves_no_header_without_lines(writer, company, t):
    # An Optima-style trigger refuses one product after the header is already written.
    if company.dialect.name == "sqlite":
        ddl = [
            """CREATE TRIGGER boom BEFORE INSERT ON "TraElem" WHEN NEW."TrE_TwrKod" = 'BANANY'
                  BEGIN SELECT RAISE(ABORT, 'injected failure'); END"""
        ]
    else:
        ddl = [
            """CREATE FUNCTION "CDN".boom() RETURNS trigger LANGUAGE plpgsql AS $$
                  BEGIN IF NEW."TrE_TwrKod" = 'BANANY' THEN
                  RAISE EXCEPTION 'injected failure' USING ERRCODE = 'check_violation'; END IF;
                  RETURN NEW; END $$""",
            """CREATE TRIGGER boom BEFORE INSERT ON "CDN"."TraElem"
                  FOR EACH ROW EXECUTE FUNCTION "CDN".boom()""",
        ]
    with company.begin() as conn:
        for statement in ddl:
            conn.execute(text(statement))
    results = writer.import_orders(
        [
            order("OK-1", ("MLEKO-UHT-32", 1, 1)),
            order("BAD", ("MLEKO-UHT-32", 1, 1), ("BANANY", 1, 1)),
            order("OK-2", ("MLEKO-UHT-32", 2, 1)),
        ]
    )
    assert [r.status for r in results] == ["imported", "rejected", "imported"]
    assert "injected failure" in results[1].error
    assert [h["TrN_NumerObcy"] for h in headers(company, t)] == ["OK-1", "OK-2"]
    assert [r.erp_number for r in results if r.erp_number] == ["RO/1/2026", "RO/2/2026"]
    assert orphan_headers(company, t) == 0


def test_an_unexpected_error_rolls_back_the_whole_chunk(writer, company, t, monkeypatch):
    calls = []

    def explode(*args: Any) -> None:
        calls.append(args)
        if len(calls) == 2:
            raise RuntimeError("power cut")

    from optsync.optima.writer import documents

    monkeypatch.setattr(documents, "party", lambda customer: explode(customer) or {})
    with pytest.raises(RuntimeError):
        writer.import_orders([order("P1", ("BANANY", 1, 1)), order("P2", ("BANANY", 1, 1))])
    assert headers(company, t) == []


def test_savepoints_on_sqlite_do_not_commit_when_released(tmp_path):
    engine = transactional(create_engine(f"sqlite:///{tmp_path / 'sp.db'}"))
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE x (a INTEGER)"))
    with engine.connect() as conn:
        conn.begin()
        with conn.begin_nested():
            conn.execute(text("INSERT INTO x VALUES (1)"))
        conn.rollback()
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM x")) == 0


def test_invalid_lines_are_rejected_with_reasons(writer, company, t):
    results = writer.import_orders(
        [
            order("Q0", ("BANANY", 0, 1)),
            order("Q-", ("BANANY", "-1", 1)),
            order("NOPRICE", ("BANANY", 1, "-0.01")),
            order("KIND", ("BANANY", 1, 1))
            | {
                "lines": [
                    {
                        "product_code": "BANANY",
                        "quantity": 1,
                        "unit_price": 1,
                        "price_kind": "brutto",
                    }
                ]
            },
            order("NOLINES") | {"lines": []},
            order("NOCUST", ("BANANY", 1, 1), customer_code=None),
            order("BADCUST", ("BANANY", 1, 1), customer_code="NIKT"),
            order("", ("BANANY", 1, 1)),
            order("DATE", ("BANANY", 1, 1), issued_at="wczoraj"),
            order("LINENO") | {"lines": [{"line_no": "pierwsza", "product_code": "BANANY"}]},
            order("LINE") | {"lines": ["BANANY"]},
            ["not", "an", "object"],
        ]
    )
    assert all(r.status == "rejected" for r in results), results
    reasons = [r.error for r in results]
    assert "quantity must be positive" in reasons[0] and "quantity" in reasons[1]
    assert "unit_price" in reasons[2] and "price_kind" in reasons[3]
    assert "at least one line" in reasons[4] and "customer" in reasons[5] and "NIKT" in reasons[6]
    assert "external_id" in reasons[7] and "issued_at" in reasons[8]
    assert "line_no" in reasons[9] and "line" in reasons[10] and "object" in reasons[11]
    assert headers(company, t) == []


def test_a_line_without_a_price_takes_the_price_of_the_products_default_price_list(
    writer, company, t
):
    [result] = writer.import_orders([order("CARD", ("KAWA-LAV-1KG", 2, None))])
    assert result.status == "imported", result
    [line] = lines_of(company, t, result.erp_id)
    assert line["TrE_Cena0"] == Decimal("74.99")  # price list 1 (gross) of the sample catalogue
    assert line["TrE_WartoscBrutto"] == Decimal("149.98") and line["TrE_TypNB"] == 2


def test_net_prices_and_line_vat_rates(writer, company, t):
    rec = order("NET", ("BANANY", 1, 1))
    rec["lines"] = [
        {
            "product_code": "KAWA-LAV-1KG",
            "quantity": "2",
            "unit_price": "10.005",
            "price_kind": "net",
            "vat_rate": "8",
        }
    ]
    [r] = writer.import_orders([rec])
    [line] = lines_of(company, t, r.erp_id)
    assert (line["TrE_WartoscNetto"], line["TrE_WartoscBrutto"]) == (
        Decimal("20.01"),
        Decimal("21.61"),
    )
    assert line["TrE_Stawka"] == Decimal(8)


def test_inline_customer_is_matched_by_tax_id_or_created_once(writer, company, t):
    shop_buyer = {
        "customer_code": None,
        "customer_name": "Jan Nowak Usługi Remontowe",
        "customer_tax_id": "PL 526-104-08-28",
        "customer_street": "ul. Długa 5/3",
        "customer_postal_code": "31-147",
        "customer_city": "Kraków",
    }
    writer.import_orders(
        [
            order("I1", ("BANANY", 1, 1), **shop_buyer),
            order("I2", ("BANANY", 1, 1), **(shop_buyer | {"customer_tax_id": "5261040828"})),
        ]
    )
    hs = headers(company, t)
    assert hs[0]["TrN_PodID"] == hs[1]["TrN_PodID"]
    k = t.Kontrahenci.c
    with company.connect() as conn:
        knt = (
            conn.execute(select(t.Kontrahenci).where(k.Knt_KntId == hs[0]["TrN_PodID"]))
            .mappings()
            .one()
        )
    assert knt["Knt_Kod"] == "JAN NOWAK USLUGI"
    assert (knt["Knt_Ulica"], knt["Knt_NrDomu"], knt["Knt_NrLokalu"]) == ("ul. Długa", "5", "3")
    assert knt["Knt_OpeZalKod"] == "JKOWAL" and knt["Knt_OpeZalID"] == 7
    assert (hs[0]["TrN_PodUlica"], hs[0]["TrN_PodNrDomu"], hs[0]["TrN_PodNrLokalu"]) == (
        "ul. Długa", "5", "3"
    )


def test_receipts_are_draft_pa_documents_for_the_unknown_customer(writer, company, t):
    [r] = writer.import_receipts([order("PAR-1", ("BANANY", 1, "6.99"), customer_code=None)])
    assert r.status == "imported" and r.erp_number == "PA/4/2026"  # the sample holds PA/1, PA/2, draft PA/3
    [h] = [h for h in headers(company, t, 305) if h["TrN_TrNID"] == r.erp_id]
    assert (h["TrN_Rodzaj"], h["TrN_Bufor"], h["TrN_Detal"]) == (305000, 1, 1)
    assert h["TrN_PodNazwa1"] == "Nieokreślony"
    again = writer.import_orders([order("PAR-1", ("BANANY", 1, "6.99"))])[0]
    assert again.status == "imported"  # an order and a receipt may share an external id


def test_chunks_share_nothing_but_numbering(company, t):
    writer = OptimaWriter(company, t, OPERATOR, namespace="test/eshop", batch_size=3)
    results = writer.import_orders(
        [order(f"C{i}", ("BANANY", 1, 1)) for i in range(8)] + [order("C0", ("BANANY", 1, 1))]
    )
    assert [r.status for r in results] == ["imported"] * 8 + ["duplicate"]
    assert [r.erp_number for r in results][:8] == [f"RO/{i}/2026" for i in range(1, 9)]


def test_customers_match_by_guid_then_tax_id_else_get_a_unique_code(writer, company, t):
    results = writer.import_customers(
        [
            {
                "external_id": "K1",
                "name": "Hurtownia Spożywcza Nowa",
                "tax_id": "",
                "street": "ul. Polna 1",
                "city": "Opole",
            },
            {"external_id": "K1", "name": "Hurtownia Spożywcza Nowa (again)"},
            {"external_id": "K2", "name": "Hurtownia Spożywcza Inna"},
            {"external_id": "K3", "name": "Ktoś", "tax_id": "xx"},
            {"external_id": "K4"},
        ]
    )
    assert [r.status for r in results] == [
        "duplicate",  # of the later row of K1: the latest row of a customer is the one considered
        "imported",
        "imported",
        "imported",
        "rejected",
    ]
    assert results[1].erp_number == "HURTOWNIA SPOZYWCZ-2"  # the sample has HURTOWNIA SPOZYWCZA
    assert results[2].erp_number == "HURTOWNIA SPOZYWCZ-3"
    assert results[1].erp_id == results[0].erp_id and "name" in results[4].error
    with company.connect() as conn:
        kowalski_nip = conn.scalar(
            select(t.Kontrahenci.c.Knt_Nip).where(t.Kontrahenci.c.Knt_Kod == "HURTOWNIA SPOZYWCZA")
        )
    [by_tax] = writer.import_customers(
        [{"external_id": "K9", "name": "Kowalski", "tax_id": "PL" + kowalski_nip.replace("-", "")}]
    )
    assert by_tax.status == "duplicate" and by_tax.erp_number == "HURTOWNIA SPOZYWCZA"
    assert writer.import_customers([{"external_id": "K1", "name": "x"}])[0].status == "duplicate"


def test_products_upsert_by_code(writer, company, t):
    results = writer.import_products(
        [
            {
                "code": "NOWY-1",
                "name": "Nowy produkt",
                "vat_rate": "8",
                "unit": "kg",
                "ean": "5901234123457",
            },
            {"code": "BANANY", "name": "Banany ekologiczne", "active": 0},
            {"code": "", "name": "bez kodu"},
            {"code": "NOWY-1", "name": "Nowy produkt 2"},
        ]
    )
    assert [r.status for r in results] == ["imported", "imported", "rejected", "imported"]
    assert results[3].erp_id == results[0].erp_id
    w = t.Towary.c
    with company.connect() as conn:
        rows = {
            r.Twr_Kod: r
            for r in conn.execute(select(t.Towary).where(w.Twr_Kod.in_(["NOWY-1", "BANANY"])))
        }
    assert rows["NOWY-1"].Twr_Nazwa == "Nowy produkt 2" and rows["NOWY-1"].Twr_Stawka == Decimal(23)
    assert rows["NOWY-1"].Twr_OpeZalID == 7
    assert rows["BANANY"].Twr_Nazwa == "Banany ekologiczne" and rows["BANANY"].Twr_NieAktywny == 1


def test_prices_upsert_and_reject_unknown_products_and_price_lists(writer, company, t):
    writer.import_products([{"code": "NOWY-1", "name": "Nowy produkt"}])
    results = writer.import_prices(
        [
            {"product_code": "BANANY", "price_list": 2, "value": "5.55", "currency": "PLN"},
            {"product_code": "NOWY-1", "price_list": 1, "value": "9.99"},
            {"product_code": "NIE-MA", "price_list": 1, "value": "1"},
            {"product_code": "BANANY", "price_list": 42, "value": "1"},
            {"product_code": "BANANY", "price_list": 1, "value": "-1"},
        ]
    )
    assert [r.status for r in results] == [
        "imported",
        "imported",
        "rejected",
        "rejected",
        "rejected",
    ]
    assert "NIE-MA" in results[2].error and "42" in results[3].error
    c, w = t.TwrCeny.c, t.Towary.c
    with company.connect() as conn:
        got = conn.execute(
            select(w.Twr_Kod, c.TwC_TwCNumer, c.TwC_Wartosc)
            .select_from(t.TwrCeny.join(t.Towary, c.TwC_TwrID == w.Twr_TwrId))
            .where(w.Twr_Kod.in_(["BANANY", "NOWY-1"]), c.TwC_TwCNumer.in_([1, 2]))
        ).all()
    values = {(code, lp): value for code, lp, value in got}
    assert values[("BANANY", 2)] == Decimal("5.55") and values[("NOWY-1", 1)] == Decimal("9.99")
    assert sum(1 for key in values if key == ("BANANY", 2)) == 1


def test_a_statement_on_the_driver_fails_as_sqlalchemy_would_say_and_its_savepoint_undoes_it(
        company, t):
    from sqlalchemy import func, select
    from sqlalchemy.exc import IntegrityError

    from optsync.optima.writer.batch import driver_execute, on_driver, savepoint, transactional

    engine = transactional(company)
    table = t.DefCeny
    name = f'"{table.schema}"."DefCeny"' if table.schema else '"DefCeny"'
    with engine.begin() as conn:
        assert on_driver(conn)
        before = conn.execute(select(func.count()).select_from(table)).scalar_one()
        (lp,) = conn.execute(select(table.c.DfC_DfCId)).first()
        sql = f'INSERT INTO {name} ("DfC_DfCId") VALUES ({lp})'  # its key is taken
        with pytest.raises(IntegrityError) as caught, savepoint(conn, direct=True):
            conn.exec_driver_sql(f'UPDATE {name} SET "DfC_Nazwa" = \'zmiana\'')
            driver_execute(conn, sql).close()
        assert not caught.value.connection_invalidated
        assert conn.execute(select(func.count()).select_from(table)).scalar_one() == before
        assert "zmiana" not in set(conn.execute(select(table.c.DfC_Nazwa)).scalars())


def test_a_record_whose_failure_undoes_the_whole_transaction_fails_its_chunk(tmp_path):
    """A trigger that rolls back the whole transaction (as an error inside a trigger does on
    SQL Server) must not leave the records before it reported as imported and lost."""
    from optsync.demo import sample
    from optsync.optima.writer.batch import SavepointLost

    url = f"sqlite:///{tmp_path / 'optima.db'}"
    sample.create_company_db(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TRIGGER refuse BEFORE INSERT ON Towary WHEN NEW.Twr_Kod = 'ZLY' "
            "BEGIN SELECT RAISE(ROLLBACK, 'refused by a trigger'); END")
    t = tables_for(engine)
    writer = OptimaWriter(engine, t, OPERATOR, namespace="test/eshop")
    products = [{"code": code, "name": code} for code in ("DOBRY-1", "ZLY", "DOBRY-2")]
    with pytest.raises(SavepointLost, match="could not be undone"):
        writer.import_products(products)
    with engine.connect() as conn:
        codes = set(conn.execute(select(t.Towary.c.Twr_Kod)).scalars())
    assert not codes & {"DOBRY-1", "ZLY", "DOBRY-2"}  # nothing half-written
    # without the trigger the same chunk lands whole
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER refuse")
    assert {r.status for r in writer.import_products(products)} == {"imported"}
    engine.dispose()
