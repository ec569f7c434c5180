"""Bad rows in a sql endpoint's inbox, through real passes of the CLI: each unreadable row is
rejected naming its table and id while the good rows are imported in the same pass, and marks
that cannot be written fail the step without losing its counts or importing twice."""

from __future__ import annotations

import json
import sqlite3
from functools import partial

import pytest
from sync_world import entity_step, import_pass

from optsync.endpoints.sql import SqlEndpoint

run = partial(import_pass, entity="orders")
step_of = partial(entity_step, entity="orders")


def add_orders(world, count: int) -> list[int]:
    """``count`` good orders (one line each) in the shop's inbox; their row ids."""
    endpoint = SqlEndpoint(f"sqlite:///{world.shop_db}")
    endpoint.ensure_tables()
    endpoint.close()
    code = world.product_codes(1)[0]
    ids = []
    with world.shop() as shop:
        for n in range(1, count + 1):
            cur = shop.execute(
                "insert into optsync_inbox_orders (external_id, issued_at, currency, "
                "customer_name, status) values (?, '2026-11-29 10:00:00', 'PLN', 'Anna Nowak', "
                "'new')", (f"WWW/{n}",))
            ids.append(cur.lastrowid)
            shop.execute(
                "insert into optsync_inbox_order_lines (header_id, line_no, product_code, "
                "quantity, unit_price, price_kind) values (?, 1, ?, '2', '4.99', 'gross')",
                (cur.lastrowid, code))
    return ids


def rows(world) -> dict[str, tuple]:
    with world.shop() as shop:
        return {ext: (status, erp_id, error) for ext, status, erp_id, error in shop.execute(
            "select external_id, status, erp_id, error from optsync_inbox_orders")}


def imported(world) -> list[str]:
    with world.optima() as c:
        return sorted(r[0] for r in c.execute(
            "select TrN_NumerObcy from TraNag where TrN_ImportAppId = 'OSYNC'"))


# What an application may leave in a row (SQLite keeps any text in any column).
POISON = {
    "1e30 as a quantity": (
        "update optsync_inbox_order_lines set quantity = '1e30' where header_id = ?",
        "quantity"),
    "text as a price": (
        "update optsync_inbox_order_lines set unit_price = 'abc' where header_id = ?",
        "unit_price: expected a decimal number, got 'abc'"),
    "a number of thousands of digits": (
        "update optsync_inbox_order_lines set quantity = '" + "9" * 5000 + "' where header_id = ?",
        "quantity"),
    "text in the date": (
        "update optsync_inbox_orders set issued_at = 'wczoraj' where id = ?",
        "issued_at: expected an ISO-8601 date or time, got 'wczoraj'"),
    "text that is not UTF-8": (
        "update optsync_inbox_orders set customer_name = cast(x'ff41' as text) where id = ?",
        "the row cannot be read"),
    "a header whose lines are gone": (
        "delete from optsync_inbox_order_lines where header_id = ?",
        "a document needs at least one line"),
    "an integer beyond 32 bits as a line number": (
        "update optsync_inbox_order_lines set line_no = 99999999999 where header_id = ?",
        "line_no: expected an integer"),
}


@pytest.mark.parametrize("poison", POISON.values(), ids=list(POISON))
def test_a_poison_row_beside_valid_ones_is_rejected_naming_table_and_id(cli, world, poison):
    statement, reason = poison
    ids = add_orders(world, 3)
    with world.shop() as shop:
        shop.execute(statement, (ids[1],))
        # a line whose header is gone is never read and blocks nothing
        shop.execute("insert into optsync_inbox_order_lines (header_id, line_no, product_code, "
                     "quantity) values (999, 1, 'X', 'abc')")

    step = step_of(run(cli, code=1))
    assert (step["status"], step["read"], step["written"], step["rejected"]) == (
        "partial", 3, 2, 1)
    assert imported(world) == ["WWW/1", "WWW/3"]
    found = rows(world)
    assert found["WWW/1"][0] == found["WWW/3"][0] == "imported"
    status, erp_id, error = found["WWW/2"]
    assert status == "rejected" and erp_id is None and reason in error and len(error) < 400

    warnings = [json.loads(x)["message"] for x in cli(
        "logs", "--filter", "sync", "--level", "warning", "--json").stdout.splitlines()]
    assert any(f"optsync_inbox_orders id {ids[1]}" in m and reason in m for m in warnings)

    again = step_of(run(cli))
    assert (again["status"], again["read"]) == ("ok", 0)


def test_marks_that_cannot_be_written_fail_the_step_with_its_counts_and_nothing_twice(
    cli, world
):
    add_orders(world, 3)
    with world.shop() as shop:
        shop.execute("create trigger no_marks before update on optsync_inbox_orders "
                     "begin select raise(abort, 'the inbox is locked by the shop'); end")

    step = step_of(run(cli, code=1))
    assert (step["status"], step["written"]) == ("failed", 3)
    assert "could not record the outcome of 3 row(s) of optsync_inbox_orders" in step["error"]
    assert "the inbox is locked by the shop" in step["error"]
    assert imported(world) == ["WWW/1", "WWW/2", "WWW/3"]
    assert {s for s, _, _ in rows(world).values()} == {"new"}

    with world.shop() as shop:
        shop.execute("drop trigger no_marks")
    again = step_of(run(cli))
    assert (again["status"], again["written"], again["unchanged"]) == ("ok", 0, 3)
    assert imported(world) == ["WWW/1", "WWW/2", "WWW/3"]
    assert {s for s, _, _ in rows(world).values()} == {"imported"}


def test_a_row_the_driver_cannot_hand_over_is_read_alone(world):
    ids = add_orders(world, 3)
    with sqlite3.connect(world.shop_db) as shop:
        shop.execute("update optsync_inbox_order_lines set product_code = cast(x'c3' as text) "
                     "where header_id = ?", (ids[0],))
    endpoint = SqlEndpoint(f"sqlite:///{world.shop_db}")
    try:
        offered = list(endpoint.inbox("orders"))
    finally:
        endpoint.close()
    assert [i.label for i in offered] == [f"optsync_inbox_orders id {ids[0]}",
                                         f"WWW/2 (optsync_inbox_orders id {ids[1]})",
                                         f"WWW/3 (optsync_inbox_orders id {ids[2]})"]
    assert offered[0].record is None and "the row cannot be read" in (offered[0].error or "")
    assert all(i.record is not None for i in offered[1:])
