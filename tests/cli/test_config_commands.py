"""The configuration commands and their error contract (README.md, "Exit codes")."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from optsync.demo.sample import create_config_db
from optsync.errors import ExitCode

ODD_NAME = '100% Zdrowia "Żytnia" Sp. z o.o. $HOME'
SCHEDULE_KEYS = {"company", "enabled", "from", "to", "every", "days", "last_run", "next_run"}


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture
def config_db(tmp_path: Path) -> Path:
    path = tmp_path / "optima" / "CDN_KNF_Konfiguracja.db"
    path.parent.mkdir()
    create_config_db(
        sqlite_url(path),
        companies=[("Firma Alfa", "CDN_Alfa", True), ("Beta Sp. z o.o.", "CDN_Beta", True),
                   ("Stara Firma", "CDN_Stara", False)],
        operators=[("ADMIN", "Administrator", False)],
    )
    return path


def test_init_is_idempotent_and_creates_state_db(cli, home):
    cli("init")
    cli("init")
    assert (home / "state.db").exists()


def test_discover_registers_exactly_the_active_companies_once(cli, config_db):
    cli("operator", "set", "ADMIN", "--password-stdin", input="tajne-haslo\n")
    cli("company", "discover", "--config-db", sqlite_url(config_db))
    first = cli.json("company", "list")
    assert sorted(c["name"] for c in first) == ["Beta Sp. z o.o.", "Firma Alfa"]
    alfa = next(c for c in first if c["name"] == "Firma Alfa")
    assert alfa["db"] == sqlite_url(config_db.parent / "CDN_Alfa.db")
    assert alfa["config_db"] == sqlite_url(config_db)

    again = cli.json("company", "discover", "--config-db", sqlite_url(config_db))
    assert {r["action"] for r in again} == {"unchanged"}
    assert cli.json("company", "list") == first


def test_discover_dry_run_changes_nothing(cli, config_db):
    rows = cli.json("company", "discover", "--config-db", sqlite_url(config_db), "--dry-run")
    assert {r["action"] for r in rows} == {"added"}
    assert cli.json("company", "list") == []


def test_discover_of_a_missing_database_exits_69(cli, tmp_path):
    result = cli("company", "discover", "--config-db", sqlite_url(tmp_path / "nope.db"),
                 code=ExitCode.UNAVAILABLE)
    assert result.stderr.startswith("optsync: error: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_secrets_never_reach_output_logs_or_files(cli, home, config_db):
    password, db_password = "Operator-Haslo-77", "Baza-Haslo-99"
    outputs = [
        cli("operator", "set", "ADMIN", "--password-stdin", input=password + "\n"),
        cli("company", "add", "Firma", "--db",
            f"postgresql+psycopg://optima:{db_password}@127.0.0.1:9/firma"),
        cli("company", "add", "Firma ODBC", "--db",
            f"odbc:DRIVER={{ODBC Driver 18 for SQL Server}};SERVER=x;DATABASE=y;UID=sa;"
            f"PWD={db_password}"),
        cli("integration", "add", "--company", "Firma", "--app", "eshop", "--endpoint",
            f"postgresql+psycopg://shop:{db_password}@127.0.0.1:9/shop"),
        cli("company", "list", "--json"), cli("integration", "list", "--json"),
        cli("operator", "show", "--json"), cli("logs", "--json"), cli("logs"),
        cli("company", "list"),
    ]
    for result in outputs:
        for secret in (password, db_password):
            assert secret not in result.stdout and secret not in result.stderr
    assert "***" in cli("company", "list", "--json").stdout
    for path in home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert password.encode() not in data, path
            assert db_password.encode() not in data, path
    assert stat.S_IMODE((home / "secret.key").stat().st_mode) == 0o600
    shown = cli.json("operator", "show")
    assert shown == {"acronym": "ADMIN", "has_password": True, "verified": None}


def test_secret_key_from_environment_creates_no_key_file(cli, home, monkeypatch):
    from cryptography.fernet import Fernet

    monkeypatch.setenv("OPTSYNC_SECRET_KEY", Fernet.generate_key().decode())
    cli("operator", "set", "ADMIN", "--password-stdin", input="x-secret\n")
    assert not (home / "secret.key").exists()


def test_operator_set_without_terminal_or_flag_exits_2(cli):
    result = cli("operator", "set", "ADMIN", code=ExitCode.BAD_INPUT)
    assert "--password-stdin" in result.stderr
    assert cli.json("operator", "show")["acronym"] is None


def test_operator_without_password(cli):
    cli("operator", "set", "KASIA", "--no-password")
    assert cli.json("operator", "show") == {
        "acronym": "KASIA", "has_password": False, "verified": None}
    cli("operator", "remove")
    assert cli.json("operator", "show")["acronym"] is None


@pytest.mark.parametrize(
    ("args", "option", "example"),
    [
        (["--from", "25:00"], "--from", "--from 08:00"),
        (["--to", "8am"], "--to", "--to 08:00"),
        (["--every", "0m"], "--every", "--every 15m"),
        (["--every", "25h"], "--every", "--every 15m"),
        (["--every", "soon"], "--every", "--every 15m"),
        (["--days", "funday"], "--days", "--days mon-fri"),
    ],
)
def test_bad_schedule_values_exit_2_naming_the_option_and_change_nothing(
    cli, args, option, example
):
    cli("company", "add", ODD_NAME, "--db", "sqlite:///nowhere.db")
    cli("schedule", "set", "--company", ODD_NAME, "--from", "06:00", "--every", "30m")
    before = cli.json("schedule", "list")
    logs_before = cli("logs", "--json").stdout
    result = cli("schedule", "set", "--company", ODD_NAME, *args,
                 code=ExitCode.BAD_INPUT)
    line = result.stderr.strip()
    assert line.startswith("optsync: error: ") and "\n" not in line
    assert option in line and example in line
    assert cli.json("schedule", "list") == before
    assert cli("logs", "--json").stdout == logs_before


def test_schedule_of_unknown_company_exits_2(cli):
    result = cli("schedule", "set", "--company", "Nie Ma", "--every", "1h",
                 code=ExitCode.BAD_INPUT)
    assert "unknown company 'Nie Ma'" in result.stderr


def test_schedule_list_shows_every_company_with_its_keys(cli):
    cli("company", "add", "Bez Harmonogramu", "--db", "sqlite:///a.db")
    cli("company", "add", ODD_NAME, "--db", "sqlite:///b.db")
    cli("schedule", "set", "--company", ODD_NAME, "--from", "22:00", "--to", "02:00",
        "--every", "1h30m", "--days", "sat-sun")
    rows = {r["company"]: r for r in cli.json("schedule", "list")}
    assert set(rows) == {"Bez Harmonogramu", ODD_NAME}
    for row in rows.values():
        assert set(row) == SCHEDULE_KEYS
    assert rows["Bez Harmonogramu"]["enabled"] is False
    assert rows["Bez Harmonogramu"]["next_run"] is None
    odd = rows[ODD_NAME]
    assert (odd["enabled"], odd["from"], odd["to"], odd["every"], odd["days"]) == (
        True, "22:00", "02:00", 90, ["sat", "sun"])
    assert odd["next_run"] is not None and odd["last_run"] is None


def test_schedule_set_keeps_unchanged_values_and_disable(cli):
    cli("company", "add", "A", "--db", "sqlite:///a.db")
    cli("schedule", "set", "--company", "A", "--from", "08:00", "--every", "15m")
    cli("schedule", "set", "--company", "A", "--disable")
    (row,) = cli.json("schedule", "list")
    assert (row["enabled"], row["from"], row["every"]) == (False, "08:00", 15)


def test_every_configuration_change_is_logged_as_config(cli):
    cli("operator", "set", "ADMIN", "--no-password")
    cli("company", "add", ODD_NAME, "--db", "sqlite:///x.db", "--description", "opis")
    cli("integration", "add", "--company", ODD_NAME, "--app", "detal", "--endpoint",
        "/tmp/detal-folder", "--name", "kasa 1")
    cli("schedule", "set", "--company", ODD_NAME, "--every", "45m")
    cli("integration", "remove", "--company", ODD_NAME, "kasa 1")
    cli("company", "remove", ODD_NAME, "--yes")
    cli("operator", "remove")
    lines = cli("logs", "--filter", "config", "--json").stdout.splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 7
    for record in records:
        assert list(record) == ["id", "ts", "level", "category", "company", "run_id",
                                "message", "data"]
        assert record["category"] == "config"
    assert [r["company"] for r in records[1:6]] == [ODD_NAME] * 5
    assert cli("logs", "--filter", "sync", "--json").stdout == ""


def test_logs_filters_and_limit(cli):
    for i in range(5):
        cli("company", "add", f"C{i}", "--db", "sqlite:///x.db")
    recs = [json.loads(x) for x in cli("logs", "--limit", "2", "--json").stdout.splitlines()]
    assert [r["company"] for r in recs] == ["C3", "C4"]  # newest last
    assert cli("logs", "--company", "C1", "--json").stdout.count("\n") == 1
    assert cli("logs", "--level", "warning", "--json").stdout == ""
    assert cli("logs", "--since", "2h", "--json").stdout.count("\n") == 5
    assert cli("logs", "--since", "2999-01-01", "--json").stdout == ""
    cli("logs", "--since", "yesterday-ish", code=ExitCode.BAD_INPUT)
    cli("logs", "--filter", "nope", code=ExitCode.BAD_INPUT)


def test_logs_prune_deletes_old_records_and_says_how_many(cli, home):
    cli("company", "add", "A", "--db", "sqlite:///x.db")
    from datetime import timedelta

    from sqlalchemy import update

    from optsync.state import tables as t
    from optsync.state.db import State, utcnow

    state = State(home)
    with state.engine.begin() as conn:
        conn.execute(update(t.logs).values(ts=utcnow() - timedelta(days=100)))
    cli("company", "add", "B", "--db", "sqlite:///x.db")
    result = cli("logs", "prune", "--older-than", "90d")
    assert "1 log records" in result.stderr
    assert [json.loads(x)["company"] for x in cli("logs", "--json").stdout.splitlines()] == ["B"]
    cli("logs", "prune", "--older-than", "soon", code=ExitCode.BAD_INPUT)


def test_odd_company_names_work_in_every_command(cli):
    cli("operator", "set", "ADMIN", "--no-password")
    cli("company", "add", ODD_NAME, "--db", "sqlite:///x.db")
    cli("integration", "add", "--company", ODD_NAME, "--app", "eshop", "--endpoint",
        "sqlite:///shop.db")
    cli("schedule", "set", "--company", ODD_NAME, "--every", "15m")
    assert [i["company"] for i in cli.json("integration", "list", "--company", ODD_NAME)] == [
        ODD_NAME]
    assert cli.json("company", "list")[0]["integrations"] == ["eshop"]
    assert cli("logs", "--company", ODD_NAME, "--json").stdout.count("\n") == 3
    cli("company", "remove", ODD_NAME, "--yes")
    assert cli.json("company", "list") == []
    assert cli.json("schedule", "list") == []


def test_integration_presets_and_overrides(cli):
    cli("company", "add", "A", "--db", "sqlite:///x.db")
    cli("integration", "add", "--company", "A", "--app", "xl", "--endpoint", "sqlite:///xl.db")
    cli("integration", "add", "--company", "A", "--app", "eshop", "--endpoint",
        "file:///tmp/shop", "--name", "sklep", "--export", "products,stock",
        "--price-list", "2", "--warehouse", "MAG")
    items = {i["name"]: i for i in cli.json("integration", "list")}
    assert items["xl"] == {
        "company": "A", "name": "xl", "app": "xl", "endpoint": f"sqlite:///{Path.cwd() / 'xl.db'}",
        "kind": "sql", "export": ["documents"], "import": ["products", "prices", "customers"],
        "price_list": None, "warehouse": None}
    assert items["sklep"]["kind"] == "folder"
    assert items["sklep"]["export"] == ["products", "stock"]
    assert items["sklep"]["import"] == ["customers", "orders"]
    assert (items["sklep"]["price_list"], items["sklep"]["warehouse"]) == (2, "MAG")
    cli("integration", "add", "--company", "A", "--app", "mobile", "--endpoint", "rel/folder")
    assert {i["name"]: i for i in cli.json("integration", "list")}["mobile"]["endpoint"] == str(
        Path.cwd() / "rel" / "folder")  # cron starts elsewhere: stored absolute
    cli("integration", "add", "--company", "A", "--app", "pos", "--endpoint", "/x",
        code=ExitCode.BAD_INPUT)
    cli("integration", "add", "--company", "A", "--app", "eshop", "--endpoint", "/x",
        "--export", "bananas", code=ExitCode.BAD_INPUT)
    cli("integration", "add", "--company", "Nope", "--app", "eshop", "--endpoint", "/x",
        code=ExitCode.BAD_INPUT)
    cli("integration", "remove", "--company", "A", "nope", code=ExitCode.BAD_INPUT)


def test_company_add_warns_when_unreachable_but_saves(cli, tmp_path):
    result = cli("company", "add", "A", "--db", sqlite_url(tmp_path / "missing.db"))
    assert "warning" in result.stderr
    assert [c["name"] for c in cli.json("company", "list")] == ["A"]
    cli("company", "add", "A", "--db", "sqlite:///x.db", code=ExitCode.BAD_INPUT)
    cli("company", "add", "B", "--db", "not a url", code=ExitCode.BAD_INPUT)


def test_errors_are_one_line_without_traceback(cli):
    result = cli("company", "remove", "Nope", "--yes", code=ExitCode.BAD_INPUT)
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_state_url_from_settings_file_and_environment(cli, home, tmp_path, monkeypatch):
    home.mkdir(parents=True)
    other = tmp_path / "shared-state.db"
    (home / "optsync.toml").write_text(f'state_url = "sqlite:///{other}"\n')
    cli("company", "add", "A", "--db", "sqlite:///x.db")
    assert other.exists() and not (home / "state.db").exists()
    env_db = tmp_path / "env-state.db"
    monkeypatch.setenv("OPTSYNC_STATE_URL", f"sqlite:///{env_db}")
    assert cli.json("company", "list") == []
    assert env_db.exists()


def test_home_option_beats_environment(cli, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    cli("--home", str(elsewhere), "init")
    assert (elsewhere / "state.db").exists()
    assert os.environ["OPTSYNC_HOME"] != str(elsewhere)


def test_version_and_help_list_every_command(cli):
    assert cli("--version").stdout.startswith("optsync ")
    text = cli("--help").stdout
    for command in ("init", "demo", "operator", "company", "integration", "schedule", "run",
                    "logs", "status", "doctor"):
        assert command in text


@pytest.mark.parametrize("url", [
    "postgresql://u:Unparsable-PW1@host:abc/db",
    "postgresql+psycopg://db/shop?user=a&password=Query-PW-22",
    "mssql+pyodbc:///?odbc_connect=DRIVER%3D%7BODBC%7D%3BPWD%3DEncoded-PW-3%3B",
])
def test_passwords_in_odd_urls_are_masked_too(cli, home, url):
    result = cli("company", "add", "A", "--db", url, code=None)
    listed = cli("company", "list", "--json").stdout + cli("logs", "--json").stdout
    for secret in ("Unparsable-PW1", "Query-PW-22", "Encoded-PW-3"):
        assert secret not in result.stderr + result.stdout + listed
        for path in home.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes()


def test_usage_errors_are_one_line_with_exit_2(cli):
    for args in (["logs", "--limit", "abc"], ["run", "--all", "--wait", "soon"],
                 ["company", "list", "--bogus"]):
        result = cli(*args, code=ExitCode.BAD_INPUT)
        assert result.stderr.startswith("optsync: error: ") and result.stderr.count("\n") == 1


def test_enable_and_disable_together_exit_2(cli):
    cli("company", "add", "A", "--db", "sqlite:///a.db")
    cli("schedule", "set", "--company", "A", "--enable", "--disable", code=ExitCode.BAD_INPUT)
    assert cli.json("schedule", "list")[0]["enabled"] is False  # nothing was set
