"""The folder endpoint on real folders: atomic out files, inbox files moved to done/ or failed/."""

from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from optsync.endpoints.folder import FolderEndpoint
from optsync.errors import Unreachable

PRODUCT = {
    "code": "A",
    "name": 'Młotek "Stalowy"',
    "description": None,
    "ean": "5901234123457",
    "unit": "szt",
    "vat_rate": Decimal("23.00"),
    "active": 1,
}


def order(external_id: str, *lines: dict[str, Any]) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "customer_code": "KOWALSKI",
        "currency": "PLN",
        "issued_at": "2026-11-29T09:30:00",
        "lines": list(lines),
    }


LINE = {
    "product_code": "A",
    "quantity": 2,
    "unit_price": 12.30,
    "price_kind": "gross",
    "vat_rate": "23",
    "vat_kind": None,
}


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_out_file_is_renamed_into_place_with_one_json_line_per_change(tmp_path: Path) -> None:
    endpoint = FolderEndpoint(str(tmp_path))
    with endpoint.export("products", run_id=12) as out:
        out.send([PRODUCT, {**PRODUCT, "code": "B"}], [])
        out.send([], [("C",)])
        (tmp,) = files(tmp_path / "out" / "products")
        assert re.fullmatch(r"\.\d{8}T\d{6}\.\d{6}Z-12\.jsonl\.tmp", tmp)
    (name,) = files(tmp_path / "out" / "products")
    assert re.fullmatch(r"\d{8}T\d{6}\.\d{6}Z-12\.jsonl", name)
    lines = (tmp_path / "out" / "products" / name).read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0]) == {
        "op": "upsert",
        "code": "A",
        "name": 'Młotek "Stalowy"',
        "description": None,
        "ean": "5901234123457",
        "unit": "szt",
        "vat_rate": "23.00",
        "active": 1,
    }
    assert "Młotek" in lines[0]  # UTF-8, not \u escapes
    assert json.loads(lines[2]) == {"op": "delete", "code": "C"}


def test_a_failing_export_block_leaves_no_file(tmp_path: Path) -> None:
    endpoint = FolderEndpoint(str(tmp_path))
    with pytest.raises(RuntimeError), endpoint.export("products", run_id=1) as out:
        out.send([PRODUCT], [])
        raise RuntimeError("boom")
    assert files(tmp_path / "out" / "products") == []


def test_an_export_without_changes_writes_no_file(tmp_path: Path) -> None:
    with FolderEndpoint(str(tmp_path)).export("stock", run_id=1):
        pass
    assert files(tmp_path / "out" / "stock") == []


def test_documents_nest_their_lines_with_exact_decimals_and_iso_times(tmp_path: Path) -> None:
    document = {
        "erp_id": 5,
        "type": "FS",
        "number": "FS/5/2026",
        "issued_at": datetime(2026, 1, 2, 3, 4),
        "customer_code": "K",
        "currency": "PLN",
        "net": Decimal("10.00"),
        "vat": Decimal("2.30"),
        "gross": Decimal("12.30"),
        "lines": [
            {
                "line_no": 1,
                "product_code": "A",
                "quantity": Decimal("1.0000"),
                "unit": "szt",
                "unit_price_net": Decimal("10.00"),
                "vat_rate": Decimal(23),
                "net": Decimal("10.00"),
                "gross": Decimal("12.30"),
            }
        ],
    }
    FolderEndpoint(str(tmp_path)).write("documents", [document], [], run_id=3)
    (path,) = (tmp_path / "out" / "documents").iterdir()
    written = json.loads(path.read_text(encoding="utf-8"))
    assert written["issued_at"] == "2026-01-02T03:04:00"
    assert written["gross"] == "12.30"
    assert written["lines"] == [
        {
            "line_no": 1,
            "product_code": "A",
            "quantity": "1.0000",
            "unit": "szt",
            "unit_price_net": "10.00",
            "vat_rate": "23",
            "net": "10.00",
            "gross": "12.30",
        }
    ]


def write_inbox(root: Path) -> Path:
    inbox = root / "in" / "orders"
    inbox.mkdir(parents=True)
    (inbox / "a.json").write_text(json.dumps(order("WWW-1", LINE)), encoding="utf-8")
    (inbox / "b.jsonl").write_text(
        "\n".join(
            json.dumps(order(f"WWW-{n}", LINE, {**LINE, "product_code": "B"})) for n in (2, 3, 4)
        )
        + "\n",
        encoding="utf-8",
    )
    (inbox / ".c.json").write_text("{half", encoding="utf-8")
    (inbox / "d.json.tmp").write_text("{half", encoding="utf-8")
    (inbox / "notes.txt").write_text("not a record", encoding="utf-8")
    return inbox


