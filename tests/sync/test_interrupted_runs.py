"""A pass whose process is gone ends ``interrupted``: set by whoever finds it (the next pass,
``status``, ``logs``), shown by ``status --json`` and ``logs``, a problem for ``status --check``.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta

from sqlalchemy import select
from sync_world import COMPANY

from optsync.state import tables as t
from optsync.state.db import utcnow
from optsync.state.runs import get


def run(cli, *args, code=0):
    return json.loads(cli("run", "--company", COMPANY, *args, "--json", code=code).stdout)


def running_rows(world) -> list[int]:
    with world.state.engine.connect() as conn:
        return list(conn.execute(select(t.runs.c.id).where(t.runs.c.status == "running"))
                    .scalars())


def fake_running_run(world, *, host: str, pid: int, lease_left: timedelta | None) -> int:
    """A run row left ``running``, with the company's lease as its pass would hold it."""
    now = utcnow()
    with world.state.engine.begin() as conn:
        company_id = conn.execute(select(t.companies.c.id)).scalar_one()
        run_id = conn.execute(t.runs.insert().values(
            company_id=company_id, company=COMPANY, trigger="scheduled", host=host, pid=pid,
            started_at=now - timedelta(minutes=5), status="running", steps="[]", complete=True,
        )).inserted_primary_key[0]
        if lease_left is not None:
            conn.execute(t.locks.insert().values(
                company_id=company_id, host=host, pid=pid, token="x" * 32, run_id=run_id,
                acquired_at=now - timedelta(minutes=5), expires_at=now + lease_left))
    return run_id


def test_a_pass_killed_with_sigkill_is_found_interrupted_and_the_next_pass_runs(cli, world):
    run(cli)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTSYNC_")}
    env |= {"OPTSYNC_HOSTNAME": "test-host", "OPTSYNC_HOME": str(world.state.home)}
    blocker = sqlite3.connect(world.shop_db, isolation_level=None)
    blocker.execute("begin exclusive")  # the pass waits for the shop's database...
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "optsync", "run", "--company", COMPANY, "--json"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not running_rows(world):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)  # ...and is killed while it waits
        proc.wait(timeout=30)
    finally:
        blocker.execute("rollback")
        blocker.close()
    [killed] = running_rows(world)
    status = cli("status", "--json")
    company = json.loads(status.stdout)["companies"][0]
    assert (company["last_run"]["run_id"], company["last_run"]["status"]) == (
        killed, "interrupted")
    assert company["running"] is None
    assert "was interrupted" in status.stderr
    check = cli("status", "--check", code=1)
    assert "interrupted" in check.stderr
    logged = [json.loads(line) for line in cli("logs", "--json").stdout.splitlines()]
    assert [r["level"] for r in logged if r["run_id"] == killed and "interrupted" in
            r["message"]] == ["warning"]  # logged once, by whoever found it first
    after = run(cli)
    assert after["status"] == "ok"
    assert get(world.state, killed).status == "interrupted"


def test_the_next_pass_sets_interrupted_on_a_run_whose_process_is_gone(cli, world):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = fake_running_run(world, host="test-host", pid=dead.pid,
                            lease_left=timedelta(seconds=50))
    result = run(cli)
    assert result["status"] == "ok"
    assert get(world.state, left).status == "interrupted"
    messages = [json.loads(line)["message"] for line in
                cli("logs", "--filter", "sync", "--json").stdout.splitlines()]
    assert any(f"run {left}," in m and "was interrupted" in m for m in messages)


def test_a_run_on_another_host_is_interrupted_only_when_its_lease_expired(cli, world):
    alive = fake_running_run(world, host="other-host", pid=4242,
                             lease_left=timedelta(seconds=50))
    company = cli.json("status")["companies"][0]
    assert company["last_run"]["status"] == "running" and company["running"]["run_id"] == alive
    cli("status", "--check")
    with world.state.engine.begin() as conn:
        conn.execute(t.locks.update().values(expires_at=utcnow() - timedelta(seconds=1)))
    company = cli.json("status")["companies"][0]
    assert company["last_run"]["status"] == "interrupted" and company["running"] is None
    assert get(world.state, alive).status == "interrupted"


def _unprivileged(tmp_path) -> list[str]:
    """A prefix under which file modes bind even for root (setpriv drops the override)."""
    import shutil

    import pytest

    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is needed to drop root's file-mode override")
    drop = ["--inh-caps=-dac_override,-dac_read_search",
            "--bounding-set=-dac_override,-dac_read_search"]
    probe = tmp_path / "probe"
    probe.write_text("")
    probe.chmod(0o444)
    tried = subprocess.run([setpriv, *drop, "sh", "-c", f"echo x > '{probe}'"],
                           capture_output=True)
    if tried.returncode == 0:
        pytest.skip("this system does not let setpriv drop CAP_DAC_OVERRIDE")
    return [setpriv, *drop]


def test_status_and_logs_of_a_read_only_state_database_show_the_interrupted_run(
        cli, world, tmp_path):
    prefix = _unprivileged(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = fake_running_run(world, host="test-host", pid=dead.pid, lease_left=None)
    world.state.engine.dispose()
    db = world.state.home / "state.db"
    mode = db.stat().st_mode
    db.chmod(0o444)
    try:
        def optsync(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run([*prefix, sys.executable, "-m", "optsync", *args],
                                  capture_output=True, text=True, timeout=120,
                                  env=dict(os.environ))

        status = optsync("status", "--json")
        assert status.returncode == 0, status.stderr
        company = json.loads(status.stdout)["companies"][0]
        assert (company["last_run"]["run_id"], company["last_run"]["status"]) == (
            left, "interrupted")
        assert optsync("status", "--check").returncode == 1
        logs = optsync("logs")
        assert logs.returncode == 0, logs.stderr
    finally:
        db.chmod(mode)
    assert get(world.state, left).status == "running"  # nobody could write it down yet
    run(cli)
    assert get(world.state, left).status == "interrupted"
