"""Names through the CLI (one rule, exit 2 naming the option), stored names from an older
optsync that break it (they keep working; doctor lists them with the rename command),
``company rename``, ``run --company-key`` and ``schedule install --run-as``."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from optsync.errors import ExitCode

BAD = {
    "line feed": ("eshop\nmain", "U+000A LINE FEED"),
    "tab": ("a\tb", "U+0009 TAB"),
    "next line": ("Sklep\x85", "U+0085 NEXT LINE"),
    "line separator": ("a\u2028b", "U+2028 LINE SEPARATOR"),
    "paragraph separator": ("a\u2029b", "U+2029 PARAGRAPH SEPARATOR"),
    "zero width space": ("a\u200bb", "U+200B ZERO WIDTH SPACE"),
    "byte order mark": ("\ufeffa", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
    "leading space": (" eshop", "starts or ends with a space"),
    "trailing space": ("eshop ", "starts or ends with a space"),
}


def logs_json(cli, *args: str) -> list[dict]:
    return [json.loads(line) for line in cli("logs", *args, "--json").stdout.splitlines()]


def error_line(result) -> str:
    [line] = result.stderr.splitlines()
    assert line.startswith("optsync: error: ")
    return line


@pytest.mark.parametrize("case", sorted(BAD))
def test_company_add_refuses_a_name_breaking_the_rule_with_exit_2(cli, case):
    name, said = BAD[case]
    result = cli("company", "add", name, "--db", "sqlite:///x.db", code=ExitCode.BAD_INPUT)
    line = error_line(result)
    assert line.startswith("optsync: error: company name ") and said in line
    assert cli.json("company", "list") == []


@pytest.mark.parametrize("case", sorted(BAD))
def test_integration_add_refuses_a_name_breaking_the_rule_naming_the_option(
    cli, case, tmp_path
):
    name, said = BAD[case]
    cli("company", "add", "Alfa", "--db", "sqlite:///alfa.db")
    result = cli("integration", "add", "--company", "Alfa", "--app", "eshop", "--endpoint",
                 str(tmp_path / "out"), "--name", name, code=ExitCode.BAD_INPUT)
    line = error_line(result)
    assert line.startswith("optsync: error: --name ") and said in line
    assert "empty" not in line  # a newline used to be reported as "--name is empty"


@pytest.mark.parametrize("name", ['100% Zdrowia "Żytnia" $HOME', "Sp.\u00a0z o.o.", "Łódź & Syn"])
def test_free_text_names_are_accepted_unchanged(cli, name):
    cli("company", "add", name, "--db", "sqlite:///x.db")
    assert [c["name"] for c in cli.json("company", "list")] == [name]


# names stored by an older optsync ----------------------------------------------------------
LEGACY = "Demo\u2028Sp. z o.o."


@pytest.fixture
def legacy(cli, home) -> int:
    """A company whose name an older optsync stored although it breaks today's rule."""
    from optsync.state import config as cfg
    from optsync.state.db import State

    cli("init")
    state = State(home)
    with state.engine.begin() as conn:
        key = cfg.insert_company(conn, LEGACY, cfg.company_values(
            state, db=("sqlite:///legacy.db", None), config_db=None, description="",
            source="manual"))
    state.dispose()
    return key


def test_a_stored_name_breaking_the_rule_keeps_working_and_cron_names_it_by_key(
    cli, legacy, companies, tmp_path
):
    tab = tmp_path / "crontab"
    companies("Beta")
    cli("schedule", "set", "--company", LEGACY, "--every", "30m")
    cli("schedule", "install", "--crontab", str(tab))
    text = tab.read_text(encoding="utf-8")
    assert "\u2028" not in text
    assert f"run --company-key {legacy} --scheduled" in text
    assert "run --company Beta --scheduled" in text
    # Another company's change still rewrites the entries (it used to fail for every one).
    result = cli("schedule", "set", "--company", "Beta", "--every", "15m")
    assert "OS entries rewritten" in result.stderr
    assert cli("schedule", "install", "--dry-run", "--crontab", str(tab)).exit_code == 0


