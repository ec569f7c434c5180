"""The README's endpoint section is the exchange contract: its tables match the code and its examples run."""

from __future__ import annotations

import json
import os
import re
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, Unicode, UnicodeText

from optsync.endpoints import load_endpoint
from optsync.endpoints.folder import FolderEndpoint
from optsync.endpoints.records import outbound_from_json
from optsync.endpoints.tables import METADATA, ExactDecimal, Flag, Timestamp

DOC = Path(__file__).resolve().parents[2] / "README.md"


def documented_type(column: Column[object]) -> str:
    kind = column.type
    if isinstance(kind, ExactDecimal):
        return f"decimal({kind.precision},{kind.scale})"
    if isinstance(kind, Timestamp):
        return "timestamp"
    if isinstance(kind, Flag):
        return "smallint 0/1"
    if isinstance(kind, UnicodeText):
        return "text"
    if isinstance(kind, Unicode):
        return f"varchar({kind.length})"
    assert isinstance(kind, Integer)
    return "integer"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


@pytest.mark.parametrize("table", list(METADATA.tables))
def test_every_table_is_documented_column_by_column(table: str) -> None:
    text = DOC.read_text(encoding="utf-8")
    section = text.split(f"#### `{table}`\n\n", 1)[1].split("\n\n", 1)[0]
    rows = [line.split("|")[1:4] for line in section.splitlines()[2:]]
    documented = [
        (name.strip().strip("`"), kind.strip(), null.strip()) for name, kind, null in rows
    ]
    expected = [
        (c.name, documented_type(c), "yes" if c.nullable else "no")
        for c in METADATA.tables[table].columns
    ]
    assert documented == expected


def test_the_sqlite_example_writes_an_order_optsync_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write, read = blocks("python")
    namespace: dict[str, object] = {}
    exec(compile(write, str(DOC), "exec"), namespace)  # noqa: S102
    exec(compile(read, str(DOC), "exec"), namespace)  # noqa: S102
    endpoint = load_endpoint("sqlite:///shop.db")
    (order,) = endpoint.inbox("orders")
    endpoint.close()
    assert order.error is None and order.record is not None
    assert order.record["customer_city"] == "Warszawa"
    assert [(ln["product_code"], ln["unit_price"]) for ln in order.record["lines"]] == [
        ("MLOTEK-500", Decimal("49.99")),
        ("WKRETY-4X40", Decimal("12.30")),
    ]


def test_the_example_order_file_is_read_without_error(tmp_path: Path) -> None:
    (example,) = blocks("json")
    inbox = tmp_path / "in" / "orders"
    inbox.mkdir(parents=True)
    (inbox / "WWW-2026-0002.json").write_text(example, encoding="utf-8")
    (order,) = FolderEndpoint(str(tmp_path)).inbox("orders")
    assert order.error is None and order.record is not None
    assert [ln["unit_price"] for ln in order.record["lines"]] == [
        Decimal("49.99"),
        Decimal("10.00"),
    ]


def test_the_example_out_lines_decode() -> None:
    text = DOC.read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if ln.startswith('{"op":')]
    entities = ["products", "products", "documents"]
    assert len(lines) == len(entities)
    for entity, line in zip(entities, lines):
        assert outbound_from_json(entity, json.loads(line))


def test_the_folder_layout_matches_the_file_names_optsync_writes(tmp_path: Path) -> None:
    ep = FolderEndpoint(os.fspath(tmp_path))
    ep.write("products", [{"code": "A"}], [], run_id=12)
    (name,) = os.listdir(tmp_path / "out" / "products")
    assert re.fullmatch(r"\d{8}T\d{6}\.\d{6}Z-12\.jsonl", name)
    assert "out/<entity>/20261129T100002.123456Z-12.jsonl" in DOC.read_text(encoding="utf-8")
