"""Faults of the machine and of the settings: one line naming the cause and the fix, with a
documented exit code, never "unexpected error" (README, "When things go wrong").

Faults that need a file this user may not write run optsync in a subprocess without the
capabilities that let root ignore file modes (the tests run as root).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from optsync.errors import ExitCode

SETPRIV_DROP = ["--inh-caps=-dac_override,-dac_read_search",
                "--bounding-set=-dac_override,-dac_read_search"]


def one_error_line(result, *needles: str) -> str:
    """The single error line of a failed command, checked for each of ``needles``."""
    lines = [line for line in result.stderr.splitlines() if line.startswith("optsync: error:")]
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert "unexpected" not in line and "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in line, line
    return line


# unprivileged subprocesses -------------------------------------------------------------
def _unprivileged_prefix(tmp_path: Path) -> list[str]:
    """The command prefix that makes file modes bind (nothing when not root)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is needed to drop root's file-mode override")
    probe = tmp_path / "probe"
    probe.write_text("")
    probe.chmod(0o444)
    tried = subprocess.run([setpriv, *SETPRIV_DROP, "sh", "-c", f"echo x > '{probe}'"],
                           capture_output=True)
    probe.chmod(0o644)
    if tried.returncode == 0:
        pytest.skip("this system does not let setpriv drop CAP_DAC_OVERRIDE")
    return [setpriv, *SETPRIV_DROP]


