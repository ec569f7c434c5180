"""optsync's benchmark: every figure as a ratio to a baseline measured in the same run.

    python bench/bench.py                        # every figure (SQLite, and PostgreSQL if one answers)
    python bench/bench.py --only export --n 20000 --work /tmp/optsync-bench   # one group, quick

Baselines, on the same machine in the same run: a plain copy of the same rows with nothing
but the driver (``sqlite3`` or ``psycopg``, ``executemany``; PostgreSQL's ``COPY`` reported
beside), and ``python -c "import sqlalchemy"`` for start-up. ``cli_*`` figures run
``python -m optsync ...`` as cron would (start-up included); ``engine_*`` figures call the
same pass through the library in one process, which also tells where the time goes.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import pty
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
COMPANY = "Bench Sp. z o.o."
ROUNDS = 6  # interleaved runs of the copy and of the export; the fastest of each is compared
PG_URL = os.environ.get("OPTSYNC_BENCH_PG_URL", os.environ.get(
    "OPTSYNC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))

TABLES = {
    "products": "code text primary key, name text, description text, ean text, unit text, "
                "vat_rate numeric(5,2), active int",
    "prices": "product_code text, price_list int, value numeric(19,4), currency text, "
              "price_list_name text, primary key (product_code, price_list)",
    "stock": "product_code text, warehouse text, quantity numeric(19,4), "
             "reserved numeric(19,4), primary key (product_code, warehouse)",
}


def queries(cdn: str) -> dict[str, str]:
    """What a pass reads, as plain SQL (``cdn`` is the schema prefix: '' or '"CDN".')."""
    return {
        "products": f'SELECT "Twr_Kod", "Twr_Nazwa", "Twr_Opis", "Twr_EAN", "Twr_JM", '
                    f'"Twr_Stawka", 1 - "Twr_NieAktywny" FROM {cdn}"Towary"',
        "prices": f'SELECT "Twr_Kod", "DfC_Lp", "TwC_Wartosc", "TwC_Waluta", "DfC_Nazwa" '
                  f'FROM {cdn}"TwrCeny" JOIN {cdn}"DefCeny" ON "TwC_TwCNumer" = "DfC_Lp" '
                  f'JOIN {cdn}"Towary" ON "TwC_TwrID" = "Twr_TwrId"',
        "stock": f'SELECT "Twr_Kod", "Mag_Symbol", "TwI_Ilosc", "TwI_Rezerwacje" '
                 f'FROM {cdn}"TwrIlosci" JOIN {cdn}"Magazyny" ON "TwI_MagId" = "Mag_MagId" '
                 f'JOIN {cdn}"Towary" ON "TwI_TwrId" = "Twr_TwrId"',
    }


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("OPTSYNC_")}


def optsync(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "optsync", "--home", str(home), *args]
    result = subprocess.run(cmd, capture_output=True, text=True, env=clean_env())
    if check and result.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} exited {result.returncode}: {result.stderr}")
    return result


def run_json(home: Path, *args: str) -> tuple[float, dict]:
    """One ``optsync run --json`` through the CLI: its wall time and its steps by entity."""
    start = time.perf_counter()
    out = optsync(home, "run", "--company", COMPANY, *args, "--json")
    took = time.perf_counter() - start
    result = json.loads(out.stdout)
    return took, {s["entity"]: s for s in result["steps"]}


def build_optima(path: Path, n: int) -> None:
    from optsync.demo.sample import bulk_company_db

    if not path.exists():
        bulk_company_db(f"sqlite:///{path}", n)


def plain_copy(src: Path, dst: Path) -> None:
    """The SQLite baseline: the same rows copied with nothing but sqlite3 and executemany."""
    dst.unlink(missing_ok=True)
    s = sqlite3.connect(src)
    d = sqlite3.connect(dst)
    d.executescript("".join(f"create table {t} ({cols});" for t, cols in TABLES.items()))
    for table, query in queries("").items():
        cur = s.execute(query)
        marks = ",".join("?" * len(cur.description))
        while rows := cur.fetchmany(5000):
            d.executemany(f"insert into {table} values ({marks})", rows)
    d.commit()
    s.close()
    d.close()


def setup_home(home: Path, optima_url: str, shop_url: str, *, imports: str = "orders") -> None:
    shutil.rmtree(home, ignore_errors=True)
    optsync(home, "operator", "set", "BENCH", "--no-password")
    optsync(home, "company", "add", COMPANY, "--db", optima_url)
    optsync(home, "integration", "add", "--company", COMPANY, "--app", "eshop",
            "--endpoint", shop_url, "--import", imports)


# --- where the time goes: the same pass in one process, timed by part ------------------------

@contextmanager
def parts():
    """Time spent in each part of an export pass (patched in, removed afterwards)."""
    from optsync.endpoints.base import Export
    from optsync.optima import reader
    from optsync.optima.fingerprint import Fingerprints
    from optsync.state import syncstate
    from optsync.sync import export

    spent: collections.Counter = collections.Counter()
    undo = []

    def wrap(owner, name, label):
        original = getattr(owner, name)

        def timed_call(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[label] += time.perf_counter() - start

        setattr(owner, name, timed_call)
        undo.append((owner, name, original))

    wrap(Export, "send", "endpoint writes")
    wrap(Export, "send_rows", "endpoint writes")
    wrap(syncstate.Pending, "add", "staging hashes")
    wrap(syncstate.Pending, "lookup", "looking up hashes")
    wrap(syncstate.Pending, "save", "saving hashes and mark")
    wrap(export, "row_hashes", "hashing rows")
    wrap(export, "_vanished", "deleted-key check")
    wrap(Fingerprints, "get", "price/stock fingerprints (waited for)")
    original_iter = reader.RawRows.__iter__

    def reading(self):
        rows = original_iter(self)
        while True:
            start = time.perf_counter()
            try:
                batch = next(rows)
            except StopIteration:
                spent["reading Optima"] += time.perf_counter() - start
                return
            spent["reading Optima"] += time.perf_counter() - start
            yield batch

    reader.RawRows.__iter__ = reading
    undo.append((reader.RawRows, "__iter__", original_iter))
    try:
        yield spent
    finally:
        for owner, name, original in reversed(undo):
            setattr(owner, name, original)


def in_process(home: Path, optima_url: str, shop_url: str) -> dict:
    """A full export and a no-change pass through the library, each with its parts."""
    from optsync.services import config as manage
    from optsync.state.db import State
    from optsync.sync.engine import PassOptions, run_company

    shutil.rmtree(home, ignore_errors=True)
    state = State(home)
    manage.set_operator(state, "BENCH", None)
    manage.add_company(state, COMPANY, optima_url)
    manage.add_integration(state, COMPANY, "eshop", shop_url, import_="orders")
    opts = PassOptions(only="export")
    with parts() as spent:
        full = timed(lambda: run_company(state, COMPANY, opts))
    full_parts = dict(spent)
    best, nochange_parts = None, {}
    for _ in range(3):
        with parts() as spent:
            took = timed(lambda: run_company(state, COMPANY, opts))
        if best is None or took < best:
            best, nochange_parts = took, dict(spent)
    state.dispose()
    rounded = lambda d: {k: round(v, 3) for k, v in sorted(d.items(), key=lambda i: -i[1])}  # noqa: E731
    return {"engine_full_export_s": full, "engine_full_parts_s": rounded(full_parts),
            "engine_no_change_s": best, "engine_no_change_parts_s": rounded(nochange_parts),
            "engine_no_change_vs_full": best / full,
            "delete_check_s": nochange_parts.get("deleted-key check", 0.0),
            "delete_check_share_of_no_change": nochange_parts.get("deleted-key check", 0.0) / best}


# --- SQLite to SQLite --------------------------------------------------------------------------

def bench_export(work: Path, n: int) -> dict:
    optima = work / f"optima-{n}.db"
    build_optima(optima, n)
    plain_runs, full_runs = [], []
    home, shop = work / "home-export", work / "shop-export.db"
    for _ in range(ROUNDS):  # interleaved: the machine's load hits both alike
        plain_runs.append(timed(lambda: plain_copy(optima, work / "plain.db")))
        shop.unlink(missing_ok=True)
        setup_home(home, f"sqlite:///{optima}", f"sqlite:///{shop}")
        full_runs.append(run_json(home, "--only", "export")[0])
    plain, full = min(plain_runs), min(full_runs)
    nochange, steps = min((run_json(home, "--only", "export") for _ in range(3)),
                          key=lambda r: r[0])
    engine_shop = work / "shop-engine.db"
    engine_shop.unlink(missing_ok=True)
    engine = in_process(work / "home-engine", f"sqlite:///{optima}", f"sqlite:///{engine_shop}")
    return {
        "rows": 3 * n, "plain_copy_s": plain,
        "cli_full_export_s": full, "cli_full_vs_plain": full / plain,
        "cli_no_change_s": nochange, "cli_no_change_vs_full": nochange / full,
        "cli_no_change_products_read": steps["products"]["read"],
        **engine, "engine_full_vs_plain": engine["engine_full_export_s"] / plain,
        "target_full_vs_plain": 3.0, "target_no_change_vs_full": 0.10,
    }


def _shift_marks_back(home: Path, hours: float) -> None:
    """Stand for time passing between passes: the last pass started ``hours`` earlier."""
    with sqlite3.connect(home / "state.db") as c:
        for column in ("watermark", "started_utc"):
            c.execute(f"UPDATE optsync_sync_marks SET {column} = "
                      f"strftime('%Y-%m-%d %H:%M:%f', {column}, '-{hours * 3600} seconds') "
                      f"WHERE {column} IS NOT NULL")


def _time_passes(home: Path, optima: Path, hours: float) -> None:
    """Stand for ``hours`` passing: every stored time and every product stamp moves back."""
    _shift_marks_back(home, hours)
    with sqlite3.connect(optima) as c:
        c.execute(f"UPDATE Towary SET Twr_TS_Mod = strftime('%Y-%m-%d %H:%M:%f', Twr_TS_Mod, "
                  f"'-{hours * 3600} seconds')")


def _bulk_change(optima: Path, stamp: datetime, mark: str) -> None:
    """A bulk change in Optima: every product renamed, all stamped with one second."""
    with sqlite3.connect(optima) as c:
        c.execute("UPDATE Towary SET Twr_Nazwa = substr(Twr_Nazwa, 1, 40) || ?, Twr_TS_Mod = ?",
                  (mark, stamp.strftime("%Y-%m-%d %H:%M:%S.000000")))


def bench_bulk(work: Path, n: int) -> dict:
    """A bulk change that stamps all products with one second, and the passes after it."""
    source = work / f"optima-{n}.db"
    build_optima(source, n)
    optima = work / f"optima-bulk-{n}.db"
    shutil.copy(source, optima)
    home, shop = work / "home-bulk", work / "shop-bulk.db"
    shop.unlink(missing_ok=True)
    setup_home(home, f"sqlite:///{optima}", f"sqlite:///{shop}")
    full, _ = run_json(home, "--only", "export", "--entity", "products")
    _shift_marks_back(home, 1.0)  # that export ran an hour ago ...
    now = datetime.now().replace(microsecond=0)
    _bulk_change(optima, now - timedelta(minutes=30), " (zmiana A)")  # ... the change 30 min ago
    changed_s, changed = run_json(home, "--only", "export", "--entity", "products")
    after_s, after = run_json(home, "--only", "export", "--entity", "products")
    # The same change made just before a pass (inside its re-read window): the pass after
    # that one reads the rows once more, compares them by hash and sends nothing.
    # Passes 15 minutes apart (the window is 10): time passing is stood for by moving every
    # stored time and stamp back.
    _shift_marks_back(home, 1.0)
    _bulk_change(optima, datetime.now().replace(microsecond=0), " (zmiana B)")
    run_json(home, "--only", "export", "--entity", "products")  # one second after the change
    _time_passes(home, optima, 0.25)
    right_after_s, right_after = run_json(home, "--only", "export", "--entity", "products")
    _time_passes(home, optima, 0.25)
    settled_s, settled = run_json(home, "--only", "export", "--entity", "products")
    return {
        "products": n, "cli_full_export_products_s": full,
        "pass_sending_the_change": {"s": changed_s, "read": changed["products"]["read"],
                                    "written": changed["products"]["written"]},
        "next_pass": {"s": after_s, "read": after["products"]["read"],
                      "read_share": after["products"]["read"] / n,
                      "vs_full_export": after_s / full},
        "change_inside_the_window_next_pass": {
            "s": right_after_s, "read": right_after["products"]["read"],
            "written": right_after["products"]["written"]},
        "and_the_pass_after_it": {"s": settled_s, "read": settled["products"]["read"]},
        "target_read_share": 0.01, "target_vs_full_export": 0.10,
    }


def bench_progress(work: Path, n: int) -> dict:
    """What the progress display costs: the same full export on a pseudo-terminal and not."""
    optima = work / f"optima-{n}.db"
    build_optima(optima, n)
    home, shop = work / "home-progress", work / "shop-progress.db"
    plain, shown = [], []
    for _ in range(2):
        shop.unlink(missing_ok=True)
        setup_home(home, f"sqlite:///{optima}", f"sqlite:///{shop}")
        plain.append(run_json(home, "--only", "export", "--entity", "products")[0])
        shop.unlink(missing_ok=True)
        setup_home(home, f"sqlite:///{optima}", f"sqlite:///{shop}")
        cmd = [sys.executable, "-m", "optsync", "--home", str(home), "run", "--company",
               COMPANY, "--only", "export", "--entity", "products"]
        shown.append(timed(lambda cmd=cmd: _in_pty(cmd)))
    return {"products": n, "without_terminal_s": min(plain), "on_terminal_s": min(shown),
            "ratio": min(shown) / min(plain)}


def _in_pty(cmd: list[str]) -> None:
    main, child = pty.openpty()
    env = {**clean_env(), "TERM": "xterm", "COLUMNS": "100"}
    proc = subprocess.Popen(cmd, stdin=child, stdout=child, stderr=child, env=env,
                            close_fds=True)
    os.close(child)
    while True:
        try:
            if not os.read(main, 65536):
                break
        except OSError:
            break
    proc.wait()
    os.close(main)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode} on a terminal")


def _orders(codes: list[str], count: int) -> list[dict]:
    from decimal import Decimal

    return [
        {"external_id": f"WWW/{i:06d}", "issued_at": None, "currency": "PLN",
         "customer_name": f"Klient {i}", "customer_city": "Gdańsk",
         "lines": [{"line_no": j + 1, "product_code": codes[(i + j) % len(codes)],
                    "quantity": Decimal(1 + j), "unit_price": Decimal("19.99"),
                    "price_kind": "gross", "vat_rate": None} for j in range(5)]}
        for i in range(count)
    ]


def bench_import(work: Path, orders: int, optima_url: str | None = None,
                 shop_url: str | None = None) -> dict:
    from sqlalchemy import create_engine, text

    from optsync.demo.sample import create_company_db
    from optsync.demo.world import write_shop_orders

    if optima_url is None:
        optima = work / "optima-import.db"
        optima.unlink(missing_ok=True)
        optima_url = f"sqlite:///{optima}"
    if shop_url is None:
        shop = work / "shop-import.db"
        shop.unlink(missing_ok=True)
        shop_url = f"sqlite:///{shop}"
    create_company_db(optima_url, products=200, customers=50, documents=0)
    engine = create_engine(optima_url)
    towary = '"CDN"."Towary"' if engine.dialect.name == "postgresql" else "Towary"
    with engine.connect() as c:
        codes = list(c.execute(text(
            f'SELECT "Twr_Kod" FROM {towary} WHERE "Twr_NieAktywny" = 0')).scalars())
    engine.dispose()
    home = work / "home-import"
    setup_home(home, optima_url, shop_url)
    write_shop_orders(shop_url, _orders(codes, orders))
    took, steps = run_json(home, "--only", "import")
    imported = steps["orders"]["written"]
    return {"orders": orders, "imported": imported, "import_s": took,
            "orders_per_s": imported / took, "target_orders_per_s": 1000}


def bench_memory(work: Path, n: int) -> dict:
    optima = work / f"optima-{n}.db"
    build_optima(optima, n)
    home, shop = work / "home-memory", work / "shop-memory.db"
    shop.unlink(missing_ok=True)
    setup_home(home, f"sqlite:///{optima}", f"sqlite:///{shop}")
    code = (
        "import resource, sys\n"
        "from optsync.cli.main import app\n"
        f"sys.argv = ['optsync', '--home', {str(home)!r}, 'run', '--company', {COMPANY!r},"
        " '--only', 'export', '--entity', 'products']\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        # The peak of this process's own memory: on Linux, ru_maxrss also counts the memory
        # of the process that started it (the benchmark, large after building the data).
        "try:\n"
        "    status = open('/proc/self/status').read().split('VmHWM:')[1]\n"
        "    print(int(status.split()[0]))\n"
        "except (OSError, IndexError):\n"
        "    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=clean_env())
    peak_mb = int(out.stdout.strip().splitlines()[-1]) / 1024  # both in KiB
    with sqlite3.connect(shop) as c:
        exported = c.execute("select count(*) from optsync_products").fetchone()[0]
    if exported != n:
        raise SystemExit(f"memory run exported {exported} of {n} products: {out.stderr}")
    return {"products": n, "exported": exported, "peak_rss_mb": peak_mb,
            "target_peak_rss_mb": 200}


def interleaved_medians(commands: dict[str, list[str]], times: int) -> dict[str, float]:
    """Median wall time of each command, the commands taking turns ``times`` times."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    env = clean_env()
    for _ in range(times):
        for name, cmd in commands.items():
            start = time.perf_counter()
            subprocess.run(cmd, capture_output=True, env=env)
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def bench_startup(work: Path, times: int) -> dict:
    home = work / "home-startup"
    shutil.rmtree(home, ignore_errors=True)
    optsync(home, "operator", "set", "BENCH", "--no-password")
    optima = work / "startup-optima.db"
    optima.touch()
    optsync(home, "company", "add", COMPANY, "--db", f"sqlite:///{optima}")
    hour = (time.localtime().tm_hour + 6) % 24
    optsync(home, "schedule", "set", "--company", COMPANY, "--from", f"{hour:02d}:00",
            "--to", f"{hour:02d}:30")
    py = sys.executable
    medians = interleaved_medians({
        "import_sqlalchemy": [py, "-c", "import sqlalchemy"],
        "help": [py, "-m", "optsync", "--help"],
        "scheduled_skip": [py, "-m", "optsync", "--home", str(home), "run", "--company",
                           COMPANY, "--scheduled"],
    }, times)
    base = medians["import_sqlalchemy"]
    return {"runs_each": times, "import_sqlalchemy_s": base, "help_s": medians["help"],
            "help_ratio": medians["help"] / base, "scheduled_skip_s": medians["scheduled_skip"],
            "scheduled_ratio": medians["scheduled_skip"] / base, "target_ratio": 1.3}


