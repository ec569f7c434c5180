"""A small Optima world on SQLite files: configuration DB, company DB, a shop endpoint.

A plain module (not conftest) so that tests import it by a name no other folder uses.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from optsync.demo.sample import create_company_db, create_config_db
from optsync.services import config as manage
from optsync.state.db import State

COMPANY = "Firma Testowa Sp. z o.o."


@dataclass
class World:
    root: Path
    state: State
    config_db: Path
    company_db: Path
    shop_db: Path
    folder: Path

    def optima(self) -> sqlite3.Connection:
        return sqlite3.connect(self.company_db)

    def shop(self) -> sqlite3.Connection:
        return sqlite3.connect(self.shop_db)

    def product_codes(self, n: int = 5) -> list[str]:
        with self.optima() as conn:
            return [r[0] for r in conn.execute(
                "select Twr_Kod from Towary where Twr_NieAktywny = 0 order by Twr_TwrId "
                "limit ?", (n,))]


def make_world(root: Path, *, operators=(("ADMIN", "Administrator", False),), bans=()) -> World:
    data = root / "optima"
    data.mkdir(parents=True)
    config_db = data / "CDN_KNF_Konfiguracja.db"
    create_config_db(f"sqlite:///{config_db}", [(COMPANY, "CDN_Test", True)],
                     operators=list(operators), bans=list(bans))
    company_db = data / "CDN_Test.db"
    create_company_db(f"sqlite:///{company_db}", seed=7, products=30, customers=10)
    return World(root, State(root / "home"), config_db, company_db, root / "shop.db",
                 root / "detal")


def world_with_shop(tmp_path: Path) -> World:
    w = make_world(tmp_path)
    manage.set_operator(w.state, "ADMIN", None)
    manage.discover(w.state, f"sqlite:///{w.config_db}")
    manage.add_integration(w.state, COMPANY, "eshop", f"sqlite:///{w.shop_db}", name="sklep")
    return w


def import_pass(cli, *args, entity: str, code: int = 0) -> dict:
    """One ``optsync run`` importing only ``entity`` of the world's company, as JSON."""
    result = cli("run", "--company", COMPANY, "--only", "import", "--entity", entity,
                 *args, "--json", code=code)
    return json.loads(result.stdout)


def entity_step(result: dict, *, entity: str) -> dict:
    """The one step of ``entity`` in a pass's JSON."""
    (step,) = [s for s in result["steps"] if s["entity"] == entity]
    return step
