"""Two hosts sharing one PostgreSQL state database split the companies between them.

Each "host" is a home of its own whose ``optsync.toml`` points at the same state database,
and a different ``OPTSYNC_HOSTNAME``; both run ``optsync run --due --json`` (or ``--all``) as
real subprocesses at the same time over six small companies (a SQLite company database and
a folder endpoint each). Every company must pass exactly once per round, two passes of one
company must never overlap in time, and companies skipped as ``locked`` must not change the
exit code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from itertools import pairwise
from pathlib import Path

import pytest
from pg_databases import pg_databases
from sqlalchemy import Engine, create_engine, text

from optsync.demo.sample import create_company_db
from optsync.services import config as manage
from optsync.state import config as cfg
from optsync.state.db import State

pytestmark = pytest.mark.slow

COMPANIES = [f"Firma {n} Sp. z o.o." for n in range(1, 7)]
HOSTS = ("host-a", "host-b")
TIMEOUT = 60


@pytest.fixture
def state_url() -> Iterator[str]:
    """A PostgreSQL state database of this test's own, dropped after it."""
    with pg_databases("optsync_e2e") as make:
        yield make("state")


@dataclass
class Cluster:
    """Two homes (one per host) over one shared state database, and six companies."""

    homes: dict[str, Path]
    state: State
    db: Engine

    def start(self, host: str, *args: str) -> subprocess.Popen[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPTSYNC_")}
        env["OPTSYNC_HOSTNAME"] = host
        return subprocess.Popen(
            [sys.executable, "-m", "optsync", "--home", str(self.homes[host]), "run", *args,
             "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    def round(self, *args: str) -> dict[str, tuple[int, list[dict]]]:
        """Both hosts run at once; their exit codes and JSON results, by host."""
        procs = {host: self.start(host, *args) for host in HOSTS}
        results = {}
        self.stderr = {}
        for host, proc in procs.items():
            out, err = proc.communicate(timeout=TIMEOUT)
            assert out.strip(), f"{host} printed no JSON (exit {proc.returncode}): {err}"
            results[host] = (proc.returncode, json.loads(out))
            self.stderr[host] = err
        return results

    def runs(self, after: int = 0) -> list:
        with self.db.connect() as conn:
            return list(conn.execute(text(
                "select id, company, host, status, reason, started_at, finished_at "
                "from optsync_runs where id > :after order by id"), {"after": after}))

    def last_run_id(self) -> int:
        with self.db.connect() as conn:
            return conn.execute(text("select coalesce(max(id), 0) from optsync_runs")).scalar()

    def next_round(self) -> None:
        """Make every company due again, as if the schedule's next start had come."""
        with self.db.begin() as conn:
            conn.execute(text("update optsync_runs set started_at = started_at - interval "
                              "'2 days', finished_at = finished_at - interval '2 days'"))


@pytest.fixture
def cluster(state_url: str, tmp_path: Path) -> Iterator[Cluster]:
    homes = {host: tmp_path / host for host in HOSTS}
    for home in homes.values():
        home.mkdir()
        (home / "optsync.toml").write_text(f'state_url = "{state_url}"\n')
    state = State(homes[HOSTS[0]])
    manage.set_operator(state, "ADMIN", None)
    for n, name in enumerate(COMPANIES, start=1):
        db = tmp_path / f"firma{n}.db"
        create_company_db(f"sqlite:///{db}", seed=n, products=60, customers=5)
        manage.add_company(state, name, f"sqlite:///{db}")
        (tmp_path / f"sklep{n}").mkdir()
        manage.add_integration(state, name, "eshop", str(tmp_path / f"sklep{n}"), name="sklep")
        # 00:00-23:59 every 24 h: the latest start is today's midnight all day long
        manage.set_schedule(state, name, start="00:00", end="23:59", every="24h")
    db = create_engine(state_url)
    yield Cluster(homes, state, db)
    db.dispose()
    state.dispose()


def brief(reported: list[dict]) -> list[tuple]:
    """What a failed assertion shows of a host's results: company, status, errors."""
    return [(r["company"], r["status"], r["reason"],
             {s["error"] for s in r["steps"] if s["error"]}) for r in reported]


def assert_no_overlap(runs) -> None:
    """No two non-skipped passes of one company overlap in time."""
    by_company = defaultdict(list)
    for r in runs:
        if r.status != "skipped":
            assert r.finished_at is not None, f"run {r.id} of {r.company} never finished"
            by_company[r.company].append((r.started_at, r.finished_at, r.host, r.id))
    for company, spans in by_company.items():
        spans.sort()
        for (s1, f1, h1, id1), (s2, _f2, h2, id2) in pairwise(spans):
            assert f1.astimezone(UTC) <= s2.astimezone(UTC), (
                f"{company}: run {id1} on {h1} ({s1}..{f1}) overlaps run {id2} on {h2} "
                f"(from {s2})")


def test_two_hosts_running_due_pass_each_company_once_per_round(cluster):
    rounds = 3
    for n in range(rounds):
        if n:
            cluster.next_round()
        before = cluster.last_run_id()
        results = cluster.round("--due")
        for host, (code, _) in results.items():
            assert code == 0, (f"round {n + 1}: {host} exited {code}: {brief(results[host][1])}"
                               f"\n{cluster.stderr[host]}")
        passes = Counter()
        for _, reported in results.values():
            for r in reported:
                if r["status"] == "skipped":
                    assert r["reason"] == "locked", r
                else:
                    assert r["status"] == "ok", r
                    passes[r["company"]] += 1
        assert passes == Counter(dict.fromkeys(COMPANIES, 1)), f"round {n + 1}: {passes}"
        recorded = [r for r in cluster.runs(before) if r.status != "skipped"]
        assert Counter(r.company for r in recorded) == Counter(dict.fromkeys(COMPANIES, 1))
        assert {r.host for r in recorded} <= set(HOSTS)
        # served: a further --due on either host finds nothing to do
        assert cluster.round("--due") == {host: (0, []) for host in HOSTS}
    assert_no_overlap(cluster.runs())
    with cluster.db.connect() as conn:
        assert conn.execute(text("select count(*) from optsync_locks")).scalar() == 0


def test_two_hosts_running_all_never_overlap_and_locked_skips_exit_0(cluster):
    # A pass held elsewhere (this live process, on a third host) keeps one company locked.
    from optsync.state.locks import try_acquire

    held = cfg.get_company(cluster.state, COMPANIES[2])
    lease = try_acquire(cluster.state, held.id)
    assert lease is not None
    try:
        before = cluster.last_run_id()
        results = cluster.round("--all")
    finally:
        lease.release()
    for host, (code, reported) in results.items():
        assert code == 0, f"{host} exited {code} although only 'locked' skips happened"
        assert [r["company"] for r in reported] == sorted(COMPANIES)
        by_company = {r["company"]: r for r in reported}
        assert (by_company[held.name]["status"], by_company[held.name]["reason"]) == (
            "skipped", "locked")
        assert all(r["status"] in ("ok", "skipped") for r in reported)
        assert all(r["reason"] == "locked" for r in reported if r["status"] == "skipped")
    passed = Counter(r.company for r in cluster.runs(before) if r.status != "skipped")
    assert held.name not in passed
    assert set(passed) == set(COMPANIES) - {held.name}  # each ran at least once
    assert_no_overlap(cluster.runs())
