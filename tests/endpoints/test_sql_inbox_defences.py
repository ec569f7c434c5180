"""The sql endpoint's own defences against bad inbox rows and marks it cannot write, on SQLite
and (slow) PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from optsync.endpoints.sql import SqlEndpoint
from optsync.errors import Unreachable


@pytest.fixture
def endpoint(sql_url: str) -> Iterator[SqlEndpoint]:
    ep = SqlEndpoint(sql_url)
    ep.ensure_tables()
    yield ep
    ep.close()


def add_orders(url: str, count: int, *, lines: bool = True) -> list[int]:
    engine = create_engine(url)
    ids = []
    with engine.begin() as conn:
        for n in range(1, count + 1):
            row_id = conn.execute(text(
                "insert into optsync_inbox_orders (external_id, status) values (:e, 'new') "
                "returning id"), {"e": f"WWW-{n}"}).scalar_one()
            ids.append(row_id)
            if lines:
                conn.execute(text(
                    "insert into optsync_inbox_order_lines (header_id, line_no, product_code, "
                    "quantity) values (:h, 1, 'A', 2)"), {"h": row_id})
    engine.dispose()
    return ids


def statuses(url: str) -> dict[str, tuple]:
    engine = create_engine(url)
    with engine.connect() as conn:
        found = {r[0]: (r[1], r[2]) for r in conn.execute(text(
            "select external_id, status, error from optsync_inbox_orders"))}
    engine.dispose()
    return found


def test_a_header_without_lines_is_rejected_by_table_and_id_and_orphan_lines_are_ignored(
    endpoint: SqlEndpoint, sql_url: str
) -> None:
    (good,) = add_orders(sql_url, 1)
    engine = create_engine(sql_url)
    with engine.begin() as conn:
        bare = conn.execute(text("insert into optsync_inbox_orders (external_id, status) "
                                 "values ('WWW-9', 'new') returning id")).scalar_one()
        if engine.dialect.name == "sqlite":  # elsewhere the foreign key refuses an orphan
            conn.execute(text("insert into optsync_inbox_order_lines (header_id, line_no, "
                              "product_code, quantity) values (999, 1, 'X', 'abc')"))
    engine.dispose()
    offered = list(endpoint.inbox("orders"))
    assert [(i.label, i.error) for i in offered] == [
        (f"WWW-1 (optsync_inbox_orders id {good})", None),
        (f"WWW-9 (optsync_inbox_orders id {bare})", "lines: a document needs at least one line"),
    ]
    endpoint.mark("orders", offered[0], status="imported", erp_id=1)
    endpoint.finish_inbox("orders")
    assert statuses(sql_url) == {
        "WWW-1": ("imported", None),
        "WWW-9": ("rejected", "lines: a document needs at least one line"),
    }


def refuse_marks(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(text(
                "create trigger no_marks before update on optsync_inbox_orders "
                "begin select raise(abort, 'the inbox is locked by the shop'); end"))
        else:
            conn.execute(text(
                "create or replace function no_marks() returns trigger language plpgsql as "
                "$$ begin raise exception 'the inbox is locked by the shop'; end $$"))
            conn.execute(text(
                "create trigger no_marks before update on optsync_inbox_orders "
                "for each row execute function no_marks()"))
    engine.dispose()


def test_marks_that_cannot_be_written_are_reported_naming_table_and_ids_and_rows_stay_new(
    endpoint: SqlEndpoint, sql_url: str
) -> None:
    ids = add_orders(sql_url, 3)
    refuse_marks(sql_url)
    for inbound in endpoint.inbox("orders"):
        endpoint.mark("orders", inbound, status="imported", erp_id=inbound.ref)
    with pytest.raises(Unreachable) as caught:
        endpoint.finish_inbox("orders")
    message = caught.value.message
    assert "could not record the outcome of 3 row(s) of optsync_inbox_orders" in message
    assert f"id {ids[0]}, {ids[1]}, {ids[2]}" in message
    assert "the inbox is locked by the shop" in message
    assert {s for s, _ in statuses(sql_url).values()} == {"new"}
    endpoint.close()  # nothing left to retry, nothing raised


def test_marks_are_kept_while_a_batch_cannot_be_written_and_written_when_it_can(
    endpoint: SqlEndpoint, sql_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from optsync.endpoints import sql as sql_module

    monkeypatch.setattr(sql_module, "BATCH", 2)
    add_orders(sql_url, 5)
    refuse_marks(sql_url)
    offered = list(endpoint.inbox("orders"))
    for inbound in offered:  # every second mark tries a batch, refused: kept
        endpoint.mark("orders", inbound, status="imported", erp_id=1)
    engine = create_engine(sql_url)
    with engine.begin() as conn:
        conn.execute(text("drop trigger no_marks" + (
            "" if engine.dialect.name == "sqlite" else " on optsync_inbox_orders")))
    engine.dispose()
    endpoint.finish_inbox("orders")
    assert {s for s, _ in statuses(sql_url).values()} == {"imported"}
