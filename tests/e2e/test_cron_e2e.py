"""End to end: the real cron daemon fires the entries ``schedule install`` wrote.

Slow (60-120 s: cron starts jobs on the minute, and reads a changed crontab at the next one).
It writes the user crontab of whoever runs it and puts it back exactly as it was, in a
``finally``. Cron runs commands with PATH=/usr/bin:/bin and no OPTSYNC_* variables, so
optsync runs here the same way: a clean environment, the absolute program and ``--home``.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from optsync.demo.sample import create_company_db
from optsync.schedule.backend import optsync_command
from optsync.schedule.daemon import cron_daemon_running

pytestmark = pytest.mark.slow

WAIT_SECONDS = 170
FOREIGN = "# a line optsync does not own, kept by the end-to-end test\n"


def _crontab(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["crontab", *args], input=stdin, capture_output=True, text=True,
                          check=False)


def _require_cron() -> None:
    if os.name == "nt" or shutil.which("crontab") is None:
        pytest.skip("no crontab program: install cron ('apt-get install cron')")
    if not cron_daemon_running() and hasattr(os, "geteuid") and os.geteuid() == 0:
        for start in (["service", "cron", "start"], ["/usr/sbin/cron"]):
            if shutil.which(start[0]):
                subprocess.run(start, capture_output=True, check=False)
                time.sleep(1)
                if cron_daemon_running():
                    break
    if not cron_daemon_running():
        pytest.skip("no cron daemon runs on this host: start it ('service cron start' as root)")


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("OPTSYNC_")}


def optsync(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*optsync_command(), "--home", str(home), *args],
                            capture_output=True, text=True, env=_clean_env(), check=False)
    if check:
        assert result.returncode == 0, f"optsync {' '.join(args)}: {result.stderr}"
    return result


def _scheduled_runs(home: Path) -> list[tuple[int, str, str | None]]:
    with sqlite3.connect(f"file:{home / 'state.db'}?mode=ro", uri=True, timeout=30) as conn:
        return conn.execute(
            "select id, status, reason from optsync_runs where trigger = 'scheduled' "
            "order by id"
        ).fetchall()


def _wait_for_a_finished_scheduled_run(home: Path) -> tuple[int, str, str | None]:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        finished = [r for r in _scheduled_runs(home) if r[1] != "running"]
        if finished:
            return finished[0]
        time.sleep(2)
    log = home / "logs" / "cron.log"
    pytest.fail(
        f"no scheduled pass finished within {WAIT_SECONDS} s; runs: {_scheduled_runs(home)}; "
        f"crontab:\n{_crontab('-l').stdout}\ncron.log:\n"
        f"{log.read_text() if log.exists() else '(none)'}"
    )


def test_cron_fires_the_installed_entry_and_a_scheduled_pass_is_recorded(tmp_path: Path):
    _require_cron()
    listed = _crontab("-l")
    original = listed.stdout if listed.returncode == 0 else None
    home = tmp_path / "home"
    company_db = tmp_path / "CDN_Firma.db"
    shop = tmp_path / "shop"
    shop.mkdir()
    create_company_db(f"sqlite:///{company_db}", products=5, customers=3, documents=1)
    try:
        # A foreign line the installs must keep byte for byte.
        assert _crontab("-", stdin=(original or "") + FOREIGN).returncode == 0
        optsync(home, "init")
        optsync(home, "operator", "set", "ADMIN", "--no-password")
        optsync(home, "company", "add", "Firma", "--db", f"sqlite:///{company_db}")
        optsync(home, "integration", "add", "--company", "Firma", "--app", "eshop",
                "--endpoint", str(shop))
        optsync(home, "schedule", "set", "--company", "Firma", "--every", "1m",
                "--from", "00:00", "--to", "23:59")
        optsync(home, "schedule", "install")

        installed = _crontab("-l").stdout
        assert installed.startswith((original or "") + FOREIGN)
        assert f"--home {home} run --company Firma --scheduled" in installed
        optsync(home, "schedule", "install", "--dry-run")  # no drift: exit 0

        run_id, status, reason = _wait_for_a_finished_scheduled_run(home)
        assert status in ("ok", "partial"), f"scheduled run {run_id} ended {status} ({reason})"
        assert (shop / "out").is_dir()  # the pass exported into the folder endpoint

        report = __import__("json").loads(optsync(home, "status", "--json").stdout)
        assert report["in_sync"] is True and report["daemon_running"] is True
        [firma] = report["companies"]
        assert firma["last_run"]["trigger"] == "scheduled"
        optsync(home, "status", "--check")
    finally:
        optsync(home, "schedule", "uninstall", check=False)
        after_uninstall = _crontab("-l").stdout
        if original is None:
            _crontab("-r")
        else:
            _crontab("-", stdin=original)
    assert after_uninstall == (original or "") + FOREIGN
    restored = _crontab("-l")
    assert (restored.stdout if restored.returncode == 0 else None) == original
