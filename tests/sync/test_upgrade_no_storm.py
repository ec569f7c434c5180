"""An installation upgraded to schema 4 (settled watermark, 8-byte hashes) keeps what it sent.

The state database of the previous version is made the way that version left it: 16-byte hex
hashes of each sent record in ``optsync_sync_hashes``, marks holding the newest stamp sent,
schema version 3. The first pass after the upgrade must send only real changes.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

from sqlalchemy import create_engine, select
from sync_world import COMPANY

from optsync.optima import reader
from optsync.optima.tables import tables_for
from optsync.state import tables as t
from optsync.state.db import State, make_engine


def old_hash(record: dict) -> str:
    """How versions up to schema 3 hashed a record (its timestamp popped)."""
    return hashlib.blake2b(repr(tuple(record.values())).encode(), digest_size=16).hexdigest()


def records(world, entity: str) -> list[dict]:
    engine = create_engine(f"sqlite:///{world.company_db}")
    tables = tables_for(engine)
    read = {"products": reader.read_products, "prices": reader.read_prices,
            "stock": reader.read_stock}[entity]
    with engine.connect() as conn:
        rows = [r for batch in read(conn, tables) for r in batch]
    engine.dispose()
    return rows


def make_previous_version(world) -> None:
    """Turn the state of a pass into what schema 3 would have stored for the same pass."""
    from optsync.sync.export import key_function

    world.state.dispose()
    engine = make_engine(f"sqlite:///{world.state.home / 'state.db'}")
    with engine.begin() as conn:
        marks = conn.execute(select(t.sync_marks)).mappings().all()
        conn.exec_driver_sql("DROP TABLE optsync_export_hashes")
        conn.exec_driver_sql("ALTER TABLE optsync_sync_marks DROP COLUMN started_utc")
        t.sync_hashes.create(conn)
        for mark in marks:
            entity = mark["entity"]
            if entity not in ("products", "prices", "stock"):
                continue  # not an entity this integration exports
            rows = records(world, entity)
            stamps = [r.pop("_ts") for r in rows if "_ts" in r]
            key = key_function(entity)
            conn.execute(t.sync_hashes.insert(), [
                {"integration_id": mark["integration_id"], "entity": entity,
                 "key": key(r), "hash": old_hash(r)} for r in rows])
            if stamps:  # schema 3 kept the newest stamp sent
                conn.exec_driver_sql(
                    "UPDATE optsync_sync_marks SET watermark = ? WHERE entity = ?",
                    (max(stamps).isoformat(" "), entity))
        conn.exec_driver_sql("UPDATE optsync_meta SET value = '3' WHERE key = 'schema_version'")
    engine.dispose()


def run(cli, *args):
    return json.loads(cli("run", "--company", COMPANY, "--only", "export", *args, "--json").stdout)


def steps(result):
    return {s["entity"]: s for s in result["steps"]}


def change_a_product_and_a_price(world) -> str:
    """One real change of each kind: a product's name (newly stamped) and a price; the
    product's code."""
    with world.optima() as c:
        code = c.execute("select Twr_Kod from Towary order by Twr_TwrId limit 1").fetchone()[0]
        c.execute("update Towary set Twr_Nazwa = 'Po aktualizacji', Twr_TS_Mod = ? "
                  "where Twr_Kod = ?", (datetime.now() + timedelta(days=1), code))
        c.execute("update TwrCeny set TwC_Wartosc = TwC_Wartosc + 1 where TwC_TwCID = "
                  "(select min(TwC_TwCID) from TwrCeny where TwC_TwCNumer = 1)")
    return code


def test_the_first_pass_after_the_upgrade_sends_only_real_changes(cli, world):
    first = steps(run(cli))
    assert first["products"]["written"] == 30
    make_previous_version(world)

    change_a_product_and_a_price(world)  # while the old version ran
    after = steps(run(cli))
    assert after["products"]["written"] == 1
    assert after["prices"]["written"] == 1
    assert after["stock"]["written"] == 0

    state = State(world.state.home)
    with state.engine.connect() as conn:
        hashes = dict(conn.execute(
            select(t.export_hashes.c.entity, t.export_hashes.c.hash)
            .where(t.export_hashes.c.entity == "prices", t.export_hashes.c.hash < 0)).all())
    state.dispose()
    assert hashes == {}  # every price was read and compared: all now hold current hashes
    again = steps(run(cli))
    assert all(s["written"] == 0 for s in again.values())


def test_an_upgraded_mark_reads_only_the_newest_second_again(cli, world):
    run(cli)
    make_previous_version(world)
    with world.optima() as c:
        newest = c.execute("select count(*) from Towary where Twr_TS_Mod >= "
                           "(select datetime(max(Twr_TS_Mod), '-1 second') from Towary)"
                           ).fetchone()[0]
    after = steps(run(cli))
    assert after["products"]["read"] == newest < 30
    assert after["products"]["written"] == 0
    assert steps(run(cli))["products"]["read"] == 0  # now on the settled watermark


def blake_hashes(rows: list) -> list[int]:
    """How versions from schema 4 until XXH3 hashed rows as read: 63 bits of BLAKE2b."""
    return [int.from_bytes(hashlib.blake2b(repr(r).encode(), digest_size=8).digest(), "big") >> 1
            for r in rows]


def stored_hashes(world, entity: str) -> dict[str, int]:
    state = State(world.state.home)
    h = t.export_hashes.c
    with state.engine.connect() as conn:
        found = dict(conn.execute(select(h.key, h.hash).where(h.entity == entity)).all())
    state.dispose()
    return found


def test_hashes_stored_before_xxh3_are_recognized_and_replaced(cli, world, monkeypatch):
    from optsync.sync import export

    with monkeypatch.context() as m:  # the pass as the version hashing with BLAKE2b ran it
        m.setattr(export, "row_hashes", blake_hashes)
        first = steps(run(cli))
    assert first["products"]["written"] == 30 and first["prices"]["written"] > 0
    before = {e: stored_hashes(world, e) for e in ("products", "prices")}

    code = change_a_product_and_a_price(world)  # after the upgrade
    after = steps(run(cli))
    assert (after["products"]["written"], after["prices"]["written"],
            after["stock"]["written"]) == (1, 1, 0)
    assert after["prices"]["read"] == len(before["prices"])  # all read, the rest recognized

    prices = stored_hashes(world, "prices")
    assert prices.keys() == before["prices"].keys()
    assert not set(prices.items()) & set(before["prices"].items())  # every one replaced
    products = stored_hashes(world, "products")
    changed = {k for k in products if products[k] != before["products"][k]}
    assert changed == {code}  # the rows not read again keep theirs, recognized when read
    again = steps(run(cli))
    assert all(s["written"] == 0 for s in again.values())
