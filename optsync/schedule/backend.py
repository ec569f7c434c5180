"""What every OS scheduler backend promises, and the entries it is given to install.

Plan, then apply: :meth:`SchedulerBackend.render` is pure, :meth:`SchedulerBackend.installed`
only reads, and comparing the two is the drift check; only :meth:`install` and
:meth:`uninstall` write.
"""

from __future__ import annotations

import difflib
import re
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optsync.errors import BadInput
from optsync.schedule.model import Schedule

if TYPE_CHECKING:
    from subprocess import CompletedProcess

# Install ids and company keys end up in crontab comments and task names: keep them tame.
TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass
class Entry:
    """One company's OS entries: its schedule and the absolute command that starts a pass."""

    company_key: str  # stable token, e.g. the company id; never the (renamable) name
    company_name: str
    schedule: Schedule
    argv: list[str]  # absolute program first, e.g. [".../optsync", "run", "--company", ...]
    log_path: Path | None = None  # where cron appends output; the caller creates its folder
    workdir: Path = field(default_factory=Path.home)

    def __post_init__(self) -> None:
        check_token(self.company_key, "company key")
        if not self.argv:
            raise BadInput(f"company {self.company_name!r} has an empty command")
        for text in [self.company_name, *self.argv, str(self.log_path or ""), str(self.workdir)]:
            if any(ord(ch) < 32 for ch in text):
                raise BadInput(
                    f"{text!r} holds a line break or control character",
                    "Rename the company or home without control characters",
                )


def check_token(value: str, what: str) -> str:
    """Return ``value`` when it is a safe install id or company key, else raise BadInput."""
    if not TOKEN.match(value):
        raise BadInput(
            f"{what} {value!r} is not a token of letters, digits, '_' and '-'",
            "Use a short id such as 'a1b2c3' or the company's number",
        )
    return value


class SchedulerBackend(ABC):
    """An OS scheduler holding optsync's entries for one install id among foreign ones."""

    name: str = ""

    @property
    @abstractmethod
    def target(self) -> str:
        """Where entries go, for people: a crontab file path, ``user crontab``, ``\\optsync\\``."""

    @abstractmethod
    def render(self, entries: Sequence[Entry], install_id: str) -> str:
        """The text of what install would own afterwards; pure and deterministic."""

    @abstractmethod
    def installed(self, install_id: str) -> str:
        """What this install id owns in the target now, rendered as :meth:`render` does."""

    def installed_homes(self, install_id: str) -> set[str]:
        """The homes this install id's entries in the target start passes of, as written."""
        return set()

    @abstractmethod
    def install(self, entries: Sequence[Entry], install_id: str) -> bool:
        """Make the target hold exactly ``entries`` for this install id; True when it changed."""

    @abstractmethod
    def uninstall(self, install_id: str) -> bool:
        """Remove every entry of this install id and nothing else; True when it changed."""

    def in_sync(self, entries: Sequence[Entry], install_id: str) -> bool:
        """Whether the installed entries already equal what install would write."""
        return self.installed(install_id) == self.render(entries, install_id)

    def diff(self, entries: Sequence[Entry], install_id: str) -> str:
        """A unified diff from the installed entries to the rendered ones ("" when in sync)."""
        return unified_diff(
            self.installed(install_id), self.render(entries, install_id), self.target
        )


def unified_diff(before: str, after: str, label: str) -> str:
    """Pure unified diff of two renderings, labelled with the target."""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"{label} (installed)",
        tofile=f"{label} (planned)",
    )
    return "".join(lines)


def optsync_command() -> list[str]:
    """The absolute command that starts this optsync: its console script, else ``python -m``."""
    scripts = Path(sys.executable).parent
    for candidate in (scripts / "optsync", scripts / "optsync.exe"):
        if candidate.is_file():
            return [str(candidate.absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "optsync"]


Runner = Callable[[list[str]], "CompletedProcess[str] | Any"]
