"""One rule per inbound field: the endpoint only reads values, the writer checks the rules
each field declares in optsync/entities.py (the lengths of Optima's columns, decimals that
fit them), whether a record came through an endpoint or not."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine

from optsync.demo import sample
from optsync.endpoints.records import inbound_record
from optsync.entities import ENTITIES, Field
from optsync.optima.operator import OperatorInfo
from optsync.optima.tables import tables_for
from optsync.optima.writer import OptimaWriter

OPERATOR = OperatorInfo(7, "JKOWAL", "Jan Kowalski")


@pytest.fixture(scope="module")
def writer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OptimaWriter]:
    path: Path = tmp_path_factory.mktemp("rules") / "company.db"
    sample.create_company_db(f"sqlite:///{path}")
    engine: Engine = create_engine(f"sqlite:///{path}")
    yield OptimaWriter(engine, tables_for(engine), OPERATOR, namespace="rules")
    engine.dispose()


def good(entity: str) -> dict[str, Any]:
    """A record of ``entity`` the sample company imports."""
    line = {"product_code": "BANANY", "quantity": "2", "unit_price": "6.99", "price_kind": "gross"}
    return {
        "orders": {"external_id": "R-1", "issued_at": "2026-03-02", "customer_name": "Jan Nowak",
                   "lines": [line]},
        "receipts": {"external_id": "R-2", "issued_at": "2026-03-02", "customer_name": "Ewa Lis",
                     "lines": [line]},
        "customers": {"external_id": "K-1", "name": "Klient Dobry"},
        "products": {"code": "P-1", "name": "Dobry"},
        "prices": {"product_code": "BANANY", "price_list": 2, "value": "5.55"},
    }[entity]


def with_value(entity: str, field: Field, value: Any) -> dict[str, Any]:
    record = good(entity)
    if any(f is field for f in ENTITIES[entity].inbound_lines):
        record["lines"] = [{**record["lines"][0], field.name: value}]
    else:
        record[field.name] = value
    return record


LIMITED = [
    pytest.param(entity, field, id=f"{entity}.{field.name}")
    for entity, spec in ENTITIES.items()
    for field in (*spec.inbound, *spec.inbound_lines)
    if field.limit is not None
]


def test_each_entitys_good_record_is_imported(writer: OptimaWriter) -> None:
    for entity in ("orders", "receipts", "customers", "products", "prices"):
        (result,) = writer.check(entity, [inbound_record(entity, good(entity))])
        assert result.status != "rejected", (entity, result.error)


@pytest.mark.parametrize(("entity", "field"), LIMITED)
def test_a_text_longer_than_its_optima_column_is_read_by_the_endpoint_and_judged_by_the_writer(
    writer: OptimaWriter, entity: str, field: Field
) -> None:
    assert field.limit is not None
    record = inbound_record(entity, with_value(entity, field, "X" * (field.limit + 1)))
    (result,) = writer.check(entity, [record])
    if field.cut:  # an address part: cut to what Optima's column holds
        assert result.status != "rejected", result.error
    else:
        assert result.status == "rejected"
        assert (result.error or "").endswith(f"{field.name} longer than {field.limit} characters")


DECIMALS = [
    pytest.param(entity, field, id=f"{entity}.{field.name}")
    for entity, spec in ENTITIES.items()
    for field in (*spec.inbound, *spec.inbound_lines)
    if field.column is not None
]


@pytest.mark.parametrize(("entity", "field"), DECIMALS)
def test_a_number_with_more_places_than_its_optima_column_is_read_and_then_rejected(
    writer: OptimaWriter, entity: str, field: Field
) -> None:
    record = inbound_record(entity, with_value(entity, field, "1,000001"))
    value = record["lines"][0][field.name] if "lines" in record else record[field.name]
    assert value == Decimal("1.000001")
    (result,) = writer.check(entity, [record])
    assert result.status == "rejected"
    assert f"{field.name} Decimal('1.000001') has more than 4 decimal places" in (result.error or "")


def test_a_decimal_comma_reads_the_same_at_the_endpoint_and_in_the_writer(
    writer: OptimaWriter,
) -> None:
    price = inbound_record("prices", {"product_code": "BANANY", "price_list": 2, "value": "5,55"})
    assert price["value"] == Decimal("5.55")
    order = inbound_record("orders", with_value(
        "orders", ENTITIES["orders"].inbound_field("quantity"), "1 234,5"))
    assert order["lines"][0]["quantity"] == Decimal("1234.5")
    raw = writer.check("prices", [good("prices") | {"value": "5,55"}])
    assert [r.status for r in writer.check("prices", [price])] == [r.status for r in raw]
    assert raw[0].status != "rejected", raw[0].error


def test_a_record_missing_a_required_value_is_read_and_then_rejected_by_the_writer(
    writer: OptimaWriter,
) -> None:
    record = inbound_record("customers", {"external_id": "K-2"})
    assert record["name"] is None
    (result,) = writer.check("customers", [record])
    assert (result.status, result.error) == ("rejected", "missing name")


def test_a_number_beyond_its_optima_column_is_read_by_the_endpoint_and_rejected_by_the_writer(
    writer: OptimaWriter,
) -> None:
    record = inbound_record("prices", good("prices") | {"value": "6.123456"})
    assert record["value"] == Decimal("6.123456")
    (result,) = writer.check("prices", [record])
    assert result.status == "rejected" and "more than 4 decimal places" in (result.error or "")
