"""Property tests: any product or price record comes back from an endpoint equal to what was sent."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
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
