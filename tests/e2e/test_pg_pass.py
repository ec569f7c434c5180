"""A pass end to end with the Optima databases in PostgreSQL (schema "CDN").

The company and configuration databases are PostgreSQL databases of their own, created for
each test on the test server and dropped after it; the endpoint is a SQLite file or another
PostgreSQL database. Optima is read back with plain SQL against "CDN"."Towary" etc., so the
comparison does not go through optsync's own table definitions. A last test keeps the state
database in PostgreSQL too (``state_url`` in ``<home>/optsync.toml``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from pg_databases import pg_databases
from shop_scenarios import two_good_orders_and_one_bad
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from optsync.demo.sample import create_company_db, create_config_db
from optsync.demo.world import write_shop_orders
from optsync.services import config as manage
from optsync.state.db import State

pytestmark = pytest.mark.slow

COMPANY = "Firma Testowa Sp. z o.o."
CENT = Decimal("0.01")


@pytest.fixture
def pg_database() -> Iterator[Callable[[str], str]]:
    """A factory of empty PostgreSQL databases (``optsync_e2e_<uuid>_<label>``), dropped after."""
    with pg_databases("optsync_e2e") as make:
        yield make


@dataclass
class PgWorld:
    """Optima (configuration + company database) in PostgreSQL, a home, and a shop endpoint."""

    state: State
    company_url: str
    shop_url: str
    optima: Engine
    shop: Engine

    def product_codes(self, n: int) -> list[str]:
        with self.optima.connect() as c:
            return list(c.execute(text(
                'select "Twr_Kod" from "CDN"."Towary" where "Twr_NieAktywny" = 0 '
                'order by "Twr_TwrId" limit :n'), {"n": n}).scalars())


def make_pg_world(pg_database: Callable[[str], str], home: Path, shop_url: str) -> PgWorld:
    config_url = pg_database("knf")
    company_url = pg_database("firma")
    company_db = make_url(company_url).database
    create_config_db(config_url, [(COMPANY, company_db, True)],
                     operators=[("ADMIN", "Administrator", False)])
    create_company_db(company_url, seed=7, products=30, customers=10)
    state = State(home)
    manage.set_operator(state, "ADMIN", None)
    manage.discover(state, config_url)
    manage.add_integration(state, COMPANY, "eshop", shop_url, name="sklep")
    return PgWorld(state, company_url, shop_url, create_engine(company_url),
                   create_engine(shop_url))


@pytest.fixture(params=["sqlite", "postgresql"], ids=["shop-sqlite", "shop-pg"])
def world(request, pg_database, home, tmp_path) -> Iterator[PgWorld]:
    shop_url = (f"sqlite:///{tmp_path / 'shop.db'}" if request.param == "sqlite"
                else pg_database("shop"))
    w = make_pg_world(pg_database, home, shop_url)
    yield w
    w.optima.dispose()
    w.shop.dispose()
    w.state.dispose()


def run(cli, *args, code=0):
    return json.loads(cli("run", "--company", COMPANY, *args, "--json", code=code).stdout)


def steps(result, direction=None):
    return {(s["integration"], s["entity"]): s for s in result["steps"]
            if direction is None or s["direction"] == direction}


def rows(engine: Engine, sql: str, **params) -> list[tuple]:
    with engine.connect() as c:
        return [tuple(r) for r in c.execute(text(sql), params)]


# Optima, read with plain SQL against schema "CDN" ------------------------------------------
def optima_products(w: PgWorld) -> dict:
    return {code: (name, 1 - inactive) for code, name, inactive in rows(
        w.optima, 'select "Twr_Kod", "Twr_Nazwa", "Twr_NieAktywny" from "CDN"."Towary"')}


def optima_prices(w: PgWorld) -> dict:
    return {(code, lp): Decimal(value).quantize(CENT) for code, lp, value in rows(
        w.optima,
        'select t."Twr_Kod", c."TwC_TwCNumer", c."TwC_Wartosc" from "CDN"."TwrCeny" c '
        'join "CDN"."Towary" t on c."TwC_TwrID" = t."Twr_TwrId" '
        'join "CDN"."DefCeny" d on c."TwC_TwCNumer" = d."DfC_Lp" '
        'where coalesce(d."DfC_Nieaktywna", 0) = 0')}


def optima_stock(w: PgWorld) -> dict:
    return {(code, mag): Decimal(qty) for code, mag, qty in rows(
        w.optima,
        'select t."Twr_Kod", m."Mag_Symbol", i."TwI_Ilosc" from "CDN"."TwrIlosci" i '
        'join "CDN"."Towary" t on i."TwI_TwrId" = t."Twr_TwrId" '
        'join "CDN"."Magazyny" m on i."TwI_MagId" = m."Mag_MagId" '
        'where i."TwI_Data" = (select max(j."TwI_Data") from "CDN"."TwrIlosci" j '
        '  where j."TwI_TwrId" = i."TwI_TwrId" and j."TwI_MagId" = i."TwI_MagId")')}


# the shop's outbound tables ----------------------------------------------------------------
def shop_products(w: PgWorld) -> dict:
    return {code: (name, int(active)) for code, name, active in rows(
        w.shop, "select code, name, active from optsync_products where deleted = 0")}


def shop_prices(w: PgWorld) -> dict:
    return {(code, int(lp)): Decimal(str(v)).quantize(CENT) for code, lp, v in rows(
        w.shop, "select product_code, price_list, value from optsync_prices where deleted = 0")}


def shop_stock(w: PgWorld) -> dict:
    return {(code, wh): Decimal(str(q)) for code, wh, q in rows(
        w.shop, "select product_code, warehouse, quantity from optsync_stock where deleted = 0")}


def test_pg_optima_one_pass_fills_the_shop_and_only_changes_are_sent_again(cli, world):
    first = run(cli)
    assert first["status"] == "ok"
    products = shop_products(world)
    assert products == optima_products(world)
    assert any(active == 0 for _, active in products.values())  # inactive ones as active=0
    prices = shop_prices(world)
    assert prices == optima_prices(world) and prices
    assert not any(lp == 3 for _, lp in prices)  # the inactive price list stays out
    assert shop_stock(world) == optima_stock(world) and shop_stock(world)
    written = {k: s["written"] for k, s in steps(first, "export").items()}
    assert written[("sklep", "products")] == len(products)
    assert written[("sklep", "prices")] == len(prices)

    second = run(cli)
    assert {k: s["written"] for k, s in steps(second, "export").items()} == {
        k: 0 for k in written}

    code = world.product_codes(1)[0]
    with world.optima.begin() as c:
        c.execute(text('update "CDN"."Towary" set "Twr_Nazwa" = :name, "Twr_TS_Mod" = :ts '
                       'where "Twr_Kod" = :code'),
                  {"name": "Kawa zmieniona w PostgreSQL", "code": code,
                   "ts": datetime.now() + timedelta(days=1)})
        c.execute(text('update "CDN"."TwrCeny" set "TwC_Wartosc" = 999.99 '
                       'where "TwC_TwCNumer" = 1 and "TwC_TwrID" = '
                       '(select "Twr_TwrId" from "CDN"."Towary" where "Twr_Kod" = :code)'),
                  {"code": code})
    third = steps(run(cli), "export")
    assert third[("sklep", "products")]["written"] == 1
    assert third[("sklep", "prices")]["written"] == 1
    assert third[("sklep", "stock")]["written"] == 0
    assert shop_products(world)[code][0] == "Kawa zmieniona w PostgreSQL"
    assert shop_prices(world)[(code, 1)] == Decimal("999.99")
    assert shop_products(world) == optima_products(world)
    assert shop_prices(world) == optima_prices(world)
    assert all(s["written"] == 0 for s in steps(run(cli), "export").values())


def test_pg_optima_orders_become_draft_ro_documents_once(cli, world):
    codes = world.product_codes(4)
    good, bad = two_good_orders_and_one_bad(codes)
    write_shop_orders(world.shop_url, good + bad)

    result = run(cli, "--only", "import", code=1)
    assert result["status"] == "partial"
    orders = steps(result)[("sklep", "orders")]
    assert (orders["read"], orders["written"], orders["rejected"]) == (3, 2, 1)

    inbox = {ext: (status, erp_id, error) for ext, status, erp_id, error in rows(
        world.shop, "select external_id, status, erp_id, error from optsync_inbox_orders")}
    assert inbox[bad[0]["external_id"]][0] == "rejected"
    assert "NIE-MA-TAKIEGO" in inbox[bad[0]["external_id"]][2]
    assert all(inbox[o["external_id"]][0] == "imported" for o in good)

    documents = rows(world.optima,
                     'select "TrN_TrNID", "TrN_NumerObcy", "TrN_TypDokumentu", "TrN_Rodzaj", '
                     '"TrN_Bufor", "TrN_RazemNetto", "TrN_RazemVAT", "TrN_RazemBrutto", '
                     '"TrN_ImportRowId", "TrN_ImportAppId" from "CDN"."TraNag" '
                     'where "TrN_ImportAppId" = \'OSYNC\' order by "TrN_NumerObcy"')
    assert [d[1] for d in documents] == sorted(o["external_id"] for o in good)
    for trn_id, obcy, typ, rodzaj, bufor, net, vat, gross, guid, _app in documents:
        assert (typ, rodzaj, bufor) == (308, 308000, 1)
        assert guid is not None
        assert str(inbox[obcy][1]) == str(trn_id)
        assert Decimal(net) + Decimal(vat) == Decimal(gross)
        lines = rows(world.optima, 'select "TrE_WartoscBrutto" from "CDN"."TraElem" '
                                   'where "TrE_TrNId" = :id', id=trn_id)
        order = next(o for o in good if o["external_id"] == obcy)
        assert len(lines) == len(order["lines"])
        assert sum(Decimal(g) for (g,) in lines) == Decimal(gross)
        # gross prices: each line is quantity x price rounded half-up to grosze, no VAT drift
        assert Decimal(gross) == sum(
            (line["quantity"] * line["unit_price"]).quantize(CENT, ROUND_HALF_UP)
            for line in order["lines"])
    first = next(d for d in documents if d[1] == good[0]["external_id"])
    assert Decimal(first[7]).quantize(CENT) == Decimal("9.99") + Decimal("15.02")

    # offered again (the shop resets the status): not imported twice
    with world.shop.begin() as c:
        c.execute(text("update optsync_inbox_orders set status = 'new'"))
    again = run(cli, "--only", "import", code=1)
    assert steps(again)[("sklep", "orders")]["written"] == 0
    for order in good:
        assert rows(world.optima, 'select count(*) from "CDN"."TraNag" '
                                  'where "TrN_NumerObcy" = :e',
                    e=order["external_id"]) == [(1,)]


def test_pg_state_database_runs_a_pass_and_keeps_its_logs(cli, pg_database, home, tmp_path):
    state_url = pg_database("state")
    home.mkdir(parents=True)
    (home / "optsync.toml").write_text(f'state_url = "{state_url}"\n')
    w = make_pg_world(pg_database, home, f"sqlite:///{tmp_path / 'shop.db'}")
    try:
        assert w.state.url == state_url
        assert not (home / "state.db").exists()  # nothing went into a local SQLite file
        first = run(cli)
        assert first["status"] == "ok"
        assert shop_products(w) == optima_products(w)
        second = run(cli)
        assert all(s["written"] == 0 for s in steps(second, "export").values())
        assert second["run_id"] > first["run_id"]

        records = [json.loads(line) for line in cli("logs", "--filter", "sync", "--json")
                   .stdout.splitlines()]
        assert records and all(set(r) == {"id", "ts", "level", "category", "company",
                                          "run_id", "message", "data"} for r in records)
        assert {r["run_id"] for r in records} >= {first["run_id"], second["run_id"]}
        assert any(r["message"] == f"pass of {COMPANY} ended ok" for r in records)
        assert [r["id"] for r in records] == sorted(r["id"] for r in records)  # newest last

        state = create_engine(state_url)
        try:
            assert rows(state, "select count(*) from optsync_runs where status = 'ok'") == [(2,)]
            assert rows(state, "select count(*) from optsync_locks") == [(0,)]  # released
        finally:
            state.dispose()
        assert not (home / "state.db").exists()
    finally:
        w.optima.dispose()
        w.shop.dispose()
        w.state.dispose()

