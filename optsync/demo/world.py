"""``optsync demo``: an embedded Optima-shaped world in ``<home>/demo`` and a pass of it.

Everything is SQLite or plain files under ``<home>/demo``, with its own state database, so a
real configuration is never touched. Run twice, the second pass has nothing to send.
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import create_engine, insert, select

from optsync import clock, output
from optsync.demo.sample import DATA, create_company_db, create_config_db
from optsync.endpoints.sql import SqlEndpoint
from optsync.endpoints.tables import METADATA
from optsync.errors import ExitCode
from optsync.optima.tables import optima_tables
from optsync.schedule.cron import CronBackend
from optsync.services import config as manage
from optsync.services.schedules import entries
from optsync.state import logs
from optsync.state.db import State
from optsync.sync.engine import PassOptions, run_company

# (Baz_Nazwa, database, active) of the companies listed in the configuration database
COMPANIES = [(c["name"], c["database"], c["active"]) for c in DATA["demo"]["companies"]]
# (Ope_Kod, Ope_Nazwisko, blocked) of Optima's operators
OPERATORS = [(o["code"], o["name"], o["blocked"]) for o in DATA["demo"]["operators"]]


def shop_orders(product_codes: list[str], customer_codes: list[str] | None = None, *,
                start: int = 1, count: int = 3) -> list[dict]:
    """Orders an online shop would write into its inbox (lines nested).

    With ``customer_codes`` the orders name customers Optima knows; without, they carry a new
    customer inline, whom the import creates in Optima.
    """
    customers: list[dict] = [{"customer_code": code} for code in customer_codes or []] or [
        dict(customer) for customer in DATA["demo"]["shop_customers"]
    ]
    orders = []
    for n in range(start, start + count):
        lines = [
            {"line_no": i + 1, "product_code": code, "quantity": Decimal(1 + (n + i) % 3),
             "unit_price": Decimal("12.99") + Decimal(i * 7), "price_kind": "gross",
             "vat_rate": None}
            for i, code in enumerate(product_codes[(n % 3) : (n % 3) + 2 + n % 2])
        ]
        orders.append({
            "external_id": f"WWW/{clock.local_now():%Y}/{n:05d}",
            "issued_at": clock.local_now().replace(tzinfo=None, microsecond=0) - timedelta(hours=n),
            "currency": "PLN", "notes": "zamówienie ze sklepu internetowego",
            **customers[n % len(customers)], "lines": lines,
        })
    return orders


def write_shop_orders(url: str, orders: list[dict]) -> None:
    """Insert orders with their lines into a ``sql`` endpoint's inbox (status ``new``)."""
    endpoint = SqlEndpoint(url)
    try:
        endpoint.ensure_tables()
    finally:
        endpoint.close()
    header = METADATA.tables["optsync_inbox_orders"]
    lines_table = METADATA.tables["optsync_inbox_order_lines"]
    engine = create_engine(url)
    with engine.begin() as conn:
        for order in orders:
            values = {k: v for k, v in order.items() if k != "lines"}
            header_id = conn.execute(insert(header).values(**values)).inserted_primary_key[0]
            conn.execute(insert(lines_table),
                         [{**line, "header_id": header_id} for line in order["lines"]])
    engine.dispose()


def write_receipts(folder: Path, product_codes: list[str]) -> None:
    """Point-of-sale receipts as files in a ``folder`` endpoint's ``in/receipts``."""
    inbox = folder / "in" / "receipts"
    inbox.mkdir(parents=True, exist_ok=True)
    today = clock.local_now().replace(tzinfo=None, microsecond=0)
    for n in range(1, 3):
        receipt = {
            "external_id": f"KASA1/PAR/{n:04d}", "issued_at": today.isoformat(),
            "currency": "PLN",
            "lines": [
                {"line_no": 1, "product_code": product_codes[n], "quantity": "1",
                 "unit_price": "8.49", "price_kind": "gross"},
                {"line_no": 2, "product_code": product_codes[n + 2], "quantity": "2",
                 "unit_price": "3.20", "price_kind": "gross"},
            ],
        }
        (inbox / f"paragon-{n:04d}.json").write_text(
            json.dumps(receipt, ensure_ascii=False, indent=1), encoding="utf-8")


