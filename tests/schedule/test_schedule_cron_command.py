"""A cron line runs the exact argv, whatever the company is called: % for cron, quotes for sh."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from schedule_helpers import entry

from optsync.schedule.cron import CronBackend, cron_command

ZDROWIE = '100% Zdrowia "Żytnia" Sp. z o.o.'


def cron_unescape(command: str) -> tuple[str, str | None]:
    """What cron (cronie, Vixie) hands to /bin/sh: ``\\%`` -> ``%``; a bare % starts stdin."""
    out: list[str] = []
    escaped = False
    for index, ch in enumerate(command):
        if escaped:
            if ch == "%":
                out[-1] = "%"  # the backslash gives way to the percent sign
            else:
                out.append(ch)
            escaped = False
            continue
        if ch == "\\":
            escaped = True
        if ch == "%":
            return "".join(out), command[index + 1 :].replace("%", "\n")
        out.append(ch)
    return "".join(out), None


def command_of(line: str) -> str:
    """The command part of a crontab job line (after the five time fields)."""
    return line.split(None, 5)[5]


@pytest.fixture
def printargs(tmp_path: Path) -> Path:
    folder = tmp_path / "bin dir 50%"
    folder.mkdir()
    script = folder / "print args"
    script.write_text(
        f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n",
        encoding="utf-8",
    )
    script.chmod(0o755)
    return script


@pytest.mark.parametrize(
    "name",
    [
        ZDROWIE,
        "50%% off",
        "%",
        "a\\%b",
        "a\\\\%b",
        "it's $HOME `id` $(id) \\",
        "-starts with a dash",
        "",
    ],
)
def test_cron_line_passes_the_exact_company_name_to_the_program(
    name: str, printargs: Path, tmp_path: Path
):
    log = tmp_path / "logs 100%" / "cron.log"
    log.parent.mkdir()
    item = entry("7", name, log=log, program=str(printargs))
    crontab = tmp_path / "crontab"
    CronBackend(crontab).install([item], "home1")
    job_line = crontab.read_text(encoding="utf-8").splitlines()[1]

    command, stdin = cron_unescape(command_of(job_line))
    assert stdin is None, "an unescaped % would cut the command short"
    subprocess.run(
        ["/bin/sh", "-c", command], env={"PATH": "/usr/bin:/bin"}, check=True, timeout=20
    )
    printed = json.loads(log.read_text(encoding="utf-8").splitlines()[-1])
    assert printed == item.argv[1:]
    assert printed[4] == name


TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs")) | st.sampled_from("%\\'\" $`"),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(argv=st.lists(TEXT, min_size=1, max_size=4))
def test_any_argv_survives_cron_and_shell_word_splitting(argv: list[str]):
    command, stdin = cron_unescape(cron_command(argv))
    assert stdin is None
    assert shlex.split(command) == argv  # POSIX sh rules for quotes and backslashes


def test_percent_signs_are_escaped_for_cron():
    assert cron_command(["/bin/optsync", ZDROWIE]) == (
        "/bin/optsync 100\\%' Zdrowia \"Żytnia\" Sp. z o.o.'"
    )
