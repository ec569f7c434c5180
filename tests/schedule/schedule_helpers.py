"""Helpers of the schedule tests: entries, foreign crontab lines, golden files, a fake schtasks."""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from optsync.schedule.backend import Entry
from optsync.schedule.model import Schedule

UPDATE_GOLDEN = os.environ.get("OPTSYNC_UPDATE_GOLDEN") == "1"
GOLDEN = Path(__file__).parent / "golden"
EXAMPLES = Path(__file__).parents[2] / "examples"

FOREIGN = (
    "# m h  dom mon dow   command\n"
    "MAILTO=x\n"
    "SHELL=/bin/bash\n"
    "\n"
    "@reboot /x\n"
    "*/5 * * * * /bin/true\n"
    "   \n"
    "# a comment that mentions optsync but is not a tag\n"
    "0 * * * * /bin/date   # trailing comment\n"
    "\t15  3 * * 1-5\t/usr/bin/backup --quiet > /dev/null 2>&1\n"
    "\n"
)


def entry(
    key: str = "1",
    name: str = "Demo Sp. z o.o.",
    schedule: Schedule | None = None,
    log: Path | None = Path("/var/lib/optsync/logs/cron.log"),
    program: str = "/usr/local/bin/optsync",
) -> Entry:
    """An entry as the CLI builds it: absolute program, --home, run --company NAME --scheduled."""
    return Entry(
        company_key=key,
        company_name=name,
        schedule=schedule or Schedule(start=8 * 60, end=18 * 60, every=15),
        argv=[program, "--home", "/var/lib/optsync", "run", "--company", name, "--scheduled"],
        log_path=log,
        workdir=Path("/var/lib/optsync"),
    )


def check_golden(path: Path, data: bytes) -> None:
    """Compare ``data`` with the golden file; OPTSYNC_UPDATE_GOLDEN=1 rewrites it instead."""
    if UPDATE_GOLDEN or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if not UPDATE_GOLDEN:
            pytest.fail(f"golden file {path.name} was missing and has been written; rerun")
    assert data == path.read_bytes(), f"differs from golden {path.name}"


@dataclass
class Result:
    returncode: int = 0
    stdout: str = ""
    stderr: str = ""


@dataclass
class FakeSchtasks:
    """A tiny Task Scheduler: keeps task XML by name and answers schtasks like Windows does."""

    tasks: dict[str, str] = field(default_factory=dict)
    written: dict[str, bytes] = field(default_factory=dict)
    calls: list[list[str]] = field(default_factory=list)

    def __call__(self, argv: list[str]) -> Result:
        self.calls.append(list(argv))
        assert argv[0] == "schtasks"
        args = argv[1:]
        verb = args[0]
        if verb == "/Create":
            name, path = args[args.index("/TN") + 1], Path(args[args.index("/XML") + 1])
            data = path.read_bytes()
            assert data[:2] == b"\xff\xfe", "Task XML must be UTF-16 LE with a BOM"
            self.written[name] = data
            self.tasks[name] = data[2:].decode("utf-16-le")
            return Result(
                stdout=f'SUCCESS: The scheduled task "{name}" has successfully been created.'
            )
        if verb == "/Delete":
            name = args[args.index("/TN") + 1]
            if self.tasks.pop(name, None) is None:
                return Result(1, stderr="ERROR: The system cannot find the file specified.")
            return Result(stdout=f'SUCCESS: The scheduled task "{name}" was successfully deleted.')
        if verb == "/Query" and "/XML" in args:
            name = args[args.index("/TN") + 1]
            if name not in self.tasks:
                return Result(1, stderr="ERROR: The system cannot find the file specified.")
            # Windows hands back its own layout: an added URI, other whitespace.
            text = self.tasks[name].replace(
                "</RegistrationInfo>", f"<URI>{name}</URI></RegistrationInfo>"
            )
            return Result(stdout=text.replace("\r\n  ", "\n\t"))
        if verb == "/Query":
            out = io.StringIO()
            writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
            writer.writerow(["\\Microsoft\\Windows\\Defrag\\ScheduledDefrag", "N/A", "Ready"])
            for name in sorted(self.tasks):
                writer.writerow([name, "1/1/2030 8:00:00 AM", "Ready"])
            return Result(stdout="\r\n" + out.getvalue())
        raise AssertionError(f"unexpected schtasks call {argv}")
