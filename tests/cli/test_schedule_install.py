"""``schedule install`` and friends through the CLI, into crontab files."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from optsync.errors import ExitCode

FOREIGN = (
    "MAILTO=x\n"
    "# backups, do not touch\n"
    "\n"
    "@reboot /x\n"
    "*/5 * * * * /bin/true\n"
    "\n"
    "  # indented comment\n"
    "0 * * * * /bin/date\n"
    "\n"
)
TAG = re.compile(r"^# optsync:[A-Za-z0-9_-]+:[A-Za-z0-9_-]+$")


def without_ours(text: str) -> str:
    """The text with every optsync tag line and the job line after it taken out."""
    lines, kept, skip = text.splitlines(keepends=True), [], False
    for line in lines:
        if skip:
            skip = False
        elif TAG.match(line.rstrip("\n")):
            skip = True
        else:
            kept.append(line)
    return "".join(kept)


def jobs_of(text: str, company: str) -> list[str]:
    """Our job lines that start passes of ``company``."""
    return [line for line in text.splitlines()
            if not line.startswith("#") and f"--company {company} --scheduled" in line]


@pytest.fixture
def tab(tmp_path: Path) -> Path:
    path = tmp_path / "crontab"
    path.write_text(FOREIGN)
    return path


def test_install_keeps_every_foreign_line_byte_identical(cli, companies, tab):
    companies("Alfa", "Beta")
    cli("schedule", "install", "--crontab", str(tab))
    text = tab.read_text()
    assert without_ours(text) == FOREIGN
    assert len(jobs_of(text, "Alfa")) == 1 and len(jobs_of(text, "Beta")) == 1
    assert all(" run --company " in job and job.startswith("0,30 * * * * /")
               for job in jobs_of(text, "Alfa") + jobs_of(text, "Beta"))


def test_second_install_changes_nothing(cli, companies, tab):
    companies("Alfa")
    cli("schedule", "install", "--crontab", str(tab))
    before = tab.read_bytes()
    result = cli("schedule", "install", "--crontab", str(tab))
    assert tab.read_bytes() == before
    assert "already in" in result.stderr


def test_dry_run_exits_0_without_drift_and_1_after_a_hand_edit(cli, companies, tab):
    companies("Alfa")
    cli("schedule", "install", "--crontab", str(tab))
    matching = cli("schedule", "install", "--dry-run", "--crontab", str(tab))
    assert "no drift" in matching.stderr
    assert jobs_of(matching.stdout, "Alfa") == jobs_of(tab.read_text(), "Alfa")

    tab.write_text(tab.read_text().replace("0,30 * * * * /", "*/20 * * * * /"))
    edited = tab.read_bytes()
    drift = cli("schedule", "install", "--dry-run", "--crontab", str(tab), code=1)
    assert "drift" in drift.stderr
    assert tab.read_bytes() == edited  # a dry run writes nothing


def test_schedule_set_rewrites_installed_entries_at_once(cli, companies, tab):
    companies("Alfa")
    cli("schedule", "install", "--crontab", str(tab))
    result = cli("schedule", "set", "--company", "Alfa", "--every", "15m")
    assert f"OS entries rewritten in {tab}" in result.stderr
    assert jobs_of(tab.read_text(), "Alfa")[0].startswith("*/15 * * * * /")
    assert without_ours(tab.read_text()) == FOREIGN
    cli("schedule", "install", "--dry-run", "--crontab", str(tab))


def test_disable_removes_that_companys_entries_only(cli, companies, tab):
    companies("Alfa", "Beta")
    cli("schedule", "install", "--crontab", str(tab))
    beta = jobs_of(tab.read_text(), "Beta")
    cli("schedule", "set", "--company", "Alfa", "--disable")
    text = tab.read_text()
    assert jobs_of(text, "Alfa") == [] and jobs_of(text, "Beta") == beta
    assert without_ours(text) == FOREIGN


def test_company_remove_removes_its_entries(cli, companies, tab):
    companies("Alfa", "Beta")
    cli("schedule", "install", "--crontab", str(tab))
    cli("company", "remove", "Alfa", "--yes")
    text = tab.read_text()
    assert jobs_of(text, "Alfa") == [] and len(jobs_of(text, "Beta")) == 1
    assert without_ours(text) == FOREIGN


def test_uninstall_removes_every_optsync_line_and_nothing_else(cli, companies, tab):
    companies("Alfa", "Beta")
    cli("schedule", "install", "--crontab", str(tab))
    cli("schedule", "uninstall", "--crontab", str(tab))
    assert tab.read_text() == FOREIGN


def test_installed_command_runs_under_cron_s_sh(cli, companies, tab, home):
    companies("Alfa")
    cli("schedule", "install", "--crontab", str(tab))
    job = jobs_of(tab.read_text(), "Alfa")[0]
    command = job.split(" ", 5)[5]
    assert command.startswith("/") and f"--home {home} " in command
    assert command.endswith(f">> {home / 'logs' / 'cron.log'} 2>&1")
    # The words /bin/sh sees are the ones install meant (no PATH, no OPTSYNC_* needed).
    shown = subprocess.run(["/bin/sh", "-c", "printf '%s\\n' " + command.split(" >> ")[0]],
                           capture_output=True, text=True, check=True, env={})
    assert shown.stdout.splitlines()[1:] == [
        "--home", str(home), "run", "--company", "Alfa", "--scheduled"]


def test_entries_on_another_host_are_warned_about_and_left_alone(
    cli, companies, tab, tmp_path, monkeypatch
):
    companies("Alfa")
    mine = tmp_path / "mine.crontab"
    mine.write_text(FOREIGN)
    cli("schedule", "install", "--crontab", str(mine))  # this host (test-host)
    monkeypatch.setenv("OPTSYNC_HOSTNAME", "other-host")
    cli("schedule", "install", "--crontab", str(tab))
    theirs = tab.read_bytes()
    monkeypatch.setenv("OPTSYNC_HOSTNAME", "test-host")

    result = cli("schedule", "set", "--company", "Alfa", "--every", "10m")
    assert ("entries are installed on host other-host; run 'optsync schedule install' there"
            in result.stderr)
    assert tab.read_bytes() == theirs  # the other host's file: not ours to write
    assert jobs_of(mine.read_text(), "Alfa")[0].startswith("*/10 * * * * /")


def test_entries_only_on_another_host_are_warned_about_and_nothing_is_written(
    cli, companies, tab, monkeypatch, user_crontab
):
    companies("Alfa")
    monkeypatch.setenv("OPTSYNC_HOSTNAME", "other-host")
    cli("schedule", "install", "--crontab", str(tab))
    theirs = tab.read_bytes()
    monkeypatch.setenv("OPTSYNC_HOSTNAME", "test-host")

    result = cli("schedule", "set", "--company", "Alfa", "--every", "10m")
    assert ("optsync: warning: entries are installed on host other-host; "
            "run 'optsync schedule install' there") in result.stderr
    assert tab.read_bytes() == theirs
    assert not user_crontab.exists()  # this host's own crontab untouched


def test_install_into_the_user_crontab_goes_through_the_crontab_program(
    cli, companies, user_crontab
):
    user_crontab.write_text(FOREIGN)
    companies("Alfa")
    result = cli("schedule", "install")
    assert "written to user crontab (cron)" in result.stderr
    assert without_ours(user_crontab.read_text()) == FOREIGN
    cli("schedule", "uninstall")
    assert user_crontab.read_text() == FOREIGN


def test_unknown_backend_exits_2(cli, companies):
    companies("Alfa")
    result = cli("schedule", "install", "--backend", "launchd", code=ExitCode.BAD_INPUT)
    assert "--backend 'launchd'" in result.stderr


# Windows, through the service with an injected schtasks -------------------------------
@dataclass
class Done:
    returncode: int = 0
    stdout: str = ""
    stderr: str = ""


class FakeSchtasks:
    """Answers schtasks /Create, /Delete and /Query like Windows, keeping tasks in memory."""

    def __init__(self) -> None:
        self.tasks: dict[str, str] = {}
        self.calls: list[list[str]] = []

    def __call__(self, argv: list[str]) -> Done:
        self.calls.append(list(argv))
        args = argv[1:]
        if args[0] == "/Create":
            data = Path(args[args.index("/XML") + 1]).read_bytes()
            assert data[:2] == b"\xff\xfe"
            self.tasks[args[args.index("/TN") + 1]] = data[2:].decode("utf-16-le")
            return Done()
        if args[0] == "/Delete":
            return Done() if self.tasks.pop(args[args.index("/TN") + 1], None) else Done(1)
        if "/XML" in args:
            name = args[args.index("/TN") + 1]
            return Done(0, self.tasks[name]) if name in self.tasks else Done(1)
        return Done(0, "".join(f'"{n}","N/A","Ready"\r\n' for n in sorted(self.tasks)))


def test_windows_backend_through_the_service_records_the_install(cli, companies, home):
    from optsync.services import schedules as service
    from optsync.state.db import State

    companies("Alfa", "Żabka & Syn")
    state = State(home)
    fake = FakeSchtasks()
    result = service.install(state, "windows", runner=fake)
    assert result.backend == "windows" and result.entries == 2 and result.changed

    creates = [c for c in fake.calls if c[1] == "/Create"]
    assert len(creates) == 2
    for call in creates:
        assert call[:3] == ["schtasks", "/Create", "/XML"]
        assert call[4] == "/TN" and call[5].startswith(f"\\optsync\\{state.install_id()}.")
        assert call[6:] == ["/F"]
    assert any(c[5].endswith(" Zabka & Syn") for c in creates)

    [record] = service.active_installs(state)
    assert (record.host, record.backend, record.target, record.entries) == (
        "test-host", "windows", "\\optsync\\", 2)
    assert not service.install(state, "windows", runner=fake, dry_run=True).changed
    assert not service.install(state, "windows", runner=fake).changed  # idempotent

    service.uninstall(state, "windows", runner=fake)
    assert fake.tasks == {} and service.active_installs(state) == []


def test_install_warns_when_the_state_url_lives_only_in_the_environment(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("OPTSYNC_STATE_URL", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    cli("company", "add", "A", "--db", "sqlite:///a.db")
    cli("schedule", "set", "--company", "A", "--every", "1h")
    result = cli("schedule", "install", "--crontab", str(tmp_path / "crontab"))
    assert "OPTSYNC_STATE_URL" in result.stderr and "optsync.toml" in result.stderr
