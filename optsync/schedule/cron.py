"""The cron backend: optsync's lines in a crontab file or the user's crontab, tagged per install.

Every optsync line has the comment ``# optsync:<install-id>:<company-key>`` on the line above
it. Install and uninstall work on the text: they remove this install id's tag+line pairs and
put the new block where the first of them was (else at the end), so every other line keeps its
bytes.

python-crontab does two things here: it finds the crontab program, and its parser checks every
time spec optsync writes (:func:`render_block`). Its reader and writer are not used: the
writer rewrites lines it cannot parse (it comments them out and strips blanks), and the reader
decodes ``crontab -l`` strictly as UTF-8 (a comment in CP1250 would stop the install) and
takes any warning of the crontab program for a failure. The user's crontab is read with
``crontab -l`` and written with ``crontab FILE``, the same program python-crontab calls, with
bytes that are not UTF-8 kept as they are.
"""

from __future__ import annotations

import getpass
import os
import re
import shlex
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from optsync.errors import OptsyncError, Unreachable
from optsync.home import default_home
from optsync.schedule.backend import Entry, SchedulerBackend, check_token
from optsync.schedule.planner import plan_cron

TAG = re.compile(r"^# optsync:(?P<install>[A-Za-z0-9_-]+):(?P<key>[A-Za-z0-9_-]+)\s*$")
_ENV = re.compile(r"^\s*[A-Za-z_][A-Za-z0-9_]*\s*=")


def tag(install_id: str, company_key: str) -> str:
    """The comment line that marks the next line as optsync's."""
    return f"# optsync:{install_id}:{company_key}"


def cron_command(argv: Sequence[str], log_path: Path | None = None) -> str:
    """``argv`` as a /bin/sh command for a crontab line, output appended to ``log_path``."""
    words = [_cron_quote(arg) for arg in argv]
    if log_path is not None:
        words += [">>", _cron_quote(str(log_path)), "2>&1"]
    return " ".join(words)


def _cron_quote(arg: str) -> str:
    # cron turns an unescaped % into a newline and "\%" into "%", but a "\" right before
    # "\%" would eat the escape; so each % stands outside the shell quotes, after a quote or
    # a safe character, and is written as "\%".
    if not arg:
        return "''"
    return "\\%".join(shlex.quote(piece) if piece else "" for piece in arg.split("%"))


def render_block(entries: Sequence[Entry], install_id: str) -> str:
    """The tag+line pairs for ``entries``, in company-key order; each time spec checked by
    python-crontab's parser, so a spec cron would refuse is never written."""
    # python-crontab takes ~30 ms to import: only installs and drift checks render lines,
    # never the pass a cron line starts.
    from crontab import CronSlices

    check_token(install_id, "install id")
    lines: list[str] = []
    for entry in sorted(entries, key=lambda e: e.company_key):
        command = cron_command(entry.argv, entry.log_path)
        for spec in plan_cron(entry.schedule):
            if not CronSlices.is_valid(str(spec)):
                raise OptsyncError(
                    f"the cron time '{spec}' planned for company key {entry.company_key} is "
                    "not valid cron syntax; nothing written",
                    "Report it with the schedule ('optsync schedule list --json')",
                )
            lines += [tag(install_id, entry.company_key), f"{spec} {command}"]
    return "".join(line + "\n" for line in lines)


@dataclass
class Crontab:
    """A crontab's lines (with their line ends) and which belong to one install id."""

    lines: list[str]
    ours: list[int]  # indexes of this install id's tag and job lines
    keys: set[str]

    @classmethod
    def parse(cls, text: str, install_id: str) -> Crontab:
        lines = cron_lines(text)
        ours: list[int] = []
        keys: set[str] = set()
        index = 0
        while index < len(lines):
            match = TAG.match(lines[index].rstrip("\r\n"))
            if match and match["install"] == install_id:
                ours.append(index)
                keys.add(match["key"])
                if index + 1 < len(lines) and _is_job(lines[index + 1]):
                    ours.append(index + 1)
                    index += 1
            index += 1
        return cls(lines, ours, keys)

    def owned(self) -> str:
        """This install id's lines, each ended by a plain newline."""
        return "".join(self.lines[i].rstrip("\r\n") + "\n" for i in self.ours)

    def foreign(self) -> list[str]:
        """Every other line, as it is."""
        taken = set(self.ours)
        return [line for i, line in enumerate(self.lines) if i not in taken]

    def replaced(self, block: str) -> str:
        """The whole text with this install id's lines replaced by ``block``."""
        kept = self.foreign()
        at = self.ours[0] if self.ours else len(kept)  # no line before ours[0] is ours
        if block and at == len(kept) and kept and not kept[-1].endswith(("\n", "\r")):
            kept[-1] += "\n"  # cron ignores a last line without a newline
        return "".join(kept[:at]) + block + "".join(kept[at:])


def cron_lines(text: str) -> list[str]:
    """``text`` cut into lines the way cron reads it: at "\n" only, each keeping its end.

    ``str.splitlines`` would also cut at U+0085, U+2028, U+2029 and other characters that a
    company name stored by an older optsync may hold; cron sees them as part of the line.
    """
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    return lines + [parts[-1]] if parts[-1] else lines


