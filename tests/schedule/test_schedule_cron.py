"""The cron backend owns only its tagged lines and leaves every other byte alone."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from schedule_helpers import FOREIGN, entry

from optsync.errors import OptsyncError, Unreachable
from optsync.schedule.cron import CronBackend, Crontab, render_block
from optsync.schedule.model import Schedule, parse_days

ID = "home1"


@pytest.fixture
def crontab(tmp_path: Path) -> Path:
    path = tmp_path / "crontab"
    path.write_bytes(FOREIGN.encode())
    return path


def foreign_lines(text: str, install_id: str = ID) -> list[str]:
    return Crontab.parse(text, install_id).foreign()


def keys_in(backend: CronBackend, install_id: str = ID) -> set[str]:
    """The company keys whose tagged lines of ``install_id`` the crontab holds now."""
    return Crontab.parse(backend.read(), install_id).keys


def test_install_leaves_foreign_lines_byte_identical(crontab: Path):
    backend = CronBackend(crontab)
    assert backend.install([entry("1"), entry("2", "Other")], ID) is True
    text = crontab.read_text()
    assert text.startswith(FOREIGN)  # appended after everything that was there
    assert "".join(foreign_lines(text)) == FOREIGN
    assert text.count("# optsync:home1:") == 4


def test_each_optsync_line_has_its_tag_on_the_line_above(crontab: Path):
    CronBackend(crontab).install([entry("1")], ID)
    ours = crontab.read_text()[len(FOREIGN) :].splitlines()
    assert ours[0::2] == ["# optsync:home1:1"] * 2
    assert ours[1] == (
        "*/15 8-17 * * * /usr/local/bin/optsync --home /var/lib/optsync run --company "
        "'Demo Sp. z o.o.' --scheduled >> /var/lib/optsync/logs/cron.log 2>&1"
    )
    assert ours[3].startswith("0 18 * * * /usr/local/bin/optsync ")


def test_second_install_changes_nothing(crontab: Path):
    backend = CronBackend(crontab)
    backend.install([entry("1")], ID)
    before = crontab.stat().st_mtime_ns, crontab.read_bytes()
    assert backend.install([entry("1")], ID) is False
    assert (crontab.stat().st_mtime_ns, crontab.read_bytes()) == before


def test_render_equals_installed_right_after_install(crontab: Path):
    backend = CronBackend(crontab)
    backend.install([entry("1")], ID)
    assert backend.installed(ID) == backend.render([entry("1")], ID)
    assert backend.in_sync([entry("1")], ID)
    assert backend.diff([entry("1")], ID) == ""


def test_render_and_installed_differ_after_a_hand_edit_of_our_line(crontab: Path):
    backend = CronBackend(crontab)
    backend.install([entry("1")], ID)
    crontab.write_text(crontab.read_text().replace("*/15 8-17", "*/20 8-17"))
    assert not backend.in_sync([entry("1")], ID)
    assert "-*/20 8-17" in backend.diff([entry("1")], ID)
    assert backend.install([entry("1")], ID) is True  # the next install repairs it
    assert backend.in_sync([entry("1")], ID)


def test_reinstall_keeps_our_block_where_it_was(crontab: Path):
    backend = CronBackend(crontab)
    backend.install([entry("1")], ID)
    crontab.write_text(crontab.read_text() + "30 2 * * * /usr/bin/added-later\n")
    backend.install([entry("1", schedule=Schedule(every=60))], ID)
    text = crontab.read_text()
    assert text.endswith("30 2 * * * /usr/bin/added-later\n")
    assert text.startswith(FOREIGN + "# optsync:home1:1\n0 * * * * ")


def test_disabling_one_company_removes_only_its_entries(crontab: Path):
    backend = CronBackend(crontab)
    backend.install([entry("1"), entry("2", "Other")], ID)
    assert keys_in(backend) == {"1", "2"}
    off = entry("2", "Other", schedule=Schedule(enabled=False))
    assert backend.install([entry("1"), off], ID) is True
    assert keys_in(backend) == {"1"}
    assert "Other" not in crontab.read_text()
    assert "".join(foreign_lines(crontab.read_text())) == FOREIGN


def test_uninstall_removes_every_optsync_line_of_this_install_and_nothing_else(crontab: Path):
    backend = CronBackend(crontab)
    backend.install([entry("1"), entry("2", "Other")], ID)
    assert backend.uninstall(ID) is True
    assert crontab.read_bytes() == FOREIGN.encode()
    assert backend.uninstall(ID) is False


def test_two_install_ids_in_one_file_stay_apart(crontab: Path):
    first, second = CronBackend(crontab), CronBackend(crontab)
    first.install([entry("1")], "home1")
    second.install([entry("1", "Second home")], "home2")
    assert keys_in(first, "home1") == keys_in(second, "home2") == {"1"}
    assert "Second home" not in first.installed("home1")
    first.install([entry("1", schedule=Schedule(every=30))], "home1")
    assert "Second home" in second.installed("home2")
    assert second.in_sync([entry("1", "Second home")], "home2")
    first.uninstall("home1")
    assert first.installed("home1") == ""
    assert second.in_sync([entry("1", "Second home")], "home2")
    assert crontab.read_text().startswith(FOREIGN)


def test_install_into_a_missing_file_creates_it(tmp_path: Path):
    path = tmp_path / "sub" / "crontab"
    assert CronBackend(path).install([entry("1")], ID) is True
    assert path.read_text() == render_block([entry("1")], ID)


def test_install_keeps_the_file_mode(crontab: Path):
    crontab.chmod(0o600)
    CronBackend(crontab).install([entry("1")], ID)
    assert stat.S_IMODE(crontab.stat().st_mode) == 0o600


def test_last_foreign_line_without_newline_gets_one_before_our_block(tmp_path: Path):
    path = tmp_path / "crontab"
    path.write_bytes(b"0 * * * * /bin/date")
    CronBackend(path).install([entry("1")], ID)
    assert path.read_bytes().startswith(b"0 * * * * /bin/date\n# optsync:home1:1\n")


def test_crlf_and_non_utf8_foreign_lines_survive(tmp_path: Path):
    path = tmp_path / "crontab"
    raw = b"MAILTO=x\r\n0 * * * * /bin/echo caf\xe9\r\n"
    path.write_bytes(raw)
    backend = CronBackend(path)
    backend.install([entry("1")], ID)
    assert path.read_bytes().startswith(raw)
    backend.uninstall(ID)
    assert path.read_bytes() == raw


def test_a_tag_with_no_job_line_after_it_owns_only_itself(tmp_path: Path):
    path = tmp_path / "crontab"
    path.write_text("# optsync:home1:1\nMAILTO=x\n# optsync:home1:2\n")
    CronBackend(path).uninstall(ID)
    assert path.read_text() == "MAILTO=x\n"


def test_names_with_line_breaks_are_refused():
    with pytest.raises(OptsyncError, match="line break"):
        entry("1", "Bad\nname")


def test_install_id_must_be_a_plain_token(crontab: Path):
    with pytest.raises(OptsyncError, match="install id"):
        CronBackend(crontab).install([entry("1")], "home:1")


def test_install_aborts_without_writing_when_a_foreign_line_would_change(
    crontab: Path, monkeypatch: pytest.MonkeyPatch
):
    original = Crontab.replaced

    def careless(self: Crontab, block: str) -> str:
        return original(self, block).replace("MAILTO=x", "MAILTO=y")

    monkeypatch.setattr(Crontab, "replaced", careless)
    with pytest.raises(OptsyncError, match="does not own; nothing written"):
        CronBackend(crontab).install([entry("1")], ID)
    assert crontab.read_bytes() == FOREIGN.encode()


# the user's crontab, through a stand-in crontab program -----------------------------------
FAKE_CRONTAB = """#!/bin/sh
store="{store}"
if [ "$1" = "-l" ]; then
    [ -f "$store" ] || {{ echo "no crontab for tester" >&2; exit 1; }}
    cat "$store"