def test_doctor_lists_a_stored_name_with_a_rename_command_that_works(cli, legacy, home):
    checks = cli.json("doctor", code=None)
    [found] = [c for c in checks if c["check"] == "names"]
    assert found["status"] == "warn"
    assert "Demo\\u2028Sp. z o.o." in found["detail"] and "U+2028 LINE SEPARATOR" in found["detail"]
    fix = found["fix"]
    assert fix.startswith("rename it: optsync company rename $'Demo\\u2028Sp. z o.o.' ")

    command = fix.removeprefix("rename it: optsync ")
    optsync = f"{shlex.quote(sys.executable)} -m optsync"
    env = {**os.environ, "OPTSYNC_HOME": str(home), "LC_ALL": "C.UTF-8"}
    subprocess.run(["bash", "-c", f"{optsync} {command}"], check=True, env=env,
                   capture_output=True, timeout=60)
    assert [c["name"] for c in cli.json("company", "list")] == ["Demo Sp. z o.o."]
    [after] = [c for c in cli.json("doctor", code=None) if c["check"] == "names"]
    assert after["status"] == "ok"


def test_company_rename_keeps_the_key_logs_it_and_rewrites_the_entries(
    cli, companies, tmp_path
):
    tab = tmp_path / "crontab"
    companies("Alfa", "Beta")
    cli("schedule", "install", "--crontab", str(tab))
    result = cli("company", "rename", "Alfa", "Alfa S.A.")
    assert "OS entries rewritten" in result.stderr
    text = tab.read_text()
    assert "--company 'Alfa S.A.' --scheduled" in text and "--company Alfa " not in text
    assert [s["company"] for s in cli.json("schedule", "list")] == ["Alfa S.A.", "Beta"]
    logged = logs_json(cli, "--filter", "config")
    assert any(r["message"] == "company 'Alfa' renamed to Alfa S.A." for r in logged)
    cli("company", "rename", "Beta", "Alfa S.A.", code=ExitCode.BAD_INPUT)
    cli("company", "rename", "Beta", "Beta\nX", code=ExitCode.BAD_INPUT)
    cli("company", "rename", "Nope", "X", code=ExitCode.BAD_INPUT)


def test_integration_rename(cli, tmp_path):
    cli("company", "add", "Alfa", "--db", "sqlite:///alfa.db")
    cli("integration", "add", "--company", "Alfa", "--app", "eshop", "--endpoint",
        str(tmp_path / "out"))
    cli("integration", "rename", "--company", "Alfa", "eshop", "sklep")
    assert [i["name"] for i in cli.json("integration", "list")] == ["sklep"]
    cli("integration", "rename", "--company", "Alfa", "sklep", "a\u2029b",
        code=ExitCode.BAD_INPUT)


# run --company-key -------------------------------------------------------------------------
def test_run_company_key_reaches_a_company_whose_name_holds_percent_signs(cli):
    name = "Sklep %USERNAME% 100%"
    cli("company", "add", name, "--db", "sqlite:///x.db")
    cli("schedule", "set", "--company", name, "--disable")
    [company] = cli.json("schedule", "list")
    key = "1"
    result = cli("run", "--company-key", key, "--scheduled")  # disabled: skipped, exit 0
    assert f"{name}: skipped (not-scheduled)" in result.stderr
    assert company["company"] == name
    assert any(r["company"] == name for r in logs_json(cli, "--filter", "sync"))


@pytest.mark.parametrize(
    "args", [["--company-key", "99"], ["--company-key", "x"], ["--company-key", "1", "--all"],
             ["--company-key", "1", "--company", "A"], ["--company-key", "1", "--due"]])
def test_run_company_key_unknown_or_combined_exits_2(cli, args):
    cli("company", "add", "A", "--db", "sqlite:///a.db")
    result = cli("run", *args, code=ExitCode.BAD_INPUT)
    error_line(result)


