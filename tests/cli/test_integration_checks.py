"""--price-list and --warehouse are checked against the company database: at input, by doctor,
and by every pass (a price list or warehouse that vanished fails its step, never exports 0 rows).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from optsync.demo.sample import create_company_db
from optsync.errors import ExitCode

COMPANY = "Sklep Testowy Sp. z o.o."


@pytest.fixture
def company_db(cli, tmp_path: Path) -> Path:
    db = tmp_path / "CDN_Sklep.db"
    create_company_db(f"sqlite:///{db}", seed=3, products=12, customers=3)
    cli("operator", "set", "ADMIN", "--no-password")
    cli("company", "add", COMPANY, "--db", f"sqlite:///{db}")
    return db


def add(cli, tmp_path: Path, *options: str, code: int = 0):
    return cli("integration", "add", "--company", COMPANY, "--app", "eshop", "--endpoint",
               f"sqlite:///{tmp_path / 'shop.db'}", *options, code=code)


def integrations(cli) -> list[dict]:
    return cli.json("integration", "list")


def test_a_price_list_optima_does_not_have_exits_2_listing_the_active_ones(
        cli, tmp_path, company_db):
    result = add(cli, tmp_path, "--price-list", "99", code=ExitCode.BAD_INPUT)
    line = result.stderr.strip()
    assert line.startswith("optsync: error: price list 99 is not an active price list")
    assert "1 (Detaliczna), 2 (Hurtowa)" in line and "Wyprzedaż" not in line
    assert len(line.splitlines()) == 1 and "--price-list" in line
    assert integrations(cli) == []


def test_an_inactive_price_list_is_refused_too(cli, tmp_path, company_db):
    add(cli, tmp_path, "--price-list", "3", code=ExitCode.BAD_INPUT)


def test_a_warehouse_optima_does_not_have_exits_2_listing_the_symbols(cli, tmp_path, company_db):
    result = add(cli, tmp_path, "--warehouse", "MAGAZYN-X", code=ExitCode.BAD_INPUT)
    assert "warehouse 'MAGAZYN-X' does not exist" in result.stderr
    assert "(warehouses: MAG, SKLEP)" in result.stderr
    assert integrations(cli) == []


def test_existing_values_are_accepted(cli, tmp_path, company_db):
    add(cli, tmp_path, "--price-list", "2", "--warehouse", "SKLEP")
    [integ] = integrations(cli)
    assert (integ["price_list"], integ["warehouse"]) == (2, "SKLEP")


def test_an_unreachable_company_database_stores_the_values_with_a_warning(cli, tmp_path):
    cli("company", "add", COMPANY, "--db", f"sqlite:///{tmp_path / 'not-here.db'}")
    result = add(cli, tmp_path, "--price-list", "99", "--warehouse", "NOPE")
    assert "--price-list 99 and --warehouse NOPE not checked against Optima" in result.stderr
    assert [(i["price_list"], i["warehouse"]) for i in integrations(cli)] == [(99, "NOPE")]
    assert not (tmp_path / "not-here.db").exists()


def test_a_pass_whose_price_list_or_warehouse_vanished_fails_those_steps_with_the_reason(
        cli, tmp_path, company_db):
    add(cli, tmp_path, "--price-list", "2", "--warehouse", "SKLEP")
    first = json.loads(cli("run", "--company", COMPANY, "--json").stdout)
    assert first["status"] == "ok"
    with sqlite3.connect(company_db) as optima:
        optima.execute("update DefCeny set DfC_Nieaktywna = 1 where DfC_Lp = 2")
        optima.execute("delete from TwrIlosci where TwI_MagId = "
                       "(select Mag_MagId from Magazyny where Mag_Symbol = 'SKLEP')")
        optima.execute("delete from Magazyny where Mag_Symbol = 'SKLEP'")
    result = json.loads(cli("run", "--company", COMPANY, "--json", code=1).stdout)
    assert result["status"] == "partial"
    by_entity = {s["entity"]: s for s in result["steps"] if s["direction"] == "export"}
    assert by_entity["products"]["status"] == "ok"
    prices, stock = by_entity["prices"], by_entity["stock"]
    assert prices["status"] == "failed" and prices["written"] == prices["deleted"] == 0
    assert "price list 2 is not an active price list" in prices["error"]
    assert "1 (Detaliczna)" in prices["error"] and "integration remove" in prices["error"]
    assert stock["status"] == "failed" and "warehouse 'SKLEP' does not exist" in stock["error"]
    checks = {c["check"]: c for c in cli.json("doctor", code=None)}
    setting = checks[f"settings {COMPANY}/eshop"]
    assert setting["status"] == "fail" and "price list 2" in setting["detail"]
    assert "warehouse 'SKLEP'" in setting["detail"]


def test_doctor_says_the_settings_exist(cli, tmp_path, company_db):
    add(cli, tmp_path, "--price-list", "1")
    checks = {c["check"]: c for c in cli.json("doctor", code=None)}
    assert checks[f"settings {COMPANY}/eshop"]["status"] == "ok"
