"""Choosing a backend, the external backend, and the generated examples staying current."""

from __future__ import annotations

from pathlib import Path

import pytest
from schedule_helpers import EXAMPLES, UPDATE_GOLDEN, entry

from optsync.errors import BadInput
from optsync.schedule.backend import Entry, optsync_command
from optsync.schedule.cron import CronBackend, render_block
from optsync.schedule.external import ExternalBackend
from optsync.schedule.model import Schedule, parse_days
from optsync.schedule.registry import resolve_backend
from optsync.schedule.windows import Principal, WindowsBackend, task_xml, xml_bytes


def test_auto_picks_cron_off_windows_and_windows_on_it(monkeypatch: pytest.MonkeyPatch):
    assert isinstance(resolve_backend("auto"), CronBackend)
    monkeypatch.setattr("os.name", "nt")
    assert isinstance(resolve_backend("auto"), WindowsBackend)


def test_named_backends_resolve_with_their_options(tmp_path: Path):
    cron = resolve_backend("cron", crontab_file=tmp_path / "tab")
    assert isinstance(cron, CronBackend) and cron.target == str(tmp_path / "tab")
    def runner(argv):
        return None

    windows = resolve_backend("windows", runner=runner)
    assert isinstance(windows, WindowsBackend) and windows.runner is runner
    assert isinstance(resolve_backend("external"), ExternalBackend)


def test_unknown_backend_is_bad_input_naming_the_option():
    with pytest.raises(BadInput, match="--backend 'launchd'"):
        resolve_backend("launchd")


def test_external_backend_renders_and_installs_nothing():
    backend = ExternalBackend()
    assert backend.render([entry("1")], "x") == ""
    assert backend.install([entry("1")], "x") is False
    assert backend.installed("x") == ""
    assert backend.in_sync([entry("1")], "x")
    assert "run --due" in backend.target


def test_optsync_command_is_absolute():
    command = optsync_command()
    assert Path(command[0]).is_absolute()
    assert command[1:] in ([], ["-m", "optsync"])


# examples/ are generated from the code; OPTSYNC_UPDATE_GOLDEN=1 regenerates them --------------
EXAMPLE_ID = "3f9c2a"
CRONTAB_HEADER = """\
# An example user crontab after 'optsync schedule install' (regenerate: OPTSYNC_UPDATE_GOLDEN=1
# python -m pytest tests/schedule). optsync owns only the line under each '# optsync:' tag;
# every other line is yours and is never changed.
MAILTO=admin@example.com
@reboot /usr/local/bin/cleanup-tmp
*/5 * * * * /usr/bin/true

"""


def example_entries() -> list[Entry]:
    def make(key: str, name: str, schedule: Schedule) -> Entry:
        return Entry(
            company_key=key,
            company_name=name,
            schedule=schedule,
            argv=[
                "/usr/local/bin/optsync",
                "--home",
                "/var/lib/optsync",
                "run",
                "--company",
                name,
                "--scheduled",
            ],
            log_path=Path("/var/lib/optsync/logs/cron.log"),
            workdir=Path("/var/lib/optsync"),
        )

    return [
        make(
            "1",
            "Demo Sp. z o.o.",
            Schedule(start=480, end=1080, every=15, days=parse_days("mon-fri")),
        ),
        make("2", "Hurtownia Łódź", Schedule(start=490, end=1070, every=25)),
        make(
            "3",
            '100% Zdrowia "Żytnia" Sp. z o.o.',
            Schedule(start=1320, end=120, every=45, days=parse_days("sat-sun")),
        ),
    ]


def test_crontab_example_is_what_install_writes():
    path = EXAMPLES / "crontab.example"
    if UPDATE_GOLDEN:
        path.write_text(CRONTAB_HEADER + render_block(example_entries(), EXAMPLE_ID))
    backend = CronBackend(path)
    assert backend.in_sync(example_entries(), EXAMPLE_ID)
    assert path.read_text().startswith(CRONTAB_HEADER)


def test_task_scheduler_example_is_what_install_writes():
    path = EXAMPLES / "task-scheduler.xml"
    demo = example_entries()[0]
    windows = Entry(
        company_key=demo.company_key,
        company_name=demo.company_name,
        schedule=demo.schedule,
        argv=[
            "C:\\Program Files\\optsync\\optsync.exe",
            "--home",
            "C:\\ProgramData\\optsync",
            "run",
            "--company-key",
            demo.company_key,
            "--scheduled",
        ],
        workdir=Path("C:\\ProgramData\\optsync"),
    )
    data = xml_bytes(task_xml(windows, EXAMPLE_ID, Principal("EXAMPLE\\optsync")))
    if UPDATE_GOLDEN:
        path.write_bytes(data)
    assert path.read_bytes() == data


def test_external_scheduler_examples_call_run_due_every_minute():
    cronjob = (EXAMPLES / "kubernetes-cronjob.yaml").read_text()
    assert 'schedule: "* * * * *"' in cronjob and '"--due"' in cronjob
    assert "concurrencyPolicy: Forbid" in cronjob
    service = (EXAMPLES / "systemd" / "optsync-due.service").read_text()
    timer = (EXAMPLES / "systemd" / "optsync-due.timer").read_text()
    assert "run --due" in service
    assert "OnCalendar=*-*-* *:*:00" in timer and "Unit=optsync-due.service" in timer
