"""``status`` (the service section) and ``doctor`` through the CLI."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from optsync.demo.sample import create_company_db

STATUS_KEYS = {"host", "backend", "installs", "in_sync", "daemon_running", "companies"}
COMPANY_KEYS = {"name", "enabled", "last_run", "next_run", "running"}
CHECK_KEYS = {"check", "status", "detail", "fix"}


def state_of(home: Path):
    from optsync.state.db import State

    return State(home)


def company_id(home: Path, name: str) -> int:
    from optsync.state.config import get_company

    return get_company(state_of(home), name).id


# status ---------------------------------------------------------------------------------
def test_status_json_has_the_documented_keys(cli, companies, tmp_path):
    companies("Alfa")
    cli("company", "add", "Beta", "--db", "sqlite:///beta.db")
    cli("schedule", "install", "--crontab", str(tmp_path / "tab"))
    report = cli.json("status")
    assert STATUS_KEYS <= set(report)
    assert report["host"] == "test-host" and report["backend"] == "cron"
    assert report["in_sync"] is True
    assert report["daemon_running"] in (True, False, None)
    [install] = report["installs"]
    assert install["host"] == "test-host" and install["target"] == str(tmp_path / "tab")
    assert install["backend"] == "cron" and install["entries"] == 1 and install["installed_at"]
    by_name = {c["name"]: c for c in report["companies"]}
    assert set(by_name) == {"Alfa", "Beta"}
    assert all(set(c) == COMPANY_KEYS for c in report["companies"])
    assert by_name["Alfa"]["enabled"] is True and by_name["Alfa"]["next_run"]
    assert by_name["Beta"] == {"name": "Beta", "enabled": False, "last_run": None,
                               "next_run": None, "running": None}


def test_check_exits_1_when_enabled_schedules_have_no_entries(cli, companies):
    companies("Alfa")
    result = cli("status", "--check", code=1)
    assert "no OS entries are installed; run 'optsync schedule install'" in result.stderr
    assert cli.json("status", "--check", code=1)["in_sync"] is None


def test_check_passes_with_no_schedules_at_all(cli):
    cli("company", "add", "Alfa", "--db", "sqlite:///alfa.db")
    cli("status", "--check")


def test_check_exits_0_after_install_and_1_after_a_hand_edit(cli, companies, tmp_path):
    tab = tmp_path / "tab"
    companies("Alfa")
    cli("schedule", "install", "--crontab", str(tab))
    cli("status", "--check")  # a --crontab FILE needs no local daemon: never a problem

    tab.write_text(tab.read_text().replace("0,30 * * * *", "5 * * * *"))
    result = cli("status", "--check", code=1)
    assert "differ from the schedules (drift)" in result.stderr
    assert f"run 'optsync schedule install --crontab {tab}'" in result.stderr
    assert cli.json("status", code=0)["in_sync"] is False  # without --check: exit 0

    tab.write_text("")
    result = cli("status", "--check", code=1)
    assert f"no OS entries in {tab} (cron)" in result.stderr


def test_check_exits_1_when_a_company_s_last_pass_failed(cli, companies, home, tmp_path):
    from optsync.state import runs

    companies("Alfa", "Beta Sp. z o.o.")
    cli("schedule", "install", "--crontab", str(tmp_path / "tab"))
    state = state_of(home)
    runs.start(state, company_id(home, "Alfa"), "Alfa", "manual", status="ok")
    cli("status", "--check")
    runs.start(state, company_id(home, "Beta Sp. z o.o."), "Beta Sp. z o.o.", "scheduled",
               status="failed", reason="unreachable")
    result = cli("status", "--check", code=1)
    assert ("last pass of Beta Sp. z o.o. failed" in result.stderr
            and "(unreachable); see \"optsync logs --filter sync --company "
                "'Beta Sp. z o.o.'\"" in result.stderr)
    beta = next(c for c in cli.json("status")["companies"] if c["name"].startswith("Beta"))
    assert beta["last_run"]["status"] == "failed"


def test_a_partial_last_pass_is_a_note_not_a_failure(cli, companies, home, tmp_path):
    from optsync.state import runs

    companies("Alfa")
    cli("schedule", "install", "--crontab", str(tmp_path / "tab"))
    runs.start(state_of(home), company_id(home, "Alfa"), "Alfa", "manual", status="partial")
    result = cli("status", "--check")
    assert "optsync: note: the last pass of Alfa" in result.stderr
    assert "see 'optsync logs --filter sync --company Alfa'" in result.stderr


def test_running_shows_the_lock_holder(cli, companies, home):
    from optsync.state import locks, runs

    companies("Alfa")
    state = state_of(home)
    lease = locks.try_acquire(state, company_id(home, "Alfa"))
    run = runs.start(state, company_id(home, "Alfa"), "Alfa", "manual")
    lease.set_run(run.id)
    try:
        [alfa] = cli.json("status", code=None)["companies"]
    finally:
        lease.release()
    assert alfa["running"]["host"] == "test-host" and alfa["running"]["run_id"] == run.id
    assert alfa["last_run"]["status"] == "running"


def test_external_backend_expects_no_entries(cli, companies):
    companies("Alfa")
    cli("schedule", "install", "--backend", "external")
    report = cli.json("status", "--check")
    assert report["backend"] == "external" and report["daemon_running"] is None
    assert report["installs"][0]["backend"] == "external"


def test_entries_on_another_host_are_not_missing_here(cli, companies, tmp_path, monkeypatch):
    companies("Alfa")
    monkeypatch.setenv("OPTSYNC_HOSTNAME", "other-host")
    cli("schedule", "install", "--crontab", str(tmp_path / "tab"))
    monkeypatch.setenv("OPTSYNC_HOSTNAME", "test-host")
    result = cli("status", "--check")
    assert "entries are installed on host other-host" in result.stderr
    assert cli.json("status")["in_sync"] is None


@pytest.mark.parametrize("running, code", [(False, 1), (True, 0)])
def test_no_cron_daemon_is_a_problem_for_the_user_crontab(
    cli, companies, user_crontab, monkeypatch, running, code
):
    companies("Alfa")
    cli("schedule", "install")
    monkeypatch.setattr("optsync.services.status.cron_daemon_running", lambda: running)
    result = cli("status", "--check", code=code)
    assert ("start cron: 'service cron start'" in result.stderr) is (not running)
    assert cli.json("status", code=None)["daemon_running"] is running


def test_cron_daemon_is_found_by_its_process_name(tmp_path):
    from optsync.schedule.daemon import cron_daemon_running

    proc = tmp_path / "proc"
    for pid, name, state in [(1, "init", "S"), (7, "cron", "Z"), (9, "bash", "S")]:
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "comm").write_text(name + "\n")
        (proc / str(pid) / "stat").write_text(f"{pid} ({name}) {state} 1 1\n")
    assert cron_daemon_running(proc) is False  # a zombie cron runs nothing
    (proc / "12").mkdir()
    (proc / "12" / "comm").write_text("crond\n")
    assert cron_daemon_running(proc) is True
    assert cron_daemon_running(tmp_path / "no-proc") is None


def test_status_without_a_home_says_how_to_create_it(cli):
    result = cli("status", code=78)
    assert "Run 'optsync init' first" in result.stderr


def test_status_table_for_people(cli, companies, tmp_path):
    companies("Alfa")
    cli("schedule", "install", "--crontab", str(tmp_path / "tab"))
    out = cli("status").stdout
    assert "host:        test-host" in out and "entries:     match the schedules" in out
    assert "Alfa" in out


# doctor ---------------------------------------------------------------------------------
@pytest.fixture
def optima_db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'CDN_Firma.db'}"
    create_company_db(url, products=3, customers=2, documents=1)
    return url


def checks_by_name(cli, code: int | None = None) -> dict[str, dict]:
    rows = cli.json("doctor", code=code)
    assert all(set(r) == CHECK_KEYS for r in rows)
    assert all(r["status"] in ("ok", "warn", "fail") for r in rows)
    return {r["check"]: r for r in rows}


def test_doctor_json_shape_and_a_healthy_setup(cli, optima_db, tmp_path):
    (tmp_path / "shop").mkdir()
    cli("operator", "set", "ADMIN", "--no-password")
    cli("company", "add", "Firma", "--db", optima_db)
    cli("integration", "add", "--company", "Firma", "--app", "eshop",
        "--endpoint", str(tmp_path / "shop"))
    checks = checks_by_name(cli, code=0)
    for name in ("home", "state database", "operator", "company Firma database",
                 "endpoint Firma/eshop", "pyodbc", "ODBC drivers", "crontab command"):
        assert name in checks
    ok = ("home", "state database", "operator", "company Firma database",
          "endpoint Firma/eshop")
    assert all(checks[n]["status"] == "ok" for n in ok), checks
    assert checks["company Firma database"]["detail"].endswith("Optima tables present")
    assert checks["crontab command"]["status"] == "warn"  # blocked in tests, none installed


def test_doctor_fails_a_missing_company_database_with_the_url_shown(cli, tmp_path):
    missing = f"sqlite:///{tmp_path / 'nope.db'}"
    cli("company", "add", "Firma", "--db", missing)
    checks = checks_by_name(cli, code=1)
    check = checks["company Firma database"]
    assert check["status"] == "fail" and missing in check["detail"]
    assert "no such file" in check["detail"] and check["fix"]
    assert not (tmp_path / "nope.db").exists()  # doctor creates nothing


def test_doctor_masks_passwords_of_unreachable_databases(cli):
    secret = "Tajne-Haslo-123"
    cli("company", "add", "Firma", "--db",
        f"postgresql+psycopg://optima:{secret}@127.0.0.1:9/firma")
    cli("company", "add", "Firma ODBC", "--db",
        f"odbc:DRIVER={{ODBC Driver 18 for SQL Server}};SERVER=127.0.0.1,9;UID=sa;PWD={secret}")
    result = cli("doctor", "--json", code=1)
    assert secret not in result.stdout + result.stderr
    checks = {c["check"]: c for c in __import__("json").loads(result.stdout)}
    assert checks["company Firma database"]["status"] == "fail"
    assert "optima:***@127.0.0.1:9/firma" in checks["company Firma database"]["detail"]
    assert checks["company Firma ODBC database"]["status"] == "fail"
    assert "PWD=***" in checks["company Firma ODBC database"]["detail"]
    text = cli("doctor", code=1)
    assert secret not in text.stdout + text.stderr


def test_doctor_fails_a_database_without_optima_tables(cli, tmp_path):
    import sqlite3

    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).execute("create table t (x)").connection.close()
    cli("company", "add", "Firma", "--db", f"sqlite:///{empty}")
    check = checks_by_name(cli, code=1)["company Firma database"]
    assert check["status"] == "fail"
    assert "lacks the Optima tables Towary, TwrCeny, Kontrahenci, TraNag" in check["detail"]


def test_doctor_fails_a_missing_folder_endpoint(cli, optima_db, tmp_path):
    cli("operator", "set", "ADMIN", "--no-password")
    cli("company", "add", "Firma", "--db", optima_db)
    (tmp_path / "shop").mkdir()
    cli("integration", "add", "--company", "Firma", "--app", "eshop",
        "--endpoint", str(tmp_path / "shop"))
    (tmp_path / "shop").rmdir()
    check = checks_by_name(cli, code=1)["endpoint Firma/eshop"]
    assert check["status"] == "fail" and "does not exist" in check["detail"]


def test_pyodbc_missing_is_a_warning_when_only_sqlite_is_used(cli, optima_db, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyodbc", None)  # import pyodbc -> ImportError
    cli("operator", "set", "ADMIN", "--no-password")
    cli("company", "add", "Firma", "--db", optima_db)
    checks = checks_by_name(cli, code=None)
    assert checks["pyodbc"]["status"] == "warn" and checks["pyodbc"]["fix"]
    assert "none configured" in checks["pyodbc"]["detail"]


def test_pyodbc_missing_fails_when_a_company_uses_sql_server(cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyodbc", None)
    cli("company", "add", "Firma", "--db",
        "mssql+pyodbc://sa@srv/CDN_Firma?driver=ODBC+Driver+18+for+SQL+Server")
    checks = checks_by_name(cli, code=1)
    assert checks["pyodbc"]["status"] == "fail"
    assert checks["ODBC drivers"]["status"] == "fail"
    assert "ODBC Driver 18 for SQL Server, not installed" in checks["ODBC drivers"]["detail"]


def test_odbc_drivers_are_read_from_odbcinst_ini(cli, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyodbc", None)
    (tmp_path / "odbcinst.ini").write_text(
        "[ODBC]\nTrace=No\n\n[ODBC Driver 18 for SQL Server]\nDriver=/opt/x.so\n\n"
        "[FreeTDS]\nDriver=/usr/lib/libtdsodbc.so\n"
    )
    monkeypatch.setenv("ODBCSYSINI", str(tmp_path))
    cli("init")
    check = checks_by_name(cli)["ODBC drivers"]
    assert check["status"] == "ok"
    assert "FreeTDS" in check["detail"] and "ODBC Driver 18 for SQL Server" in check["detail"]


def test_doctor_without_a_home_says_run_init(cli, home):
    checks = checks_by_name(cli, code=1)
    assert checks["home"]["status"] == "warn" and "optsync init" in checks["home"]["fix"]
    assert checks["state database"]["status"] == "fail"
    assert not home.exists()


def test_doctor_table_for_people(cli):
    cli("init")
    result = cli("doctor")
    assert "state database" in result.stdout and "OK" in result.stdout
    assert "failure(s)" in result.stderr
