"""A scheduled start outside its window is recorded as skipped without the command-line layer."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta

from sync_world import COMPANY

from optsync.cli.fast import scheduled_skip
from optsync.services import config as manage
from optsync.state import config as cfg
from optsync.state.runs import last_runs


def _outside_window(world) -> None:
    now = datetime.now()
    manage.set_schedule(world.state, COMPANY, start=(now + timedelta(hours=3)).strftime("%H:%M"),
                        end=(now + timedelta(hours=4)).strftime("%H:%M"), every="15m")


def _records(world):
    """The last run and the last log record, as the state database holds them (times and
    ids left out), and both read back through SQLAlchemy."""
    with world.state.engine.connect() as conn:
        run = conn.exec_driver_sql("select * from optsync_runs order by id desc limit 1"
                                   ).mappings().one()
        log = conn.exec_driver_sql("select * from optsync_logs order by id desc limit 1"
                                   ).mappings().one()
    latest = last_runs(world.state, include_skipped=True)
    (read_back,) = latest.values()
    assert read_back.started_at.year == datetime.now().year  # the stored time parses
    skip = {"id", "pid", "started_at", "finished_at", "ts", "run_id"}
    return ({k: v for k, v in run.items() if k not in skip},
            {k: v for k, v in log.items() if k not in skip})


def test_the_short_way_records_what_the_full_command_records(cli, world, capsys):
    _outside_window(world)
    full = json.loads(cli("run", "--company", COMPANY, "--scheduled", "--json").stdout)
    full_records = _records(world)
    home = str(world.state.home)
    assert scheduled_skip(["--home", home, "run", "--company", COMPANY, "--scheduled",
                           "--json"]) == 0
    short = json.loads(capsys.readouterr().out)
    assert {k: v for k, v in short.items() if k not in ("run_id", "started_at", "finished_at")} \
        == {k: v for k, v in full.items() if k not in ("run_id", "started_at", "finished_at")}
    assert _records(world) == full_records  # the same rows, byte for byte but ids and times
    key = str(cfg.get_company(world.state, COMPANY).id)
    assert scheduled_skip(["--home", home, "run", "--company-key", key, "--scheduled"]) == 0
    assert capsys.readouterr().err.strip() == f"{COMPANY}: skipped (not-scheduled)"


def test_anything_else_goes_to_the_full_command(world):
    home = str(world.state.home)
    manage.set_schedule(world.state, COMPANY, start="00:00", end="23:59", every="1m")
    assert scheduled_skip(["--home", home, "run", "--company", COMPANY, "--scheduled"]) is None
    _outside_window(world)
    for argv in (
        ["--home", home, "run", "--company", "Nie Ma Takiej", "--scheduled"],
        ["--home", home, "run", "--company", COMPANY],  # not scheduled
        ["--home", home, "--debug", "run", "--company", COMPANY, "--scheduled"],
        ["--home", home, "run", "--company", COMPANY, "--scheduled", "--dry-run"],
        ["--home", home, "status"],
        ["--home", str(world.root / "nowhere"), "run", "--company", COMPANY, "--scheduled"],
    ):
        assert scheduled_skip(argv) is None, argv


def test_the_short_way_loads_no_command_line_layer_and_no_sqlalchemy(world):
    _outside_window(world)
    code = ("import sys\nfrom optsync.cli.fast import scheduled_skip\n"
            f"assert scheduled_skip(['--home', {str(world.state.home)!r}, 'run', '--company', "
            f"{COMPANY!r}, '--scheduled']) == 0\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('typer', 'rich', "
            "'sqlalchemy') or "
            "m.startswith('optsync.cli.') and m != 'optsync.cli.fast'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_on_a_state_database_elsewhere_the_short_way_goes_through_sqlalchemy(
        cli, world, monkeypatch, capsys):
    _outside_window(world)
    cli("run", "--company", COMPANY, "--scheduled")
    full_records = _records(world)
    monkeypatch.setenv("OPTSYNC_STATE_URL", f"sqlite:///{world.state.home / 'state.db'}?x=1")
    assert scheduled_skip(["--home", str(world.state.home), "run", "--company", COMPANY,
                           "--scheduled"]) == 0
    monkeypatch.delenv("OPTSYNC_STATE_URL")
    assert _records(world) == full_records
