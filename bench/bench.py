"""The benchmark of SPEC section 6: every figure as a ratio to a baseline of the same run.

    python bench/bench.py                  # all figures, 100,000 rows, 1,000,000 for memory
    python bench/bench.py --n 20000 --memory-n 100000 --orders 2000   # a quick look

Baselines are measured in the same run on the same machine: a plain ``sqlite3`` copy of the
same rows (``executemany``), and ``python -c "import sqlalchemy"`` for start-up.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
COMPANY = "Bench Sp. z o.o."


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def optsync(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "optsync", "--home", str(home), *args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTSYNC_")}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if check and result.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} exited {result.returncode}: {result.stderr}")
    return result


def build_optima(path: Path, n: int) -> None:
    from optsync.optima.sample import bulk_company_db

    if not path.exists():
        bulk_company_db(f"sqlite:///{path}", n)


def plain_copy(src: Path, dst: Path) -> None:
    """The baseline: the same rows copied with nothing but sqlite3 and executemany."""
    dst.unlink(missing_ok=True)
    s = sqlite3.connect(src)
    d = sqlite3.connect(dst)
    d.executescript(
        "create table products (code text primary key, name text, description text, ean text,"
        " unit text, vat_rate text, active int);"
        "create table prices (product_code text, price_list int, value text, currency text,"
        " price_list_name text, primary key (product_code, price_list));"
        "create table stock (product_code text, warehouse text, quantity text, reserved text,"
        " primary key (product_code, warehouse));"
    )
    queries = {
        "products": "select Twr_Kod, Twr_Nazwa, Twr_Opis, Twr_EAN, Twr_JM, Twr_Stawka,"
                    " 1 - Twr_NieAktywny from Towary",
        "prices": "select Twr_Kod, DfC_Lp, TwC_Wartosc, TwC_Waluta, DfC_Nazwa from TwrCeny"
                  " join DefCeny on TwC_TwCNumer = DfC_Lp join Towary on TwC_TwrID = Twr_TwrId",
        "stock": "select Twr_Kod, Mag_Symbol, TwI_Ilosc, TwI_Rezerwacje from TwrIlosci"
                 " join Magazyny on TwI_MagId = Mag_MagId join Towary on TwI_TwrId = Twr_TwrId",
    }
    for table, query in queries.items():
        cur = s.execute(query)
        width = len(cur.description)
        marks = ",".join("?" * width)
        while rows := cur.fetchmany(5000):
            d.executemany(f"insert into {table} values ({marks})", rows)
    d.commit()
    s.close()
    d.close()


def setup_home(home: Path, optima: Path, shop: Path) -> None:
    shutil.rmtree(home, ignore_errors=True)
    shop.unlink(missing_ok=True)
    optsync(home, "operator", "set", "BENCH", "--no-password")
    optsync(home, "company", "add", COMPANY, "--db", f"sqlite:///{optima}")
    optsync(home, "integration", "add", "--company", COMPANY, "--app", "eshop",
            "--endpoint", f"sqlite:///{shop}", "--import", "orders")


def bench_export(work: Path, n: int) -> dict:
    optima = work / f"optima-{n}.db"
    build_optima(optima, n)
    baseline = min(timed(lambda: plain_copy(optima, work / "plain.db")) for _ in range(2))
    home, shop = work / "home-export", work / "shop-export.db"
    setup_home(home, optima, shop)
    full = timed(lambda: optsync(home, "run", "--company", COMPANY, "--only", "export"))
    nochange = min(
        timed(lambda: optsync(home, "run", "--company", COMPANY, "--only", "export"))
        for _ in range(3)
    )
    inproc_full, inproc_nochange = _in_process(work, optima)
    return {
        "rows": 3 * n, "plain_copy_s": baseline,
        "cli_full_export_s": full, "cli_full_vs_plain": full / baseline,
        "cli_no_change_s": nochange, "cli_no_change_vs_full": nochange / full,
        "engine_full_export_s": inproc_full, "engine_full_vs_plain": inproc_full / baseline,
        "engine_no_change_s": inproc_nochange,
        "engine_no_change_vs_full": inproc_nochange / inproc_full,
        "target_full_vs_plain": 3.0, "target_no_change_vs_full": 0.10,
    }


def _in_process(work: Path, optima: Path) -> tuple[float, float]:
    """The same two passes through the library, without the interpreter's start-up."""
    from optsync import manage
    from optsync.state.db import State
    from optsync.sync.engine import PassOptions, run_company

    home, shop = work / "home-engine", work / "shop-engine.db"
    shutil.rmtree(home, ignore_errors=True)
    shop.unlink(missing_ok=True)
    state = State(home)
    manage.set_operator(state, "BENCH", None)
    manage.add_company(state, COMPANY, f"sqlite:///{optima}")
    manage.add_integration(state, COMPANY, "eshop", f"sqlite:///{shop}", import_="orders")
    opts = PassOptions(only="export")
    full = timed(lambda: run_company(state, COMPANY, opts))
    nochange = min(timed(lambda: run_company(state, COMPANY, opts)) for _ in range(3))
    state.dispose()
    return full, nochange


