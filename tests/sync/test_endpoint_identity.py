"""Endpoint identity: a deleted, replaced or restored endpoint ends equal to Optima after one pass.

Equality is checked against a fresh full export: a second integration added to the same
company at the end, whose endpoint starts empty, so its first pass sends everything Optima
holds. Every outbound exchange table of both must hold the same live rows (``deleted = 0``,
all columns but ``updated_at``).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import datetime
from pathlib import Path

from sync_world import COMPANY, World

from optsync.endpoints.tables import MARK_TABLE
from optsync.services import config as manage
from optsync.state import tables as t
from optsync.sync import identity


def run(cli, *args, code=0):
    return json.loads(cli("run", "--company", COMPANY, *args, "--json", code=code).stdout)


def steps(result, integration="sklep"):
    return {s["entity"]: s for s in result["steps"]
            if s["integration"] == integration and s["direction"] == "export"}


def live(db: Path) -> dict[str, set[tuple]]:
    """Every outbound exchange table's rows not marked deleted, without ``updated_at``."""
    conn = sqlite3.connect(db)
    try:
        tables = [n for (n,) in conn.execute(
            "select name from sqlite_master where type = 'table' and name like 'optsync_%' "
            "and name not like 'optsync_inbox%' and name != ? order by name", (MARK_TABLE,))]
        content = {}
        for table in tables:
            columns = sorted(c[1] for c in conn.execute(f'pragma table_info("{table}")')
                             if c[1] not in ("updated_at", "deleted"))  # added ones come last
            listed = ", ".join(f'"{c}"' for c in columns)
            content[table] = set(conn.execute(
                f'select {listed} from "{table}" where deleted = 0'))
        return content
    finally:
        conn.close()


