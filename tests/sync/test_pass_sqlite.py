"""A pass end to end on SQLite files, through the CLI."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from shop_scenarios import two_good_orders_and_one_bad
from sync_world import COMPANY, make_world

from optsync.demo.world import write_shop_orders
from optsync.errors import ExitCode
from optsync.services import config as manage


def shop_tables(w) -> set[str]:
    if not w.shop_db.exists():
        return set()
    with w.shop() as shop:
        return {r[0] for r in shop.execute("select name from sqlite_master where type='table'")}


def run(cli, *args, code=0):
    return json.loads(cli("run", "--company", COMPANY, *args, "--json", code=code).stdout)


def steps(result, direction=None):
    return {(s["integration"], s["entity"]): s for s in result["steps"]
            if direction is None or s["direction"] == direction}


def optima_products(w):
    with w.optima() as c:
        return {code: (name, 1 - inactive) for code, name, inactive in c.execute(
            "select Twr_Kod, Twr_Nazwa, Twr_NieAktywny from Towary")}


def optima_prices(w):
    with w.optima() as c:
        return {(code, lp): Decimal(str(value)).quantize(Decimal("0.01"))
                for code, lp, value in c.execute(
                    "select Twr_Kod, TwC_TwCNumer, TwC_Wartosc from TwrCeny "
                    "join Towary on TwC_TwrID = Twr_TwrId join DefCeny on TwC_TwCNumer = DfC_Lp "
                    "where coalesce(DfC_Nieaktywna, 0) = 0")}


def optima_stock(w):
    with w.optima() as c:
        return {(code, mag): Decimal(str(qty)) for code, mag, qty in c.execute(
            "select Twr_Kod, Mag_Symbol, TwI_Ilosc from TwrIlosci i "
            "join Towary on TwI_TwrId = Twr_TwrId join Magazyny on TwI_MagId = Mag_MagId "
            "where TwI_Data = (select max(TwI_Data) from TwrIlosci j "
            "  where j.TwI_TwrId = i.TwI_TwrId and j.TwI_MagId = i.TwI_MagId)")}


def test_one_pass_makes_the_shop_hold_what_optima_holds(cli, world):
    result = run(cli)
    assert result["status"] == "ok" and result["trigger"] == "manual"
    with world.shop() as shop:
        products = {code: (name, active) for code, name, active in shop.execute(
            "select code, name, active from optsync_products where deleted = 0")}
        prices = {(code, lp): Decimal(str(v)).quantize(Decimal("0.01"))
                  for code, lp, v in shop.execute(
                      "select product_code, price_list, value from optsync_prices "
                      "where deleted = 0")}
        stock = {(code, wh): Decimal(str(q)) for code, wh, q in shop.execute(
            "select product_code, warehouse, quantity from optsync_stock where deleted = 0")}
    assert products == optima_products(world)
    assert any(active == 0 for _, active in products.values())  # inactive ones as active=0
    assert prices == optima_prices(world)
    assert not any(lp == 3 for _, lp in prices)  # the inactive price list is absent
    assert stock == optima_stock(world)
    counts = steps(result, "export")
    assert counts[("sklep", "products")]["written"] == len(products)


def test_second_pass_writes_nothing_and_one_change_writes_exactly_one(cli, world):
    run(cli)
    second = run(cli)
    assert all(s["written"] == 0 for s in steps(second, "export").values())
    code = world.product_codes(1)[0]
    with world.optima() as c:
        c.execute("update Towary set Twr_Nazwa = 'Kawa zmieniona', Twr_TS_Mod = ? "
                  "where Twr_Kod = ?", (datetime.now() + timedelta(days=1), code))
        c.execute("update TwrCeny set TwC_Wartosc = 999.99 where TwC_TwCNumer = 1 and "
                  "TwC_TwrID = (select Twr_TwrId from Towary where Twr_Kod = ?)", (code,))
    third = steps(run(cli), "export")
    assert third[("sklep", "products")]["written"] == 1
    assert third[("sklep", "prices")]["written"] == 1
    assert third[("sklep", "stock")]["written"] == 0
    with world.shop() as shop:
        assert shop.execute("select name from optsync_products where code = ?",
                            (code,)).fetchone() == ("Kawa zmieniona",)


def test_a_vanished_price_is_sent_as_deleted(cli, world):
    run(cli)
    with world.optima() as c:
        c.execute("delete from TwrCeny where TwC_TwCID = (select min(TwC_TwCID) from TwrCeny "
                  "where TwC_TwCNumer = 1)")
    result = steps(run(cli), "export")
    assert result[("sklep", "prices")]["deleted"] == 1
    with world.shop() as shop:
        assert shop.execute("select count(*) from optsync_prices where deleted = 1"
                            ).fetchone() == (1,)
    assert steps(run(cli), "export")[("sklep", "prices")]["deleted"] == 0


def test_dry_run_writes_nothing_and_full_sends_everything(cli, world):
    dry = run(cli, "--dry-run")
    assert steps(dry, "export")[("sklep", "products")]["written"] > 0
    if "optsync_products" in shop_tables(world):
        with world.shop() as shop:
            assert shop.execute("select count(*) from optsync_products").fetchone() == (0,)
    first = run(cli)
    full = run(cli, "--full", "--only", "export")
    assert {k: s["written"] for k, s in steps(full).items()} == {
        k: s["written"] for k, s in steps(first, "export").items()}
    only_products = run(cli, "--entity", "products")
    assert [(s["entity"], s["direction"]) for s in only_products["steps"]] == [
        ("products", "export")]


def test_orders_become_draft_ro_documents_and_a_bad_one_is_rejected(cli, world):
    codes = world.product_codes(4)
    good, bad = two_good_orders_and_one_bad(codes)
    write_shop_orders(f"sqlite:///{world.shop_db}", good + bad)

    result = run(cli, "--only", "import", code=1)
    assert result["status"] == "partial"
    orders = steps(result)[("sklep", "orders")]
    assert (orders["read"], orders["written"], orders["rejected"]) == (3, 2, 1)

    with world.shop() as shop:
        rows = {ext: (status, erp_id, error) for ext, status, erp_id, error in shop.execute(
            "select external_id, status, erp_id, error from optsync_inbox_orders")}
    assert rows[bad[0]["external_id"]][0] == "rejected"
    assert "NIE-MA-TAKIEGO" in rows[bad[0]["external_id"]][2]
    first_id = rows[good[0]["external_id"]][1]
    assert rows[good[0]["external_id"]][0] == "imported" and first_id

    with world.optima() as c:
        header = c.execute(
            "select TrN_TypDokumentu, TrN_Rodzaj, TrN_Bufor, TrN_RazemBrutto, TrN_ImportRowId, "
            "TrN_OpeZalKod, TrN_NumerObcy from TraNag where TrN_TrNID = ?", (first_id,)
        ).fetchone()
        lines = c.execute("select count(*) from TraElem where TrE_TrNId = ?",
                          (first_id,)).fetchone()[0]
    typ, rodzaj, bufor, gross, guid, operator, obcy = header
    assert (typ, rodzaj, bufor) == (308, 308000, 1)
    assert Decimal(str(gross)).quantize(Decimal("0.01")) == Decimal("9.99") + Decimal("15.02")
    assert guid and operator == "ADMIN" and obcy == good[0]["external_id"]
    assert lines == 2

    warnings = [json.loads(x) for x in cli("logs", "--filter", "sync", "--level", "warning",
                                          "--json").stdout.splitlines()]
    assert any(bad[0]["external_id"] in r["message"] and r["level"] == "warning"
               for r in warnings)

    # offered again (the shop resets the status): not imported twice
    with world.shop() as shop:
        shop.execute("update optsync_inbox_orders set status = 'new'")
    again = run(cli, "--only", "import", code=1)
    assert steps(again)[("sklep", "orders")]["written"] == 0
    with world.optima() as c:
        assert c.execute("select count(*) from TraNag where TrN_NumerObcy = ?",
                         (good[0]["external_id"],)).fetchone() == (1,)


def test_folder_receipts_become_draft_pa_and_bad_files_fail(cli, world):
    manage.add_integration(world.state, COMPANY, "detal", str(world.folder), name="kasa",
                           export="products")
    inbox = world.folder / "in" / "receipts"
    inbox.mkdir(parents=True)
    codes = world.product_codes(3)
    receipt = {"external_id": "PAR/1", "issued_at": "2026-11-29T10:00:00", "currency": "PLN",
               "lines": [{"line_no": 1, "product_code": codes[0], "quantity": "2",
                          "unit_price": "4.99", "price_kind": "gross"}]}
    (inbox / "a.json").write_text(json.dumps(receipt))
    bad = dict(receipt, external_id="PAR/2",
               lines=[dict(receipt["lines"][0], product_code="BRAK")])
    good2 = dict(receipt, external_id="PAR/3")
    (inbox / "b.jsonl").write_text(json.dumps(bad) + "\n" + json.dumps(good2) + "\n")
    (inbox / "c.json").write_text("{not json")
    (inbox / ".d.json").write_text(json.dumps(dict(receipt, external_id="PAR/HIDDEN")))

    result = run(cli, "--only", "import", "--entity", "receipts", code=1)
    step = steps(result)[("kasa", "receipts")]
    assert (step["read"], step["written"], step["rejected"]) == (4, 2, 2)
    assert (inbox / "done" / "a.json").exists()
    assert (inbox / "failed" / "b.jsonl").exists()
    assert "BRAK" in (inbox / "failed" / "b.jsonl.error.txt").read_text()
    assert (inbox / "failed" / "c.json.error.txt").exists()
    assert (inbox / ".d.json").exists()  # dotfiles are never read
    with world.optima() as c:
        rows = c.execute("select TrN_TypDokumentu, TrN_Bufor, TrN_NumerObcy from TraNag "
                         "where TrN_ImportAppId = 'OSYNC' order by TrN_NumerObcy").fetchall()
    assert rows == [(305, 1, "PAR/1"), (305, 1, "PAR/3")]

    exported = steps(run(cli, "--only", "export"))[("kasa", "products")]
    files = list((world.folder / "out" / "products").glob("*.jsonl"))
    assert len(files) == 1 and not list((world.folder / "out" / "products").glob(".*"))
    assert len(files[0].read_text().splitlines()) == exported["written"]


def test_no_operator_exits_78_and_the_refused_pass_is_recorded(cli, world):
    manage.remove_operator(world.state)
    result = cli("run", "--company", COMPANY, code=ExitCode.CONFIG)
    assert "operator" in result.stderr
    refused = run(cli, code=ExitCode.CONFIG)
    assert (refused["status"], refused["reason"], refused["steps"]) == ("failed", "config", [])
    (row,) = cli.json("schedule", "list")
    assert row["last_run"]["status"] == "failed"
    logged = [json.loads(x) for x in cli("logs", "--filter", "sync", "--json").stdout.splitlines()]
    assert any("not started" in r["message"] and r["level"] == "error" for r in logged)


@pytest.mark.parametrize("blocked", [True, False], ids=["blocked", "barred"])
def test_operator_refused_by_optima_exits_78(cli, tmp_path, blocked):
    w = make_world(tmp_path, operators=[("JAN", "Jan Kowalski", blocked)],
                   bans=[] if blocked else [("JAN", COMPANY)])
    manage.set_operator(w.state, "JAN", None)
    manage.discover(w.state, f"sqlite:///{w.config_db}")
    manage.add_integration(w.state, COMPANY, "eshop", f"sqlite:///{w.shop_db}")
    result = cli("--home", str(w.state.home), "run", "--company", COMPANY, code=ExitCode.CONFIG)
    assert ("blocked" if blocked else "access") in result.stderr or "barred" in result.stderr
    logged = cli("--home", str(w.state.home), "logs", "--filter", "sync", "--json").stdout
    assert "not started" in logged
    assert shop_tables(w) == set()


def test_unknown_company_exits_2_and_unreachable_database_exits_69(cli, world):
    cli("run", "--company", "Nie Ma Takiej", code=ExitCode.BAD_INPUT)
    manage.add_company(world.state, "Zdalna", "postgresql+psycopg://u:Tajne-123@127.0.0.1:9/x")
    manage.add_integration(world.state, "Zdalna", "eshop", str(world.folder))
    result = cli("run", "--company", "Zdalna", code=ExitCode.UNAVAILABLE)
    assert "Tajne-123" not in result.stderr and "***" in result.stderr
    assert "Tajne-123" not in cli("logs", "--json").stdout


def test_company_without_integrations_exits_78(cli, world):
    manage.add_company(world.state, "Pusta", f"sqlite:///{world.company_db}")
    cli("run", "--company", "Pusta", code=ExitCode.CONFIG)


def test_scheduled_pass_outside_its_window_is_skipped_and_writes_nothing(cli, world):
    now = datetime.now()
    start = (now + timedelta(hours=3)).strftime("%H:%M")
    end = (now + timedelta(hours=4)).strftime("%H:%M")
    manage.set_schedule(world.state, COMPANY, start=start, end=end, every="15m")
    result = run(cli, "--scheduled")
    assert (result["status"], result["reason"], result["trigger"]) == (
        "skipped", "not-scheduled", "scheduled")
    assert shop_tables(world) == set()
    manage.set_schedule(world.state, COMPANY, start="00:00", end="23:59", every="1m")
    assert run(cli, "--scheduled")["status"] == "ok"


def test_run_due_runs_each_due_company_once(cli, world):
    assert json.loads(cli("run", "--due", "--json").stdout) == []  # no schedule yet
    manage.set_schedule(world.state, COMPANY, every="1h")
    first = json.loads(cli("run", "--due", "--json").stdout)
    assert [(r["company"], r["trigger"]) for r in first] == [(COMPANY, "due")]
    assert json.loads(cli("run", "--due", "--json").stdout) == []  # served already
    assert [r["company"] for r in json.loads(cli("run", "--all", "--json").stdout)] == [COMPANY]


def test_a_held_lock_skips_with_75_and_all_reports_locked(cli, world):
    from optsync.state import config as cfg
    from optsync.state.locks import try_acquire

    company = cfg.get_company(world.state, COMPANY)
    lease = try_acquire(world.state, company.id)  # this process is alive: the lock holds
    assert lease is not None
    result = run(cli, code=ExitCode.LOCKED)
    assert (result["status"], result["reason"]) == ("skipped", "locked")
    many = json.loads(cli("run", "--all", "--json").stdout)
    assert [(r["status"], r["reason"]) for r in many] == [("skipped", "locked")]
    lease.release()
    assert run(cli)["status"] == "ok"


def test_run_needs_exactly_one_selection(cli, world):
    cli("run", code=ExitCode.BAD_INPUT)
    cli("run", "--all", "--due", code=ExitCode.BAD_INPUT)
    cli("run", "--all", "--only", "sideways", code=ExitCode.BAD_INPUT)


def test_all_goes_on_after_a_failing_company_and_exits_1(cli, world):
    manage.add_company(world.state, "Zdalna", "postgresql+psycopg://u:Tajne-1@127.0.0.1:9/x")
    manage.add_integration(world.state, "Zdalna", "eshop", str(world.folder))
    results = json.loads(cli("run", "--all", "--json", code=1).stdout)
    assert [(r["company"], r["status"]) for r in results] == [
        (COMPANY, "ok"), ("Zdalna", "failed")]
    from optsync.state.runs import last_runs

    assert len({r["run_id"] for r in results}) == 2
    assert last_runs(world.state)[2].status == "failed"


def test_a_due_company_served_meanwhile_by_another_host_is_skipped(cli, world):
    from optsync.state import config as cfg
    from optsync.state import runs
    from optsync.sync.due import due_companies
    from optsync.sync.engine import PassOptions, run_company

    manage.set_schedule(world.state, COMPANY, every="1h")
    (company,) = due_companies(world.state)  # chosen as due ...
    other = runs.start(world.state, company.id, company.name, "due")  # ... served elsewhere
    other.status = "ok"
    runs.finish(world.state, other)
    result = run_company(world.state, COMPANY, PassOptions(trigger="due"), company=company)
    assert (result.status, result.reason) == ("skipped", "locked")
    assert cfg.get_company(world.state, COMPANY).id == company.id


def test_a_pass_collects_less_often_and_leaves_the_collector_as_it_found_it(world):
    import gc

    from optsync.sync.engine import GC_ROWS, PassOptions, run_company

    during: list[tuple[int, int, int]] = []
    before = gc.get_threshold()
    run = run_company(world.state, COMPANY,
                      PassOptions(on_start=lambda _: during.append(gc.get_threshold())))
    assert run.status == "ok" and during
    assert {t[0] for t in during} == {max(before[0], GC_ROWS)}
    assert gc.get_threshold() == before


@pytest.mark.parametrize("change", [
    "update TwrCeny set TwC_Waluta = 'EUR' where TwC_TwCID = (select min(TwC_TwCID) from TwrCeny)",
    "update TwrCeny set TwC_Wartosc = TwC_Wartosc + 0.01 where TwC_TwCID = (select min(TwC_TwCID) from TwrCeny)",
    "update DefCeny set DfC_Nazwa = 'Detal 2' where DfC_Lp = 1",
    "update TwrIlosci set TwI_Rezerwacje = TwI_Rezerwacje + 1 where TwI_TwIId = "
    "(select max(TwI_TwIId) from TwrIlosci where TwI_MagId is not null)",
])
def test_any_change_behind_prices_or_stock_is_sent(cli, world, change):
    run(cli)
    with world.optima() as c:
        c.execute(change)
    result = steps(run(cli), "export")
    assert result[("sklep", "prices")]["written"] + result[("sklep", "stock")]["written"] >= 1


def test_a_dry_or_narrowed_manual_pass_does_not_serve_a_due_start(cli, world):
    manage.set_schedule(world.state, COMPANY, every="1h")
    run(cli, "--dry-run")
    run(cli, "--entity", "products")
    due = json.loads(cli("run", "--due", "--json").stdout)
    assert [(r["company"], r["status"]) for r in due] == [(COMPANY, "ok")]
    assert json.loads(cli("run", "--due", "--json").stdout) == []


def test_a_product_deleted_in_optima_is_marked_deleted_in_the_shop_after_the_next_pass(cli, world):
    run(cli)
    code = world.product_codes(1)[0]
    with world.optima() as c:
        c.execute("delete from TwrCeny where TwC_TwrID = "
                  "(select Twr_TwrId from Towary where Twr_Kod = ?)", (code,))
        c.execute("delete from TwrIlosci where TwI_TwrId = "
                  "(select Twr_TwrId from Towary where Twr_Kod = ?)", (code,))
        c.execute("delete from Towary where Twr_Kod = ?", (code,))
    exported = steps(run(cli), "export")
    assert exported[("sklep", "products")]["deleted"] == 1
    with world.shop() as shop:
        assert shop.execute("select code from optsync_products where deleted = 1"
                            ).fetchall() == [(code,)]
        assert shop.execute("select count(*) from optsync_prices where deleted = 1 and "
                            "product_code = ?", (code,)).fetchone()[0] >= 1


def test_prices_imported_by_one_integration_are_exported_by_the_next_in_the_same_pass(world):
    """Fingerprints taken ahead of the pass never stand for a table the pass has written."""
    import sqlite3
    from decimal import Decimal

    from optsync.sync.engine import PassOptions, run_company

    head_office = world.root / "centrala.db"
    manage.add_integration(world.state, COMPANY, "xl", f"sqlite:///{head_office}",
                           name="centrala", export="documents", import_="prices")
    assert run_company(world.state, COMPANY, PassOptions()).status == "ok"
    with world.shop() as shop:
        code, price_list, value = shop.execute(
            "SELECT product_code, price_list, value FROM optsync_prices "
            "ORDER BY product_code, price_list").fetchone()
    new = Decimal(value) + Decimal("1.25")
    with sqlite3.connect(head_office) as c:
        c.execute("INSERT INTO optsync_inbox_prices (product_code, price_list, value, currency) "
                  "VALUES (?, ?, ?, 'PLN')", (code, price_list, str(new)))
    run = run_company(world.state, COMPANY, PassOptions())
    assert run.status == "ok", run.steps
    with world.shop() as shop:
        (sent,) = shop.execute("SELECT value FROM optsync_prices WHERE product_code = ? AND "
                               "price_list = ?", (code, price_list)).fetchone()
    assert Decimal(sent) == new