def bench_import(work: Path, orders: int) -> dict:
    from decimal import Decimal

    from optsync.demo import write_shop_orders

    optima = work / "optima-import.db"
    optima.unlink(missing_ok=True)
    from optsync.optima.sample import create_company_db

    create_company_db(f"sqlite:///{optima}", products=200, customers=50, documents=0)
    with sqlite3.connect(optima) as c:
        codes = [r[0] for r in c.execute("select Twr_Kod from Towary where Twr_NieAktywny = 0")]
    home, shop = work / "home-import", work / "shop-import.db"
    setup_home(home, optima, shop)
    batch = [
        {"external_id": f"WWW/{i:06d}", "issued_at": None, "currency": "PLN",
         "customer_name": f"Klient {i}", "customer_city": "Gdańsk",
         "lines": [{"line_no": j + 1, "product_code": codes[(i + j) % len(codes)],
                    "quantity": Decimal(1 + j), "unit_price": Decimal("19.99"),
                    "price_kind": "gross", "vat_rate": None} for j in range(5)]}
        for i in range(orders)
    ]
    write_shop_orders(f"sqlite:///{shop}", batch)
    took = timed(lambda: optsync(home, "run", "--company", COMPANY, "--only", "import"))
    with sqlite3.connect(shop) as c:
        imported = c.execute(
            "select count(*) from optsync_inbox_orders where status = 'imported'").fetchone()[0]
    return {"orders": orders, "imported": imported, "import_s": took,
            "orders_per_s": imported / took, "target_orders_per_s": 1000}


def bench_memory(work: Path, n: int) -> dict:
    optima = work / f"optima-{n}.db"
    build_optima(optima, n)
    home, shop = work / "home-memory", work / "shop-memory.db"
    setup_home(home, optima, shop)
    code = (
        "import resource, sys\n"
        "from optsync.cli.main import app\n"
        f"sys.argv = ['optsync', '--home', {str(home)!r}, 'run', '--company', {COMPANY!r},"
        " '--only', 'export', '--entity', 'products']\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTSYNC_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    peak_mb = int(out.stdout.strip().splitlines()[-1]) / 1024
    with sqlite3.connect(shop) as c:
        exported = c.execute("select count(*) from optsync_products").fetchone()[0]
    if exported != n:
        raise SystemExit(f"memory run exported {exported} of {n} products: {out.stderr}")
    return {"products": n, "exported": exported, "peak_rss_mb": peak_mb,
            "target_peak_rss_mb": 200}


def median_time(cmd: list[str], times: int, env: dict | None = None) -> float:
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, env=env)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def bench_startup(work: Path) -> dict:
    home = work / "home-startup"
    shutil.rmtree(home, ignore_errors=True)
    optsync(home, "operator", "set", "BENCH", "--no-password")
    optsync(home, "company", "add", COMPANY, "--db", "sqlite:///nowhere.db")
    hour = (time.localtime().tm_hour + 6) % 24
    optsync(home, "schedule", "set", "--company", COMPANY, "--from", f"{hour:02d}:00",
            "--to", f"{hour:02d}:30")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTSYNC_")}
    base = median_time([sys.executable, "-c", "import sqlalchemy"], 9, env)
    helptime = median_time([sys.executable, "-m", "optsync", "--help"], 9, env)
    scheduled = median_time(
        [sys.executable, "-m", "optsync", "--home", str(home), "run", "--company", COMPANY,
         "--scheduled"], 9, env)
    return {"import_sqlalchemy_s": base, "help_s": helptime, "help_ratio": helptime / base,
            "scheduled_skip_s": scheduled, "scheduled_ratio": scheduled / base,
            "target_ratio": 1.5}


def bench_due(work: Path, companies: int) -> dict:
    from optsync import manage
    from optsync.state.db import State

    home = work / "home-due"
    shutil.rmtree(home, ignore_errors=True)
    state = State(home)
    manage.set_operator(state, "BENCH", None)
    hour = (time.localtime().tm_hour + 6) % 24
    from optsync.schedule.model import Schedule
    from optsync.state import config as cfg

    with state.engine.begin() as conn:  # 500 companies without 500 reconciles
        for i in range(companies):
            cid = cfg.insert_company(conn, f"Firma {i:03d}", dict(
                db_url="sqlite:///nowhere.db", source="manual"))
            cfg.insert_integration(conn, dict(
                company_id=cid, name="eshop", app="eshop", endpoint="/tmp/x", kind="folder",
                export=["products"], import_=[], price_list=None, warehouse=None))
            cfg.put_schedule(conn, cid, Schedule(start=hour * 60, end=hour * 60 + 30))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTSYNC_")}
    took = median_time([sys.executable, "-m", "optsync", "--home", str(home), "run", "--due"],
                       5, env)
    return {"companies": companies, "run_due_s": took, "target_s": 2.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="products/prices/stock rows")
    parser.add_argument("--memory-n", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--companies", type=int, default=500)
    parser.add_argument("--only", choices=["export", "import", "memory", "startup", "due"],
                        action="append")
    parser.add_argument("--work", type=Path, default=None, help="keep data here between runs")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="optsync-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    wanted = set(args.only or ["export", "import", "memory", "startup", "due"])
    results = {}
    if "export" in wanted:
        results["export"] = bench_export(work, args.n)
    if "import" in wanted:
        results["import"] = bench_import(work, args.orders)
    if "memory" in wanted:
        results["memory"] = bench_memory(work, args.memory_n)
    if "startup" in wanted:
        results["startup"] = bench_startup(work)
    if "due" in wanted:
        results["due"] = bench_due(work, args.companies)
    print(json.dumps(results, indent=2))
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