def test_inbox_reads_json_and_json_lines_files_and_skips_the_rest(tmp_path: Path) -> None:
    write_inbox(tmp_path)
    offered = list(FolderEndpoint(str(tmp_path)).inbox("orders"))
    assert [i.label for i in offered] == [
        "WWW-1 (a.json)",
        "WWW-2 (b.jsonl:1)",
        "WWW-3 (b.jsonl:2)",
        "WWW-4 (b.jsonl:3)",
    ]
    record = offered[0].record
    assert record is not None
    assert record["issued_at"] == datetime(2026, 11, 29, 9, 30)
    assert record["lines"] == [
        {
            "line_no": 1,
            "product_code": "A",
            "quantity": Decimal(2),
            "unit_price": Decimal("12.3"),
            "price_kind": "gross",
            "vat_rate": Decimal(23),
            "vat_kind": None,
        }
    ]
    assert [ln["line_no"] for ln in offered[1].record["lines"]] == [1, 2]  # type: ignore[index]


def test_finished_files_move_to_done_and_a_rejected_record_sends_its_file_to_failed(
    tmp_path: Path,
) -> None:
    inbox = write_inbox(tmp_path)
    endpoint = FolderEndpoint(str(tmp_path))
    for inbound in endpoint.inbox("orders"):
        if inbound.label.startswith("WWW-3"):
            endpoint.mark("orders", inbound, status="rejected", error="unknown product 'B'")
        else:
            endpoint.mark("orders", inbound, status="imported", erp_id=1, erp_number="ZS/1/2026")
    endpoint.finish_inbox("orders")

    assert files(inbox / "done") == ["a.json"]
    assert files(inbox / "failed") == ["b.jsonl", "b.jsonl.error.txt"]
    report = (inbox / "failed" / "b.jsonl.error.txt").read_text(encoding="utf-8")
    assert report == (
        "b.jsonl: 1 of 3 record(s) rejected\nWWW-3 (b.jsonl:2): unknown product 'B'\n"
    )
    assert files(inbox) == [".c.json", "d.json.tmp", "done", "failed", "notes.txt"]


def test_bad_json_is_offered_with_an_error_and_lands_in_failed(tmp_path: Path) -> None:
    inbox = tmp_path / "in" / "customers"
    inbox.mkdir(parents=True)
    (inbox / "x.json").write_text('{"external_id": "C-1", "name": ', encoding="utf-8")
    (inbox / "y.jsonl").write_text(
        '{"external_id": "C-2"}\nnot json\n{"external_id": "C-3", "guid": {}}\n', encoding="utf-8"
    )
    endpoint = FolderEndpoint(str(tmp_path))
    offered = list(endpoint.inbox("customers"))
    assert [(i.label, i.error is None) for i in offered] == [
        ("x.json", False),
        ("C-2 (y.jsonl:1)", True),
        ("y.jsonl:2", False),
        ("C-3 (y.jsonl:3)", False),
    ]
    assert offered[0].error is not None and offered[0].error.startswith("invalid JSON:")
    assert offered[3].error == "guid: expected text, got a JSON object"
    endpoint.mark("customers", offered[1], status="imported", erp_id=9)
    endpoint.finish_inbox("customers")  # records read with an error count as rejected
    assert files(inbox / "failed") == ["x.json", "x.json.error.txt", "y.jsonl", "y.jsonl.error.txt"]
    assert "x.json: invalid JSON" in (inbox / "failed" / "x.json.error.txt").read_text("utf-8")
    report = (inbox / "failed" / "y.jsonl.error.txt").read_text("utf-8").splitlines()
    assert report[0] == "y.jsonl: 2 of 3 record(s) rejected"
    assert report[2] == "C-3 (y.jsonl:3): guid: expected text, got a JSON object"


def test_a_file_not_fully_marked_stays_to_be_offered_again(tmp_path: Path) -> None:
    inbox = write_inbox(tmp_path)
    endpoint = FolderEndpoint(str(tmp_path))
    offered = list(endpoint.inbox("orders"))
    for inbound in offered[:2]:  # a.json and the first record of b.jsonl; then the pass dies
        endpoint.mark("orders", inbound, status="imported")
    endpoint.finish_inbox("orders")
    assert files(inbox / "done") == ["a.json"]
    assert "b.jsonl" in files(inbox)
    again = next(iter(FolderEndpoint(str(tmp_path)).inbox("orders")))
    assert again.label == "WWW-2 (b.jsonl:1)"


def test_a_name_taken_in_done_gets_a_number(tmp_path: Path) -> None:
    inbox = write_inbox(tmp_path)
    (inbox / "done").mkdir()
    (inbox / "done" / "a.json").write_text("{}", encoding="utf-8")
    endpoint = FolderEndpoint(str(tmp_path))
    (first, *_rest) = endpoint.inbox("orders")
    endpoint.mark("orders", first, status="imported")
    endpoint.finish_inbox("orders")
    assert files(inbox / "done") == ["a-2.json", "a.json"]


def test_a_missing_folder_is_unreachable(tmp_path: Path) -> None:
    with pytest.raises(Unreachable, match="does not exist"):
        FolderEndpoint(str(tmp_path / "nowhere")).check()


def test_file_urls_name_the_folder(tmp_path: Path) -> None:
    endpoint = FolderEndpoint(tmp_path.as_uri())
    assert endpoint.root == tmp_path
    endpoint.write("products", [PRODUCT], [], run_id=1)
    assert len(files(tmp_path / "out" / "products")) == 1
