"""Products and customers deleted in Optima are marked deleted at the endpoint.

Found by a count of keys (Optima's against those sent and not deleted); the keys themselves
are looked up only when the counts differ.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from export_bench import ExportBench

from optsync.optima import reader


def delete_product(bench: ExportBench, code: str) -> None:
    """Delete a product as Optima does: its prices and stock go with it."""
    with bench.optima() as c:
        (twr_id,) = c.execute("select Twr_TwrId from Towary where Twr_Kod = ?", (code,)).fetchone()
        c.execute("delete from TwrCeny where TwC_TwrID = ?", (twr_id,))
        c.execute("delete from TwrIlosci where TwI_TwrId = ?", (twr_id,))
        c.execute("delete from Towary where Twr_TwrId = ?", (twr_id,))


@pytest.fixture
def lookups(monkeypatch):
    """Count the key lookups in Optima (the expensive part of the check)."""
    calls = []
    original = reader.existing_keys

    def counting(conn, t, entity, keys):
        calls.append(len(keys))
        return original(conn, t, entity, keys)

    monkeypatch.setattr(reader, "existing_keys", counting)
    return calls


def test_a_product_deleted_in_optima_becomes_a_delete_record_in_the_folder(tmp_path, lookups):
    bench = ExportBench(tmp_path, "folder")
    try:
        bench.run()
        gone = bench.codes()[5]
        delete_product(bench, gone)
        bench.clock.advance(minutes=15)
        step = bench.run()
        assert (step.read, step.written, step.deleted) == (0, 0, 1)
        assert bench.folder_records()[-1] == {"op": "delete", "code": gone}
        assert lookups == [40]  # the counts differed: the 40 sent keys were looked up once
        bench.clock.advance(minutes=15)
        assert bench.run().deleted == 0  # forgotten: never sent as deleted again
    finally:
        bench.close()


def test_a_product_deleted_in_optima_is_marked_deleted_in_the_sql_endpoint(tmp_path):
    bench = ExportBench(tmp_path, "sql")
    try:
        bench.run()
        bench.run("prices")
        gone = bench.codes()[0]
        delete_product(bench, gone)
        bench.clock.advance(minutes=15)
        assert bench.run().deleted == 1
        assert bench.run("prices").deleted >= 1
        rows = bench.sql_rows()
        assert rows[gone] == 1
        assert sum(rows.values()) == 1  # every other product still there
        # a product given the deleted code: sent again under it, no longer deleted; its
        # old code is now the deleted one
        other = bench.codes()[0]
        with bench.optima() as c:
            c.execute("update Towary set Twr_Kod = ? where Twr_Kod = ?", (gone, other))
        bench.stamp(bench.clock.local, codes=[gone])
        bench.clock.advance(minutes=15)
        step = bench.run()
        assert (step.written, step.deleted) == (1, 1)
        rows = bench.sql_rows()
        assert (rows[gone], rows[other]) == (0, 1)
    finally:
        bench.close()


def test_a_pass_with_nothing_deleted_only_counts(tmp_path, lookups):
    bench = ExportBench(tmp_path)
    try:
        bench.run()
        bench.run("customers")
        for _ in range(3):
            bench.clock.advance(minutes=15)
            assert bench.run().deleted == 0
            assert bench.run("customers").deleted == 0
        assert lookups == []
    finally:
        bench.close()


def test_a_product_deleted_while_another_was_added_is_still_found(tmp_path):
    bench = ExportBench(tmp_path)
    try:
        bench.run()
        first, second = bench.codes()[:2]
        delete_product(bench, first)
        with bench.optima() as c:  # a new product under the old code's number
            c.execute("update Towary set Twr_Kod = 'NOWY-1' where Twr_Kod = ?", (second,))
        bench.stamp(bench.clock.local - timedelta(minutes=1), codes=["NOWY-1"])
        bench.clock.advance(minutes=15)
        step = bench.run()
        assert (step.written, step.deleted) == (1, 2)  # NOWY-1 sent; both old codes deleted
        deleted = {r["code"] for r in bench.folder_records() if r["op"] == "delete"}
        assert deleted == {first, second}
    finally:
        bench.close()


def test_a_customer_deleted_in_optima_is_sent_as_deleted(tmp_path):
    bench = ExportBench(tmp_path, "sql")
    try:
        bench.run("customers")
        code = bench.codes("Kontrahenci")[3]
        with bench.optima() as c:
            c.execute("delete from Kontrahenci where Knt_Kod = ?", (code,))
        bench.clock.advance(minutes=15)
        assert bench.run("customers").deleted == 1
        assert bench.sql_rows("customers")[code] == 1
    finally:
        bench.close()


def test_a_dry_run_counts_deletions_without_sending_or_forgetting_them(tmp_path):
    bench = ExportBench(tmp_path)
    try:
        bench.run()
        delete_product(bench, bench.codes()[2])
        bench.clock.advance(minutes=15)
        assert bench.run(dry_run=True).deleted == 1
        assert not any(r["op"] == "delete" for r in bench.folder_records())
        assert bench.run().deleted == 1
    finally:
        bench.close()