def bench_due(work: Path, companies: int) -> dict:
    from optsync.schedule.model import Schedule
    from optsync.services import config as manage
    from optsync.state import config as cfg
    from optsync.state.db import State

    home = work / "home-due"
    shutil.rmtree(home, ignore_errors=True)
    state = State(home)
    manage.set_operator(state, "BENCH", None)
    hour = (time.localtime().tm_hour + 6) % 24
    with state.engine.begin() as conn:  # 500 companies without 500 reconciles
        for i in range(companies):
            cid = cfg.insert_company(conn, f"Firma {i:03d}", dict(
                db_url="sqlite:///nowhere.db", source="manual"))
            cfg.insert_integration(conn, dict(
                company_id=cid, name="eshop", app="eshop", endpoint="/tmp/x", kind="folder",
                export=["products"], import_=[], price_list=None, warehouse=None))
            cfg.put_schedule(conn, cid, Schedule(start=hour * 60, end=hour * 60 + 30))
    state.dispose()
    took = interleaved_medians(
        {"due": [sys.executable, "-m", "optsync", "--home", str(home), "run", "--due"]}, 5)
    return {"companies": companies, "run_due_s": took["due"], "target_s": 2.0}


# --- PostgreSQL server to PostgreSQL server ---------------------------------------------------

