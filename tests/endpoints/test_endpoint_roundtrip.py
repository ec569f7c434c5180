"""Property tests: any product or price record comes back from an endpoint equal to what was sent."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from optsync.endpoints.folder import FolderEndpoint, FolderExport
from optsync.endpoints.records import outbound_from_json, outbound_names, record_key
from optsync.endpoints.sql import SqlEndpoint

POLISH = "aąbcćdeęfghijklłmnńoóprsśtuwyzźżAĄCĆEĘŁŃÓŚŹŻ"
text = st.text(alphabet=st.sampled_from(POLISH + " '\"„”\\%$;,.-/0123456789"), max_size=40)
codes = st.text(alphabet=st.sampled_from(POLISH + "'\"-/0123456789"), min_size=1, max_size=20)


def money(low: int, high: int) -> st.SearchStrategy[Decimal]:
    return st.integers(2, 4).flatmap(
        lambda places: st.decimals(
            min_value=low, max_value=high, places=places, allow_nan=False, allow_infinity=False
        )
    )


products = st.lists(
    st.fixed_dictionaries(
        {
            "code": codes,
            "name": text,
            "description": st.none() | text,
            "ean": st.none() | st.from_regex(r"\A[0-9]{8,13}\Z"),
            "unit": st.sampled_from(["szt", "kg", "m²", "opak."]),
            "vat_rate": st.integers(0, 2).flatmap(
                lambda places: st.decimals(min_value=0, max_value=99, places=places)
            ),
            "active": st.sampled_from([0, 1]),
        }
    ),
    min_size=1,
    max_size=20,
    unique_by=lambda r: r["code"],
)

prices = st.lists(
    st.fixed_dictionaries(
        {
            "product_code": codes,
            "price_list": st.integers(1, 10),
            "value": money(-(10**9), 10**9),
            "currency": st.sampled_from(["PLN", "EUR"]),
            "price_list_name": st.none() | text.map(lambda s: s[:20]),
        }
    ),
    min_size=1,
    max_size=20,
    unique_by=lambda r: (r["product_code"], r["price_list"]),
)

RELAXED = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def send(out: Any, entity: str, records: list[dict[str, Any]], as_rows: bool) -> None:
    """Send ``records`` as dicts, or as value rows in an order of names unlike the table's."""
    if as_rows:
        names = list(reversed(outbound_names(entity)))
        out.send_rows(names, [tuple(record[n] for n in names) for record in records])
    else:
        out.send(records, [])


def through_sql(endpoint: SqlEndpoint, entity: str, records: list[dict[str, Any]],
                as_rows: bool = False) -> None:
    with endpoint.export(entity, run_id=1) as out:
        send(out, entity, records, as_rows)
    stored = {record_key(entity, row): row for row in endpoint.outbound_rows(entity)}
    for record in records:
        row = stored[record_key(entity, record)]
        assert {name: row[name] for name in outbound_names(entity)} == record
        assert row["deleted"] == 0


def through_folder(endpoint: FolderEndpoint, entity: str, records: list[dict[str, Any]],
                   as_rows: bool = False) -> None:
    with endpoint.export(entity, run_id=1) as out:
        send(out, entity, records, as_rows)
    assert isinstance(out, FolderExport) and out.path is not None
    lines = out.path.read_text(encoding="utf-8").splitlines()
    assert [outbound_from_json(entity, json.loads(line)) for line in lines] == records


@RELAXED
@given(records=products, as_rows=st.booleans())
def test_products_come_back_from_the_sql_endpoint_equal(
    sql_url: str, records: list[dict[str, Any]], as_rows: bool
) -> None:
    endpoint = SqlEndpoint(sql_url)
    try:
        through_sql(endpoint, "products", records, as_rows)
    finally:
        endpoint.close()


@RELAXED
@given(records=prices, as_rows=st.booleans())
def test_prices_come_back_from_the_sql_endpoint_equal(
    sql_url: str, records: list[dict[str, Any]], as_rows: bool
) -> None:
    endpoint = SqlEndpoint(sql_url)
    try:
        through_sql(endpoint, "prices", records, as_rows)
    finally:
        endpoint.close()


