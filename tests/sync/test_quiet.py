"""The quiet check: a pass with nothing to do, recorded without the engine (sync/quiet.py).

Every test holds the short way against the engine on the same databases: what the short way
records must be what the engine records, and whatever the engine would find to do (a
change, a waiting order, a restored endpoint, another configuration) must send the pass to
the engine, with nothing written by the short way.
"""

from __future__ import annotations

import io
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from datetime import datetime, timedelta

import pytest
from sync_world import COMPANY, World, make_world, world_with_shop

from optsync.cli.fast import scheduled_skip
from optsync.services import config as manage
from optsync.sync import quiet
from optsync.sync.options import PassOptions
from optsync.sync.watermark import WINDOW


@pytest.fixture
def world(tmp_path) -> World:
    """A shop (products, prices, stock; orders and customers in), a sales rep's app
    (customers out too) and a head office (documents out), all on SQLite files."""
    w = world_with_shop(tmp_path)
    manage.add_integration(w.state, COMPANY, "mobile", f"sqlite:///{tmp_path / 'mobile.db'}",
                           name="handlowiec", import_="")
    manage.add_integration(w.state, COMPANY, "xl", f"sqlite:///{tmp_path / 'xl.db'}",
                           name="centrala", import_="")
    return w


def short_way(world: World, *args: str) -> dict | None:
    """``optsync run --company ... --json`` through the command's short way: the run it
    recorded, or None when it left the pass to the engine."""
    out = io.StringIO()
    with redirect_stdout(out):
        code = scheduled_skip(["--home", str(world.state.home), "run", "--company", COMPANY,
                               *args, "--json"])
    if code is None:
        assert out.getvalue() == ""
        return None
    assert code == 0
    return json.loads(out.getvalue())


