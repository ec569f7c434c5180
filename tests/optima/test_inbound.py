"""Pure checks of inbound values: amounts to the grosz, names, streets, codes, dates."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from optsync.optima import inbound as v
from optsync.optima.reader import join_name, join_street
from optsync.optima.tables import full_number

money = st.decimals(min_value=0, max_value=100_000, places=2)
quantity = st.decimals(min_value=Decimal("0.0001"), max_value=10_000, places=4)
rate = st.sampled_from([Decimal(0), Decimal(5), Decimal(8), Decimal(23)])


@given(quantity, money, rate, st.sampled_from(["net", "gross"]))
def test_line_amounts_are_grosze_and_vat_is_their_difference(q, price, vat, kind):
    net, gross = v.line_amounts(q, price, vat, kind)
    assert net == net.quantize(v.CENT) and gross == gross.quantize(v.CENT)
    priced = gross if kind == "gross" else net
    assert abs(priced - q * price) <= Decimal("0.005")
    assert gross >= net


def test_three_times_333_gross_is_999_exactly():
    assert v.line_amounts(Decimal(3), Decimal("3.33"), Decimal(23), "gross") == (
        Decimal("8.12"),
        Decimal("9.99"),
    )
    assert v.line_amounts(Decimal(1), Decimal("0.005"), Decimal(0), "net")[0] == Decimal("0.01")


@given(st.lists(st.text(alphabet="abcdefghijąęłóśźż", min_size=1, max_size=60), max_size=12))
def test_split_name_round_trips_through_join_name(words):
    name = " ".join(words)
    parts = v.split_name(name, (50, 50, 10_000))
    assert len(parts[0]) <= 50 and len(parts[1]) <= 50
    if all(len(word) <= 50 for word in words):
        assert join_name(*parts) == name
    else:  # a word longer than a column is cut, and read back with a space at the cut
        assert join_name(*parts).replace(" ", "") == name.replace(" ", "")


def test_a_word_longer_than_a_name_column_is_cut_at_its_width():
    assert v.split_name("a" * 51, (50, 50, 250)) == ["a" * 50, "a", ""]


@pytest.mark.parametrize(
    ("street", "parts"),
    [
        ("ul. Długa 5/3", ("ul. Długa", "5", "3")),
        ("al. Jana Pawła II 45", ("al. Jana Pawła II", "45", "")),
        ("Rynek 12A / 4", ("Rynek", "12A", "4")),
        ("Osiedle bez numeru", ("Osiedle bez numeru", "", "")),
    ],
)
def test_split_street_is_undone_by_join_street(street, parts):
    assert v.split_street(street) == parts
    assert v.split_street(join_street(*parts)) == parts


def test_codes_are_folded_ascii_and_unique():
    assert v.ascii_upper("Łódź – Zakład Usług") == "LODZ ZAKLAD USLUG"
    assert v.code_base("Hurtownia Spożywcza Kowalski Sp. z o.o.") == "HURTOWNIA SPOZYWCZA"
    assert v.code_base("Przedsiębiorstwowielobranżowe Kowalski") == "PRZEDSIEBIORSTWOWIEL"
    assert v.code_base("") == "KLIENT"
    taken = {"HURTOWNIA SPOZYWCZA", "HURTOWNIA SPOZYWCZ-2"}
    assert v.unique_code("HURTOWNIA SPOZYWCZA", taken) == "HURTOWNIA SPOZYWCZ-3"
    assert v.unique_code("NOWY", taken) == "NOWY"


def test_tax_ids_compare_by_digits():
    assert v.tax_digits("PL 525-000-00-00") == v.tax_digits("5250000000") == "5250000000"


def test_dates_become_naive_local_times():
    default = datetime(2026, 1, 1)
    assert v.when({}, "issued_at", default=default) == default
    assert v.when({"d": "2026-03-02"}, "d", default=default) == datetime(2026, 3, 2)
    assert v.when({"d": date(2026, 3, 2)}, "d", default=default) == datetime(2026, 3, 2)
    aware = datetime(2026, 3, 2, 12, tzinfo=UTC)
    assert v.when({"d": aware}, "d", default=default) == aware.astimezone().replace(tzinfo=None)
    assert v.when({"d": "2026-03-02T12:00:00Z"}, "d", default=default).tzinfo is None
    with pytest.raises(v.Rejected):
        v.when({"d": "jutro"}, "d", default=default)


@pytest.mark.parametrize("bad", ["abc", "NaN", "Infinity", True, ""])
def test_decimal_rejects_what_is_not_a_finite_number(bad):
    with pytest.raises(v.Rejected):
        v.decimal({"x": bad}, "x")


def test_decimal_accepts_polish_commas():
    assert v.decimal({"x": "1 234,50"}, "x") == Decimal("1234.50")
    assert v.decimal({"x": 3.33}, "x") == Decimal("3.33")


def test_guids_differ_per_integration_and_entity():
    a = v.import_guid("shop", "orders", "1")
    assert a == v.import_guid("shop", "orders", "1")
    assert (
        len({a, v.import_guid("shop", "receipts", "1"), v.import_guid("pos", "orders", "1")}) == 3
    )


def test_full_number_replaces_the_placeholder():
    assert full_number("RO/@numerS/2026", 12) == "RO/12/2026"
    assert full_number("FS/@numer/2026", 7) == "FS/7/2026"
    assert full_number("FA/2026", 3) == "FA/2026/3"