@RELAXED
@given(records=products, as_rows=st.booleans())
def test_products_come_back_from_folder_json_equal(
    tmp_path: Path, records: list[dict[str, Any]], as_rows: bool
) -> None:
    through_folder(FolderEndpoint(str(tmp_path)), "products", records, as_rows)


@RELAXED
@given(records=prices, as_rows=st.booleans())
def test_prices_come_back_from_folder_json_equal(
    tmp_path: Path, records: list[dict[str, Any]], as_rows: bool
) -> None:
    through_folder(FolderEndpoint(str(tmp_path)), "prices", records, as_rows)


# Driver rows sent with how to read them (a full export from an SQLite Optima): a number the
# driver returns as float or int, read into a Decimal only to be bound as text, goes straight
# to the same text; everything else still goes through both conversions.
raw_values = st.one_of(
    st.none(), st.floats(), st.integers(-(10**20), 10**20), st.text(max_size=6),
    st.sampled_from(["12.5", " 3 ", "1e3", "x"]),
)


def outcome(convert: Any, value: Any) -> Any:
    try:
        return convert(value)
    except Exception as exc:  # noqa: BLE001 - the same failure is the same outcome
        return type(exc)


EDGES = [None, float("nan"), float("inf"), -float("inf"), -0.0, 0.0, 1e-9, 1e22, 10**20,
         -(10**20), True, "12.5", "x", 0.125, 2.675]


@settings(max_examples=200, deadline=None)
@given(places=st.integers(0, 8), values=st.lists(raw_values, max_size=30))
@example(places=2, values=EDGES)
@example(places=0, values=EDGES)
def test_a_number_read_and_bound_in_one_step_is_the_text_of_its_decimal(places, values):
    from sqlalchemy import Numeric
    from sqlalchemy.dialects import sqlite

    from optsync.endpoints.tables import ExactDecimal
    from optsync.optima.reader import _decimal_places
    from optsync.upsert import Prepared, _read_and_bind

    dialect = sqlite.dialect()
    impl = Numeric(18, places, asdecimal=True).dialect_impl(dialect)
    read = impl.result_processor(dialect, None)
    assert _decimal_places(impl, dialect, read) == places  # recognized: the short way is taken
    bind = ExactDecimal(18, places).bind_processor(dialect)
    both = _read_and_bind(read, bind, places)
    assert both is not read and getattr(both, "__name__", "") == "direct"

    def long_way(value: Any) -> Any:
        value = read(value)
        return None if value is None else bind(value)

    assert [outcome(both, v) for v in values] == [outcome(long_way, v) for v in values]

    # and as a row maker writes it out, a row of the value and its places
    class Reading:
        readers = [read, None]
        decimal_places = [places, None]

    made = Prepared("", ["value", "places"], [bind, None]).row_maker({}, ["value", "places"],
                                                                     Reading())
    for v in values:
        assert outcome(lambda x: made([(x, places)])[0], v) == outcome(
            lambda x: (long_way(x), places), v)


def test_a_conversion_that_only_looks_decimal_is_not_taken_the_short_way():
    from decimal import ROUND_DOWN

    from sqlalchemy import Numeric
    from sqlalchemy.dialects import postgresql, sqlite

    from optsync.optima.reader import _decimal_places

    dialect = sqlite.dialect()
    impl = Numeric(18, 2, asdecimal=True).dialect_impl(dialect)
    read = impl.result_processor(dialect, None)
    assert _decimal_places(impl, dialect, read) == 2
    truncating = lambda v: Decimal(v).quantize(Decimal("0.01"), ROUND_DOWN)  # noqa: E731
    assert _decimal_places(impl, dialect, truncating) is None
    assert _decimal_places(Numeric(18, 2, asdecimal=False).dialect_impl(dialect), dialect,
                           read) is None
    native = postgresql.dialect()  # the driver returns Decimal itself: nothing to skip
    assert _decimal_places(Numeric(18, 2).dialect_impl(native), native, read) is None