@contextmanager
def pg_databases(names: list[str]):
    """Fresh databases on the PostgreSQL server (dropped afterwards); None when none answers."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    server = make_url(PG_URL)
    try:
        admin = create_engine(server, isolation_level="AUTOCOMMIT",
                              connect_args={"connect_timeout": 3})
        with admin.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - no server: the PostgreSQL figures are skipped
        print(f"no PostgreSQL server answers ({type(exc).__name__}); skipping", file=sys.stderr)
        yield None
        return
    urls = {}
    with admin.connect() as conn:
        for name in names:
            db = f"optsync_bench_{name}"
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{db}"')
            urls[name] = server.set(database=db).render_as_string(hide_password=False)
    try:
        yield urls
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "optsync_bench_{name}" WITH (FORCE)')
        admin.dispose()


def _psycopg(url: str):
    import psycopg

    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))


def pg_plain_copy(src_url: str, dst_url: str, *, copy: bool = False) -> None:
    """The PostgreSQL baseline: the same rows with nothing but psycopg (executemany or COPY)."""
    with _psycopg(src_url) as s, _psycopg(dst_url) as d:
        for table, cols in TABLES.items():
            d.execute(f"DROP TABLE IF EXISTS plain_{table}")
            d.execute(f"CREATE TABLE plain_{table} ({cols})")
        for table, query in queries('"CDN".').items():
            if copy:
                with s.cursor().copy(f"COPY ({query}) TO STDOUT") as out, \
                        d.cursor().copy(f"COPY plain_{table} FROM STDIN") as into:
                    for data in out:
                        into.write(data)
                continue
            with s.cursor(name=f"plain_{table}") as cur:
                cur.execute(query)
                marks = None
                while rows := cur.fetchmany(5000):
                    marks = marks or ",".join(["%s"] * len(rows[0]))
                    d.cursor().executemany(f"INSERT INTO plain_{table} VALUES ({marks})", rows)
        d.commit()


def bench_pg(work: Path, n: int, orders: int) -> dict | None:
    from optsync.demo.sample import bulk_company_db

    with pg_databases(["optima", "shop", "import_optima", "import_shop"]) as urls:
        if urls is None:
            return None
        start = time.perf_counter()
        bulk_company_db(urls["optima"], n)
        built = time.perf_counter() - start
        with _psycopg(urls["optima"]) as c:  # statistics, as a database in use has them
            c.execute("ANALYZE")
        plain_runs, copy_runs, full_runs = [], [], []
        home = work / "home-pg"
        for _ in range(2):
            plain_runs.append(timed(lambda: pg_plain_copy(urls["optima"], urls["shop"])))
            copy_runs.append(timed(lambda: pg_plain_copy(urls["optima"], urls["shop"],
                                                         copy=True)))
            with _psycopg(urls["shop"]) as c:
                for table in ("products", "prices", "stock", "mark"):
                    c.execute(f"DROP TABLE IF EXISTS optsync_{table}")
            setup_home(home, urls["optima"], urls["shop"])
            full_runs.append(run_json(home, "--only", "export")[0])
        plain, copied, full = min(plain_runs), min(copy_runs), min(full_runs)
        nochange = min(run_json(home, "--only", "export")[0] for _ in range(3))
        engine = in_process(work / "home-pg-engine", urls["optima"], urls["shop"])
        result = {
            "rows": 3 * n, "optima_built_s": built,
            "plain_psycopg_executemany_s": plain, "plain_psycopg_copy_s": copied,
            "cli_full_export_s": full, "cli_full_vs_plain": full / plain,
            "cli_full_vs_copy": full / copied,
            "cli_no_change_s": nochange, "cli_no_change_vs_full": nochange / full,
            **engine, "engine_full_vs_plain": engine["engine_full_export_s"] / plain,
            "target_full_vs_plain": 3.0,
        }
        result["import"] = bench_import(work, orders, urls["import_optima"], urls["import_shop"])
        return result


def compile_package() -> None:
    """Compile optsync's modules to bytecode first, as pip does when it installs a package:
    an editable checkout (or ``PYTHONDONTWRITEBYTECODE``) would otherwise have every timed
    command compile them from source, which an installed optsync never does."""
    import compileall

    import optsync

    compileall.compile_dir(Path(optsync.__file__).parent, quiet=1)


GROUPS = ["export", "bulk", "import", "memory", "startup", "due", "progress", "pg"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="products/prices/stock rows")
    parser.add_argument("--memory-n", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--companies", type=int, default=500)
    parser.add_argument("--startup-runs", type=int, default=21)
    parser.add_argument("--only", choices=GROUPS, action="append")
    parser.add_argument("--work", type=Path, default=None, help="keep data here between runs")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="optsync-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    wanted = args.only or GROUPS
    compile_package()
    results: dict = {"when": datetime.now().isoformat(timespec="seconds"),
                     "load_average": os.getloadavg()}
    run = {
        "export": lambda: bench_export(work, args.n),
        "bulk": lambda: bench_bulk(work, args.n),
        "import": lambda: bench_import(work, args.orders),
        "memory": lambda: bench_memory(work, args.memory_n),
        "startup": lambda: bench_startup(work, args.startup_runs),
        "due": lambda: bench_due(work, args.companies),
        "progress": lambda: bench_progress(work, args.n),
        "pg": lambda: bench_pg(work, args.n, args.orders),
    }
    for group in wanted:
        results[group] = run[group]()
        print(json.dumps({group: results[group]}, indent=2), file=sys.stderr, flush=True)
    results["load_average_after"] = os.getloadavg()
    print(json.dumps(results, indent=2))
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
