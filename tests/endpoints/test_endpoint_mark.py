"""optsync's mark in an endpoint, and the additive upgrade of exchange tables of an earlier optsync."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from sqlalchemy import create_engine, inspect, text

from optsync.endpoints.base import EndpointMark
from optsync.endpoints.folder import MARK_FILE, FolderEndpoint
from optsync.endpoints.sql import SqlEndpoint
from optsync.endpoints.tables import MARK_TABLE

PRODUCT = {"code": "KAWA-1", "name": "Kawa", "description": "ziarnista", "ean": "590",
           "unit": "szt", "vat_rate": "23.00", "active": 1}


def test_a_new_sql_endpoint_has_no_mark_and_reading_it_creates_nothing(sql_url: str) -> None:
    endpoint = SqlEndpoint(sql_url)
    try:
        endpoint.check()
        assert endpoint.read_marks() == {}
        assert endpoint.holds_data() is False
        assert MARK_TABLE not in inspect(endpoint.engine).get_table_names()
    finally:
        endpoint.close()


def test_marks_of_two_integrations_live_side_by_side_and_are_replaced_by_identity(
        sql_url: str) -> None:
    endpoint = SqlEndpoint(sql_url)
    try:
        when = datetime(2026, 11, 29, 10, 0, 0)
        endpoint.write_mark(EndpointMark("a" * 36, 5, "Firma", "sklep", when))
        endpoint.write_mark(EndpointMark("b" * 36, 6, "Firma", "detal", when))
        endpoint.write_mark(EndpointMark("a" * 36, 9, "Firma", "sklep", when))
        marks = endpoint.read_marks()
        assert {k: (m.last_run, m.integration) for k, m in marks.items()} == {
            "a" * 36: (9, "sklep"), "b" * 36: (6, "detal")}
        assert marks["a" * 36].updated_at == when
    finally:
        endpoint.close()


def test_live_keys_are_the_rows_not_marked_deleted_and_make_the_endpoint_hold_data(
        sql_url: str) -> None:
    endpoint = SqlEndpoint(sql_url)
    try:
        endpoint.write("products", [PRODUCT, PRODUCT | {"code": "HERBATA-2"}], [], run_id=1)
        endpoint.write("products", [], [("HERBATA-2",)], run_id=2)
        assert list(endpoint.live_keys("products")) == [("KAWA-1",)]
        assert list(endpoint.live_keys("documents")) == []
        assert endpoint.holds_data() is True
    finally:
        endpoint.close()


def test_tables_of_an_earlier_optsync_get_the_missing_columns_and_keep_their_rows(
        sql_url: str) -> None:
    endpoint = SqlEndpoint(sql_url)
    try:
        endpoint.write("products", [PRODUCT], [], run_id=1)
        endpoint.write("prices", [{"product_code": "KAWA-1", "price_list": 1, "value": "9.99",
                                   "currency": "PLN", "price_list_name": "Detaliczna"}], [],
                       run_id=1)
        with endpoint.engine.begin() as conn:
            conn.execute(text("ALTER TABLE optsync_products DROP COLUMN description"))
            conn.execute(text("ALTER TABLE optsync_prices DROP COLUMN price_list_name"))
            conn.execute(text("ALTER TABLE optsync_prices DROP COLUMN deleted"))
    finally:
        endpoint.close()
    endpoint = SqlEndpoint(sql_url)
    try:
        added = endpoint.upgrade()
        assert sorted(added) == ["optsync_prices.deleted", "optsync_prices.price_list_name",
                                 "optsync_products.description"]
        with endpoint.engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT code, name, description, deleted FROM optsync_products")).all()
            prices = conn.execute(text(
                "SELECT product_code, price_list_name, deleted FROM optsync_prices")).all()
        assert [tuple(r) for r in rows] == [("KAWA-1", "Kawa", None, 0)]
        assert [tuple(r) for r in prices] == [("KAWA-1", None, 0)]  # NOT NULL DEFAULT 0 kept
        endpoint.write("products", [PRODUCT], [], run_id=2)
        assert endpoint.upgrade() == []
    finally:
        endpoint.close()
    columns = {c["name"]: c for c in inspect(create_engine(sql_url)).get_columns(
        "optsync_prices")}
    assert columns["deleted"]["nullable"] is False


def test_a_folder_mark_is_a_file_written_whole_and_a_damaged_one_counts_as_missing(
        tmp_path: Path) -> None:
    endpoint = FolderEndpoint(str(tmp_path))
    assert endpoint.read_marks() == {} and endpoint.holds_data() is False
    endpoint.write_mark(EndpointMark("c" * 36, 3, "Firma", "detal"))
    endpoint.write_mark(EndpointMark("d" * 36, 4, "Firma", "mobile"))
    assert sorted((m.last_run, m.integration) for m in endpoint.read_marks().values()) == [
        (3, "detal"), (4, "mobile")]
    assert sorted(p.name for p in tmp_path.iterdir()) == [MARK_FILE]
    (tmp_path / MARK_FILE).write_bytes(b"\xff{not json")
    assert endpoint.read_marks() == {}
    (tmp_path / MARK_FILE).write_text('{"marks": [{"identity": "x", "last_run": "7"}, 5]}')
    assert endpoint.read_marks() == {}


def test_only_optsync_temporary_files_older_than_the_lock_and_of_no_running_pass_are_removed(
        tmp_path: Path) -> None:
    out = tmp_path / "out" / "stock"
    out.mkdir(parents=True)
    names = {
        ".20261129T100002.123456Z-7.jsonl.tmp": True,  # a killed pass's
        ".20261129T100002.123456Z-8.jsonl.tmp": False,  # run 8 is still running
        ".20261129T100002.123456Z-7.jsonl": False,  # not a temporary name
        "20261129T100002.123456Z-7.jsonl.tmp": False,  # not a dotfile
        ".shop-export.jsonl.tmp": False,  # the application's
    }
    for name in names:
        (out / name).write_text("{}\n")
        os.utime(out / name, (1_000_000_000, 1_000_000_000))
    (tmp_path / ".optsync-mark.json.tmp").write_text("{")
    os.utime(tmp_path / ".optsync-mark.json.tmp", (1_000_000_000, 1_000_000_000))
    newer = out / ".20261129T100003.000000Z-9.jsonl.tmp"
    newer.write_text("{}\n")
    removed = FolderEndpoint(str(tmp_path)).remove_leftovers(1_500_000_000, {8})
    assert removed == [".optsync-mark.json.tmp", "out/stock/.20261129T100002.123456Z-7.jsonl.tmp"]
    assert {p.name for p in out.iterdir()} == {n for n, gone in names.items() if not gone} | {
        newer.name}
