"""Bad inbound data on the writer's side: one bad record never blocks the others, nothing
out of range reaches Optima, and a dry run finds the same rejects as a real import."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, func, select

from optsync.demo import sample
from optsync.optima import columns
from optsync.optima.operator import OperatorInfo
from optsync.optima.tables import OptimaTables, tables_for
from optsync.optima.writer import OptimaWriter

OPERATOR = OperatorInfo(7, "JKOWAL", "Jan Kowalski")


def order(external_id: str, *lines: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "issued_at": "2026-03-02",
        "customer_code": "HURTOWNIA SPOZYWCZA",
        "lines": list(lines) or [line()],
        **extra,
    }


def line(**extra: Any) -> dict[str, Any]:
    return {"product_code": "BANANY", "quantity": "2", "unit_price": "6.99", "price_kind": "gross",
            **extra}


@pytest.fixture
def writer(company: Engine, t: OptimaTables) -> OptimaWriter:
    return OptimaWriter(company, t, OPERATOR, namespace="shop")


POISON = {
    "huge exponent": line(quantity="1e999999999"),
    "thousands of digits": line(quantity=int("9" * 3000)),
    "an object": line(quantity={"a": [1, 2, {"b": None}]}),
    "a list": line(unit_price=[1, 2]),
    "NaN": line(quantity=float("nan")),
    "infinity": line(unit_price="Infinity"),
    "a price of 1e30": line(unit_price="1e30"),
    "a unit price of 1.2e19": line(unit_price=1.2e19),
    "a quantity of 1e20": line(quantity="1e20"),
    "a VAT rate of 1000": line(vat_rate=1000),
    "a VAT rate of 17": line(vat_rate="17"),
    "a quantity of 0.00001": line(quantity="0.00001", unit_price="1"),
    "a line worth less than a grosz": line(quantity="0.0001", unit_price="1"),
    "a price with 5 decimals": line(unit_price="1.23456"),
    "a total beyond decimal(15,2)": line(quantity="99999999999", unit_price="99999.99"),
    "a bool quantity": line(quantity=True),
}


@pytest.mark.parametrize("what", sorted(POISON))
def test_a_poison_line_rejects_its_document_and_the_next_one_is_imported(writer, company, t, what):
    results = writer.import_orders([order("POISON", POISON[what]), order("GOOD")])
    assert results[0].status == "rejected", (what, results[0])
    assert results[0].error and len(results[0].error) < 400
    assert results[1].status == "imported", results[1]
    n = t.TraNag.c
    with company.connect() as conn:
        assert conn.scalar(select(func.count()).where(n.TrN_NumerObcy == "POISON")) == 0


def test_out_of_range_reasons_name_the_field_and_the_limit(writer):
    results = writer.import_orders([
        order("Q", line(quantity="0.00001")),
        order("P", line(unit_price="1.2e19")),
        order("V", line(vat_rate=1000)),
        order("EUR", currency="EUR"),
    ])
    reasons = [r.error for r in results]
    assert "quantity" in reasons[0] and "4 decimal places" in reasons[0]
    assert "unit_price" in reasons[1] and "out of range" in reasons[1]
    assert "vat_rate" in reasons[2] and "23" in reasons[2] and "zw" in reasons[2]
    assert "EUR" in reasons[3] and "exchange rates" in reasons[3]


def test_a_head_office_price_is_never_rounded_and_a_bad_vat_rate_never_reaches_a_product(writer):
    prices = writer.import_prices([
        {"product_code": "BANANY", "price_list": 1, "value": "6.123456"},
        {"product_code": "BANANY", "price_list": 1, "value": "1e30"},
        {"product_code": "BANANY", "price_list": 1, "value": "6.1234"},
        {"product_code": "BANANY", "price_list": 1, "value": "6", "currency": "EUR"},
    ])
    assert [p.status for p in prices] == ["rejected", "rejected", "imported", "rejected"]
    assert "decimal places" in prices[0].error and "currency" in prices[3].error
    products = writer.import_products([{"code": "X1", "name": "X", "vat_rate": 1000},
                                       {"code": "X2", "name": "X", "vat_rate": "np"}])
    assert [p.status for p in products] == ["rejected", "imported"]


def test_a_guid_of_another_document_is_rejected_naming_it(writer, company, t):
    [receipt] = writer.import_receipts([order("PAR-7", guid="6f1c2a34-0000-4000-8000-000000000001")])
    assert receipt.status == "imported"
    [stolen] = writer.import_orders([order("ZAM-7", guid="6f1c2a34-0000-4000-8000-000000000001")])
    assert stolen.status == "rejected"
    assert receipt.erp_number in stolen.error and "PAR-7" in stolen.error
    n = t.TraNag.c
    with company.connect() as conn:
        assert conn.scalar(select(func.count()).where(n.TrN_NumerObcy == "ZAM-7")) == 0
    # the same record again stays an idempotent duplicate
    [again] = writer.import_receipts([order("PAR-7", guid="6f1c2a34-0000-4000-8000-000000000001")])
    assert again.status == "duplicate" and again.erp_id == receipt.erp_id


def test_an_external_id_belongs_to_its_integration(company, t):
    shop_a = OptimaWriter(company, t, OPERATOR, namespace="shop-a")
    shop_b = OptimaWriter(company, t, OPERATOR, namespace="shop-b")
    [a] = shop_a.import_orders([order("1001")])
    [b] = shop_b.import_orders([order("1001")])
    assert a.status == b.status == "imported" and a.erp_id != b.erp_id


def test_twins_in_one_batch_count_once_and_conflicting_ones_are_both_rejected(writer, company, t):
    results = writer.import_orders([
        order("SAME"), order("SAME"),
        order("CLASH", line(quantity="1")), order("CLASH", line(quantity="5")),
    ])
    assert [r.status for r in results] == ["imported", "duplicate", "rejected", "rejected"]
    assert results[1].erp_id == results[0].erp_id
    assert "4" in results[2].error and "3" in results[3].error  # each names the other
    n = t.TraNag.c
    with company.connect() as conn:
        assert conn.scalar(select(func.count()).where(n.TrN_NumerObcy.in_(["SAME", "CLASH"]))) == 1


def test_a_dry_run_finds_the_same_rejects_and_writes_nothing(writer, company, t):
    batch = [order("OK"), order("BAD", POISON["a VAT rate of 1000"]), order("NOBODY", customer_code="NIKT"),
             order("TWIN", line(quantity="1")), order("TWIN", line(quantity="2"))]
    checked = writer.check("orders", batch)
    n = t.TraNag.c
    with company.connect() as conn:
        assert conn.scalar(select(func.count()).where(n.TrN_TypDokumentu == 308)) == 0
    done = writer.import_orders(batch)
    assert [c.status for c in checked] == [d.status for d in done]
    assert [c.error for c in checked] == [d.error for d in done]


# -- arbitrary JSON in every inbound field ---------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
    | st.sampled_from(["1e999999", "-0", "1,5", "NaN", "zw", "NP", "23", "0.00001", "9" * 60]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
LINE_FIELDS = ("product_code", "quantity", "unit_price", "price_kind", "vat_rate", "line_no")
DOC_FIELDS = ("external_id", "guid", "issued_at", "customer_code", "customer_name", "customer_tax_id",
              "customer_email", "customer_street", "customer_postal_code", "customer_city", "currency",
              "notes")
CUSTOMER_FIELDS = ("external_id", "guid", "name", "tax_id", "street", "postal_code", "city", "country",
                   "email", "phone")
PRODUCT_FIELDS = ("code", "name", "description", "ean", "unit", "vat_rate", "active", "deleted")
PRICE_FIELDS = ("product_code", "price_list", "value", "currency")


@pytest.fixture(scope="module")
def fuzz_company(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    path: Path = tmp_path_factory.mktemp("fuzz") / "company.db"
    sample.create_company_db(f"sqlite:///{path}")
    engine = create_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


def _mutated(base: dict[str, Any], field: str, value: Any) -> dict[str, Any]:
    return {**base, field: value}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(("doc",) * len(DOC_FIELDS) + ("line",) * len(LINE_FIELDS)),
       index=st.integers(0, 20), value=JSON, receipt=st.booleans())
@example(field="line", index=1, value="1e999999999", receipt=False)
@example(field="line", index=1, value=int("9" * 3000), receipt=False)
@example(field="line", index=2, value="1e30", receipt=True)
@example(field="line", index=4, value=1000, receipt=False)
@example(field="line", index=1, value="0.00001", receipt=False)
@example(field="line", index=2, value=1.2e19, receipt=False)
@example(field="doc", index=10, value="EUR", receipt=False)
def test_any_json_value_in_any_document_field_is_imported_within_range_or_rejected(
    fuzz_company, field, index, value, receipt
):
    t = tables_for(fuzz_company)
    writer = OptimaWriter(fuzz_company, t, OPERATOR, namespace="fuzz")
    good = order("G-" + json.dumps(value, default=str)[:20] + str(index))
    if field == "doc":
        bad = _mutated(order("B"), DOC_FIELDS[index % len(DOC_FIELDS)], value)
    else:
        bad = order("B", _mutated(line(), LINE_FIELDS[index % len(LINE_FIELDS)], value))
    importer = writer.import_receipts if receipt else writer.import_orders
    results = importer([bad, good])  # never raises because of a record
    assert results[1].status in ("imported", "duplicate"), results[1]
    for result in results:
        if result.status == "imported":
            assert_document_within_optima_ranges(fuzz_company, t, result.erp_id)


def assert_document_within_optima_ranges(engine: Engine, t: OptimaTables, trn_id: int) -> None:
    with engine.connect() as conn:
        header = conn.execute(select(t.TraNag).where(t.TraNag.c.TrN_TrNID == trn_id)).mappings().one()
        lines = conn.execute(select(t.TraElem).where(t.TraElem.c.TrE_TrNId == trn_id)).mappings().all()
    assert lines
    assert header["TrN_RazemNetto"] == sum(ln["TrE_WartoscNetto"] for ln in lines)
    assert header["TrN_RazemBrutto"] == sum(ln["TrE_WartoscBrutto"] for ln in lines)
    for table, row in [("TraNag", header)] + [("TraElem", ln) for ln in lines]:
        for name, spec in columns.column_map(table).items():
            value = row.get(name)
            if isinstance(value, Decimal) and spec.is_decimal:
                precision, scale = int(spec.args[0]), int(spec.args[1])
                assert abs(value) < Decimal(10) ** (precision - scale), (name, value)
                assert value == value.quantize(Decimal(1).scaleb(-scale)), (name, value)
    for ln in lines:
        assert ln["TrE_Ilosc"] > 0 and ln["TrE_Stawka"] in (23, 22, 8, 7, 5, 3, 0)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(["customers", "products", "prices"]), index=st.integers(0, 20), value=JSON)
@example(kind="prices", index=2, value="1e30")
@example(kind="prices", index=2, value="6.123456")
@example(kind="products", index=5, value=1000)
def test_any_json_value_in_customers_products_and_prices_never_fails_the_others(
    fuzz_company, kind, index, value
):
    t = tables_for(fuzz_company)
    writer = OptimaWriter(fuzz_company, t, OPERATOR, namespace="fuzz")
    good, fields = {
        "customers": ({"external_id": "K-GOOD", "name": "Klient Dobry"}, CUSTOMER_FIELDS),
        "products": ({"code": "P-GOOD", "name": "Dobry"}, PRODUCT_FIELDS),
        "prices": ({"product_code": "BANANY", "price_list": 2, "value": "5.55"}, PRICE_FIELDS),
    }[kind]
    bad = _mutated(good, fields[index % len(fields)], value)
    results = getattr(writer, f"import_{kind}")([bad, good])
    assert results[1].status in ("imported", "duplicate"), results[1]


def test_of_one_customers_rows_in_a_batch_the_latest_is_the_one_considered(writer, company, t):
    results = writer.import_customers([
        {"external_id": "K9", "name": "Stara Nazwa", "city": "Radom"},
        {"external_id": "K9", "name": "Nowa Nazwa", "city": "Kielce"},
    ])
    assert [r.status for r in results] == ["duplicate", "imported"]
    assert results[0].erp_id == results[1].erp_id
    k = t.Kontrahenci.c
    with company.connect() as conn:
        row = conn.execute(select(k.Knt_Nazwa1, k.Knt_Miasto).where(k.Knt_KntId == results[1].erp_id)).one()
    assert tuple(row) == ("Nowa Nazwa", "Kielce")


def test_a_line_says_exempt_or_not_subject_in_vat_kind_where_vat_rate_takes_numbers_only(
    writer, company, t
):
    results = writer.import_orders([
        order("ZW", line(vat_kind="zw", vat_rate=None)),
        order("NP", line(vat_kind="np", vat_rate=0)),
        order("BOTH", line(vat_kind="zw", vat_rate=23)),
        order("WORD", line(vat_kind="xx")),
    ])
    assert [r.status for r in results] == ["imported", "imported", "rejected", "rejected"]
    assert "vat_kind" in results[2].error and "vat_kind" in results[3].error
    e = t.TraElem.c
    with company.connect() as conn:
        flags = [conn.execute(select(e.TrE_Flaga, e.TrE_Stawka).where(e.TrE_TrNId == r.erp_id)).one()
                 for r in results[:2]]
    assert [tuple(f) for f in flags] == [(1, 0), (4, 0)]