@pytest.fixture
def unprivileged(tmp_path: Path):
    """Run the optsync CLI in a subprocess to which file modes apply."""
    prefix = _unprivileged_prefix(tmp_path)

    def run(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([*prefix, sys.executable, "-m", "optsync", *args],
                              input=input, capture_output=True, text=True, timeout=120,
                              env=dict(os.environ))

    return run


@pytest.fixture
def read_only(home: Path):
    """Make paths read-only for the test; modes are put back afterwards."""
    changed: list[tuple[Path, int]] = []

    def make(*paths: Path) -> None:
        for path in paths:
            changed.append((path, path.stat().st_mode))
            path.chmod(0o555 if path.is_dir() else 0o444)

    yield make
    for path, mode in reversed(changed):
        path.chmod(mode)


def test_a_read_only_home_still_lists_and_refuses_changes_with_69(
        cli, home, unprivileged, read_only):
    cli("company", "add", "Alfa", "--db", "sqlite:///alfa.db")
    for leftover in home.glob("state.db-*"):
        leftover.unlink()  # as after the last writer closed: SQLite must create -shm to read
    read_only(home)
    listed = unprivileged("company", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert '"Alfa"' in listed.stdout
    assert unprivileged("operator", "show").returncode == 0
    added = unprivileged("company", "add", "Beta", "--db", "sqlite:///beta.db")
    assert added.returncode == ExitCode.UNAVAILABLE
    one_error_line(added, "read-only", f"its folder {home} is not writable", "Give that user")


def test_a_read_only_state_db_says_the_file_is_not_writable(cli, home, unprivileged, read_only):
    cli("company", "add", "Alfa", "--db", "sqlite:///alfa.db")
    read_only(home / "state.db")
    assert unprivileged("company", "list").returncode == 0
    added = unprivileged("company", "add", "Beta", "--db", "sqlite:///beta.db")
    assert added.returncode == ExitCode.UNAVAILABLE
    one_error_line(added, str(home / "state.db"), "the file is not writable")
    doctor = unprivileged("doctor", "--json")
    assert '"state database", "status": "fail"' in doctor.stdout
    assert "read-only" in doctor.stdout


def test_the_state_database_in_sqlite_read_only_mode_refuses_writes_by_name(
        cli, home, monkeypatch):
    cli("init")
    monkeypatch.setenv("OPTSYNC_STATE_URL", f"sqlite:///file:{home / 'state.db'}?mode=ro&uri=true")
    assert cli("company", "list").exit_code == 0
    result = cli("company", "add", "Alfa", "--db", "sqlite:///alfa.db", code=ExitCode.UNAVAILABLE)
    one_error_line(result, "the state database", "read-only", "the state URL opens it read-only")
    assert not list(Path.cwd().glob("file*"))  # the URI's file, not a folder named "file:"


# damaged, full ---------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["text", "header", "pages"])
def test_a_damaged_state_db_is_called_damaged_not_a_wrong_state_url(cli, home, damage):
    cli("company", "add", "Alfa", "--db", "sqlite:///alfa.db")
    db = home / "state.db"
    for leftover in home.glob("state.db-*"):
        leftover.unlink()
    if damage == "text":
        db.write_text("these are notes, not a database\n")
    else:
        data = bytearray(db.read_bytes())
        if damage == "header":
            data[:16] = b"not a database!\x00"
        else:  # every page after the first overwritten: the schema is unreadable
            data[4096:] = b"\xde" * (len(data) - 4096)
        db.write_bytes(bytes(data))
    result = cli("company", "list", code=ExitCode.UNAVAILABLE)
    line = one_error_line(result, f"the state database {db} is damaged", "backup")
    assert "state_url" not in line
    checks = {c["check"]: c for c in cli.json("doctor", code=1)}
    assert checks["state database"]["status"] == "fail"
    assert "damaged" in checks["state database"]["detail"]


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 1 MiB file system of its own (tmpfs); skipped where mounting is not allowed."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(disk: Path) -> None:
    with open(disk / "filler", "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass


def test_a_full_disk_under_the_state_database_is_named_with_69(cli, small_disk, monkeypatch):
    monkeypatch.setenv("OPTSYNC_HOME", str(small_disk / "home"))
    cli("company", "add", "Alfa", "--db", "sqlite:///alfa.db")
    fill(small_disk)
    result = cli("company", "add", "Beta", "--db", "sqlite:///beta.db",
                 code=ExitCode.UNAVAILABLE)
    one_error_line(result, f"the disk holding the state database {small_disk / 'home'}",
                   "is full", "Free space")
    (small_disk / "filler").unlink()
    assert "Beta" not in cli("company", "list").stdout  # nothing half-written
    cli("company", "add", "Beta", "--db", "sqlite:///beta.db")


def test_a_full_disk_writing_secret_key_leaves_no_truncated_key(
        cli, small_disk, tmp_path, monkeypatch):
    monkeypatch.setenv("OPTSYNC_HOME", str(small_disk / "home"))
    monkeypatch.setenv("OPTSYNC_STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    cli("init")
    fill(small_disk)
    result = cli("operator", "set", "ADMIN", "--password-stdin", input="Kf9-secret\n",
                 code=ExitCode.UNAVAILABLE)
    one_error_line(result, "no space left on the disk holding", "Free space")
    assert not (small_disk / "home" / "secret.key").exists()
    assert not list((small_disk / "home").glob(".secret.key*"))


# the home and its files --------------------------------------------------------------------
def test_a_home_that_is_a_file_exits_78(cli, tmp_path):
    (tmp_path / "notes").write_text("x")
    for args in (["init"], ["company", "list"], ["doctor"]):
        result = cli("--home", str(tmp_path / "notes"), *args, code=ExitCode.CONFIG)
        one_error_line(result, f"the home {tmp_path / 'notes'} is a file, not a folder")
    result = cli("--home", str(tmp_path / "notes" / "sub"), "init", code=ExitCode.CONFIG)
    one_error_line(result, f"{tmp_path / 'notes'} is a file")


def test_an_empty_home_option_is_bad_input_not_the_current_folder(cli, tmp_path):
    result = cli("--home", "", "init", code=ExitCode.BAD_INPUT)
    one_error_line(result, "--home is empty")
    assert not (tmp_path / "state.db").exists()


def test_a_secret_key_that_is_a_folder_exits_78(cli, home):
    cli("init")
    (home / "secret.key").mkdir()
    result = cli("operator", "set", "ADMIN", "--password-stdin", input="Kf9-secret\n",
                 code=ExitCode.CONFIG)
    one_error_line(result, f"the secret key {home / 'secret.key'} is a folder")


def test_a_crontab_option_naming_a_folder_is_bad_input(cli, tmp_path):
    cli("company", "add", "Alfa", "--db", "sqlite:///alfa.db")
    (tmp_path / "cron.d").mkdir()
    for command in ("install", "uninstall"):
        result = cli("schedule", command, "--crontab", str(tmp_path / "cron.d"),
                     code=ExitCode.BAD_INPUT)
        one_error_line(result, "is a directory")


def test_an_optsync_toml_that_is_not_utf8_exits_78(cli, home):
    cli("init")
    (home / "optsync.toml").write_bytes('state_url = "sqlite:///zażółć.db"\n'.encode("cp1250"))
    result = cli("company", "list", code=ExitCode.CONFIG)
    one_error_line(result, f"{home / 'optsync.toml'} is not UTF-8", "iconv")


def test_a_typo_in_optsync_toml_is_named_with_the_known_keys(cli, home):
    cli("init")
    (home / "optsync.toml").write_text('stateurl = "sqlite:////srv/optsync/state.db"\n')
    result = cli("company", "list", code=ExitCode.CONFIG)
    one_error_line(result, "unknown setting 'stateurl'", "did you mean 'state_url'",
                   "known settings are: state_url")


def test_an_optsync_toml_that_is_a_folder_exits_78(cli, home):
    cli("init")
    (home / "optsync.toml").mkdir()
    result = cli("company", "list", code=ExitCode.CONFIG)
    one_error_line(result, "optsync.toml is a folder")


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:",
                                 "sqlite:///file:state?mode=memory&uri=true"])
def test_a_state_database_in_memory_is_refused(cli, home, monkeypatch, url):
    monkeypatch.setenv("OPTSYNC_STATE_URL", url)
    result = cli("init", code=ExitCode.CONFIG)
    one_error_line(result, "$OPTSYNC_STATE_URL names an SQLite database in memory",
                   "every change would be lost")
    monkeypatch.delenv("OPTSYNC_STATE_URL")
    home.mkdir(exist_ok=True)
    (home / "optsync.toml").write_text(f'state_url = "{url}"\n')
    result = cli("init", code=ExitCode.CONFIG)
    one_error_line(result, "state_url in", "in memory")


def test_a_password_on_stdin_that_is_not_utf8_is_bad_input_and_not_shown(cli):
    password = "Zażółć-9Kq"
    result = cli("operator", "set", "ADMIN", "--password-stdin",
                 input=(password + "\n").encode("cp1250"), code=ExitCode.BAD_INPUT)
    one_error_line(result, "the password on stdin is not UTF-8")
    for shown in (result.stdout, result.stderr):
        assert "9Kq" not in shown and "Za" not in shown
    assert cli.json("operator", "show")["acronym"] is None


# the secret key ----------------------------------------------------------------------------
def test_a_new_key_is_created_while_no_secret_is_stored(cli, home):
    cli("init")
    assert not (home / "secret.key").exists()
    cli("operator", "set", "ADMIN", "--password-stdin", input="Kf9-secret\n")
    assert (home / "secret.key").is_file()


def test_a_missing_key_with_stored_secrets_is_an_error_not_a_new_key(cli, home):
    cli("operator", "set", "ADMIN", "--password-stdin", input="Kf9-secret\n")
    (home / "secret.key").unlink()
    for args, stdin in ((["operator", "set", "ADMIN", "--password-stdin"], "Other-pw7\n"),
                        (["company", "add", "Alfa", "--db",
                          "postgresql+psycopg://u:Pw-of-alfa@127.0.0.1:9/x"], None)):
        result = cli(*args, input=stdin, code=ExitCode.CONFIG)
        one_error_line(result, f"the secret key {home / 'secret.key'} is missing",
                       "1 secret(s) encrypted with it (the operator's password)",
                       "init --new-secret-key")
        assert not (home / "secret.key").exists()


def test_doctor_names_the_stored_secrets_a_changed_key_cannot_read(cli, home):
    from cryptography.fernet import Fernet

    cli("operator", "set", "ADMIN", "--password-stdin", input="Kf9-secret\n")
    cli("company", "add", "Alfa", "--db", "postgresql+psycopg://u:Pw-of-alfa@127.0.0.1:9/x")
    (home / "secret.key").write_text(Fernet.generate_key().decode() + "\n")
    checks = cli.json("doctor", code=1)
    key = next(c for c in checks if c["check"] == "secret key")
    assert key["status"] == "fail"
    assert "2 of 2 stored secret(s)" in key["detail"]
    assert "the operator's password" in key["detail"]
    assert "the password in the database URL of company 'Alfa'" in key["detail"]
    assert "optsync operator set ADMIN --password-stdin" in key["fix"]
    alfa = next(c for c in checks if c["check"] == "company Alfa database")
    assert alfa["status"] == "fail" and "company 'Alfa'" in alfa["detail"]
    assert [c["check"] for c in checks][-1] == "cron daemon"  # doctor went on to the end


def test_doctor_says_the_key_is_missing_while_secrets_are_stored(cli, home):
    cli("operator", "set", "ADMIN", "--password-stdin", input="Kf9-secret\n")
    (home / "secret.key").unlink()
    key = next(c for c in cli.json("doctor", code=1) if c["check"] == "secret key")
    assert key["status"] == "fail" and "is missing" in key["detail"]
    assert not (home / "secret.key").exists()


def test_new_secret_key_starts_over_only_when_the_key_reads_no_stored_secret(cli, home):
    from cryptography.fernet import Fernet

    cli("operator", "set", "ADMIN", "--password-stdin", input="Kf9-secret\n")
    refused = cli("init", "--new-secret-key", code=ExitCode.BAD_INPUT)
    one_error_line(refused, "reads 1 of the 1 stored secret(s)")
    old = Fernet.generate_key().decode()
    (home / "secret.key").write_text(old + "\n")  # a key that reads nothing stored
    done = cli("init", "--new-secret-key")
    assert "the operator's password must be stored again" in done.stderr
    kept = list(home.glob("secret.key.old-*"))
    assert len(kept) == 1 and kept[0].read_text().strip() == old
    assert (home / "secret.key").read_text().strip() != old
    cli("operator", "set", "ADMIN", "--password-stdin", input="New-pw-5\n")
    key = next(c for c in cli.json("doctor", code=None) if c["check"] == "secret key")
    assert key["status"] == "ok"


def test_a_changed_key_names_the_secret_when_it_is_read(cli, home):
    from cryptography.fernet import Fernet

    from optsync.state import config as cfg
    from optsync.state.db import State

    cli("company", "add", "Alfa", "--db", "postgresql+psycopg://u:Pw-of-alfa@127.0.0.1:9/x")
    (home / "secret.key").write_text(Fernet.generate_key().decode() + "\n")
    state = State(home)
    company = cfg.get_company(state, "Alfa")
    from optsync.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        company.real_db_url(state)
    assert caught.value.exit_code == ExitCode.CONFIG
    assert "the password in the database URL of company 'Alfa' cannot be decrypted" in (
        caught.value.message)
    assert "optsync company remove Alfa" in caught.value.message
    state.dispose()


# databases that must exist -------------------------------------------------------------------
def test_discover_of_a_missing_sqlite_configuration_database_creates_no_file(cli, tmp_path):
    result = cli("company", "discover", "--config-db", "sqlite:///missing.db",
                 code=ExitCode.UNAVAILABLE)
    one_error_line(result, "missing.db")
    assert not (tmp_path / "missing.db").exists()


def test_opening_an_optima_database_never_creates_its_file(tmp_path):
    from optsync.dburl import engine_for
    from optsync.errors import Unreachable

    with pytest.raises(Unreachable) as caught:
        engine_for(f"sqlite:///{tmp_path / 'gone.db'}", what="company database")
    assert "gone.db" in caught.value.message and "does not exist" in caught.value.message
    real = tmp_path / "Firma 100% ł.db"  # every character of the path survives
    sqlite3.connect(real).execute("create table t (x)").connection.close()
    engine = engine_for(f"sqlite:///{real}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("select count(*) from t").scalar() == 0
    engine.dispose()
    real.unlink()  # gone between the check and the connection: still not created
    from sqlalchemy.exc import OperationalError

    with pytest.raises(OperationalError, match="unable to open database file"):
        with engine.connect() as conn:
            conn.exec_driver_sql("select 1")
    engine.dispose()
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing created