def home_of_line(line: str) -> str | None:
    """The home an optsync job line serves: its ``--home`` word, else the default home.

    None for a tag line or a line whose command cannot be read back.
    """
    if not _is_job(line):
        return None
    fields = line.strip().split(None, 5)
    if len(fields) < 6:
        return None
    try:
        words = shlex.split(fields[5])  # "\%" outside quotes reads back as "%", as cron does
    except ValueError:
        return None
    for index, word in enumerate(words):
        if word == "--home" and index + 1 < len(words):
            return words[index + 1]
        if word == "run":
            break
    return str(default_home())


def _is_job(line: str) -> bool:
    text = line.strip()
    return bool(text) and not text.startswith("#") and not _ENV.match(line)


class CronBackend(SchedulerBackend):
    """optsync's lines in ``crontab_file``, or in the crontab of ``user`` (True: current user)."""

    name = "cron"

    def __init__(
        self,
        crontab_file: Path | None = None,
        user: bool | str = True,
        crontab_command: str | None = None,
    ) -> None:
        self.crontab_file = Path(crontab_file) if crontab_file is not None else None
        self.user = user
        self._command = crontab_command

    @property
    def target(self) -> str:
        if self.crontab_file is not None:
            return str(self.crontab_file)
        return "user crontab" if self.user is True else f"crontab of user {self.user}"

    def render(self, entries: Sequence[Entry], install_id: str) -> str:
        return render_block(entries, install_id)

    def installed(self, install_id: str) -> str:
        return Crontab.parse(self.read(), check_token(install_id, "install id")).owned()

    def installed_homes(self, install_id: str) -> set[str]:
        crontab = Crontab.parse(self.read(), check_token(install_id, "install id"))
        homes = set()
        for index in crontab.ours:
            home = home_of_line(crontab.lines[index])
            if home is not None:
                homes.add(home)
        return homes

    def install(self, entries: Sequence[Entry], install_id: str) -> bool:
        return self._replace(render_block(entries, install_id), install_id)

    def uninstall(self, install_id: str) -> bool:
        return self._replace("", check_token(install_id, "install id"))

    def _replace(self, block: str, install_id: str) -> bool:
        old = self.read()
        before = Crontab.parse(old, install_id)
        if before.owned() == block:
            return False
        new = before.replaced(block)
        self._check_foreign_kept(before, Crontab.parse(new, install_id))
        self.write(new)
        return True

    def _check_foreign_kept(self, before: Crontab, after: Crontab) -> None:
        old_lines, new_lines = before.foreign(), after.foreign()
        same = len(old_lines) == len(new_lines) and all(
            a == b or (i == len(old_lines) - 1 and a + "\n" == b)
            for i, (a, b) in enumerate(zip(old_lines, new_lines))
        )
        if not same:
            raise OptsyncError(
                f"writing {self.target} would change lines optsync does not own; nothing written",
                "Check the lines next to the '# optsync:' comments and fix them by hand",
            )

    # I/O ----------------------------------------------------------------------------
    def read(self) -> str:
        """The crontab's current text ("" when there is none)."""
        if self.crontab_file is not None:
            try:
                return self.crontab_file.read_bytes().decode("utf-8", "surrogateescape")
            except FileNotFoundError:
                return ""
        result = self._crontab(["-l"])
        if result.returncode != 0:
            if "no crontab for" in result.stderr:
                return ""
            raise Unreachable(
                f"'crontab -l' failed: {result.stderr.strip()}",
                "Check that cron is installed and this user may use it, or use --crontab FILE",
            )
        return result.stdout

    def write(self, text: str) -> None:
        """Replace the crontab's whole text, then check it reads back unchanged."""
        data = text.encode("utf-8", "surrogateescape")
        if self.crontab_file is not None:
            _write_atomic(self.crontab_file, data)
            return
        with tempfile.NamedTemporaryFile("wb", suffix=".crontab", delete=False) as handle:
            handle.write(data)
        try:
            result = self._crontab([handle.name])
        finally:
            os.unlink(handle.name)
        if result.returncode != 0:
            raise OptsyncError(
                f"crontab refused the new table: {result.stderr.strip()}",
                "Check the lines it names, then run 'optsync schedule install' again",
            )
        if self.read() != text:
            raise OptsyncError(
                "the user crontab reads back differently from what optsync wrote",
                "Compare 'crontab -l' with 'optsync schedule install --dry-run'",
            )

    def _crontab(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        command = [self._command or _crontab_program()]
        # Like python-crontab: some crontab programs refuse "-u" naming the current user.
        if isinstance(self.user, str) and self.user != getpass.getuser():
            command += ["-u", self.user]
        try:
            return subprocess.run(
                command + args,
                capture_output=True,
                text=True,
                encoding="utf-8",
                errors="surrogateescape",
                check=False,
            )
        except FileNotFoundError:
            raise Unreachable(
                f"no crontab program at {command[0]}",
                "Install cron (apt install cron) or use --crontab FILE",
            ) from None


def _crontab_program() -> str:
    # start-up time: python-crontab (37 ms) loads only to check or find cron
    from crontab import CRON_COMMAND  # python-crontab's lookup of the crontab program

    return str(CRON_COMMAND)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
