"""Durability: a pass killed with ``kill -9`` loses nothing and leaves no stuck lock (docs/guarantees.md).

Real subprocesses (``python -m optsync --home H run --company X``) over a company database
big enough for a pass to take a couple of seconds. The pass is killed at a measured fraction
of the time an uninterrupted pass of the same data took (a reference home with an endpoint
of its own); the pass run again afterwards must bring the endpoint to exactly what the
reference holds. Imports too: orders killed half-way land in Optima exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from optsync.demo.sample import bulk_company_db, create_company_db
from optsync.demo.world import shop_orders, write_shop_orders
from optsync.errors import ExitCode
from optsync.services import config as manage
from optsync.state.db import State

pytestmark = pytest.mark.slow

COMPANY = "Hurtownia Duża Sp. z o.o."
PRODUCTS = 60_000
ORDERS = 4_000
HOST = "test-host"
TIMEOUT = 120


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTSYNC_")}
    env["OPTSYNC_HOSTNAME"] = HOST
    return env


def start(home: Path, *args: str) -> subprocess.Popen[str]:
    """``optsync --home HOME run --company COMPANY ARGS`` as a real process."""
    return subprocess.Popen(
        [sys.executable, "-m", "optsync", "--home", str(home), "run", "--company", COMPANY,
         *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())


def finish(proc: subprocess.Popen[str]) -> tuple[int, dict | None]:
    out, err = proc.communicate(timeout=TIMEOUT)
    try:
        return proc.returncode, json.loads(out)
    except json.JSONDecodeError:
        return proc.returncode, {"stdout": out, "stderr": err}


def run(home: Path, *args: str) -> tuple[int, dict | None]:
    return finish(start(home, *args, "--json"))


def kill9(proc: subprocess.Popen[str]) -> None:
    assert proc.poll() is None, (
        "the pass ended before it could be killed; the data is too small for this machine")
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == -signal.SIGKILL


def setup_home(home: Path, company_db: Path, endpoint: str) -> State:
    state = State(home)
    manage.set_operator(state, "ADMIN", None)
    manage.add_company(state, COMPANY, f"sqlite:///{company_db}")
    manage.add_integration(state, COMPANY, "eshop", endpoint, name="sklep")
    return state


def query(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def outbound(db: Path) -> dict[str, list[tuple]]:
    """Every outbound exchange table, all columns but ``updated_at``, in a stable order."""
    tables = [name for (name,) in query(
        db, "select name from sqlite_master where type = 'table' and name like 'optsync_%' "
            "and name not like 'optsync_inbox%' and name != 'optsync_mark' order by name")]
    content = {}
    for table in tables:
        columns = [c[1] for c in query(db, f'pragma table_info("{table}")')
                   if c[1] != "updated_at"]
        listed = ", ".join(f'"{c}"' for c in columns)
        content[table] = query(db, f'select {listed} from "{table}" order by {listed}')
    return content


def lock_row(home: Path) -> list[tuple]:
    return query(home / "state.db", "select host, pid from optsync_locks")


def wait_for_lock(home: Path, proc: subprocess.Popen[str]) -> None:
    """Return once the pass in ``proc`` holds the company lock (its work begins)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            if lock_row(home) == [(HOST, proc.pid)]:
                return
        except sqlite3.OperationalError:  # no state tables yet, or a commit in progress
            pass
        assert proc.poll() is None, f"the pass ended without holding its lock: {finish(proc)}"
        assert time.monotonic() < deadline, "the pass never took its lock"
        time.sleep(0.01)


def run_rows(home: Path) -> list[tuple]:
    return query(home / "state.db", "select id, status, pid from optsync_runs order by id")


def export_written(result: dict) -> dict[str, int]:
    return {s["entity"]: s["written"] for s in result["steps"] if s["direction"] == "export"}


@dataclass
class Big:
    """A big company database and a reference endpoint filled by one uninterrupted pass."""

    company_db: Path
    reference: Path
    seconds: float  # how long the uninterrupted pass held its lock (process start left out)


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Big]:
    root = tmp_path_factory.mktemp("kill9")
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("OPTSYNC_"):
                mp.delenv(name)
        mp.setenv("OPTSYNC_HOSTNAME", HOST)
        company_db = root / "firma.db"
        bulk_company_db(f"sqlite:///{company_db}", PRODUCTS)
        setup_home(root / "reference-home", company_db,
                   f"sqlite:///{root / 'reference.db'}").dispose()
    proc = start(root / "reference-home", "--json")
    wait_for_lock(root / "reference-home", proc)
    began = time.monotonic()
    code, result = finish(proc)
    seconds = time.monotonic() - began
    assert code == 0 and result["status"] == "ok", result
    assert export_written(result) == {"products": PRODUCTS, "prices": PRODUCTS,
                                      "stock": PRODUCTS}
    yield Big(company_db, root / "reference.db", seconds)


@pytest.fixture
def shop(big: Big, home: Path, tmp_path: Path) -> Path:
    """A home whose integration writes into an empty SQLite endpoint over the big company."""
    endpoint = tmp_path / "shop.db"
    setup_home(home, big.company_db, f"sqlite:///{endpoint}").dispose()
    return endpoint