def state_rows(world: World, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(world.state.home / "state.db") as con:
        return con.execute(sql, args).fetchall()


def logs_of(world: World, run_id: int) -> list[tuple]:
    return [(level, category, company, message, json.loads(data))
            for level, category, company, message, data in state_rows(
                world, "SELECT level, category, company, message, data FROM optsync_logs "
                "WHERE run_id = ? ORDER BY id", run_id)]


def runs_count(world: World) -> int:
    return state_rows(world, "SELECT count(*) FROM optsync_runs")[0][0]


def local_now() -> datetime:
    return datetime.now().replace(microsecond=0)


def test_a_pass_with_nothing_to_do_is_recorded_as_the_engine_records_it(world, cli):
    first = cli.json("run", "--company", COMPANY)
    assert first["status"] == "ok" and sum(s["written"] for s in first["steps"]) > 0
    engine = cli.json("run", "--company", COMPANY)  # the engine finding nothing to do
    assert sum(s["read"] + s["written"] for s in engine["steps"]) == 0

    quick = short_way(world)
    assert quick is not None
    assert quick["steps"] == engine["steps"]
    assert {k: v for k, v in quick.items() if k not in ("run_id", "started_at", "finished_at",
                                                         "steps")} == \
        {k: v for k, v in engine.items() if k not in ("run_id", "started_at", "finished_at",
                                                      "steps")}
    assert quick["run_id"] == engine["run_id"] + 1
    engine_logs, quick_logs = logs_of(world, engine["run_id"]), logs_of(world, quick["run_id"])
    assert quick_logs[0][4].pop("quiet") is True  # the only difference: how it was found
    assert quick_logs == engine_logs
    columns = "company_id, company, \"trigger\", host, status, reason, steps, complete"
    (engine_row,), (quick_row,) = (state_rows(
        world, f"SELECT {columns} FROM optsync_runs WHERE id = ?", run)
        for run in (engine["run_id"], quick["run_id"]))
    assert quick_row == engine_row
    # and again: nothing the short way did makes the next one differ
    assert short_way(world)["steps"] == engine["steps"]


def test_only_export_and_only_import_are_planned_apart(world, cli):
    cli.json("run", "--company", COMPANY, "--only", "export")
    assert short_way(world) is None  # no plan for a whole pass yet
    assert short_way(world, "--only", "import") is None
    quick = short_way(world, "--only", "export")
    assert {s["direction"] for s in quick["steps"]} == {"export"}
    assert state_rows(world, "SELECT complete FROM optsync_runs WHERE id = ?",
                      quick["run_id"]) == [(0,)]  # narrowed by --only: serves no --due slot
    cli.json("run", "--company", COMPANY, "--only", "import")
    assert short_way(world, "--only", "export") is None  # only the last pass's plan stands
    assert {s["direction"] for s in short_way(world, "--only", "import")["steps"]} == {"import"}


NOW = object()  # stands for the local time when the change is made


def _sql(database: str, sql: str, *args: object) -> Callable[[World], None]:
    """A change made by one statement in one of the world's databases."""
    def change(w: World) -> None:
        path = {"optima": w.company_db, "config": w.config_db, "shop": w.shop_db,
                "state": w.state.home / "state.db"}[database]
        with sqlite3.connect(path) as c:
            c.execute(sql, [local_now() if a is NOW else a for a in args])
    return change


def _touch_document(w: World) -> None:
    with sqlite3.connect(w.root / "xl.db") as xl:  # one the head office received
        (sent,) = xl.execute("SELECT min(erp_id) FROM optsync_documents").fetchone()
    _sql("optima", "UPDATE TraNag SET TrN_TS_Mod = ? WHERE TrN_TrNID = ?", NOW, sent)(w)


def _endpoint_gone(w: World) -> None:
    os.remove(w.shop_db)


def _integration_added(w: World) -> None:
    manage.add_integration(w.state, COMPANY, "eshop", f"sqlite:///{w.root / 'shop2.db'}",
                           name="sklep2")


def _integration_removed(w: World) -> None:
    manage.remove_integration(w.state, COMPANY, "centrala")


def _secret_key_replaced(w: World) -> None:
    (w.state.home / "secret.key").write_bytes(b"inny klucz")


CHANGES: dict[str, Callable[[World], None]] = {
    "a product changed": _sql(
        "optima", "UPDATE Towary SET Twr_Nazwa = 'zmieniony', Twr_TS_Mod = ? WHERE Twr_TwrId = "
        "(SELECT min(Twr_TwrId) FROM Towary)", NOW),
    # a product never sold; its prices and stock stay (Optima's own)
    "a product deleted": _sql(
        "optima", "DELETE FROM Towary WHERE Twr_TwrId = (SELECT max(Twr_TwrId) FROM Towary)"),
    "a price changed": _sql(
        "optima", "UPDATE TwrCeny SET TwC_Wartosc = TwC_Wartosc + 1 WHERE TwC_TwCID = "
        "(SELECT min(TwC_TwCID) FROM TwrCeny)"),
    "a stock level changed": _sql(
        "optima", "UPDATE TwrIlosci SET TwI_Ilosc = TwI_Ilosc + 1 WHERE TwI_TwIId = "
        "(SELECT min(TwI_TwIId) FROM TwrIlosci)"),
    # its stamp left as it was: the fingerprint stays
    "a warehouse renamed": _sql(
        "optima", "UPDATE Magazyny SET Mag_Symbol = 'MAGX' WHERE Mag_MagId = "
        "(SELECT max(Mag_MagId) FROM Magazyny)"),
    "a customer changed": _sql(
        "optima", "UPDATE Kontrahenci SET Knt_Miasto = 'Kraków', Knt_TS_Mod = ? WHERE "
        "Knt_KntId = (SELECT max(Knt_KntId) FROM Kontrahenci)", NOW),
    "a document changed": _touch_document,
    "an order waits in the shop": _sql(
        "shop", "INSERT INTO optsync_inbox_orders (external_id, issued_at, currency, "
        "customer_name, status) VALUES ('WWW/1', '2026-11-29 10:00:00', 'PLN', 'Anna Nowak', "
        "'new')"),
    "a customer waits in the shop": _sql(
        "shop", "INSERT INTO optsync_inbox_customers (external_id, name, status) "
        "VALUES ('K/1', 'Jan Kowalski', 'new')"),
    "the shop restored from an older backup": _sql(
        "shop", "UPDATE optsync_mark SET last_run = last_run - 1"),
    "the shop's database deleted": _endpoint_gone,
    "an exchange table dropped": _sql("shop", "DROP TABLE optsync_stock"),
    "an integration added": _integration_added,
    "an integration removed": _integration_removed,
    "the operator blocked in Optima": _sql(
        "config", "UPDATE Operatorzy SET Ope_Nieaktywny = 1 WHERE Ope_Kod = 'ADMIN'"),
    # another company's pass, say
    "the operator check failed in another pass": _sql(
        "state", "UPDATE optsync_operator SET verified = 0"),
    "another pass holds the lock": _sql(
        "state", "INSERT INTO optsync_locks (company_id, host, pid, token, acquired_at, "
        "expires_at) SELECT id, 'other', 1, 't', '2026-01-01', '2999-01-01' "
        "FROM optsync_companies"),
    "a run left running by a killed pass": _sql(
        "state", "INSERT INTO optsync_runs (company_id, company, \"trigger\", host, pid, "
        "started_at, status, steps) SELECT id, name, 'manual', 'other', 1, '2026-01-01', "
        "'running', '[]' FROM optsync_companies"),
    "a watermark forgotten": _sql(
        "state", "UPDATE optsync_sync_marks SET watermark = NULL WHERE entity = 'customers'"),
    "a fingerprint forgotten": _sql(
        "state", "UPDATE optsync_sync_marks SET digest = NULL WHERE entity = 'stock'"),
    # the state holds one key fewer than Optima
    "a sent key forgotten": _sql(
        "state", "DELETE FROM optsync_export_hashes WHERE entity = 'products' AND key = "
        "(SELECT min(key) FROM optsync_export_hashes WHERE entity = 'products')"),
    # the engine cannot read the marks: it warns
    "optsync's marks unreadable": _sql(
        "shop", "INSERT INTO optsync_mark (identity, company, integration, last_run, "
        "updated_at) VALUES ('inna', 'x', 'y', 'zepsute', '2026-01-01 00:00:00')"),
    "the secret key replaced": _secret_key_replaced,
    # an upgrade of optsync, or an edit of its code
    "a plan of another build of optsync": _sql(
        "state", "UPDATE optsync_meta SET value = json_set(value, '$.code', 'inny') "
        "WHERE key LIKE 'quiet:%'"),
    "a plan of another version": _sql(
        "state", "UPDATE optsync_meta SET value = json_set(value, '$.format', 0) "
        "WHERE key LIKE 'quiet:%'"),
}


# one change of each kind in the fast run; every change in the slow run (CI runs both)
FAST = {"a product changed", "a price changed", "an order waits in the shop",
        "the shop restored from an older backup", "an integration added",
        "another pass holds the lock"}


@pytest.mark.parametrize("change", [
    pytest.param(name, id=name, marks=() if name in FAST else pytest.mark.slow)
    for name in CHANGES])
def test_anything_the_engine_would_act_on_leaves_the_pass_to_it(world, cli, change):
    cli.json("run", "--company", COMPANY)
    assert short_way(world) is not None  # the plan works before the change
    CHANGES[change](world)
    before = runs_count(world)
    assert short_way(world) is None
    assert runs_count(world) == before  # the short way wrote nothing


def test_every_pass_but_a_dry_run_forgets_the_plan_it_found(world, cli):
    cli.json("run", "--company", COMPANY)
    plans = "SELECT key FROM optsync_meta WHERE key LIKE 'quiet:%'"
    assert len(state_rows(world, plans)) == 1
    cli.json("run", "--company", COMPANY, "--dry-run")
    assert short_way(world) is not None  # a dry run changes nothing, and plans nothing
    cli.json("run", "--company", COMPANY, "--full")  # sends everything: leaves no plan
    assert state_rows(world, plans) == []
    assert short_way(world) is None
    cli.json("run", "--company", COMPANY, "--entity", "products")  # a plan of its own
    assert short_way(world) is None
    cli.json("run", "--company", COMPANY)
    assert short_way(world) is not None


def test_a_database_another_program_is_writing_sends_the_pass_to_the_engine_at_once(world, cli):
    cli.json("run", "--company", COMPANY)
    blocker = sqlite3.connect(world.shop_db, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # the shop writes: the engine waits for it, not the check
    try:
        began = time.monotonic()
        assert short_way(world) is None
        assert time.monotonic() - began < 10  # not a figure: the check must not hang on it
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert short_way(world) is not None


def test_a_plan_is_for_exactly_the_steps_it_was_made_for(world, cli):
    # two sets of --entity whose short plan keys are the same
    cli.json("run", "--company", COMPANY, "--entity", "customers", "--entity", "orders",
             "--entity", "products", "--entity", "stock")
    assert quiet.plan_key(1, PassOptions(entities={"products", "x56886322"})) == \
        quiet.plan_key(1, PassOptions(entities={"customers", "orders", "products", "stock"}))
    before = runs_count(world)
    assert short_way(world, "--entity", "products", "--entity", "x56886322") is None
    assert runs_count(world) == before
    assert short_way(world, "--entity", "stock", "--entity", "products", "--entity", "orders",
                     "--entity", "customers") is not None


def test_a_closed_output_never_runs_the_pass_twice(world, cli, monkeypatch):
    cli.json("run", "--company", COMPANY)
    before = runs_count(world)

    class Closed(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", Closed())
    monkeypatch.setattr(sys, "stderr", Closed())
    argv = ["--home", str(world.state.home), "run", "--company", COMPANY]
    assert scheduled_skip([*argv, "--json"]) == 0
    assert scheduled_skip(argv) == 0
    assert runs_count(world) == before + 2  # each recorded once, none left to the engine


def test_a_pass_narrowed_to_entities_has_a_plan_of_its_own(world, cli):
    cli.json("run", "--company", COMPANY, "--only", "export", "--entity", "products",
             "--entity", "stock")
    assert short_way(world, "--only", "export") is None
    assert short_way(world, "--only", "export", "--entity", "products") is None
    quick = short_way(world, "--only", "export", "--entity", "stock", "--entity", "products")
    assert {(s["entity"], s["direction"]) for s in quick["steps"]} == {
        ("products", "export"), ("stock", "export")}
    assert state_rows(world, "SELECT complete FROM optsync_runs WHERE id = ?",
                      quick["run_id"]) == [(0,)]
    CHANGES["a price changed"](world)  # not a step of this plan
    assert short_way(world, "--only", "export", "--entity", "products", "--entity",
                     "stock") is not None
    CHANGES["a stock level changed"](world)
    assert short_way(world, "--only", "export", "--entity", "products", "--entity",
                     "stock") is None


def test_a_pass_that_did_not_end_ok_leaves_no_plan(world, cli):
    cli.json("run", "--company", COMPANY)
    with world.optima() as c:
        c.execute("DROP TABLE TwrIlosci")  # the stock steps fail: the pass ends partial
    assert cli.json("run", "--company", COMPANY, code=1)["status"] == "partial"
    assert state_rows(world, "SELECT key FROM optsync_meta WHERE key LIKE 'quiet:%'") == []
    assert short_way(world) is None


def _shift_marks_back(world: World, hours: float) -> None:
    """As if the last pass had begun ``hours`` earlier."""
    with sqlite3.connect(world.state.home / "state.db") as c:
        for column in ("watermark", "started_utc"):
            c.execute(f"UPDATE optsync_sync_marks SET {column} = strftime('%Y-%m-%d %H:%M:%f', "
                      f"{column}, '-{hours * 3600} seconds') WHERE {column} IS NOT NULL")


def _read_start(world: World) -> datetime:
    (watermark,) = state_rows(world, "SELECT max(watermark) FROM optsync_sync_marks "
                                     "WHERE entity = 'products'")[0]
    return datetime.fromisoformat(watermark)


@pytest.mark.parametrize("hours_ago", [0, 48], ids=["the last pass just now", "two days ago"])
@pytest.mark.parametrize("stamp", [
    pytest.param(-WINDOW - timedelta(hours=2), id="2h before the window",
                 marks=pytest.mark.slow),
    pytest.param(-WINDOW - timedelta(minutes=30), id="30m before"),
    pytest.param(-WINDOW - timedelta(seconds=1), id="1s before"),
    pytest.param(-WINDOW + timedelta(minutes=1), id="inside the window"),
    pytest.param(timedelta(0), id="at the start", marks=pytest.mark.slow),
])
def test_the_short_way_declines_exactly_when_the_engine_would_read_a_product(
        tmp_path, cli, stamp, hours_ago):
    # watermarked entities only: no fingerprint moves with a stamp
    world = make_world(tmp_path)
    manage.set_operator(world.state, "ADMIN", None)
    manage.discover(world.state, f"sqlite:///{world.config_db}")
    manage.add_integration(world.state, COMPANY, "mobile", f"sqlite:///{world.shop_db}",
                           name="sklep", export="products,customers")
    cli.json("run", "--company", COMPANY, "--only", "export")
    _shift_marks_back(world, hours_ago)
    with world.optima() as c:
        c.execute("UPDATE Towary SET Twr_TS_Mod = ? WHERE Twr_TwrId = "
                  "(SELECT min(Twr_TwrId) FROM Towary)", (_read_start(world) + stamp,))
    quick = short_way(world, "--only", "export")
    engine = cli.json("run", "--company", COMPANY, "--only", "export")
    (products,) = [s for s in engine["steps"]
                   if s["entity"] == "products" and s["integration"] == "sklep"]
    assert (quick is None) == (products["read"] > 0)


def test_people_get_the_line_the_engine_gives_them(world, cli):
    cli.json("run", "--company", COMPANY)
    engine = cli("run", "--company", COMPANY).stderr.strip()
    err = io.StringIO()
    with redirect_stderr(err):
        assert scheduled_skip(["--home", str(world.state.home), "run", "--company",
                               COMPANY]) == 0
    run = int(engine.split("(run ")[1].split(",")[0])
    seconds = re.compile(r", [0-9.]+ s\)$")
    assert seconds.sub("", err.getvalue().strip()) == seconds.sub("", engine).replace(
        f"(run {run},", f"(run {run + 1},")


def test_a_scheduled_start_inside_its_window_takes_the_short_way(world, cli):
    cli("schedule", "set", "--company", COMPANY, "--enable", "--from", "00:00", "--to",
        "23:59", "--every", "5m", "--days", "all")
    first = cli.json("run", "--company", COMPANY)
    quick = short_way(world, "--scheduled")
    assert quick["trigger"] == "scheduled" and quick["status"] == "ok"
    assert [s["entity"] for s in quick["steps"]] == [s["entity"] for s in first["steps"]]


def test_a_pass_on_a_folder_endpoint_leaves_no_plan(world, cli):
    world.folder.mkdir()
    manage.add_integration(world.state, COMPANY, "detal", f"file://{world.folder}",
                           name="kasa")
    cli.json("run", "--company", COMPANY)
    assert short_way(world) is None


def test_the_short_way_loads_no_sqlalchemy(world, cli):
    cli.json("run", "--company", COMPANY)
    probe = ("import sys\n"
             "from optsync.cli.fast import scheduled_skip\n"
             f"code = scheduled_skip(['--home', {str(world.state.home)!r}, 'run', '--company', "
             f"{COMPANY!r}, '--json'])\n"
             "print(code, sorted({m.split('.')[0] for m in sys.modules} & "
             "{'sqlalchemy', 'typer', 'click', 'rich'}), file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env={**os.environ, "OPTSYNC_HOME": str(world.state.home)})
    assert done.stderr.strip() == "0 []", done.stderr
    assert json.loads(done.stdout)["status"] == "ok"


def test_the_plan_binds_times_as_the_engine_binds_them():
    from sqlalchemy import DateTime
    from sqlalchemy.dialects import sqlite

    bind = DateTime().dialect_impl(sqlite.dialect()).bind_processor(sqlite.dialect())
    for moment in (datetime(2026, 10, 25, 2, 5), datetime(1999, 12, 31, 23, 59, 59, 999999),
                   datetime(2026, 3, 29, 2, 30, 0, 1)):
        assert quiet.stored_time(moment) == bind(moment)