def test_windows_tasks_run_passes_by_company_key(cli, home):
    from test_schedule_install import FakeSchtasks

    from optsync.services import schedules as service
    from optsync.state.db import State

    cli("company", "add", "Sklep %PATH%", "--db", "sqlite:///x.db")
    cli("schedule", "set", "--company", "Sklep %PATH%", "--every", "1h")
    fake = FakeSchtasks()
    service.install(State(home), "windows", runner=fake)
    [xml] = fake.tasks.values()
    assert "run --company-key 1 --scheduled" in xml and "%" not in xml


# schedule install --run-as -----------------------------------------------------------------
PASSWORD = "Qv7#mZ2!pL"


def test_run_as_without_a_terminal_exits_2_and_asks_nothing(cli, companies):
    companies("Alfa")
    result = cli("schedule", "install", "--backend", "windows", "--run-as", "FIRMA\\sync",
                 code=ExitCode.BAD_INPUT)
    assert "needs the account's password, asked on a terminal" in error_line(result)


def test_run_as_is_refused_for_cron(cli, companies, tmp_path, monkeypatch):
    companies("Alfa")
    monkeypatch.setattr("optsync.cli.schedule._has_terminal", lambda: True)
    result = cli("schedule", "install", "--crontab", str(tmp_path / "tab"), "--run-as", "x",
                 code=ExitCode.BAD_INPUT)
    assert "--run-as is for Windows tasks" in error_line(result)


def test_run_as_asks_the_password_hands_it_to_schtasks_and_never_keeps_it(
    cli, companies, home, monkeypatch
):
    from test_schedule_install import FakeSchtasks

    companies("Alfa", "Beta")
    fake = FakeSchtasks()
    monkeypatch.setattr("optsync.schedule.windows.run_schtasks", fake)
    monkeypatch.setattr("optsync.cli.schedule._has_terminal", lambda: True)
    asked = []
    monkeypatch.setattr("getpass.getpass", lambda prompt: asked.append(prompt) or PASSWORD)
    result = cli("schedule", "install", "--backend", "windows", "--run-as", "FIRMA\\sync")
    assert asked == ["Password of FIRMA\\sync (not stored): "]
    creates = [c for c in fake.calls if c[1] == "/Create"]
    assert len(creates) == 2
    assert all(c[-5:] == ["/RU", "FIRMA\\sync", "/RP", PASSWORD, "/F"] for c in creates)
    assert all("<LogonType>Password</LogonType>" in xml for xml in fake.tasks.values())

    # A change later cannot rewrite them without the password: it says so, touches nothing.
    tasks = dict(fake.tasks)
    changed = cli("schedule", "set", "--company", "Alfa", "--every", "15m")
    assert "run as FIRMA\\sync, whose password optsync does not keep" in changed.stderr
    assert "--run-as 'FIRMA\\sync'" in changed.stderr
    assert fake.tasks == tasks

    seen = result.stdout + result.stderr + changed.stdout + changed.stderr
    seen += cli("logs", "--json", "--limit", "500").stdout
    seen += cli("status", "--json", code=None).stdout
    files = [p for p in Path(home).rglob("*") if p.is_file()]
    blobs = b"".join(p.read_bytes() for p in files)
    for start in range(len(PASSWORD) - 3):
        piece = PASSWORD[start:start + 4]
        assert piece not in seen and piece.encode() not in blobs


def test_discover_skips_a_company_whose_optima_name_breaks_the_rule_and_registers_the_rest(
    cli, tmp_path
):
    from optsync.demo.sample import create_config_db

    path = tmp_path / "CDN_KNF_Konfiguracja.db"
    create_config_db(f"sqlite:///{path}",
                     companies=[("Firma\u2028Alfa", "CDN_Alfa", True),
                                ("Beta Sp. z o.o.", "CDN_Beta", True)],
                     operators=[("ADMIN", "Administrator", False)])
    result = cli("company", "discover", "--config-db", f"sqlite:///{path}")
    assert [c["name"] for c in cli.json("company", "list")] == ["Beta Sp. z o.o."]
    assert ("company 'Firma\\u2028Alfa' in CDN.Bazy holds U+2028 LINE SEPARATOR at position 6; "
            "skipped") in result.stderr
