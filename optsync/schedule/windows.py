r"""The Windows backend: one Task Scheduler task per company in the folder ``\optsync\``.

Task names are ``\optsync\<install-id>.<company-key> <company name in ASCII>``: the install id
keeps two homes apart, the key finds a company again after a rename, and the readable name is
ASCII only because ``schtasks /Query`` prints in the console code page. Tasks are created with
``schtasks /Create /XML <file> /TN <name> /F`` from Task XML written in UTF-16 LE with a BOM.

Repetition Duration is the window length, with no extra minute: since Vista, Task Scheduler
includes the end of the duration ("a repetition interval equal to one minute and a repetition
duration equal to four minutes ... will be started five times", Microsoft's "Repeating a
Task"), so the starts are ``from + k*every <= to``, the last one exactly at ``to`` when the
window divides evenly. A duration of length + 1 minute would add a start at ``to + 1`` when
``every`` divides it (always for ``every`` = 1). A window holding one start only gets no
Repetition (the Duration must be at least one minute and the Interval).

Each task runs whether anyone is logged on or not: its ``Principal`` has logon type S4U for
the installing user (Windows stores no password, and the task has no network credentials), or,
with ``schedule install --run-as ACCOUNT``, logon type Password for that account, whose
password goes to ``schtasks /Create ... /RU ACCOUNT /RP ...`` and nowhere else. The task's
command names the company by its key (``run --company-key KEY``): Task Scheduler expands
``%NAME%`` in a command and has no escape, so a name holding ``%`` would arrive altered; a
``%`` in the program's path or the home is refused for the same reason.

The drift check compares a summary of each task (name, trigger, policy and a fingerprint of
the whole XML, kept in the task's Description) rather than the XML itself: Task Scheduler
reformats the XML it returns, and prints non-ASCII text in the console code page.
"""

from __future__ import annotations

import csv
import getpass
import hashlib
import os
import re
import subprocess
import tempfile
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from optsync.errors import BadInput, OptsyncError, Unreachable
from optsync.schedule.backend import Entry, Runner, SchedulerBackend, check_token
from optsync.schedule.model import format_days, format_hhmm

FOLDER = "\\optsync\\"
NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_TRANSLIT = str.maketrans({"ł": "l", "Ł": "L", "ß": "ss", "Æ": "AE", "æ": "ae", "Ø": "O", "ø": "o"})
# A date in the past; only its time of day matters (no zone: the task follows local time).
START_DATE = "2024-01-01"