def killed_mid_pass(big: Big, root: Path, fraction: float) -> tuple[Path, Path, int]:
    """A home, its endpoint and the pid of its pass, killed with 9 before the pass ended.

    The pass is killed ``fraction`` of the reference pass's time after it took its lock. On an
    unsteady machine a pass can outrun the reference by more than that: then it finished and
    nothing was tested, so it is tried again on a fresh home with half the delay.
    """
    delay = big.seconds * fraction
    for attempt in range(4):
        home, endpoint = root / f"home-{attempt}", root / f"shop-{attempt}.db"
        setup_home(home, big.company_db, f"sqlite:///{endpoint}").dispose()
        proc = start(home)
        wait_for_lock(home, proc)
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=TIMEOUT)
        if proc.returncode == -signal.SIGKILL and run_rows(home)[-1][1] == "running":
            return home, endpoint, proc.pid
        assert proc.returncode in (0, -signal.SIGKILL), f"the pass failed: {out}{err}"
        delay /= 2
    pytest.fail("every pass ended before it could be killed; the data is too small for this "
                "machine")


@pytest.mark.parametrize("fraction", [0.25, 0.45, 0.65])
def test_a_pass_killed_with_9_is_finished_by_the_next_exactly_as_uninterrupted(
        big, tmp_path, fraction):
    home, shop, pid = killed_mid_pass(big, tmp_path, fraction)
    # the killed pass left its run unfinished and its lease behind
    assert run_rows(home)[-1][1:] == ("running", pid)
    assert lock_row(home) == [(HOST, pid)]

    # same host, holder dead: the next pass takes the lock over (exit 0, not 75)
    code, result = run(home)
    assert code == 0, result
    assert result["status"] == "ok"
    assert lock_row(home) == []
    assert outbound(shop) == outbound(big.reference)

    code, again = run(home)
    assert code == 0 and export_written(again) == {"products": 0, "prices": 0, "stock": 0}


def test_a_second_run_while_a_pass_runs_exits_75_locked(big, shop, home):
    proc = start(home)
    wait_for_lock(home, proc)
    code, result = run(home)
    still_running = proc.poll() is None
    assert code == ExitCode.LOCKED, result
    assert (result["status"], result["reason"]) == ("skipped", "locked")
    assert still_running, "the first pass ended before the second was refused"
    first_code, first = finish(proc)
    assert first_code == 0, first
    assert outbound(shop) == outbound(big.reference)


def test_orders_killed_mid_import_land_in_optima_exactly_once(home, tmp_path):
    company_db = tmp_path / "firma.db"
    create_company_db(f"sqlite:///{company_db}", seed=3, products=30, customers=5)
    codes = [c for (c,) in query(company_db, "select Twr_Kod from Towary where "
                                             "Twr_NieAktywny = 0 order by Twr_TwrId limit 6")]
    endpoint = tmp_path / "shop.db"
    orders = shop_orders(codes, count=ORDERS)
    write_shop_orders(f"sqlite:///{endpoint}", orders)
    setup_home(home, company_db, f"sqlite:///{endpoint}").dispose()
    customers_before = query(company_db, "select count(*) from Kontrahenci")[0][0]

    def imported() -> int:
        try:
            return query(company_db, "select count(*) from TraNag where TrN_TypDokumentu = 308"
                         )[0][0]
        except sqlite3.OperationalError:  # a commit in progress
            return 0

    proc = start(home, "--only", "import")
    deadline = time.monotonic() + 60
    while imported() < ORDERS * 0.4:
        assert proc.poll() is None, "the import ended before it could be killed"
        assert time.monotonic() < deadline, "the import made no progress"
        time.sleep(0.01)
    kill9(proc)
    landed = imported()
    assert 0 < landed < ORDERS

    code, result = run(home, "--only", "import")
    assert code == 0, result
    step = next(s for s in result["steps"] if s["entity"] == "orders")
    assert step["status"] == "ok" and step["rejected"] == 0

    per_order = dict(query(company_db, "select TrN_NumerObcy, count(*) from TraNag "
                                       "where TrN_TypDokumentu = 308 group by TrN_NumerObcy"))
    assert per_order == {o["external_id"]: 1 for o in orders}
    numbers = query(company_db, "select count(distinct TrN_NumerNr), count(*) from TraNag "
                                "where TrN_TypDokumentu = 308")
    assert numbers == [(ORDERS, ORDERS)]
    assert query(company_db, "select count(*) from TraNag n where TrN_TypDokumentu = 308 and "
                             "not exists (select 1 from TraElem e where e.TrE_TrNId = n.TrN_TrNID)"
                 ) == [(0,)]  # every document landed whole
    inbox = query(endpoint, "select status, count(*), count(erp_id) from optsync_inbox_orders "
                            "group by status")
    assert inbox == [("imported", ORDERS, ORDERS)]
    erp_ids = dict(query(company_db, "select TrN_NumerObcy, TrN_TrNID from TraNag "
                                     "where TrN_TypDokumentu = 308"))
    marked = dict(query(endpoint, "select external_id, erp_id from optsync_inbox_orders"))
    assert {k: str(v) for k, v in marked.items()} == {k: str(v) for k, v in erp_ids.items()}
    # the two inline shop customers were created once each, not once per attempt
    assert query(company_db, "select count(*) from Kontrahenci")[0][0] == customers_before + 2
    assert lock_row(home) == []

    code, again = run(home, "--only", "import")
    assert code == 0 and all(s["written"] == 0 for s in again["steps"])
