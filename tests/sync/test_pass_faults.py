"""Faults met by a pass: each named on one line with its exit code, nothing created or lost."""

from __future__ import annotations

import json

from sync_world import COMPANY

from optsync.errors import ExitCode
from optsync.services import config as manage


def error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("optsync: error:")]
    assert len(lines) == 1, result.stderr
    assert "unexpected" not in lines[0]
    return lines[0]


def test_a_locked_start_with_json_says_so_on_stderr_and_keeps_stdout_json(cli, world):
    from optsync.state import config as cfg
    from optsync.state.locks import try_acquire

    lease = try_acquire(world.state, cfg.get_company(world.state, COMPANY).id)
    assert lease is not None
    try:
        result = cli("run", "--company", COMPANY, "--json", code=ExitCode.LOCKED)
    finally:
        lease.release()
    assert json.loads(result.stdout)["reason"] == "locked"
    assert f"{COMPANY}: skipped (locked)" in result.stderr


def test_a_changed_key_stops_the_pass_with_78_naming_the_operator_password(cli, world):
    from cryptography.fernet import Fernet

    manage.set_operator(world.state, "ADMIN", "Kf9-secret")
    key = world.state.home / "secret.key"
    key.write_text(Fernet.generate_key().decode() + "\n")
    result = cli("run", "--company", COMPANY, code=ExitCode.CONFIG)
    line = error_line(result)
    assert "the operator's password cannot be decrypted" in line
    assert "optsync operator set ADMIN --password-stdin" in line


def test_a_vanished_configuration_database_is_named_and_not_created(cli, world):
    world.config_db.unlink()
    result = cli("run", "--company", COMPANY, code=ExitCode.UNAVAILABLE)
    assert world.config_db.name in error_line(result)
    assert not world.config_db.exists()


def test_a_vanished_company_database_is_named_and_not_created(cli, world):
    world.company_db.unlink()
    result = cli("run", "--company", COMPANY, code=ExitCode.UNAVAILABLE)
    assert world.company_db.name in error_line(result)
    assert not world.company_db.exists()