def marks(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(f"select identity, last_run, integration from {MARK_TABLE}").fetchall()


def equal_to_a_fresh_full_export(cli, world: World) -> None:
    fresh = world.root / "fresh.db"
    manage.add_integration(world.state, COMPANY, "eshop", f"sqlite:///{fresh}", name="wzorzec",
                           import_="")
    result = run(cli, "--only", "export")
    assert all(s["status"] == "ok" for s in result["steps"])
    assert live(world.shop_db) == live(fresh)
    assert sum(len(rows) for rows in live(fresh).values()) > 50


def change_optima(world: World) -> list[str]:
    """Rename 20 products, change prices, delete two products and a price; the codes renamed."""
    codes = world.product_codes(24)
    now = datetime.now()
    with world.optima() as c:
        for number, code in enumerate(codes[:20]):
            c.execute("update Towary set Twr_Nazwa = ?, Twr_TS_Mod = ? where Twr_Kod = ?",
                      (f"Nazwa po zmianie {number}", now, code))
        c.execute("update TwrCeny set TwC_Wartosc = TwC_Wartosc + 1 where TwC_TwCNumer = 1 and "
                  "TwC_TwrID in (select Twr_TwrId from Towary where Twr_Kod in (?, ?, ?))",
                  tuple(codes[20:23]))
        c.execute("delete from TwrCeny where TwC_TwCNumer = 2 and TwC_TwrID = "
                  "(select Twr_TwrId from Towary where Twr_Kod = ?)", (codes[20],))
        for code in codes[22:24]:
            ids = "(select Twr_TwrId from Towary where Twr_Kod = ?)"
            c.execute(f"delete from TwrCeny where TwC_TwrID = {ids}", (code,))
            c.execute(f"delete from TwrIlosci where TwI_TwrId = {ids}", (code,))
            c.execute("delete from Towary where Twr_Kod = ?", (code,))
    return codes[:20]


def sync_logs(cli) -> list[dict]:
    return [json.loads(line) for line in
            cli("logs", "--filter", "sync", "--limit", "500", "--json").stdout.splitlines()]


def test_a_deleted_sql_endpoint_database_is_filled_again_completely_by_the_next_pass(
        cli, world):
    first = run(cli)
    assert first["status"] == "ok"
    [(ident, last_run, integration)] = marks(world.shop_db)
    assert (last_run, integration) == (first["run_id"], "sklep")
    world.shop_db.unlink()
    again = run(cli)
    assert again["status"] == "ok"
    assert steps(again)["products"]["written"] == steps(first)["products"]["written"] > 0
    assert marks(world.shop_db) == [(ident, again["run_id"], "sklep")]
    warned = [r for r in sync_logs(cli) if r["run_id"] == again["run_id"]
              and r["level"] == "warning"]
    assert any("has no optsync mark" in r["message"] and "sent again" in r["message"]
               for r in warned)
    status = cli("status", "--json")
    assert "sent everything again" in status.stderr and "sklep" in status.stderr
    quiet = run(cli)
    assert all(s["written"] == 0 for s in steps(quiet).values())
    equal_to_a_fresh_full_export(cli, world)


def test_a_restored_older_copy_of_the_sql_endpoint_becomes_equal_to_optima_in_one_pass(
        cli, world):
    run(cli)
    backup = world.root / "shop-backup.db"
    shutil.copy(world.shop_db, backup)
    renamed = change_optima(world)
    changed = run(cli)
    assert steps(changed)["products"]["written"] >= 20
    shutil.copy(backup, world.shop_db)  # the administrator restores last night's backup
    with world.shop() as shop:
        assert shop.execute("select count(*) from optsync_products where name like "
                            "'Nazwa po zmianie%'").fetchone() == (0,)
    repaired = run(cli)
    assert repaired["status"] == "ok"
    reasons = [r["message"] for r in sync_logs(cli)
               if r["run_id"] == repaired["run_id"] and r["level"] == "warning"]
    assert any("older than run" in m and "restored from a backup" in m for m in reasons)
    with world.shop() as shop:
        names = dict(shop.execute("select code, name from optsync_products where deleted = 0"))
        gone = shop.execute("select count(*) from optsync_products where deleted = 1"
                            ).fetchone()[0]
    assert all(names[code].startswith("Nazwa po zmianie") for code in renamed)
    assert gone == 2
    equal_to_a_fresh_full_export(cli, world)


def test_doctor_reports_an_endpoint_whose_mark_disagrees(cli, world):
    run(cli)
    backup = world.root / "shop-backup.db"
    shutil.copy(world.shop_db, backup)
    run(cli)
    checks = {c["check"]: c for c in cli.json("doctor", code=None)}
    assert checks[f"endpoint {COMPANY}/sklep"]["status"] == "ok"
    shutil.copy(backup, world.shop_db)
    check = {c["check"]: c for c in cli.json("doctor", code=None)}[f"endpoint {COMPANY}/sklep"]
    assert check["status"] == "warn" and "older than run" in check["detail"]
    with world.shop() as shop:
        shop.execute(f"delete from {MARK_TABLE}")
    check = {c["check"]: c for c in cli.json("doctor", code=None)}[f"endpoint {COMPANY}/sklep"]
    assert check["status"] == "warn" and "has no optsync mark" in check["detail"]


def forget_identities(world: World) -> None:
    """What an optsync from before endpoint marks leaves: sent-state, no identity, no mark."""
    with world.state.engine.begin() as conn:
        conn.execute(t.sync_marks.delete().where(t.sync_marks.c.entity == identity.ENTITY))
    with world.shop() as shop:
        shop.execute(f"drop table {MARK_TABLE}")


def test_an_endpoint_written_before_marks_existed_is_adopted_without_sending_again(cli, world):
    run(cli)
    forget_identities(world)
    adopted = run(cli)
    assert adopted["status"] == "ok"
    assert all(s["written"] == 0 for s in steps(adopted).values())
    assert [(run_id, name) for _, run_id, name in marks(world.shop_db)] == [
        (adopted["run_id"], "sklep")]
    messages = [r["message"] for r in sync_logs(cli) if r["run_id"] == adopted["run_id"]]
    assert any("adopted" in m for m in messages)
    assert not any("sent again" in m for m in messages)
    assert all(s["written"] == 0 for s in steps(run(cli)).values())


def test_an_empty_endpoint_of_an_integration_from_before_marks_is_filled(cli, world):
    first = run(cli)
    forget_identities(world)
    world.shop_db.unlink()
    filled = run(cli)
    assert steps(filled)["products"]["written"] == steps(first)["products"]["written"]
    assert len(marks(world.shop_db)) == 1
    equal_to_a_fresh_full_export(cli, world)


def test_exchange_tables_of_an_earlier_optsync_get_the_new_columns_and_keep_their_rows(
        cli, world):
    run(cli)
    with world.shop() as shop:
        shop.execute("alter table optsync_products drop column description")
        shop.execute("alter table optsync_prices drop column price_list_name")
        shop.execute("insert into optsync_inbox_orders (external_id, status) "
                     "values ('SKLEP-OLD-1', 'imported')")
        before = {table: shop.execute(f"select count(*) from {table}").fetchone()[0]
                  for table in ("optsync_products", "optsync_prices", "optsync_inbox_orders")}
    upgraded = run(cli)
    assert upgraded["status"] == "ok"
    with world.shop() as shop:
        after = {table: shop.execute(f"select count(*) from {table}").fetchone()[0]
                 for table in before}
        columns = {c[1] for c in shop.execute("pragma table_info(optsync_products)")}
        empty = shop.execute("select count(*) from optsync_prices where price_list_name is null"
                             ).fetchone()[0]
    assert after == before
    assert "description" in columns and empty == 0
    assert steps(upgraded)["products"]["written"] == before["optsync_products"]
    equal_to_a_fresh_full_export(cli, world)


def test_a_dry_run_writes_no_mark_and_leaves_the_re_send_to_the_next_pass(cli, world):
    dry = run(cli, "--dry-run")
    assert dry["status"] == "ok"
    assert not world.shop_db.exists() or marks(world.shop_db) == []
    run(cli)
    world.shop_db.unlink()
    run(cli, "--dry-run")
    assert not world.shop_db.exists() or marks(world.shop_db) == []
    real = run(cli)
    assert steps(real)["products"]["written"] > 0


def test_a_narrowed_pass_sends_its_entity_again_but_leaves_the_mark_to_a_complete_pass(
        cli, world):
    run(cli)
    world.shop_db.unlink()
    narrowed = run(cli, "--entity", "prices")
    assert steps(narrowed)["prices"]["written"] > 0
    assert marks(world.shop_db) == []
    complete = run(cli)
    assert steps(complete)["products"]["written"] > 0
    assert [r for _, r, _ in marks(world.shop_db)] == [complete["run_id"]]


def add_folder_integration(world: World) -> Path:
    world.folder.mkdir()
    manage.add_integration(world.state, COMPANY, "detal", str(world.folder), name="detal",
                           import_="")
    return world.folder


def out_products(folder: Path) -> list[dict]:
    return [json.loads(line) for path in sorted((folder / "out" / "products").glob("*.jsonl"))
            for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_replaced_folder_endpoint_gets_everything_again(cli, world):
    folder = add_folder_integration(world)
    first = run(cli)
    mark = json.loads((folder / ".optsync-mark.json").read_text(encoding="utf-8"))
    assert [(m["last_run"], m["integration"]) for m in mark["marks"]] == [
        (first["run_id"], "detal")]
    sent = len(out_products(folder))
    assert sent == steps(first, "detal")["products"]["written"] > 0
    shutil.rmtree(folder)
    folder.mkdir()  # a new, empty share
    again = run(cli)
    assert len(out_products(folder)) == sent
    assert steps(again, "detal")["customers"]["written"] == steps(first, "detal")[
        "customers"]["written"]
    consumed = run(cli)  # nothing new: the application may delete what it read
    assert steps(consumed, "detal")["products"]["written"] == 0


def test_stale_temporary_files_of_optsync_are_removed_and_nothing_else(cli, world):
    import os

    folder = add_folder_integration(world)
    run(cli)
    out = folder / "out" / "products"
    old = 1_000_000_000  # 2001: older than any lock
    leftover = out / ".20261129T100002.123456Z-7.jsonl.tmp"
    others = [out / ".20261129T100002.123456Z-8.jsonl.tmp.keep", out / ".my-app.tmp",
              out / "notes.txt", folder / "in" / ".20261129T100002.123456Z-7.jsonl.tmp"]
    for path in [leftover, *others]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}\n")
        os.utime(path, (old, old))
    fresh = out / ".20261129T100003.000000Z-9.jsonl.tmp"  # newer than the lock: a live pass
    fresh.write_text("{}\n")
    os.utime(fresh, (4_000_000_000, 4_000_000_000))
    result = run(cli)
    assert not leftover.exists()
    assert all(p.exists() for p in others) and fresh.exists()
    removed = [r for r in sync_logs(cli) if r["run_id"] == result["run_id"]
               and "temporary file" in r["message"]]
    assert removed and removed[0]["data"]["removed"] == [
        "out/products/.20261129T100002.123456Z-7.jsonl.tmp"]