def run_schtasks(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run schtasks, decoding its output in the console code page."""
    encoding = "oem" if os.name == "nt" else "utf-8"
    try:
        return subprocess.run(
            argv, capture_output=True, text=True, encoding=encoding, errors="replace", check=False
        )
    except FileNotFoundError:
        raise Unreachable(
            "schtasks is not available on this machine",
            "Use --backend windows on Windows; elsewhere --backend cron or external",
        ) from None


def ascii_name(text: str, limit: int = 48) -> str:
    """``text`` reduced to ASCII letters, digits, spaces and ``._()-&,+`` for a task name."""
    plain = unicodedata.normalize("NFKD", text.translate(_TRANSLIT))
    kept = "".join(ch for ch in plain if ch.isascii() and (ch.isalnum() or ch in " ._()-&,+"))
    return " ".join(kept.split())[:limit].strip()


def task_name(install_id: str, entry: Entry) -> str:
    r"""``\optsync\<install-id>.<company-key> <ASCII company name>``."""
    readable = ascii_name(entry.company_name)
    return f"{FOLDER}{install_id}.{entry.company_key}" + (f" {readable}" if readable else "")


def iso_duration(minutes: int) -> str:
    """Minutes as an ISO-8601 duration: 15 -> PT15M, 90 -> PT1H30M, 1440 -> P1D."""
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    time = (f"{hours}H" if hours else "") + (f"{mins}M" if mins else "")
    return "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "")


@dataclass(frozen=True)
class Principal:
    """Who a task runs as: logon type ``S4U`` (the installing user, no password stored, no
    network credentials) or ``Password`` (an account whose password schtasks /RP hands to
    Windows)."""

    user: str
    logon: str = "S4U"


def current_user() -> str:
    r"""``DOMAIN\user`` of whoever runs optsync (the user name alone off Windows)."""
    user = os.environ.get("USERNAME") or getpass.getuser()
    domain = os.environ.get("USERDOMAIN")
    return f"{domain}\\{user}" if domain and os.name == "nt" else user


def task_xml(entry: Entry, install_id: str, principal: Principal | None = None) -> str:
    """The Task XML (as text) that starts ``entry``'s passes; Description carries a fingerprint."""
    principal = principal or Principal(current_user())
    check_expandable(entry)
    label = f"optsync:{install_id}:{entry.company_key}"
    if principal.logon == "Password":  # Windows may show the account as a SID in UserId
        label += f" run-as={principal.user}"
    draft = _xml(entry, label, principal)
    digest = hashlib.sha256(draft.encode("utf-8")).hexdigest()[:16]
    return _xml(entry, f"{label} fingerprint={digest}", principal)


def check_expandable(entry: Entry) -> None:
    """Refuse a command Task Scheduler would change: it expands %NAME% and has no escape.

    Company names never reach a task (it names the company by its key); a ``%`` left in the
    program's path, the home or an argument is refused rather than run altered.
    """
    for text in [*entry.argv, str(entry.workdir)]:
        if "%" in text:
            raise BadInput(
                f"{text!r} holds '%', which Task Scheduler would expand as an environment "
                "variable",
                "Move optsync or its home to a folder whose path has no '%' (--home DIR)",
            )


def xml_bytes(xml_text: str) -> bytes:
    """Task XML as Task Scheduler reads it best: UTF-16 little endian with a BOM."""
    return b"\xff\xfe" + xml_text.encode("utf-16-le")


def _xml(entry: Entry, description: str, principal: Principal) -> str:
    schedule = entry.schedule
    repetition: list[str] = []
    if schedule.length >= schedule.every:  # more than one start per window
        repetition = [
            "      <Repetition>",
            f"        <Interval>{iso_duration(schedule.every)}</Interval>",
            f"        <Duration>{iso_duration(schedule.length)}</Duration>",
            "        <StopAtDurationEnd>false</StopAtDurationEnd>",
            "      </Repetition>",
        ]
    if len(schedule.days) == 7:
        when = [
            "      <ScheduleByDay>",
            "        <DaysInterval>1</DaysInterval>",
            "      </ScheduleByDay>",
        ]
    else:
        days = [f"          <{_WEEKDAYS[d]} />" for d in sorted(schedule.days)]
        when = [
            "      <ScheduleByWeek>",
            "        <DaysOfWeek>",
            *days,
            "        </DaysOfWeek>",
            "        <WeeksInterval>1</WeeksInterval>",
            "      </ScheduleByWeek>",
        ]
    program, *args = entry.argv
    lines = [
        '<?xml version="1.0" encoding="UTF-16"?>',
        f'<Task version="1.2" xmlns="{NS}">',
        "  <RegistrationInfo>",
        "    <Author>optsync</Author>",
        f"    <Description>{escape(description)}</Description>",
        "  </RegistrationInfo>",
        "  <Triggers>",
        "    <CalendarTrigger>",
        "      <Enabled>true</Enabled>",  # triggerBaseType is a sequence: keep this order
        f"      <StartBoundary>{START_DATE}T{format_hhmm(schedule.start)}:00</StartBoundary>",
        *repetition,
        *when,
        "    </CalendarTrigger>",
        "  </Triggers>",
        "  <Principals>",
        '    <Principal id="Author">',
        f"      <UserId>{escape(principal.user)}</UserId>",
        f"      <LogonType>{principal.logon}</LogonType>",
        "      <RunLevel>LeastPrivilege</RunLevel>",
        "    </Principal>",
        "  </Principals>",
        "  <Settings>",
        "    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>",
        "    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>",
        "    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>",
        "    <StartWhenAvailable>false</StartWhenAvailable>",
        "    <AllowStartOnDemand>true</AllowStartOnDemand>",
        "    <Enabled>true</Enabled>",
        "    <ExecutionTimeLimit>PT72H</ExecutionTimeLimit>",
        "  </Settings>",
        '  <Actions Context="Author">',
        "    <Exec>",
        f"      <Command>{escape(program)}</Command>",
        f"      <Arguments>{escape(subprocess.list2cmdline(args))}</Arguments>",
        f"      <WorkingDirectory>{escape(str(entry.workdir))}</WorkingDirectory>",
        "    </Exec>",
        "  </Actions>",
        "</Task>",
    ]
    return "\r\n".join(lines) + "\r\n"


def describe(name: str, xml_text: str) -> str:
    """A summary of one task that survives Task Scheduler's reformatting, for drift checks."""
    try:
        root = ET.fromstring(re.sub(r"^\s*<\?xml[^>]*\?>", "", xml_text))
    except ET.ParseError:
        return f"{name}\n  unreadable task XML\n"

    def text(path: str) -> str:
        found = root.find(path.replace("t:", f"{{{NS}}}"))
        return (found.text or "").strip() if found is not None else "-"

    trigger = "t:Triggers/t:CalendarTrigger/"
    week = root.find(f"{{{NS}}}Triggers/{{{NS}}}CalendarTrigger/{{{NS}}}ScheduleByWeek")
    if week is not None:
        local_names = (el.tag.rpartition("}")[2] for el in week.iter())
        days = format_days(frozenset(_WEEKDAYS.index(n) for n in local_names if n in _WEEKDAYS))
    else:
        days = "all" if text(trigger + "t:ScheduleByDay/t:DaysInterval") == "1" else "?"
    start = text(trigger + "t:StartBoundary").partition("T")[2][:5]
    every = text(trigger + "t:Repetition/t:Interval")
    repeat = (
        f", every {every} for {text(trigger + 't:Repetition/t:Duration')}" if every != "-" else ""
    )
    return (
        f"{name}\n"
        f"  days {days} at {start}{repeat}\n"
        f"  {text('t:RegistrationInfo/t:Description')}, "
        f"{text('t:Settings/t:MultipleInstancesPolicy')}, enabled {text('t:Settings/t:Enabled')}, "
        f"logon {text('t:Principals/t:Principal/t:LogonType')}\n"
    )


def task_facts(xml_text: str) -> dict[str, str]:
    """The run-as account, its logon type and the working directory (the home) of a task."""
    try:
        root = ET.fromstring(re.sub(r"^\s*<\?xml[^>]*\?>", "", xml_text))
    except ET.ParseError:
        return {}
    found = {}
    for key, path in (("user", "Principals/Principal/UserId"),
                      ("logon", "Principals/Principal/LogonType"),
                      ("workdir", "Actions/Exec/WorkingDirectory")):
        node = root.find("/".join(f"{{{NS}}}{part}" for part in path.split("/")))
        if node is not None and (node.text or "").strip():
            found[key] = (node.text or "").strip()
    node = root.find(f"{{{NS}}}RegistrationInfo/{{{NS}}}Description")
    said = re.search(r" run-as=(.+?) fingerprint=", (node.text or "") if node is not None else "")
    if said:  # the account as it was given, where Windows shows UserId as a SID
        found["user"] = said.group(1)
    return found


class WindowsBackend(SchedulerBackend):
    r"""optsync's tasks in Task Scheduler's ``\optsync\`` folder, driven through schtasks."""

    name = "windows"

    def __init__(
        self, runner: Runner | None = None, tmpdir: Path | None = None, *,
        user: str | None = None, run_as: str | None = None, password: str | None = None,
    ) -> None:
        """``run_as`` with its ``password``: tasks run as that account (logon type Password);
        else as ``user`` (default: the installing user) with logon type S4U. The password
        only ever goes to schtasks' /RP; it is neither kept anywhere else nor shown."""
        self.runner = runner or run_schtasks
        self.tmpdir = tmpdir
        if run_as is not None:
            self.principal = Principal(run_as, "Password")
        else:
            self.principal = Principal(user or current_user())
        self._password = password

    def __repr__(self) -> str:  # never the password
        return f"WindowsBackend(principal={self.principal!r})"

    @property
    def target(self) -> str:
        return FOLDER

    def tasks(self, entries: Sequence[Entry], install_id: str) -> dict[str, str]:
        """Task name -> Task XML text for every enabled schedule among ``entries``."""
        check_token(install_id, "install id")
        return {
            task_name(install_id, e): task_xml(e, install_id, self.principal)
            for e in entries
            if e.schedule.enabled and e.schedule.days
        }

    def render(self, entries: Sequence[Entry], install_id: str) -> str:
        tasks = self.tasks(entries, install_id)
        return "".join(describe(name, tasks[name]) for name in sorted(tasks))

    def installed(self, install_id: str) -> str:
        return "".join(describe(name, self._query_xml(name)) for name in self._ours(install_id))

    def installed_facts(self, install_id: str) -> list[dict[str, str]]:
        """:func:`task_facts` of each task this install id has now."""
        return [task_facts(self._query_xml(name)) for name in self._ours(install_id)]

    def installed_homes(self, install_id: str) -> set[str]:
        return {f["workdir"] for f in self.installed_facts(install_id) if "workdir" in f}

    def install(self, entries: Sequence[Entry], install_id: str) -> bool:
        wanted = self.tasks(entries, install_id)
        present = self._ours(install_id)
        changed = False
        for name in present:
            if name not in wanted:
                self._schtasks(["/Delete", "/TN", name, "/F"], f"removing task {name}")
                changed = True
        with tempfile.TemporaryDirectory(prefix="optsync-") as scratch:
            folder = self.tmpdir or Path(scratch)
            for name in sorted(wanted):
                xml = wanted[name]
                if name in present and describe(name, self._query_xml(name)) == describe(name, xml):
                    continue
                path = folder / f"{name[len(FOLDER) :].split(' ', 1)[0]}.xml"
                path.write_bytes(xml_bytes(xml))
                account = []
                if self.principal.logon == "Password":
                    account = ["/RU", self.principal.user, "/RP", self._password or ""]
                try:
                    self._schtasks(
                        ["/Create", "/XML", str(path), "/TN", name, *account, "/F"],
                        f"creating task {name}",
                    )
                finally:
                    path.unlink(missing_ok=True)
                changed = True
        return changed

    def uninstall(self, install_id: str) -> bool:
        present = self._ours(check_token(install_id, "install id"))
        for name in present:
            self._schtasks(["/Delete", "/TN", name, "/F"], f"removing task {name}")
        return bool(present)

    def _ours(self, install_id: str) -> list[str]:
        prefix = f"{FOLDER}{install_id}.".lower()
        listing = self._schtasks(["/Query", "/FO", "CSV", "/NH"], "listing tasks")
        names = {row[0] for row in csv.reader(listing.splitlines()) if row}
        return sorted(n for n in names if n.lower().startswith(prefix))

    def _query_xml(self, name: str) -> str:
        result = self.runner(["schtasks", "/Query", "/TN", name, "/XML", "ONE"])
        return str(result.stdout) if result.returncode == 0 else ""

    def _schtasks(self, args: list[str], doing: str) -> str:
        result: Any = self.runner(["schtasks", *args])
        if result.returncode != 0:
            said = str(result.stderr or result.stdout).strip()
            if self._password:
                said = said.replace(self._password, "***")
            raise OptsyncError(
                f"schtasks failed {doing}: {said}",
                "Run optsync as a user allowed to manage scheduled tasks"
                + (f"; check the password of {self.principal.user}"
                   if self.principal.logon == "Password" else ""),
            )
        return str(result.stdout)
