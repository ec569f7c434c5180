"""Domain errors, each carrying the exit code of SPEC 2.7.

The CLI catches :class:`OptsyncError` once and prints
``optsync: error: <what happened>. <what to do>``.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # a pass ended partial/failed, drift found, status --check found a problem
    BAD_INPUT = 2
    UNAVAILABLE = 69  # EX_UNAVAILABLE: a database or endpoint could not be reached
    LOCKED = 75  # EX_TEMPFAIL: another pass holds the company lock
    CONFIG = 78  # EX_CONFIG: configuration incomplete or refused


class OptsyncError(Exception):
    """Base of every error optsync reports to a user."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, what: str, fix: str = "") -> None:
        self.what = what.rstrip(".")
        self.fix = fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        text = self.what + "."
        if self.fix:
            text += " " + self.fix.rstrip(".") + "."
        return text


class BadInput(OptsyncError):
    """An invalid option value or an unknown name."""

    exit_code = ExitCode.BAD_INPUT


class UnknownCompany(BadInput):
    """The named company is not registered."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"unknown company {name!r}",
            "Run 'optsync company list' to see the registered companies",
        )


class Unreachable(OptsyncError):
    """A database or endpoint could not be reached (passwords masked)."""

    exit_code = ExitCode.UNAVAILABLE


class Locked(OptsyncError):
    """Another pass holds the company lock."""

    exit_code = ExitCode.LOCKED


class ConfigError(OptsyncError):
    """Configuration incomplete or refused (no operator, operator blocked, no integrations)."""

    exit_code = ExitCode.CONFIG


class Drift(OptsyncError):
    """Installed entries differ from what the schedules define."""

    exit_code = ExitCode.FAILED