else
    cp "$1" "$store"
fi
"""


@pytest.fixture
def fake_crontab(tmp_path: Path) -> tuple[Path, Path]:
    store = tmp_path / "spool"
    program = tmp_path / "crontab-program"
    program.write_text(FAKE_CRONTAB.format(store=store))
    program.chmod(0o755)
    return program, store


def test_user_crontab_is_read_and_written_through_the_crontab_program(fake_crontab):
    program, store = fake_crontab
    backend = CronBackend(crontab_command=str(program))
    assert backend.target == "user crontab"
    assert backend.installed(ID) == ""  # "no crontab for" means empty
    store.write_text(FOREIGN)
    assert backend.install([entry("1")], ID) is True
    assert store.read_text().startswith(FOREIGN)
    assert backend.install([entry("1")], ID) is False
    assert backend.uninstall(ID) is True
    assert store.read_text() == FOREIGN


def test_missing_crontab_program_is_reported_as_unreachable():
    with pytest.raises(Unreachable, match="no crontab program"):
        CronBackend().installed(ID)


@pytest.mark.slow
def test_real_user_crontab_round_trip_keeps_it_unchanged():
    import shutil
    import subprocess

    if not shutil.which("crontab"):
        pytest.skip("no crontab program on this host")
    listed = subprocess.run(["crontab", "-l"], capture_output=True, text=True, check=False)
    before = listed.stdout if listed.returncode == 0 else ""
    backend, install_id = CronBackend(), "pytest-roundtrip"
    try:
        assert backend.install([entry("1", schedule=Schedule(days=parse_days("sun")))], install_id)
        assert keys_in(backend, install_id) == {"1"}
    finally:
        backend.uninstall(install_id)
    after = subprocess.run(["crontab", "-l"], capture_output=True, text=True, check=False)
    assert (after.stdout if after.returncode == 0 else "") == before


def test_python_crontab_reads_every_line_we_write_as_a_valid_job(crontab: Path):
    from crontab import CronTab

    backend = CronBackend(crontab)
    backend.install([entry("1"), entry("2", '100% Zdrowia "Żytnia" Sp. z o.o.')], ID)
    jobs = [job for job in CronTab(tab=backend.installed(ID)) if job.is_valid()]
    assert len(jobs) == backend.installed(ID).count("# optsync:")
    assert all("--scheduled" in job.command for job in jobs)


# python-crontab: its parser checks what optsync writes; its reader is not used -----------


def test_a_planned_time_cron_would_refuse_stops_the_install_and_writes_nothing(
    crontab: Path, monkeypatch
):
    from optsync.schedule import cron
    from optsync.schedule.planner import CronSpec

    before = crontab.read_bytes()
    monkeypatch.setattr(cron, "plan_cron", lambda schedule: [CronSpec("61", "*", "*", "*", "*")])
    with pytest.raises(OptsyncError, match="'61 \\* \\* \\* \\*' .* is not valid cron syntax"):
        CronBackend(crontab).install([entry("1")], ID)
    assert crontab.read_bytes() == before


def test_every_time_the_planner_writes_passes_python_crontabs_parser(crontab: Path):
    from crontab import CronSlices

    schedules = [Schedule(), Schedule(start=8 * 60 + 10, end=17 * 60 + 50, every=25,
                                      days=parse_days("mon-fri")),
                 Schedule(start=22 * 60, end=2 * 60, every=45, days=parse_days("sat-sun"))]
    block = render_block([entry(str(n), schedule=s) for n, s in enumerate(schedules, 1)], ID)
    specs = [" ".join(line.split()[:5]) for line in block.splitlines() if not line.startswith("#")]
    assert len(specs) >= 3 and all(CronSlices.is_valid(spec) for spec in specs)


def test_a_user_crontab_that_is_not_utf8_is_kept_byte_for_byte_where_python_crontab_fails(
    fake_crontab, monkeypatch
):
    import crontab

    program, store = fake_crontab
    store.write_bytes(FOREIGN.encode() + "# kopia zapasowa o 3:00 (Zażółć)\n".encode("cp1250"))
    before = store.read_bytes()
    monkeypatch.setattr(crontab, "CRON_COMMAND", str(program))
    with pytest.raises(UnicodeDecodeError):
        crontab.CronTab(user=True)  # why optsync reads the crontab itself (see cron.py)
    backend = CronBackend(crontab_command=str(program))
    assert backend.install([entry("1")], ID) is True
    assert store.read_bytes().startswith(before)
    assert backend.uninstall(ID) is True
    assert store.read_bytes() == before