def _codes(db: Path) -> tuple[list[str], list[str]]:
    """A few active product codes and customer codes of a company database."""
    t = optima_tables(None)
    w, k = t.Towary.c, t.Kontrahenci.c
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        products = conn.execute(
            select(w.Twr_Kod).where(w.Twr_NieAktywny == 0).order_by(w.Twr_TwrId).limit(8)
        ).scalars().all()
        customers = conn.execute(
            select(k.Knt_Kod).where(k.Knt_Nieaktywny == 0, k.Knt_Kod != "!NIEOKREŚLONY!")
            .order_by(k.Knt_KntId).limit(3)
        ).scalars().all()
    engine.dispose()
    return list(products), list(customers)


def build(root: Path) -> None:
    """Create the Optima databases, the shop database and the Detal folder."""
    data = root / "optima"
    data.mkdir(parents=True, exist_ok=True)
    create_config_db(
        f"sqlite:///{data / 'CDN_KNF_Konfiguracja.db'}", COMPANIES,
        operators=OPERATORS,
    )
    for seed, (_, database, active) in enumerate(COMPANIES):
        if active:
            create_company_db(f"sqlite:///{data / (database + '.db')}", seed=seed)
    # Orders name known customers, so that the second pass has nothing to send back.
    products, customers = _codes(data / "CDN_Demo.db")
    write_shop_orders(f"sqlite:///{root / 'sklep.db'}", shop_orders(products, customers))
    write_receipts(root / "detal", products)
    products, customers = _codes(data / "CDN_Zdrowie.db")
    write_shop_orders(f"sqlite:///{root / 'sklep-zdrowie.db'}",
                      shop_orders(products, customers, count=2))


def configure(state, root: Path) -> None:
    manage.set_operator(state, "ADMIN", None)
    manage.discover(state, f"sqlite:///{root / 'optima' / 'CDN_KNF_Konfiguracja.db'}")
    manage.add_integration(state, "Demo Sp. z o.o.", "eshop", f"sqlite:///{root / 'sklep.db'}",
                           name="sklep", price_list=1)
    manage.add_integration(state, "Demo Sp. z o.o.", "detal", str(root / "detal"),
                           name="kasa")
    manage.add_integration(state, "Hurtownia Zdrowie S.A.", "eshop",
                           f"sqlite:///{root / 'sklep-zdrowie.db'}", name="sklep")
    manage.set_schedule(state, "Demo Sp. z o.o.", start="07:00", end="19:00", every="15m",
                        days="mon-sat")
    manage.set_schedule(state, "Hurtownia Zdrowie S.A.", every="1h")


def run_demo(home: Path, *, reset: bool = False) -> ExitCode:
    """Build (once) and run the demo; return the exit code."""
    root = home / "demo"
    if reset and root.exists():
        shutil.rmtree(root)
    state = State(root)
    fresh = not (root / "optima").exists()
    if fresh:
        output.info(f"building the demo in {root} ...")
        build(root)
        configure(state, root)
    code = ExitCode.OK
    for name in ("Demo Sp. z o.o.", "Hurtownia Zdrowie S.A."):
        run = run_company(state, name, PassOptions(trigger="manual"))
        code = code or (ExitCode.OK if run.status == "ok" else ExitCode.FAILED)
        output.table(
            f"pass {run.id} of {name}: {run.status}",
            ["integration", "step", "entity", "read", "written", "unchanged", "deleted",
             "rejected", "status"],
            [(s["integration"], s["direction"], s["entity"], s["read"], s["written"],
              s["unchanged"], s["deleted"], s["rejected"], s["status"]) for s in run.steps],
        )
    if not fresh:
        output.info("second pass: nothing changed in Optima, so nothing was sent "
                    "(use 'optsync demo --reset' to start afresh)")
    records = logs.query(state, category="sync", limit=12)
    output.table("latest log records (logs --filter sync)", ["time (UTC)", "level", "message"],
                 [(r.as_json()["ts"], r.level, r.message) for r in records])
    rendered = CronBackend(root / "crontab.preview").render(entries(state), state.install_id())
    output.info("cron lines 'optsync schedule install --dry-run' would write:")
    print(rendered, end="")
    prefix = f"optsync --home {home / 'demo'}"
    output.info(
        "\nexplore it:\n"
        f"  {prefix} logs --filter sync\n"
        f"  {prefix} status\n"
        f"  {prefix} schedule list\n"
        f"  {prefix} run --company 'Demo Sp. z o.o.' --json"
    )
    return code
