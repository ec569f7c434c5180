"""Imports into tables of the real Optima shape: every column, Optima's own values.

The databases here are built from the full column list of a real install (SQLite and, where a
server answers, PostgreSQL), so a row missing a NOT NULL column is refused as on a real Optima.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, func, insert, inspect, select, text, update

from optsync.demo import sample
from optsync.optima import columns
from optsync.optima.operator import OperatorInfo
from optsync.optima.rows import static_shape
from optsync.optima.tables import COMPANY_TABLES, CONFIG_TABLES, OptimaTables, tables_for
from optsync.optima.writer import OptimaWriter
from optsync.optima.writer import numbering as numbering_module

OPERATOR = OperatorInfo(7, "JKOWAL", "Jan Kowalski")


def one(engine: Engine, table: Any, *where: Any) -> dict[str, Any]:
    with engine.connect() as conn:
        return dict(conn.execute(select(table).where(*where)).mappings().one())


def rows(engine: Engine, table: Any, *where: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table).where(*where)).mappings()]


def order(external_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "issued_at": "2026-03-02T10:15:00",
        "lines": [
            {"line_no": 1, "product_code": "MLEKO-UHT-32", "quantity": 3, "unit_price": "3.33",
             "price_kind": "gross"},
            {"line_no": 2, "product_code": "KAWA-LAV-1KG", "quantity": 1, "unit_price": "74.99",
             "price_kind": "gross"},
        ],
        **extra,
    }


@pytest.fixture
def writer(company: Engine, t: OptimaTables) -> OptimaWriter:
    return OptimaWriter(company, t, OPERATOR, namespace="shop")


def test_created_databases_have_exactly_the_columns_nullability_and_defaults_of_the_list(company):
    inspector = inspect(company)
    schema = tables_for(company).schema
    for name in CONFIG_TABLES + COMPANY_TABLES:
        if name in CONFIG_TABLES:
            continue  # a company database holds the company tables only
        specs = columns.column_map(name)
        reflected = {c["name"]: c for c in inspector.get_columns(name, schema=schema)}
        assert set(reflected) == set(specs), name
        for col_name, spec in specs.items():
            col = reflected[col_name]
            nullable = True if spec.computed else spec.nullable
            assert col["nullable"] == nullable, (name, col_name)
            if spec.identity:
                continue
            listed = spec.default_value()
            default = col["default"]
            if listed is None or spec.computed:
                assert default is None, (name, col_name, default)
            elif isinstance(listed, str):
                assert default is not None and f"'{listed}'" in default, (name, col_name, default)
            elif listed is columns.NOW:
                assert "CURRENT_TIMESTAMP" in default.upper(), (name, col_name, default)
            elif listed is not columns.NEWID:
                assert default is not None and str(listed) in default, (name, col_name, default)
    for index in ("TwrTSMod", "KntTSMod", "TrNTSMod"):
        for name in ("Towary", "Kontrahenci", "TraNag"):
            assert index not in {i["name"] for i in inspector.get_indexes(name, schema=schema)}
    traNag = {i["name"]: i for i in inspector.get_indexes("TraNag", schema=schema)}
    assert traNag["TrNTypNUmer"]["unique"] and traNag["TrNGUID"]["unique"]


def test_a_created_configuration_database_has_the_list_columns(db_url):
    sample.create_config_db(db_url, [("Firma", "CDN_Firma", True)], [("ADMIN", "Admin", False)])
    engine = create_engine(db_url)
    schema = tables_for(engine).schema
    for name in CONFIG_TABLES:
        got = {c["name"] for c in inspect(engine).get_columns(name, schema=schema)}
        assert got == set(columns.column_map(name)), name
    engine.dispose()


def test_an_order_with_a_new_customer_carries_optimas_own_values(writer, company, t):
    [result] = writer.import_orders(
        [order("WWW-1", customer_name="Jan Nowak Usługi", customer_tax_id="PL 123-456-32-18",
               customer_street="ul. Długa 5/3", customer_city="Kraków",
               customer_postal_code="30-001")]
    )
    assert result.status == "imported", result
    n, e, k = t.TraNag.c, t.TraElem.c, t.Kontrahenci.c
    h = one(company, t.TraNag, n.TrN_TrNID == result.erp_id)
    assert (h["TrN_TypDokumentu"], h["TrN_Rodzaj"], h["TrN_Bufor"]) == (308, 308000, 1)
    assert result.erp_number == "RO/1/2026"  # the company's series: @symbol/@numerS/@rok
    assert (h["TrN_NumerString"], h["TrN_NumerNr"]) == ("RO/@numerS/2026", 1)
    assert h["TrN_DDfId"] is not None
    assert (h["TrN_KursL"], h["TrN_KursM"], h["TrN_KursNumer"]) == (1, 1, 3)
    assert h["TrN_DataKur"] == h["TrN_DataDok"] == datetime(2026, 3, 2)
    assert h["TrN_Termin"] == h["TrN_DataWys"] == h["TrN_DataOpe"] == datetime(2026, 3, 2)
    assert h["TrN_TypNB"] == 2  # the lines are priced gross
    assert h["TrN_Waluta"] == "PLN"
    assert h["TrN_RazemBrutto"] == Decimal("84.98") == h["TrN_RazemBruttoWal"]
    knt = one(company, t.Kontrahenci, k.Knt_KntId == h["TrN_PodID"])
    assert knt["Knt_Kod"] == "JAN NOWAK USLUGI" and knt["Knt_ImportRowId"]
    assert (knt["Knt_PodatekVat"], knt["Knt_Finalny"], knt["Knt_Rodzaj_Odbiorca"]) == (1, 0, 1)
    assert knt["Knt_eSklepZrodlo"] == 7 and knt["Knt_FCzynnosci"] == 1  # the listed defaults
    for side in ("Pod", "Odb"):
        assert h[f"TrN_{side}Nazwa1"] == "Jan Nowak Usługi"
        assert (h[f"TrN_{side}Ulica"], h[f"TrN_{side}NrDomu"], h[f"TrN_{side}NrLokalu"]) == (
            "ul. Długa", "5", "3")
        assert h[f"TrN_{side}Miasto"] == "Kraków"
    assert h["TrN_OdbID"] == h["TrN_PodID"] and h["TrN_OdbiorcaTyp"] == h["TrN_PodmiotTyp"] == 1
    for who in ("Zal", "Mod"):
        assert (h[f"TrN_Ope{who}ID"], h[f"TrN_Ope{who}Kod"], h[f"TrN_Ope{who}Nazwisko"]) == (
            7, "JKOWAL", "Jan Kowalski")
    assert h["TrN_KSeFTypSrodowiska"] == -1  # a listed default, named explicitly
    lines = rows(company, t.TraElem, e.TrE_TrNId == result.erp_id)
    assert len(lines) == 2
    for line in lines:
        assert line["TrE_TypNB"] == 2 and line["TrE_Flaga"] == 2
        assert (line["TrE_JMPrzelicznikL"], line["TrE_JMPrzelicznikM"]) == (1, 1)
        assert (line["TrE_KursL"], line["TrE_KursM"]) == (1, 1)
        assert line["TrE_Jm"] == line["TrE_JmZ"] == "szt"
        assert line["TrE_IloscJM"] == line["TrE_Ilosc"]
        assert line["TrE_CzySaCechyWymagane"] == -1 and line["Tre_UstawAtrSQLDokTyp"] == 1
    milk = next(ln for ln in lines if ln["TrE_TwrKod"] == "MLEKO-UHT-32")
    assert milk["TrE_Stawka"] == 5 and milk["TrE_Cena0"] == Decimal("3.33")  # gross, as kept


def test_an_order_for_an_existing_customer_copies_buyer_and_recipient(writer, company, t):
    [result] = writer.import_orders([order("WWW-2", customer_code="HURTOWNIA SPOZYWCZA")])
    assert result.status == "imported", result
    n, k = t.TraNag.c, t.Kontrahenci.c
    h = one(company, t.TraNag, n.TrN_TrNID == result.erp_id)
    knt = one(company, t.Kontrahenci, k.Knt_Kod == "HURTOWNIA SPOZYWCZA")
    assert h["TrN_PodID"] == h["TrN_OdbID"] == knt["Knt_KntId"]
    for column in ("Nazwa1", "Nazwa2", "Ulica", "NrDomu", "NrLokalu", "KodPocztowy", "Miasto"):
        assert h[f"TrN_Pod{column}"] == h[f"TrN_Odb{column}"] == knt[f"Knt_{column}"], column


def test_a_receipt_without_a_customer_goes_to_the_anonymous_buyer(writer, company, t):
    receipt = order("PAR-1")
    receipt["lines"][0]["vat_rate"] = "zw"
    n, e = t.TraNag.c, t.TraElem.c
    with company.connect() as conn:  # the sample company has approved receipts of 2026
        last = conn.scalar(select(func.max(n.TrN_NumerNr)).where(n.TrN_NumerString == "PA/@numerS/2026"))
    [result] = writer.import_receipts([receipt])
    assert result.status == "imported" and result.erp_number == f"PA/{last + 1}/2026"
    h = one(company, t.TraNag, n.TrN_TrNID == result.erp_id)
    assert (h["TrN_TypDokumentu"], h["TrN_Bufor"], h["TrN_Detal"]) == (305, 1, 1)
    assert h["TrN_PodNazwa1"] == "Nieokreślony" and h["TrN_OdbID"] == h["TrN_PodID"]
    flags = {ln["TrE_TwrKod"]: (ln["TrE_Flaga"], ln["TrE_Stawka"])
             for ln in rows(company, t.TraElem, e.TrE_TrNId == result.erp_id)}
    assert flags == {"MLEKO-UHT-32": (1, 0), "KAWA-LAV-1KG": (2, 23)}  # exempt, taxed


def test_a_document_mixing_net_and_gross_lines_is_rejected_with_the_reason(writer):
    mixed = order("MIX")
    mixed["lines"][1]["price_kind"] = "net"
    [result] = writer.import_receipts([mixed])
    assert result.status == "rejected" and "mixes net and gross" in result.error


def test_net_lines_make_a_document_computed_from_net(writer, company, t):
    net = order("NET", customer_code="HURTOWNIA SPOZYWCZA")
    for line in net["lines"]:
        line["price_kind"] = "net"
    [result] = writer.import_orders([net])
    h = one(company, t.TraNag, t.TraNag.c.TrN_TrNID == result.erp_id)
    assert h["TrN_TypNB"] == 1
    assert {ln["TrE_TypNB"] for ln in rows(company, t.TraElem, t.TraElem.c.TrE_TrNId == h["TrN_TrNID"])} == {1}


def test_a_customer_and_a_head_office_product_and_price_are_accepted(writer, company, t):
    [c] = writer.import_customers([{"external_id": "K1", "name": "Sklep Pod Lipą", "city": "Gdańsk"}])
    assert c.status == "imported"
    knt = one(company, t.Kontrahenci, t.Kontrahenci.c.Knt_KntId == c.erp_id)
    assert (knt["Knt_Finalny"], knt["Knt_PodatekVat"], knt["Knt_OpeZalKod"]) == (1, 0, "JKOWAL")
    [p] = writer.import_products([{"code": "NOWY-1", "name": "Nowy towar", "vat_rate": 8, "unit": "kg"}])
    assert p.status == "imported"
    twr = one(company, t.Towary, t.Towary.c.Twr_TwrId == p.erp_id)
    assert (twr["Twr_JMPrzelicznikL"], twr["Twr_JMPrzelicznikM"], twr["Twr_Mobile"]) == (1, 1, 1)
    assert (twr["Twr_Stawka"], twr["Twr_StawkaZak"], twr["Twr_Flaga"]) == (8, 8, 2)
    assert (twr["Twr_OpeZalKod"], twr["Twr_TS_Zal"] is not None) == ("JKOWAL", True)
    zero_prices = rows(company, t.TwrCeny, t.TwrCeny.c.TwC_TwrID == p.erp_id)
    assert sorted(r["TwC_TwCNumer"] for r in zero_prices) == [1, 2, 3]  # every price list
    [price] = writer.import_prices([{"product_code": "NOWY-1", "price_list": 1, "value": "9.99"}])
    assert price.status == "imported"
    row = one(company, t.TwrCeny, t.TwrCeny.c.TwC_TwCID == price.erp_id)
    assert (row["TwC_Wartosc"], row["TwC_Typ"]) == (Decimal("9.99"), 2)  # list 1 is gross


def test_stamps_come_from_the_database_servers_clock(company, t):
    if company.dialect.name != "postgresql":
        pytest.skip("SQLite's clock is the host's; PostgreSQL's session time zone shows the difference")
    engine = create_engine(company.url)

    @event.listens_for(engine, "connect")
    def far_away(dbapi_conn: Any, _: Any) -> None:
        with dbapi_conn.cursor() as cur:
            cur.execute("SET TIME ZONE 'Pacific/Kiritimati'")  # UTC+14: no host runs there
        dbapi_conn.commit()

    with engine.connect() as conn:
        server = conn.scalar(text("SELECT LOCALTIMESTAMP"))
    writer = OptimaWriter(engine, t, OPERATOR, namespace="shop")
    [result] = writer.import_orders([order("CLOCK", customer_code="HURTOWNIA SPOZYWCZA")])
    h = one(company, t.TraNag, t.TraNag.c.TrN_TrNID == result.erp_id)
    assert abs((h["TrN_TS_Zal"] - server).total_seconds()) < 60
    assert abs((h["TrN_TS_Zal"] - datetime.now()).total_seconds()) > 3600
    engine.dispose()


def test_numbers_follow_the_definitions_scheme(writer, company, t):
    d = t.DokDefinicje.c
    with company.begin() as conn:
        conn.execute(update(t.DokDefinicje).where(d.DDf_Klasa == 308)
                     .values(DDf_Numeracja="@symbol/@miesiac/@rok/@numer", DDf_Symbol="ZAM"))
    results = writer.import_orders([order(f"S{i}", customer_code="HURTOWNIA SPOZYWCZA") for i in range(2)])
    assert [r.erp_number for r in results] == ["ZAM/03/2026/1", "ZAM/03/2026/2"]


def test_a_number_taken_between_choice_and_write_is_retried_without_a_duplicate(
    writer, company, t, monkeypatch
):
    """An Optima user saves an order right after optsync chose its number."""
    original = numbering_module.Numbers.next
    competitor = create_engine(company.url)
    calls: list[int] = []

    def next_then_compete(self: Any, conn: Any, klasa: int, numer_string: str) -> int:
        number = original(self, conn, klasa, numer_string)
        calls.append(number)
        if len(calls) in (1, 3):  # the first choice for each of the two orders
            row = sample_document(numer_string, number, f"USER-{number}")
            if company.dialect.name == "sqlite":  # the write lock is ours: the user's save
                conn.execute(insert(static_shape(t.TraNag).table), row)  # goes in on our connection
            else:
                with competitor.begin() as other:
                    other.execute(insert(static_shape(t.TraNag).table), row)
        return number

    monkeypatch.setattr(numbering_module.Numbers, "next", next_then_compete)
    results = writer.import_orders([order("A", customer_code="HURTOWNIA SPOZYWCZA"),
                                    order("B", customer_code="HURTOWNIA SPOZYWCZA")])
    competitor.dispose()
    assert [r.status for r in results] == ["imported", "imported"]
    n = t.TraNag.c
    numbers = sorted(r["TrN_NumerNr"] for r in rows(company, t.TraNag, n.TrN_TypDokumentu == 308))
    assert numbers == [1, 2, 3, 4]  # no duplicate, no gap: the users got 1 and 3
    assert [r.erp_number for r in results] == ["RO/2/2026", "RO/4/2026"]


def sample_document(numer_string: str, number: int, external: str) -> dict[str, Any]:
    day = datetime(2026, 3, 2)
    return sample.complete_row(
        "TraNag",
        {"TrN_TypDokumentu": 308, "TrN_Rodzaj": 308000, "TrN_Bufor": 1, "TrN_NumerString": numer_string,
         "TrN_NumerNr": number, "TrN_NumerObcy": external, "TrN_DataDok": day, "TrN_DataWys": day,
         "TrN_DataOpe": day, "TrN_Termin": day, "TrN_DataKur": day, "TrN_TS_Zal": day, "TrN_TS_Mod": day,
         "TrN_Waluta": "PLN"},
    )


# Columns an older Optima lacks (each release adds some): none of them is needed.
OLDER = {
    "TraNag": ("TrN_KSeFStatus", "TrN_KSeFTypSrodowiska", "TrN_NrKSeF", "TrN_TypNB", "TrN_DataKur",
               "TrN_OdbNazwa3", "TrN_PodNazwa3", "Trn_WszystkoPlSyncho", "TrN_OpeModKod"),
    "TraElem": ("TrE_TypNB", "TrE_Flaga", "TrE_JmZ", "TrE_OplataCukrowaNumerPartiiTowaru",
                "Tre_UstawAtrSQL", "TrE_SJRodzajPaliwa"),
    "Kontrahenci": ("Knt_eSklepZrodlo", "Knt_Nazwa3", "Knt_KrajISO", "Knt_WindykacjaEMail"),
    "Towary": ("Twr_Akcyza", "Twr_SJRodzajPaliwa", "Twr_ESklepStatus", "Twr_StawkaZak"),
    "TwrCeny": ("TwC_Punkty",),
}


def test_the_same_imports_work_on_an_older_narrower_optima(company, t):
    with company.begin() as conn:
        for table, dropped in OLDER.items():
            name = f'"{t.schema}"."{table}"' if t.schema else f'"{table}"'
            for column in dropped:
                conn.execute(text(f'ALTER TABLE {name} DROP COLUMN "{column}"'))
    warnings: list[str] = []
    writer = OptimaWriter(company, t, OPERATOR, namespace="shop", warn=warnings.append)
    new_customer = order("OLD-1", customer_name="Anna Stara", customer_tax_id="5252248481")
    assert writer.import_orders([new_customer])[0].status == "imported"
    assert writer.import_orders([order("OLD-2", customer_code="HURTOWNIA SPOZYWCZA")])[0].status == "imported"
    assert writer.import_receipts([order("OLD-3")])[0].status == "imported"
    assert writer.import_customers([{"external_id": "K", "name": "Klient"}])[0].status == "imported"
    assert writer.import_products([{"code": "OLD-P", "name": "Stary"}])[0].status == "imported"
    assert writer.import_prices([{"product_code": "OLD-P", "price_list": 2, "value": 1}])[0].status == "imported"
    assert warnings == []


def test_a_not_null_column_the_list_does_not_know_gets_a_neutral_value_and_one_warning(company, t):
    name = f'"{t.schema}"."TraNag"' if t.schema else '"TraNag"'
    with company.begin() as conn:
        conn.execute(text(f'ALTER TABLE {name} ADD COLUMN "TrN_NowaFlaga2030" smallint NOT NULL DEFAULT 0'))
        if company.dialect.name == "postgresql":  # a real install may declare no default at all
            conn.execute(text(f'ALTER TABLE {name} ALTER COLUMN "TrN_NowaFlaga2030" DROP DEFAULT'))
    warnings: list[str] = []
    writer = OptimaWriter(company, t, OPERATOR, namespace="shop", warn=warnings.append)
    results = writer.import_orders([order(f"NEW-{i}", customer_code="HURTOWNIA SPOZYWCZA") for i in range(3)])
    assert {r.status for r in results} == {"imported"}
    assert len(warnings) == 1 and "TrN_NowaFlaga2030" in warnings[0]


def test_a_table_changed_between_two_passes_is_written_as_it_is_now(company, t):
    """Shapes are reused only for a database that reports the same columns: a column added
    or dropped after one pass is seen by the next."""
    first = OptimaWriter(company, t, OPERATOR, namespace="shop")
    assert first.import_orders([order("BEFORE", customer_code="HURTOWNIA SPOZYWCZA")])[0].status == "imported"
    name = f'"{t.schema}"."TraNag"' if t.schema else '"TraNag"'
    with company.begin() as conn:
        conn.execute(text(f'ALTER TABLE {name} ADD COLUMN "TrN_NowaData2031" varchar(8) NOT NULL DEFAULT \'x\''))
        conn.execute(text(f'ALTER TABLE {name} DROP COLUMN "TrN_Opis"'))
    warnings: list[str] = []
    second = OptimaWriter(company, t, OPERATOR, namespace="shop", warn=warnings.append)
    result = second.import_orders([order("AFTER", customer_code="HURTOWNIA SPOZYWCZA")])[0]
    assert result.status == "imported", result
    assert len(warnings) == 1 and "TrN_NowaData2031" in warnings[0]
    with company.connect() as conn:
        assert conn.execute(text(f'SELECT "TrN_NowaData2031" FROM {name} WHERE "TrN_TrNID" = :i'),
                            {"i": result.erp_id}).scalar() == "x"


def test_tables_are_built_when_first_used_once_whichever_thread_asks_first():
    import threading

    from optsync.optima.tables import COMPANY_TABLES, OptimaTables

    t = OptimaTables("CDN", True)
    assert not t.metadata.tables  # nothing built before use
    seen: list = []
    threads = [threading.Thread(target=lambda: seen.append(t.Towary)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(table) for table in seen}) == 1
    assert list(t.metadata.tables) == ["CDN.Towary"]
    assert len(t.company_tables()) == len(COMPANY_TABLES)
    with pytest.raises(AttributeError):
        t.NieMaTakiej  # noqa: B018 - not an Optima table
