"""OS entries belong to the home that wrote them: a copied or moved home never rewrites them
unless ``schedule install --take-over`` makes them its own."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from optsync.errors import ExitCode
from optsync.state import logs

FOREIGN = "MAILTO=x\n# backups, do not touch\n@reboot /x\n*/5 * * * * /bin/true\n\n"


def homes_in(text: str) -> set[str]:
    """The --home word of every optsync job line in a crontab text."""
    from optsync.schedule.cron import home_of_line

    return {h for line in text.splitlines(keepends=True) if (h := home_of_line(line))
            and "/bin/true" not in line and "/x" not in line}


@pytest.fixture
def installed(cli, companies, home, tmp_path) -> Path:
    """Two companies installed by the original home into a crontab file with foreign lines."""
    tab = tmp_path / "crontab"
    tab.write_text(FOREIGN)
    companies("Alfa", "Beta")
    cli("schedule", "install", "--crontab", str(tab))
    assert homes_in(tab.read_text()) == {str(home)}
    return tab


def cp_a(source: Path, target: Path) -> Path:
    subprocess.run(["cp", "-a", str(source), str(target)], check=True)
    return target


def test_a_schedule_change_in_a_copied_home_leaves_the_originals_lines_byte_identical(
    cli, installed, home, tmp_path
):
    copy = cp_a(home, tmp_path / "copy")
    before = installed.read_bytes()
    result = cli("--home", str(copy), "schedule", "set", "--company", "Alfa", "--every", "15m")
    assert installed.read_bytes() == before
    [warning] = [line for line in result.stderr.splitlines() if "warning" in line]
    assert f"start passes of the home {home} (this home {copy} is a copy of it)" in warning
    assert "left unchanged" in warning and "schedule install --take-over" in warning

    cli("--home", str(copy), "company", "add", "Gamma", "--db", "sqlite:///g.db")
    cli("--home", str(copy), "schedule", "set", "--company", "Gamma", "--every", "5m")
    cli("--home", str(copy), "schedule", "set", "--company", "Alfa", "--disable")
    assert installed.read_bytes() == before


def test_install_and_uninstall_in_a_copy_refuse_with_exit_78_and_the_fix(
    cli, installed, home, tmp_path
):
    copy = cp_a(home, tmp_path / "copy")
    before = installed.read_bytes()
    refused = cli("--home", str(copy), "schedule", "install", "--crontab", str(installed),
                  code=ExitCode.CONFIG)
    [line] = refused.stderr.splitlines()
    assert line.startswith("optsync: error: the OS entries in ")
    assert "nothing written" in line and "--take-over" in line and f"--home {home}" in line
    assert f"--take-over --crontab {installed}" in line  # absolute, whatever was typed
    cli("--home", str(copy), "schedule", "uninstall", "--crontab", str(installed),
        code=ExitCode.CONFIG)
    assert installed.read_bytes() == before
    # The drift check says so too, and writes nothing.
    dry = cli("--home", str(copy), "schedule", "install", "--dry-run", "--crontab",
              str(installed), code=1)
    assert "is a copy of it" in dry.stderr
    assert installed.read_bytes() == before


def test_take_over_makes_the_entries_the_copys_and_the_original_then_leaves_them_alone(
    cli, installed, home, tmp_path
):
    copy = cp_a(home, tmp_path / "copy")
    taken = cli("--home", str(copy), "schedule", "install", "--take-over", "--crontab",
                str(installed))
    assert "written to" in taken.stderr
    assert f"the entries were the home {home}'s; they now start this home's passes" in taken.stderr
    text = installed.read_text()
    assert homes_in(text) == {str(copy)}
    assert text.startswith(FOREIGN)  # foreign lines untouched, ours where they were

    from optsync.state.db import State

    messages = [r.message for r in logs.query(State(copy), category="schedule")]
    assert any("taken over from the home" in m for m in messages), messages
    assert any("taken over from the home" in r.message
               for r in logs.query(State(copy), category="schedule"))

    # The original now is the one that did not write them: it warns and leaves them.
    after = installed.read_bytes()
    result = cli("schedule", "set", "--company", "Alfa", "--every", "10m")
    assert installed.read_bytes() == after
    assert f"start passes of the home {copy}" in result.stderr
    # While the copy, their owner, rewrites them at once.
    cli("--home", str(copy), "schedule", "set", "--company", "Alfa", "--every", "20m")
    assert any(line.startswith("*/20 * * * * ") and "Alfa" in line
               for line in installed.read_text().splitlines())


def test_a_moved_home_is_recognised_and_needs_take_over(cli, installed, home, tmp_path):
    moved = tmp_path / "moved"
    shutil.move(str(home), str(moved))
    before = installed.read_bytes()
    result = cli("--home", str(moved), "schedule", "set", "--company", "Alfa", "--every", "5m")
    assert installed.read_bytes() == before
    assert f"start passes of the home {home} (which no longer exists" in result.stderr
    cli("--home", str(moved), "schedule", "install", "--crontab", str(installed),
        code=ExitCode.CONFIG)
    assert installed.read_bytes() == before

    cli("--home", str(moved), "schedule", "install", "--take-over", "--crontab", str(installed))
    assert homes_in(installed.read_text()) == {str(moved)}
    cli("--home", str(moved), "schedule", "set", "--company", "Alfa", "--every", "30m")
    assert installed.read_text().startswith(FOREIGN)


def test_the_same_home_reached_through_a_symlink_is_still_the_owner(
    cli, installed, home, tmp_path
):
    link = tmp_path / "link"
    link.symlink_to(home)
    result = cli("--home", str(link), "schedule", "set", "--company", "Alfa", "--every", "15m")
    assert "OS entries rewritten" in result.stderr and "warning" not in result.stderr


def test_windows_tasks_of_a_copied_home_are_refused_by_their_working_directory(
    cli, companies, home, tmp_path
):
    from test_schedule_install import FakeSchtasks

    from optsync.errors import ConfigError
    from optsync.services import schedules as service
    from optsync.state.db import State

    companies("Alfa")
    fake = FakeSchtasks()
    service.install(State(home), "windows", runner=fake)
    tasks = dict(fake.tasks)
    copy = cp_a(home, tmp_path / "copy")
    with pytest.raises(ConfigError, match="is a copy of it"):
        service.install(State(copy), "windows", runner=fake)
    assert fake.tasks == tasks
    service.install(State(copy), "windows", runner=fake, take_over=True)
    assert all(f"<WorkingDirectory>{copy}</WorkingDirectory>" in xml
               for xml in fake.tasks.values())


def test_status_in_a_copy_names_the_owner_and_take_over(cli, installed, home, tmp_path):
    copy = cp_a(home, tmp_path / "copy")
    cli("--home", str(copy), "schedule", "set", "--company", "Alfa", "--every", "15m")
    result = cli("--home", str(copy), "status", "--check", code=1)
    assert f"start passes of the home {home} (this home {copy} is a copy of it)" in (
        result.stdout + result.stderr)
    assert "--take-over" in result.stdout + result.stderr
    assert "drift" not in result.stdout + result.stderr
